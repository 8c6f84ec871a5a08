//! Prices stored events again when what they lacked arrives: counts (`FillVolume`), a mapping
//! (`MapModel`) or a project price (`SetPrice`). Only lines still without a cost are recomputed;
//! priced lines keep their cost.

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use std::collections::BTreeSet;

use super::{
    line_pricing::{keep_total_in_range, line_error, parked_for_counts, price_reported},
    price_book::{PriceBook, ProjectPrices},
};
use crate::{
    domain::{
        event::EventStatus,
        ledger::{PricedEvent, PricedLine},
    },
    store::{
        self, StoreError,
        events::StoredEvent,
        repricing::{self, Cause},
    },
};

/// Why and when events are repriced.
pub struct Reason {
    pub cause: Cause,
    pub detail: String,
    pub time: DateTime<Utc>,
}

/// Prices the unpriced lines of `events` that `selects` picks, with `prices`; writes the events that
/// changed, with a repricing record giving the reason, and the new reason of those still parked for
/// another cause. Returns how many changed.
pub async fn reprice(
    txn: &DatabaseTransaction,
    project_id: Uuid,
    prices: &ProjectPrices,
    events: Vec<StoredEvent>,
    selects: impl Fn(&PricedLine) -> bool,
    reason: &Reason,
) -> Result<usize, StoreError> {
    let mut changes = Vec::new();
    let mut reasons = Vec::new();
    for stored in events {
        let old = stored.priced;
        let new = repriced(&old, prices, &selects);
        if !same_pricing(&old, &new) {
            changes.push((old, new));
        } else if let Some(error) = new
            .error()
            .filter(|error| Some(error) != stored.error.as_ref())
        {
            reasons.push((new.id, error));
        }
    }
    repricing::rewrite(
        txn,
        project_id,
        &changes,
        reason.cause,
        &reason.detail,
        reason.time,
    )
    .await?;
    repricing::set_errors(txn, project_id, &reasons).await?;
    Ok(changes.len())
}

/// Prices again the project's events parked for a provider+model (as sent), those from `from` on
/// when given; returns how many changed.
pub async fn reprice_parked(
    txn: &DatabaseTransaction,
    project_id: Uuid,
    book: &PriceBook,
    model: &(String, String),
    from: Option<DateTime<Utc>>,
    reason: &Reason,
) -> Result<usize, StoreError> {
    let parked = EventStatus::NeedsCostBackfill.as_str();
    let ids =
        repricing::events_with_lines(txn, project_id, &model.0, &model.1, parked, from).await?;
    let events = store::events::load(txn, project_id, &ids).await?;
    let prices = book
        .for_project(txn, project_id, &BTreeSet::from([model.clone()]))
        .await?;
    let same_model = |line: &PricedLine| line.provider == model.0 && line.model == model.1;
    reprice(txn, project_id, &prices, events, same_model, reason).await
}

/// Whether two versions of an event are priced alike (a new reason for the same gap is no change).
fn same_pricing(old: &PricedEvent, new: &PricedEvent) -> bool {
    old.lines.iter().zip(&new.lines).all(|(a, b)| {
        (a.status, a.cost, &a.items, &a.priced_as, a.usage)
            == (b.status, b.cost, &b.items, &b.priced_as, b.usage)
    })
}

/// The event with its selected unpriced lines priced again. A line whose counts break its
/// provider's convention stays parked with that reason; lines not priced again keep their status,
/// with the reason their status gives when the stored one is not at hand.
pub fn repriced(
    event: &PricedEvent,
    prices: &ProjectPrices,
    selects: impl Fn(&PricedLine) -> bool,
) -> PricedEvent {
    let mut new = event.clone();
    for (index, line) in new.lines.iter_mut().enumerate() {
        if line.status == EventStatus::Processed {
            continue;
        }
        if !selects(line) {
            if line.error.is_none() {
                line.error = Some(line_error(index, line));
            }
            continue;
        }
        let resolved = prices.resolve(&line.provider, &line.model, event.usage_time);
        *line = price_reported(index, &line.input(), resolved)
            .unwrap_or_else(|violations| parked_for_counts(index, line, &violations));
    }
    keep_total_in_range(&mut new.lines, &event.lines);
    new
}
