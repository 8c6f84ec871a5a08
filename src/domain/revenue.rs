//! Revenue arithmetic, exact until the one rounding of a figure.
//!
//! A plan fee prorated over part of a month is `monthly × overlap / month length`: a fraction that
//! 10 decimal places rarely hold. [`ExactRevenue`] keeps plan fees as an integer over one common
//! denominator (every month length divides it, to the microsecond: `exact::DENOMINATOR`) and usage
//! revenue in 1e-18 USD (a unit price has at most 18 decimal places), so sums of parts are exact
//! and a figure is rounded once, to 10 places half to even, when it is shown. Their sum is an
//! [`ExactUsd`], from which revenue, margin and percentages are each rounded once.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

pub use super::exact::Overflow;
use super::{
    exact::{DENOMINATOR, ExactUsd, LCM_MONTH_DAYS, round_half_even},
    report::{month_start, next_month},
};

/// Plan fees are counted in 1e-10 USD / `PLAN_DENOMINATOR`.
const PLAN_DENOMINATOR: i128 = DENOMINATOR;
/// Usage revenue is counted in 1e-18 USD: 1e-10 USD / `USAGE_DENOMINATOR`.
const USAGE_DENOMINATOR: i128 = 100_000_000;
/// 1e-18 USD in parts of an [`ExactUsd`]: the plan denominator is a multiple of 10^8.
const USAGE_TO_EXACT: i128 = PLAN_DENOMINATOR / USAGE_DENOMINATOR;
const _: () = assert!(PLAN_DENOMINATOR % USAGE_DENOMINATOR == 0);
/// Decimal places of a unit price.
const PRICE_SCALE: u32 = 18;

/// Revenue before rounding: plan fees and usage revenue, each exact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExactRevenue {
    plan: i128,
    usage: i128,
}

impl ExactRevenue {
    /// Adds another amount.
    pub fn add(&mut self, other: ExactRevenue) -> Result<(), Overflow> {
        self.plan = self.plan.checked_add(other.plan).ok_or(Overflow)?;
        self.usage = self.usage.checked_add(other.usage).ok_or(Overflow)?;
        Ok(())
    }

    /// Adds the share of a monthly fee (in 1e-10 USD) for the part of `[from, to)` each calendar
    /// month (UTC) holds: `monthly × overlap / that month's length`, summed over the months.
    pub fn add_prorated(
        &mut self,
        monthly_e10: i64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<(), Overflow> {
        let mut month = month_start(from);
        while month < to {
            let following = next_month(month);
            let overlap = (to.min(following) - from.max(month))
                .num_microseconds()
                .ok_or(Overflow)?;
            if overlap > 0 {
                let days = i128::from((following - month).num_days());
                let part = i128::from(monthly_e10)
                    .checked_mul(i128::from(overlap))
                    .and_then(|value| value.checked_mul(LCM_MONTH_DAYS / days))
                    .ok_or(Overflow)?;
                self.plan = self.plan.checked_add(part).ok_or(Overflow)?;
            }
            month = following;
        }
        Ok(())
    }

    /// Adds `quantity × unit_price` of usage revenue.
    pub fn add_usage(&mut self, quantity: i64, unit_price: Decimal) -> Result<(), Overflow> {
        let price = unit_price.normalize();
        if price.scale() > PRICE_SCALE {
            return Err(Overflow);
        }
        let price_e18 = price
            .mantissa()
            .checked_mul(10_i128.pow(PRICE_SCALE - price.scale()))
            .ok_or(Overflow)?;
        let part = price_e18
            .checked_mul(i128::from(quantity))
            .ok_or(Overflow)?;
        self.usage = self.usage.checked_add(part).ok_or(Overflow)?;
        Ok(())
    }

    /// Plan fees in 1e-10 USD, rounded half to even.
    pub fn plan_e10(&self) -> Result<i64, Overflow> {
        narrow(round_half_even(self.plan, PLAN_DENOMINATOR))
    }

    /// Usage revenue in 1e-10 USD, rounded half to even.
    pub fn usage_e10(&self) -> Result<i64, Overflow> {
        narrow(round_half_even(self.usage, USAGE_DENOMINATOR))
    }

    /// Plan fees plus usage revenue, exact.
    pub fn total(&self) -> Result<ExactUsd, Overflow> {
        let usage = self.usage.checked_mul(USAGE_TO_EXACT).ok_or(Overflow)?;
        let parts = self.plan.checked_add(usage).ok_or(Overflow)?;
        Ok(ExactUsd::from_parts(parts))
    }

    /// Plan fees plus usage revenue in 1e-10 USD, rounded once, half to even (so not always the sum
    /// of the two rounded parts).
    pub fn total_e10(&self) -> Result<i64, Overflow> {
        self.total()?.round_e10()
    }

    /// Whether there is neither plan nor usage revenue.
    pub fn is_zero(&self) -> bool {
        self.plan == 0 && self.usage == 0
    }
}

fn narrow(value: i128) -> Result<i64, Overflow> {
    i64::try_from(value).map_err(|_| Overflow)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use proptest::prelude::*;

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("time")
    }

    const FEE: i64 = 990_000_000_000;

    #[test]
    fn a_whole_month_is_exactly_the_monthly_fee() {
        for (from, to) in [
            ("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"),
            ("2028-02-01T00:00:00Z", "2028-03-01T00:00:00Z"),
            ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"),
            ("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        ] {
            let mut revenue = ExactRevenue::default();
            revenue.add_prorated(FEE, at(from), at(to)).unwrap();
            assert_eq!(revenue.plan_e10(), Ok(FEE), "{from}");
            assert_eq!(revenue.total_e10(), Ok(FEE), "{from}");
        }
    }

    #[test]
    fn a_part_of_a_month_is_its_share_of_that_month() {
        // 10 days of a 30-day month: 33.0000000000.
        let mut revenue = ExactRevenue::default();
        revenue
            .add_prorated(FEE, at("2026-11-11T00:00:00Z"), at("2026-11-21T00:00:00Z"))
            .unwrap();
        assert_eq!(revenue.plan_e10(), Ok(330_000_000_000));
        // One hour of November: 99 / 720 = 0.1375; of December: 99 / 744 = 0.13306451612903…
        let mut revenue = ExactRevenue::default();
        revenue
            .add_prorated(FEE, at("2026-11-30T23:00:00Z"), at("2026-12-01T01:00:00Z"))
            .unwrap();
        assert_eq!(revenue.plan_e10(), Ok(1_375_000_000 + 1_330_645_161));
    }

    #[test]
    fn rounding_is_half_to_even_and_once() {
        assert_eq!(round_half_even(5, 10), 0);
        assert_eq!(round_half_even(15, 10), 2);
        assert_eq!(round_half_even(25, 10), 2);
        assert_eq!(round_half_even(-5, 10), 0);
        assert_eq!(round_half_even(-15, 10), -2);
        assert_eq!(round_half_even(26, 10), 3);
        // Usage of 0.00000000005 USD (half a unit) rounds to even: 0; 3 halves → 2 units.
        let half = Decimal::new(5, 11);
        let mut revenue = ExactRevenue::default();
        revenue.add_usage(1, half).unwrap();
        assert_eq!(revenue.usage_e10(), Ok(0));
        revenue.add_usage(2, half).unwrap();
        assert_eq!(revenue.usage_e10(), Ok(2));
        // Plan 0.4 unit + usage 0.3 unit: each rounds to 0, the total to 1.
        let mut revenue = ExactRevenue::default();
        revenue.add_usage(3, Decimal::new(1, 11)).unwrap();
        revenue.plan = PLAN_DENOMINATOR * 4 / 10;
        assert_eq!((revenue.plan_e10(), revenue.usage_e10()), (Ok(0), Ok(0)));
        assert_eq!(revenue.total_e10(), Ok(1));
        // Usage of exactly 1.5 units rounds to 2 alone and in the total (the tie is decided on the
        // whole amount, not on its fraction); 4.5 units round to 4.
        let mut revenue = ExactRevenue::default();
        revenue.add_usage(3, half).unwrap();
        assert_eq!((revenue.usage_e10(), revenue.total_e10()), (Ok(2), Ok(2)));
        revenue.add_usage(6, half).unwrap();
        assert_eq!((revenue.usage_e10(), revenue.total_e10()), (Ok(4), Ok(4)));
        // A plan part of 0.5 unit and usage of 1 unit: 1.5, so 2.
        let mut revenue = ExactRevenue::default();
        revenue.add_usage(1, Decimal::new(1, 10)).unwrap();
        revenue.plan = PLAN_DENOMINATOR / 2;
        assert_eq!(revenue.total_e10(), Ok(2));
    }

    #[test]
    fn usage_keeps_every_digit_of_the_price() {
        let mut revenue = ExactRevenue::default();
        revenue
            .add_usage(3, "0.000000000000000001".parse().unwrap())
            .unwrap();
        revenue.add_usage(7, "0.25".parse().unwrap()).unwrap();
        assert_eq!(revenue.usage, 3 + 7 * 250_000_000_000_000_000);
        assert_eq!(revenue.usage_e10(), Ok(17_500_000_000));
    }

    proptest! {
        #[test]
        fn splitting_a_span_adds_up_exactly(
            start in 0_i64..(3 * 366 * 24 * 3600),
            length in 1_i64..(200 * 24 * 3600),
            cut in 0_i64..=1_000_000,
            micros in 0_i64..1_000_000,
            fee in 0_i64..100_000_000_000_000,
        ) {
            let base = at("2026-01-01T00:00:00Z");
            let from = base + Duration::seconds(start) + Duration::microseconds(micros);
            let to = from + Duration::seconds(length);
            let middle = from + Duration::microseconds(length * cut);
            let mut whole = ExactRevenue::default();
            whole.add_prorated(fee, from, to).unwrap();
            let mut parts = ExactRevenue::default();
            parts.add_prorated(fee, from, middle).unwrap();
            let mut second = ExactRevenue::default();
            second.add_prorated(fee, middle, to).unwrap();
            parts.add(second).unwrap();
            prop_assert_eq!(whole, parts);
        }

        /// The total is one rounding of the exact sum: usage alone rounds as `usage_e10`, plan
        /// fees alone as `plan_e10`, and any mix to the nearest unit, ties to even.
        #[test]
        fn the_total_is_rounded_once_from_the_exact_sum(
            quantity in 0_i64..1_000_000,
            price_e18 in 0_i64..10_000_000_000,
            plan in 0_i128..(PLAN_DENOMINATOR * 1_000_000),
        ) {
            let mut usage = ExactRevenue::default();
            usage.add_usage(quantity, Decimal::new(price_e18, PRICE_SCALE)).unwrap();
            prop_assert_eq!(usage.total_e10(), usage.usage_e10());
            let fees = ExactRevenue { plan, usage: 0 };
            prop_assert_eq!(fees.total_e10(), fees.plan_e10());
            let mut both = fees;
            both.add(usage).unwrap();
            let exact = plan + i128::from(quantity) * i128::from(price_e18) * USAGE_TO_EXACT;
            let rounded = i128::from(both.total_e10().unwrap());
            let twice_distance = (rounded * PLAN_DENOMINATOR - exact).abs() * 2;
            prop_assert!(twice_distance <= PLAN_DENOMINATOR);
            prop_assert!(twice_distance < PLAN_DENOMINATOR || rounded % 2 == 0);
        }

        #[test]
        fn whole_months_sum_to_whole_fees(first in 0_u32..24, count in 1_u32..24, fee in 0_i64..100_000_000_000_000) {
            let mut from = at("2026-01-01T00:00:00Z");
            for _ in 0..first { from = next_month(from); }
            let mut to = from;
            for _ in 0..count { to = next_month(to); }
            let mut revenue = ExactRevenue::default();
            revenue.add_prorated(fee, from, to).unwrap();
            prop_assert_eq!(revenue.total_e10(), Ok(fee * i64::from(count)));
        }
    }
}
