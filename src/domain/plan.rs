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

/// Whether `plan` is already the plan in force at `at`: a record or update carrying it changes
/// nothing.
pub fn in_force(history: &[PlanPeriod], plan: &Plan, at: DateTime<Utc>) -> bool {
    plan_at(history, at).is_some_and(|period| period.plan == *plan)
}

/// Records that `plan` is in force from `at` on: when it differs from the plan in force then, a new
/// period starts at `at` (replacing one that starts at the same instant) and is returned.
pub fn start_plan(
    history: &mut Vec<PlanPeriod>,
    plan: &Plan,
    at: DateTime<Utc>,
) -> Option<PlanPeriod> {
    if in_force(history, plan, at) {
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

/// A span of time `[from, until)` (open-ended without `until`) that a changed plan history puts
/// under the plan `plan_name`, where it was under another plan, or none, before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MovedSpan {
    pub from: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
    pub plan_name: String,
}

/// The spans whose plan differs between two histories of one customer (sorted by start time),
/// each with the plan `after` puts in force there; neighbouring spans of one plan are joined.
/// Plans are compared by name, the part events and run counts are stored under. Periods are
/// only ever added, so `after` has a plan wherever `before` had one; a span `after` leaves
/// without one is not listed.
pub fn moved_spans(before: &[PlanPeriod], after: &[PlanPeriod]) -> Vec<MovedSpan> {
    let mut starts: Vec<DateTime<Utc>> = before
        .iter()
        .chain(after)
        .map(|period| period.start_time)
        .collect();
    starts.sort_unstable();
    starts.dedup();
    let name = |history, at| plan_at(history, at).map(|period| period.plan.name.as_str());
    let mut spans: Vec<MovedSpan> = Vec::new();
    // Between two neighbouring start times, neither history changes plan.
    for (position, &from) in starts.iter().enumerate() {
        let until = starts.get(position + 1).copied();
        let old = name(before, from);
        let Some(new) = name(after, from).filter(|new| old != Some(*new)) else {
            continue;
        };
        match spans.last_mut() {
            Some(last) if last.until == Some(from) && last.plan_name == new => last.until = until,
            _ => spans.push(MovedSpan {
                from,
                until,
                plan_name: new.to_owned(),
            }),
        }
    }
    spans
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

    fn moved(from: &str, until: Option<&str>, plan_name: &str) -> MovedSpan {
        MovedSpan {
            from: at(from),
            until: until.map(at),
            plan_name: plan_name.to_owned(),
        }
    }

    #[test]
    fn a_period_started_before_others_moves_the_span_until_the_next_one() {
        let mut history = Vec::new();
        start_plan(&mut history, &plan("pro", 99), at("2026-11-01T00:00:00Z"));
        start_plan(&mut history, &plan("team", 299), at("2026-11-20T00:00:00Z"));
        let before = history.clone();
        start_plan(
            &mut history,
            &plan("scale", 500),
            at("2026-11-10T00:00:00Z"),
        );
        assert_eq!(
            moved_spans(&before, &history),
            [moved(
                "2026-11-10T00:00:00Z",
                Some("2026-11-20T00:00:00Z"),
                "scale"
            )]
        );
        // Before every period: from there to the first one, which had no plan before.
        let before = history.clone();
        start_plan(&mut history, &plan("free", 0), at("2026-10-01T00:00:00Z"));
        assert_eq!(
            moved_spans(&before, &history),
            [moved(
                "2026-10-01T00:00:00Z",
                Some("2026-11-01T00:00:00Z"),
                "free"
            )]
        );
        // After every period: open-ended.
        let before = history.clone();
        start_plan(&mut history, &plan("pro", 99), at("2026-12-01T00:00:00Z"));
        assert_eq!(
            moved_spans(&before, &history),
            [moved("2026-12-01T00:00:00Z", None, "pro")]
        );
        assert_eq!(moved_spans(&history, &history), []);
    }

    #[test]
    fn a_new_fee_for_the_same_plan_moves_nothing_and_spans_of_one_plan_are_joined() {
        let before = vec![PlanPeriod {
            start_time: at("2026-11-10T00:00:00Z"),
            plan: plan("pro", 99),
        }];
        let mut after = before.clone();
        start_plan(&mut after, &plan("pro", 79), at("2026-11-15T00:00:00Z"));
        assert_eq!(moved_spans(&before, &after), []);
        // The same plan moved back twice in one change: one span, cut where it was in force.
        start_plan(&mut after, &plan("pro", 99), at("2026-11-01T00:00:00Z"));
        start_plan(&mut after, &plan("pro", 99), at("2026-10-01T00:00:00Z"));
        assert_eq!(
            moved_spans(&before, &after),
            [moved(
                "2026-10-01T00:00:00Z",
                Some("2026-11-10T00:00:00Z"),
                "pro"
            )]
        );
    }

    proptest::proptest! {
        /// Every instant is in a span exactly when its plan name changed, and then under the new
        /// name; spans are sorted and apart.
        #[test]
        fn spans_cover_exactly_the_instants_whose_plan_changed(
            starts in proptest::collection::vec((0i64..40, 0usize..3), 0..6),
            added in proptest::collection::vec((0i64..40, 0usize..3), 1..4),
        ) {
            let names = ["free", "pro", "team"];
            let day = |n: i64| at("2026-11-01T00:00:00Z") + chrono::TimeDelta::days(n);
            let mut before = Vec::new();
            for (n, name) in starts {
                start_plan(&mut before, &plan(names[name], 1), day(n));
            }
            let mut after = before.clone();
            for (n, name) in added {
                start_plan(&mut after, &plan(names[name], 1), day(n));
            }
            let spans = moved_spans(&before, &after);
            for pair in spans.windows(2) {
                proptest::prop_assert!(pair[0].until.is_some_and(|until| until <= pair[1].from));
            }
            let instants = (-1..42).flat_map(|n| [day(n), day(n) + chrono::TimeDelta::hours(12)]);
            for t in instants {
                let name = |history: &[PlanPeriod]| plan_at(history, t).map(|p| p.plan.name.clone());
                let changed = name(&before) != name(&after);
                let covering: Vec<&MovedSpan> = spans
                    .iter()
                    .filter(|span| span.from <= t && span.until.is_none_or(|until| t < until))
                    .collect();
                proptest::prop_assert_eq!(covering.len(), usize::from(changed));
                if let Some(span) = covering.first() {
                    proptest::prop_assert_eq!(Some(span.plan_name.clone()), name(&after));
                }
            }
        }
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
