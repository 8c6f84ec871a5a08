//! Exact report amounts and the ratios built from them, rounded once when shown.
//!
//! Report revenue holds fractions of 1e-10 USD: a plan fee prorated by the microsecond over a month
//! of 28 to 31 days, and usage revenue at a unit price of up to 18 decimal places. [`ExactUsd`]
//! counts 1e-10 USD / [`DENOMINATOR`], a unit in which both are whole numbers, so that revenue,
//! margin and the percentages made of them are each rounded once, half to even, from the exact
//! value (never from another rounded figure). Ratios are worked out by long division and compared
//! as continued fractions: a product of two amounts can pass what an `i128` holds.

use std::cmp::Ordering;

use rust_decimal::Decimal;

/// Least common multiple of 28, 29, 30 and 31: days of any month divide it.
pub(crate) const LCM_MONTH_DAYS: i128 = 377_580;
pub(crate) const MICROS_PER_DAY: i128 = 86_400_000_000;
/// Parts of 1e-10 USD that an [`ExactUsd`] counts: a monthly fee prorated by the microsecond is a
/// whole number of them, and so is 1e-18 USD (the denominator is a multiple of 10^8).
pub const DENOMINATOR: i128 = LCM_MONTH_DAYS * MICROS_PER_DAY;

/// An amount too large to count exactly (far beyond any real fee).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("revenue overflows its exact representation")]
pub struct Overflow;

/// An amount of USD before rounding, in 1e-10 USD / [`DENOMINATOR`]. Every `i64` of 1e-10 USD
/// fits (2^118 of the 2^127 an `i128` holds), so a cost and a revenue that round to amounts Tally
/// can show subtract without overflow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExactUsd(i128);

impl ExactUsd {
    pub const ZERO: ExactUsd = ExactUsd(0);

    /// An amount counted in 1e-10 USD / [`DENOMINATOR`].
    pub(crate) const fn from_parts(parts: i128) -> Self {
        Self(parts)
    }

    /// An amount in 1e-10 USD, such as a cost.
    pub fn from_e10(e10: i64) -> Self {
        Self(i128::from(e10) * DENOMINATOR)
    }

    pub fn checked_add(self, other: ExactUsd) -> Result<ExactUsd, Overflow> {
        self.0.checked_add(other.0).map(Self).ok_or(Overflow)
    }

    pub fn checked_sub(self, other: ExactUsd) -> Result<ExactUsd, Overflow> {
        self.0.checked_sub(other.0).map(Self).ok_or(Overflow)
    }

    /// The amount in 1e-10 USD, rounded half to even.
    pub fn round_e10(self) -> Result<i64, Overflow> {
        i64::try_from(round_half_even(self.0, DENOMINATOR)).map_err(|_| Overflow)
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// `self` as a percentage of `whole`, to 2 places rounded half to even from the exact ratio;
    /// `None` when `whole` is zero.
    pub fn percent_of(self, whole: ExactUsd) -> Result<Option<Decimal>, Overflow> {
        if whole.is_zero() {
            return Ok(None);
        }
        let hundredths = rounded_ratio(self.0, whole.0, 4).ok_or(Overflow)?;
        Decimal::try_from_i128_with_scale(hundredths, 2)
            .map(Some)
            .map_err(|_| Overflow)
    }

    /// Compares `self / whole` with `other / other_whole`, exactly; `None` unless both wholes are
    /// above zero.
    pub fn cmp_share(
        self,
        whole: ExactUsd,
        other: ExactUsd,
        other_whole: ExactUsd,
    ) -> Option<Ordering> {
        compare_ratios(self.0, whole.0, other.0, other_whole.0)
    }

    /// Whether `self` is more than `percent` percent of `whole`, compared exactly; false unless
    /// `whole` is above zero.
    pub fn exceeds_percent_of(self, percent: Decimal, whole: ExactUsd) -> bool {
        // A Decimal's scale is at most 28, so 100 × 10^scale fits.
        let hundred_percent = 100 * 10_i128.pow(percent.scale());
        compare_ratios(self.0, whole.0, percent.mantissa(), hundred_percent)
            == Some(Ordering::Greater)
    }
}

/// `numerator / denominator` rounded to an integer, half to even; `denominator` > 0 and at most
/// 2^126.
pub(crate) fn round_half_even(numerator: i128, denominator: i128) -> i128 {
    let quotient = numerator.div_euclid(denominator);
    let twice_rest = numerator.rem_euclid(denominator) * 2;
    match twice_rest.cmp(&denominator) {
        Ordering::Less => quotient,
        Ordering::Greater => quotient + 1,
        Ordering::Equal => quotient + (quotient & 1),
    }
}

/// `numerator / denominator × 10^places` rounded to an integer, half to even, by long division:
/// one digit at a time, so `numerator × 10^places` need not fit. `None` when `denominator` is zero
/// or the result (or a remainder times ten, past 2^124) does not fit.
pub fn rounded_ratio(numerator: i128, denominator: i128, places: u32) -> Option<i128> {
    if denominator == 0 {
        return None;
    }
    let negative = (numerator < 0) != (denominator < 0);
    let (whole, divisor) = (numerator.unsigned_abs(), denominator.unsigned_abs());
    let (mut quotient, mut rest) = (whole / divisor, whole % divisor);
    for _ in 0..places {
        let tenfold = rest.checked_mul(10)?;
        quotient = quotient.checked_mul(10)?.checked_add(tenfold / divisor)?;
        rest = tenfold % divisor;
    }
    // rest < divisor ≤ 2^127, so twice it fits in a u128.
    let rounded = match (rest * 2).cmp(&divisor) {
        Ordering::Less => quotient,
        Ordering::Greater => quotient.checked_add(1)?,
        Ordering::Equal => quotient.checked_add(quotient & 1)?,
    };
    let magnitude = i128::try_from(rounded).ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

/// Compares `a / b` with `c / d` exactly, without a product that could pass 128 bits: whole parts
/// first, then the fractional parts through their reciprocals (a continued fraction, as many steps
/// as Euclid's algorithm takes). `None` unless `b` and `d` are above zero.
pub fn compare_ratios(mut a: i128, mut b: i128, mut c: i128, mut d: i128) -> Option<Ordering> {
    if b <= 0 || d <= 0 {
        return None;
    }
    // Each step compares the reciprocals of the previous fractional parts, which reverses the order.
    let mut reversed = false;
    loop {
        let (whole_a, rest_a) = (a.div_euclid(b), a.rem_euclid(b));
        let (whole_c, rest_c) = (c.div_euclid(d), c.rem_euclid(d));
        let order = match (whole_a.cmp(&whole_c), rest_a, rest_c) {
            (Ordering::Equal, 0, 0) => Ordering::Equal,
            (Ordering::Equal, 0, _) => Ordering::Less,
            (Ordering::Equal, _, 0) => Ordering::Greater,
            (Ordering::Equal, _, _) => {
                // rest_a / b against rest_c / d is d / rest_c against b / rest_a... reversed.
                (a, b, c, d) = (b, rest_a, d, rest_c);
                reversed = !reversed;
                continue;
            }
            (order, _, _) => order,
        };
        return Some(if reversed { order.reverse() } else { order });
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rust_decimal::RoundingStrategy;

    use super::*;

    fn usd(e10: i64) -> ExactUsd {
        ExactUsd::from_e10(e10)
    }

    /// Half of 1e-10 USD.
    const HALF: ExactUsd = ExactUsd(DENOMINATOR / 2);

    #[test]
    fn ties_round_to_even_once() {
        // 1.5 → 2, 2.5 → 2, 3.5 → 4, −0.5 → 0, −1.5 → −2 (in 1e-10 USD).
        for (whole, want) in [(1, 2), (2, 2), (3, 4), (-1, 0), (-2, -2)] {
            let exact = usd(whole).checked_add(HALF).unwrap();
            assert_eq!(exact.round_e10(), Ok(want), "{whole}.5");
        }
        // A margin of 3.5: revenue 4.5 less a cost of 1 is 4, not 4 (revenue rounded) − 1.
        let revenue = usd(4).checked_add(HALF).unwrap();
        assert_eq!(revenue.checked_sub(usd(1)).unwrap().round_e10(), Ok(4));
    }

    #[test]
    fn percentages_come_from_the_exact_amounts() {
        let one_and_a_half = usd(1).checked_add(HALF).unwrap();
        // 1 of 1.5 is 66.666…%, not 1 of 1.5 rounded (2: 50%, or 1: 100%).
        assert_eq!(
            usd(1).percent_of(one_and_a_half),
            Ok(Some(Decimal::new(6667, 2)))
        );
        assert_eq!(usd(1).percent_of(ExactUsd::ZERO), Ok(None));
        assert_eq!(usd(1).percent_of(usd(8)), Ok(Some(Decimal::new(1250, 2))));
        assert_eq!(usd(1).percent_of(usd(800)), Ok(Some(Decimal::new(12, 2))));
        assert_eq!(usd(3).percent_of(usd(800)), Ok(Some(Decimal::new(38, 2))));
        assert_eq!(
            usd(-5).percent_of(usd(4)),
            Ok(Some(Decimal::new(-12500, 2)))
        );
        assert_eq!(usd(1).percent_of(usd(-8)), Ok(Some(Decimal::new(-1250, 2))));
        assert_eq!(
            usd(i64::MIN).percent_of(usd(1)),
            Ok(Some(Decimal::new(i64::MIN, 0) * Decimal::ONE_HUNDRED))
        );
    }

    #[test]
    fn shares_compare_exactly() {
        let one_and_a_half = usd(1).checked_add(HALF).unwrap();
        // 1 / 1.5 (66.67 %) is below 5 / 6 (83.33 %).
        assert_eq!(
            usd(1).cmp_share(one_and_a_half, usd(5), usd(6)),
            Some(Ordering::Less)
        );
        assert_eq!(
            usd(2).cmp_share(usd(4), usd(1), usd(2)),
            Some(Ordering::Equal)
        );
        assert_eq!(usd(1).cmp_share(ExactUsd::ZERO, usd(1), usd(1)), None);
        // Shares of the largest amounts, whose cross products pass 128 bits.
        assert_eq!(
            usd(i64::MAX).cmp_share(usd(i64::MAX - 1), usd(i64::MAX - 1), usd(i64::MAX - 2)),
            Some(Ordering::Less)
        );
        // 40 % of 2.5 is 1: not more than it; 1 of 2.4 is.
        let two_and_a_half = usd(2).checked_add(HALF).unwrap();
        assert!(!usd(1).exceeds_percent_of(Decimal::from(40), two_and_a_half));
        let two_point_four = ExactUsd(DENOMINATOR * 24 / 10);
        assert!(usd(1).exceeds_percent_of(Decimal::from(40), two_point_four));
        assert!(usd(1).exceeds_percent_of("41.6".parse().unwrap(), two_point_four));
        assert!(!usd(1).exceeds_percent_of("41.67".parse().unwrap(), two_point_four));
        assert!(!usd(1).exceeds_percent_of(Decimal::ZERO, ExactUsd::ZERO));
    }

    proptest! {
        /// Against dividing decimals and rounding to 2 places, for amounts of 1e-10 USD.
        #[test]
        fn percentages_agree_with_decimal_division(
            part in -10_i64.pow(16)..10_i64.pow(16),
            whole in -10_i64.pow(16)..10_i64.pow(16),
        ) {
            let expected = (whole != 0).then(|| {
                (Decimal::from(part) * Decimal::ONE_HUNDRED / Decimal::from(whole))
                    .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven)
            });
            prop_assert_eq!(usd(part).percent_of(usd(whole)), Ok(expected));
        }

        /// Long division agrees with one division wherever the product fits.
        #[test]
        fn long_division_agrees_with_one_division(
            numerator in -(1_i128 << 100)..(1_i128 << 100),
            denominator in 1_i128..(1_i128 << 110),
            places in 0_u32..8,
        ) {
            let scaled = numerator * 10_i128.pow(places);
            prop_assert_eq!(
                rounded_ratio(numerator, denominator, places),
                Some(round_half_even(scaled, denominator))
            );
            prop_assert_eq!(
                rounded_ratio(-numerator, -denominator, places),
                Some(round_half_even(scaled, denominator))
            );
        }

        /// The rounded amount is the nearest, ties to even: within half a unit of the exact one.
        #[test]
        fn rounding_is_to_the_nearest_even_on_ties(parts in -(1_i128 << 117)..(1_i128 << 117)) {
            let rounded = i128::from(ExactUsd(parts).round_e10().unwrap());
            let distance = (rounded * DENOMINATOR - parts).abs();
            prop_assert!(distance * 2 <= DENOMINATOR);
            if distance * 2 == DENOMINATOR {
                prop_assert_eq!(rounded % 2, 0);
            }
        }

        /// Against cross multiplication, which fits for 64-bit operands.
        #[test]
        fn ratios_compare_as_cross_products(
            a in proptest::num::i64::ANY,
            b in 1_i64..=i64::MAX,
            c in proptest::num::i64::ANY,
            d in 1_i64..=i64::MAX,
        ) {
            let (a, b, c, d) = (i128::from(a), i128::from(b), i128::from(c), i128::from(d));
            prop_assert_eq!(compare_ratios(a, b, c, d), Some((a * d).cmp(&(c * b))));
        }

        /// Scaling a ratio's terms (past 128-bit cross products) leaves the comparison unchanged.
        #[test]
        fn ratios_compare_the_same_at_any_scale(
            a in -(1_i128 << 60)..(1_i128 << 60),
            b in 1_i128..(1_i128 << 60),
            c in -(1_i128 << 60)..(1_i128 << 60),
            d in 1_i128..(1_i128 << 60),
            scale in 1_i128..(1_i128 << 60),
        ) {
            let small = compare_ratios(a, b, c, d);
            prop_assert_eq!(compare_ratios(a * scale, b * scale, c, d), small);
            prop_assert_eq!(compare_ratios(a, b, c * scale, d * scale), small);
        }
    }
}
