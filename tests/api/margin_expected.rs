//! The `GetMargin` rows the test data set must give, computed from the records sent (see
//! `report_data`), never from the server: events, lines, runs, plan fees and usage revenue.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use tally::pb::ReportDimension as D;

use crate::report_data::{Ev, Line, e10, events, money, plan_at, plan_fees, price_at};

pub fn value(event: &Ev, line: Option<&Line>, dimension: D) -> String {
    match dimension {
        D::Customer => event.customer.to_owned(),
        D::Plan => plan_at(event.customer, event.at).to_owned(),
        D::Agent => event.agent.to_owned(),
        D::Signal => event.signal.to_owned(),
        D::User => event.user.to_owned(),
        D::Provider => line.map_or("", |l| l.provider).to_owned(),
        D::Model => line.map_or("", |l| l.model).to_owned(),
        D::Unspecified => unreachable!(),
    }
}

#[derive(Default, Debug)]
struct Sums {
    events: u64,
    runs: u64,
    unpriced: u64,
    cost: i64,
    input: u64,
    plan: Decimal,
    usage: Decimal,
}

/// What a grouping (with its filters) carries: (line level, revenue, runs).
fn carries(group_by: &[D], filters: &[(D, &[&str])]) -> (bool, bool, bool) {
    let used: Vec<D> = group_by
        .iter()
        .copied()
        .chain(filters.iter().map(|f| f.0))
        .collect();
    let line_level = used.iter().any(|d| matches!(d, D::Provider | D::Model));
    let revenue = used.iter().all(|d| matches!(d, D::Customer | D::Plan));
    let runs = used
        .iter()
        .all(|d| matches!(d, D::Customer | D::Plan | D::Agent | D::User));
    (line_level, revenue, runs)
}

/// Exact revenue (plan fees and usage revenue, unrounded) per customer.
pub fn revenue_by_customer(from: DateTime<Utc>, to: DateTime<Utc>) -> BTreeMap<String, Decimal> {
    group_sums(from, to, &[D::Customer], &[], true)
        .into_iter()
        .map(|(key, sums)| (key[0].clone(), sums.plan + sums.usage))
        .collect()
}

/// The unrounded figures of each group, computed from the records.
fn group_sums(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    group_by: &[D],
    filters: &[(D, &[&str])],
    mapped: bool,
) -> BTreeMap<Vec<String>, Sums> {
    let (line_level, revenue, runs) = carries(group_by, filters);
    let keeps = |event: &Ev, line: Option<&Line>| {
        filters
            .iter()
            .all(|(d, values)| values.contains(&value(event, line, *d).as_str()))
    };
    let key = |event: &Ev, line: Option<&Line>| -> Vec<String> {
        group_by.iter().map(|d| value(event, line, *d)).collect()
    };
    let mut groups: BTreeMap<Vec<String>, Sums> = BTreeMap::new();
    let all = events();
    for event in all.iter().filter(|e| e.at >= from && e.at < to) {
        if line_level {
            let mut counted = BTreeSet::new();
            for line in event.lines.iter().filter(|l| keeps(event, Some(l))) {
                let k = key(event, Some(line));
                let sums = groups.entry(k.clone()).or_default();
                // The line aggregates count events per provider and model.
                if counted.insert((k, line.provider, line.model)) {
                    sums.events += 1;
                }
                sums.cost += line.cost(mapped).unwrap_or(0);
                sums.unpriced += u64::from(line.cost(mapped).is_none());
                sums.input += line.tokens().0 as u64;
            }
        } else if keeps(event, None) {
            let sums = groups.entry(key(event, None)).or_default();
            sums.events += 1;
            sums.cost += event
                .lines
                .iter()
                .filter_map(|l| l.cost(mapped))
                .sum::<i64>();
            sums.unpriced += u64::from(event.lines.iter().any(|l| l.cost(mapped).is_none()));
            sums.input += event.lines.iter().map(|l| l.tokens().0 as u64).sum::<u64>();
            if let Some(price) = price_at(plan_at(event.customer, event.at), event.signal, event.at)
            {
                sums.usage += price * Decimal::from(event.quantity);
            }
        }
    }
    if runs {
        let mut started = BTreeSet::new();
        for event in &all {
            if event.run.is_empty() || !started.insert(event.run) {
                continue;
            }
            if event.at >= from && event.at < to && keeps(event, None) {
                groups.entry(key(event, None)).or_default().runs += 1;
            }
        }
    }
    if revenue {
        for ((customer, plan), fee) in plan_fees(from, to) {
            let values = |d: D| {
                if d == D::Customer {
                    customer.clone()
                } else {
                    plan.clone()
                }
            };
            if filters
                .iter()
                .all(|(d, v)| v.contains(&values(*d).as_str()))
            {
                let k = group_by.iter().map(|d| values(*d)).collect();
                groups.entry(k).or_default().plan += fee;
            }
        }
    }
    groups
}

/// The rows a report must give, as comparable text, computed from the records: money and
/// percentages each rounded once from the exact figures.
pub fn expected(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    group_by: &[D],
    filters: &[(D, &[&str])],
    mapped: bool,
) -> BTreeMap<Vec<String>, Vec<String>> {
    let (line_level, revenue, _) = carries(group_by, filters);
    group_sums(from, to, group_by, filters, mapped)
        .into_iter()
        .map(|(k, s)| {
            let cost = Decimal::new(s.cost, 10);
            let total = s.plan + s.usage;
            let pct = |part: Decimal| {
                if total.is_zero() {
                    String::new()
                } else {
                    format!(
                        "{:.2}",
                        (part * Decimal::ONE_HUNDRED / total)
                            .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven)
                    )
                }
            };
            let on = |flag: bool, text: String| if flag { text } else { String::new() };
            let row = vec![
                on(revenue, money(total)),
                on(revenue, money(s.plan)),
                on(!line_level, money(s.usage)),
                e10(s.cost),
                on(revenue, money(total - cost)),
                on(revenue, pct(total - cost)),
                on(revenue, pct(cost)),
                s.events.to_string(),
                s.runs.to_string(),
                s.unpriced.to_string(),
                s.input.to_string(),
            ];
            (k, row)
        })
        .collect()
}
