//! Money: USD amounts as exact decimals. Amounts that get summed are kept as integers of 1e-10 USD
//! (exact `SUM` on every database); on the wire they are decimal strings with 10 decimal places.

use std::fmt;

use rust_decimal::Decimal;

use super::error::quote;

/// Decimal places of every amount Tally stores and returns.
pub const SCALE: u32 = 10;

/// An amount of USD, exact to 1e-10.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd(i64);

impl Usd {
    pub const ZERO: Usd = Usd(0);

    /// The amount counted in 1e-10 USD, as stored.
    pub const fn from_e10(e10: i64) -> Self {
        Self(e10)
    }

    /// The amount in 1e-10 USD.
    pub fn e10(self) -> i64 {
        self.0
    }

    /// The amount as a decimal with 10 places.
    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, SCALE)
    }

    /// Converts an exact decimal; `None` when it has more than 10 decimal places or does not fit.
    pub fn from_decimal(value: Decimal) -> Option<Self> {
        let value = value.normalize();
        if value.scale() > SCALE {
            return None;
        }
        let scaled = value.checked_mul(Decimal::from(10_i64.pow(SCALE)))?;
        i64::try_from(scaled.mantissa() / 10_i128.pow(scaled.scale()))
            .ok()
            .map(Self)
    }

    /// Parses a caller's amount such as `"12.50"` in the contract's plain notation (see
    /// [`check_plain`]), at most 10 decimal places. Never negative: the contract has no signed
    /// amount.
    pub fn parse(text: &str) -> Result<Self, String> {
        check_plain(text, SCALE)?;
        let value =
            Decimal::from_str_exact(text).map_err(|_| format!("{} is too large", quote(text)))?;
        Self::from_decimal(value)
            .ok_or_else(|| format!("{} is too large (at most 922337203 USD)", quote(text)))
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub fn checked_add(self, other: Usd) -> Option<Usd> {
        self.0.checked_add(other.0).map(Usd)
    }

    pub fn checked_sub(self, other: Usd) -> Option<Usd> {
        self.0.checked_sub(other.0).map(Usd)
    }
}

/// Decimal places a unit price may have (per-token prices are small).
pub const UNIT_PRICE_SCALE: u32 = 18;

/// Parses a unit price such as `"0.0000025"` in the contract's plain notation (see
/// [`check_plain`]), at most 18 decimal places. Unit prices are never summed, so they keep every
/// digit given.
pub fn parse_unit_price(text: &str) -> Result<Decimal, String> {
    check_plain(text, UNIT_PRICE_SCALE)?;
    Decimal::from_str_exact(text).map_err(|_| format!("{} is too large", quote(text)))
}

/// Checks the contract's plain notation for a decimal string: digits, then optionally a point and
/// at most `places` digits (`"0"`, `"12"`, `"0.50"`). Nothing else: no sign (`"-0"`), no blanks
/// (`" 1"`), no leading zero (`"00.5"`, `"01"`), no exponent, no separators, no bare point
/// (`"1."`, `".5"`). Each value has one spelling up to trailing zeros of its fraction, so a check
/// of the text never passes what the amount would not.
pub fn check_plain(text: &str, places: u32) -> Result<(), String> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let problem = if text.is_empty() {
        "is empty"
    } else if text.trim() != text {
        "has blanks around it"
    } else if text.starts_with(['-', '+']) {
        "has a sign (amounts are never negative)"
    } else if !digits(whole) || (text.contains('.') && !digits(fraction)) {
        "is not a plain decimal number"
    } else if whole.len() > 1 && whole.starts_with('0') {
        "has a leading zero"
    } else if fraction.len() > places as usize {
        return Err(format!(
            "{} has more than {places} decimal places",
            quote(text)
        ));
    } else {
        return Ok(());
    };
    Err(format!(
        "{} {problem}: expected digits with an optional fraction, such as \"12.50\"",
        quote(text)
    ))
}

/// Always 10 decimal places: `"0.0022500000"`. Written from the integer, without a `Decimal` per
/// amount (a report writes thousands).
impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ONE: u64 = 10_u64.pow(SCALE);
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:010}", abs / ONE, abs % ONE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_ten_places() {
        assert_eq!(Usd::from_e10(22_500_000).to_string(), "0.0022500000");
        assert_eq!(Usd::from_e10(0).to_string(), "0.0000000000");
        assert_eq!(Usd::from_e10(-15_000_000_000).to_string(), "-1.5000000000");
        assert_eq!(Usd::from_e10(-1).to_string(), "-0.0000000001");
        assert_eq!(Usd::from_e10(i64::MIN).to_string(), "-922337203.6854775808");
    }

    proptest::proptest! {
        #[test]
        fn formats_as_the_decimal_does(e10 in proptest::num::i64::ANY) {
            let usd = Usd::from_e10(e10);
            proptest::prop_assert_eq!(usd.to_string(), usd.to_decimal().to_string());
        }
    }

    #[test]
    fn parses_exact_decimals() {
        assert_eq!(Usd::parse("12.5"), Ok(Usd::from_e10(125_000_000_000)));
        assert_eq!(Usd::parse("0.0000000001"), Ok(Usd::from_e10(1)));
        assert_eq!(Usd::parse("99"), Ok(Usd::from_e10(990_000_000_000)));
        assert_eq!(Usd::parse("0"), Ok(Usd::ZERO));
        assert_eq!(Usd::parse("0.50"), Ok(Usd::from_e10(5_000_000_000)));
        assert_eq!(
            Usd::parse("922337203.6854775807"),
            Ok(Usd::from_e10(i64::MAX))
        );
    }

    #[test]
    fn refuses_what_is_not_an_exact_amount() {
        for text in [
            "",
            "abc",
            "1e-7",
            "1.",
            ".5",
            "0.00000000001",
            "1,5",
            "922337204",
            "NaN",
            "+1",
            "-0",
            "-3.25",
            " 1",
            "1 ",
            " 0.5 ",
            "00.5",
            "01",
            "00",
            "0x10",
            "1.2.3",
            "١",
        ] {
            assert!(Usd::parse(text).is_err(), "{text}");
        }
        assert_eq!(
            Usd::parse("00.5"),
            Err("\"00.5\" has a leading zero: expected digits with an optional fraction, such as \"12.50\"".to_owned())
        );
        assert!(Usd::parse("-0").unwrap_err().contains("has a sign"));
        assert!(Usd::parse(" 1").unwrap_err().contains("has blanks"));
    }

    #[test]
    fn unit_prices_keep_every_digit() {
        assert_eq!(
            parse_unit_price("0.000000125").unwrap().to_string(),
            "0.000000125"
        );
        assert_eq!(
            parse_unit_price("0.000000000000000001")
                .unwrap()
                .to_string(),
            "0.000000000000000001"
        );
        for text in [
            "-1",
            "1e-7",
            "",
            "0.0000000000000000001",
            "abc",
            " 0.5 ",
            "00.5",
            "-0",
        ] {
            assert!(parse_unit_price(text).is_err(), "{text}");
        }
    }

    #[test]
    fn round_trips_through_text() {
        for e10 in [0, 1, 123_456_789, i64::MAX] {
            let usd = Usd::from_e10(e10);
            assert_eq!(Usd::parse(&usd.to_string()), Ok(usd));
        }
    }

    proptest::proptest! {
        /// What the plain notation accepts is exactly what `Decimal` reads back to the same text,
        /// up to trailing zeros of the fraction: one spelling per amount.
        #[test]
        fn plain_notation_is_canonical(text in "[-+ 0-9.]{0,14}") {
            if check_plain(&text, SCALE).is_ok() {
                let value = Decimal::from_str_exact(&text).expect("plain text is a decimal");
                proptest::prop_assert!(!value.is_sign_negative());
                let mut canonical = value;
                canonical.rescale(text.split_once('.').map_or(0, |(_, f)| f.len() as u32));
                proptest::prop_assert_eq!(canonical.to_string(), text);
            }
        }

        #[test]
        fn every_amount_parses_from_its_output(e10 in 0..=i64::MAX) {
            let usd = Usd::from_e10(e10);
            proptest::prop_assert_eq!(Usd::parse(&usd.to_string()), Ok(usd));
        }
    }
}
