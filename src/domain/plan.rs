//! A customer's plan history: periods that each start when a record (or `UpdateCustomer`) carries a
//! plan different from the one in force at that time, and last until the next period.

use chrono::{DateTime, Utc};

use super::event::Plan;

/// A period of a customer's plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanPeriod {
    pub start_time: DateTime<Utc>,
    pub plan: Plan,
}

/// The plan in force at `at` in a history sorted by start time.
pub fn plan_at(history: &[PlanPeriod], at: DateTime<Utc>) -> Option<&PlanPeriod> {
    history
        .iter()
        .take_while(|period| period.start_time <= at)
        .last()
}

/// Records that `plan` is in force from `at` on: when it differs from the plan in force then, a new
/// period starts at `at` (replacing one that starts at the same instant) and is returned.
pub fn start_plan(
    history: &mut Vec<PlanPeriod>,
    plan: &Plan,
    at: DateTime<Utc>,
) -> Option<PlanPeriod> {
    if plan_at(history, at).is_some_and(|period| period.plan == *plan) {
        return None;
    }
    let period = PlanPeriod {
        start_time: at,
        plan: plan.clone(),
    };
    match history.binary_search_by_key(&at, |period| period.start_time) {
        Ok(same_instant) => history[same_instant] = period.clone(),
        Err(position) => history.insert(position, period.clone()),
    }
    Some(period)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::money::Usd;

    fn plan(name: &str, monthly: i64) -> Plan {
        Plan {
            name: name.into(),
            monthly: Usd::from_e10(monthly * 10_000_000_000),
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("time")
    }

    #[test]
    fn a_new_plan_starts_a_period_and_the_same_plan_does_not() {
        let mut history = Vec::new();
        assert!(start_plan(&mut history, &plan("pro", 99), at("2026-11-01T00:00:00Z")).is_some());
        assert!(start_plan(&mut history, &plan("pro", 99), at("2026-11-10T00:00:00Z")).is_none());
        assert!(start_plan(&mut history, &plan("team", 299), at("2026-11-15T12:00:00Z")).is_some());
        assert_eq!(history.len(), 2);
        assert_eq!(
            plan_at(&history, at("2026-11-14T00:00:00Z"))
                .unwrap()
                .plan
                .name,
            "pro"
        );
        assert_eq!(
            plan_at(&history, at("2026-11-20T00:00:00Z"))
                .unwrap()
                .plan
                .name,
            "team"
        );
        assert!(plan_at(&history, at("2026-10-01T00:00:00Z")).is_none());
    }

    #[test]
    fn a_back_filled_plan_applies_until_the_next_period() {
        let mut history = Vec::new();
        start_plan(&mut history, &plan("team", 299), at("2026-11-15T00:00:00Z"));
        start_plan(&mut history, &plan("pro", 99), at("2026-11-01T00:00:00Z"));
        assert_eq!(
            plan_at(&history, at("2026-11-05T00:00:00Z"))
                .unwrap()
                .plan
                .name,
            "pro"
        );
        assert_eq!(
            plan_at(&history, at("2026-11-16T00:00:00Z"))
                .unwrap()
                .plan
                .name,
            "team"
        );
    }
}
