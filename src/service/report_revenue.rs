//! Revenue of report groups, exact before rounding: plan fees prorated over the calendar months
//! (UTC) of each sub-window, and usage revenue, signal quantity × the signal price of the plan in
//! force at the event's time.
//!
//! Usage revenue reads the aggregates for every hour (or whole day or month) in which one price is
//! in force throughout, and the events themselves only for the hours in which a price of that plan and
//! signal takes effect at a time that is not a whole hour, so the figure is exact without a scan.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::{
    domain::{
        DomainError,
        report::{Dimension, Filter, Window, ceil_hour, floor_hour, is_whole_hour},
        revenue::{ExactRevenue, Overflow},
    },
    store::{
        report_inputs,
        report_reads::{self, GroupQuery, PriceSpan},
    },
};

/// A group key and, when grouped by period, the start of the period (or of the hour).
pub type GroupKey = (Vec<String>, Option<DateTime<Utc>>);

fn overflow(error: Overflow) -> DomainError {
    DomainError::Internal(Box::new(error))
}

/// Prices of one plan and signal, by effective time.
type PriceHistory = Vec<(DateTime<Utc>, Decimal)>;

fn price_at(history: &PriceHistory, at: DateTime<Utc>) -> Option<Decimal> {
    history
        .iter()
        .take_while(|(effective, _)| *effective <= at)
        .last()
        .map(|(_, price)| *price)
}

/// Usage revenue per group of `query` (event-level dimensions only).
pub async fn usage_revenue(
    db: &impl ConnectionTrait,
    query: &GroupQuery<'_>,
) -> Result<HashMap<GroupKey, ExactRevenue>, DomainError> {
    let mut histories: BTreeMap<(String, String), PriceHistory> = BTreeMap::new();
    for price in report_inputs::signal_prices(db, query.project_id).await? {
        histories
            .entry((price.plan_name, price.signal_name))
            .or_default()
            .push((price.effective_time, price.unit_price));
    }
    let window = query.window;
    let mut spans = Vec::new();
    let mut span_prices = Vec::new();
    let mut mixed: HashMap<(String, String), HashSet<DateTime<Utc>>> = HashMap::new();
    for ((plan, signal), history) in &histories {
        for (index, (effective, price)) in history.iter().enumerate() {
            let until = history
                .get(index + 1)
                .map_or(window.end, |(next, _)| floor_hour(*next));
            if let Some((from, to)) = window.clip(ceil_hour(*effective), until) {
                spans.push(PriceSpan {
                    plan_name: plan.clone(),
                    signal_name: signal.clone(),
                    from_hour: from,
                    to_hour: to,
                });
                span_prices.push(*price);
            }
            let hour = floor_hour(*effective);
            if !is_whole_hour(*effective) && hour >= window.start && hour < window.end {
                mixed
                    .entry((plan.clone(), signal.clone()))
                    .or_default()
                    .insert(hour);
            }
        }
    }
    let mut revenue: HashMap<GroupKey, ExactRevenue> = HashMap::new();
    if !spans.is_empty() {
        for (span, group) in report_reads::span_quantities(db, query, &spans).await? {
            let price = span_prices.get(span).copied().unwrap_or_default();
            revenue
                .entry((group.key, group.period))
                .or_default()
                .add_usage(group.sums[0], price)
                .map_err(overflow)?;
        }
    }
    let hours: Vec<DateTime<Utc>> = mixed
        .values()
        .flatten()
        .copied()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if hours.is_empty() {
        return Ok(revenue);
    }
    for event in report_inputs::events_in_hours(db, query.project_id, &hours).await? {
        let pair = (event.plan_name.clone(), event.signal_name.clone());
        let hour = floor_hour(event.usage_time);
        let in_mixed_hour = mixed.get(&pair).is_some_and(|set| set.contains(&hour));
        let kept = query
            .filters
            .iter()
            .all(|filter| filter.keeps(event.value(filter.dimension)));
        let price = histories
            .get(&pair)
            .and_then(|history| price_at(history, event.usage_time));
        let (true, true, Some(price)) = (in_mixed_hour, kept, price) else {
            continue;
        };
        let key = query
            .dimensions
            .iter()
            .map(|dimension| event.value(*dimension).to_owned())
            .collect();
        revenue
            .entry((key, query.period.map(|_| hour)))
            .or_default()
            .add_usage(event.quantity, price)
            .map_err(overflow)?;
    }
    Ok(revenue)
}

/// Plan fees per group (of CUSTOMER and PLAN dimensions) and sub-window: each plan period's
/// monthly fee prorated over the part of each calendar month it covers in the sub-window. Keys are
/// the group values and the index of the sub-window; sub-windows must be sorted and disjoint.
pub async fn plan_revenue(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    dimensions: &[Dimension],
    filters: &[Filter],
    windows: &[Window],
) -> Result<HashMap<(Vec<String>, usize), ExactRevenue>, DomainError> {
    let customers = filters
        .iter()
        .find(|filter| filter.dimension == Dimension::Customer)
        .map(|filter| filter.values.as_slice());
    let plans = filters
        .iter()
        .find(|filter| filter.dimension == Dimension::Plan);
    let (Some(first), Some(last)) = (windows.first(), windows.last()) else {
        return Ok(HashMap::new());
    };
    // A period that starts after the windows cannot end one in them sooner than they end.
    let periods = report_inputs::plan_periods(db, project_id, customers, last.end).await?;
    let far_future = last.end + Duration::days(1);
    let mut revenue: HashMap<(Vec<String>, usize), ExactRevenue> = HashMap::new();
    for (index, period) in periods.iter().enumerate() {
        let end = periods
            .get(index + 1)
            .filter(|next| next.customer_id == period.customer_id)
            .map_or(far_future, |next| next.start_time);
        if plans.is_some_and(|filter| !filter.keeps(&period.plan_name))
            || end <= first.start
            || period.start_time >= last.end
        {
            continue;
        }
        let key: Vec<String> = dimensions
            .iter()
            .map(|dimension| match dimension {
                Dimension::Customer => period.customer_id.clone(),
                _ => period.plan_name.clone(),
            })
            .collect();
        let from = windows.partition_point(|window| window.end <= period.start_time);
        for (offset, window) in windows[from..].iter().enumerate() {
            if window.start >= end {
                break;
            }
            if let Some((start, stop)) = window.clip(period.start_time, end) {
                revenue
                    .entry((key.clone(), from + offset))
                    .or_default()
                    .add_prorated(period.monthly_e10, start, stop)
                    .map_err(overflow)?;
            }
        }
    }
    Ok(revenue)
}
