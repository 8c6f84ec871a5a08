//! Rewrites events whose cost changed after they were stored (`FillVolume`, `MapModel`,
//! `SetPrice`): their lines, items, status and total, a repricing record each, and the running
//! totals (the old figures taken out, the new ones put in), in the caller's transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, Value,
    sea_query::{Alias, Expr, ExprTrait, Query},
};
use uuid::Uuid;

use super::{
    StoreError,
    entities::repricings,
    fold_queue,
    ingest::{LINE_COST_ITEMS, item_row},
    sql::{Table, val},
    totals::apply_deltas,
};
use crate::domain::{
    ledger::{Deltas, PricedEvent},
    money::Usd,
};

/// What caused a repricing, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    MapModel,
    FillVolume,
    SetPrice,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MapModel => "MAP_MODEL",
            Self::FillVolume => "FILL_VOLUME",
            Self::SetPrice => "SET_PRICE",
        }
    }
}

/// The ids of the project's events with a line of this provider and model (as sent) in `status`.
pub async fn events_with_lines(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    provider: &str,
    model: &str,
    status: &str,
    from: Option<DateTime<Utc>>,
) -> Result<Vec<Uuid>, StoreError> {
    let (l, e) = (Alias::new("service_lines"), Alias::new("cost_events"));
    let mut select = Query::select()
        .distinct()
        .column((l.clone(), Alias::new("event_ref")))
        .from(l.clone())
        .inner_join(
            e.clone(),
            Expr::col((e.clone(), Alias::new("id"))).equals((l.clone(), Alias::new("event_ref"))),
        )
        .and_where(Expr::col((l.clone(), Alias::new("project_id"))).eq(project_id))
        .and_where(Expr::col((l.clone(), Alias::new("status"))).eq(status))
        .and_where(Expr::col((l.clone(), Alias::new("provider"))).eq(provider))
        .and_where(Expr::col((l, Alias::new("model"))).eq(model))
        .to_owned();
    if let Some(from) = from {
        select.and_where(Expr::col((e, Alias::new("usage_time"))).gte(from));
    }
    let rows = db.query_all(&select).await?;
    Ok(rows
        .iter()
        .map(|row| row.try_get::<Uuid>("", "event_ref"))
        .collect::<Result<_, _>>()?)
}

/// Writes each event's new lines over its old ones, records why, and moves the running totals.
pub async fn rewrite(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    changes: &[(PricedEvent, PricedEvent)],
    cause: Cause,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = changes.iter().map(|(old, _)| old.id).collect();
    // Events still queued are not in the totals yet: the fold adds them as rewritten here. The
    // lock keeps the queue as read until the transaction ends.
    fold_queue::lock(db, project_id).await?;
    let queued = fold_queue::still_queued(db, project_id, &ids).await?;
    let select = Query::select()
        .columns([
            Alias::new("id"),
            Alias::new("event_ref"),
            Alias::new("line_index"),
        ])
        .from(Alias::new("service_lines"))
        .and_where(Expr::col(Alias::new("project_id")).eq(project_id))
        .and_where(Expr::col(Alias::new("event_ref")).is_in(ids))
        .to_owned();
    let mut line_ids: HashMap<(Uuid, i64), Uuid> = HashMap::new();
    for row in db.query_all(&select).await? {
        line_ids.insert(
            (
                row.try_get("", "event_ref")?,
                row.try_get("", "line_index")?,
            ),
            row.try_get("", "id")?,
        );
    }

    let count = |value: Option<u64>| value.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
    let mut deltas = Deltas::default();
    let mut rewritten_lines = Vec::new();
    let mut items = Vec::new();
    for (old, new) in changes {
        for (index, (before, after)) in old.lines.iter().zip(&new.lines).enumerate() {
            if before == after {
                continue;
            }
            let Some(line_id) = line_ids.get(&(old.id, index as i64)).copied() else {
                return Err(StoreError::Other(sea_orm::DbErr::RecordNotFound(format!(
                    "line {index} of event {}",
                    old.id
                ))));
            };
            let usage = &after.usage;
            let update = Query::update()
                .table(Alias::new("service_lines"))
                .values([
                    (Alias::new("input_tokens"), val(count(usage.input_tokens))),
                    (Alias::new("output_tokens"), val(count(usage.output_tokens))),
                    (
                        Alias::new("cached_input_tokens"),
                        val(count(usage.cached_input_tokens)),
                    ),
                    (
                        Alias::new("cache_creation_tokens"),
                        val(count(usage.cache_creation_tokens)),
                    ),
                    (
                        Alias::new("reasoning_tokens"),
                        val(count(usage.reasoning_tokens)),
                    ),
                    (Alias::new("quantity"), val(count(usage.quantity))),
                    (Alias::new("status"), val(after.status.as_str())),
                    (
                        Alias::new("priced_provider"),
                        val(after.priced_as.as_ref().map(|(p, _)| p.clone())),
                    ),
                    (
                        Alias::new("priced_model"),
                        val(after.priced_as.as_ref().map(|(_, m)| m.clone())),
                    ),
                    (Alias::new("cost_e10"), val(after.cost.map(Usd::e10))),
                    (
                        Alias::new("tier_price_missing"),
                        val(after.tier_price_missing()),
                    ),
                ])
                .and_where(Expr::col(Alias::new("id")).eq(line_id))
                .to_owned();
            db.execute(&update).await?;
            rewritten_lines.push(line_id);
            items.extend(
                after
                    .items
                    .iter()
                    .map(|item| item_row(project_id, line_id, item)),
            );
        }
        let update = Query::update()
            .table(Alias::new("cost_events"))
            .values([
                (Alias::new("status"), val(new.status().as_str())),
                (Alias::new("total_cost_e10"), val(new.total().map(Usd::e10))),
                (Alias::new("error"), val(new.error())),
            ])
            .and_where(Expr::col(Alias::new("id")).eq(new.id))
            .and_where(Expr::col(Alias::new("project_id")).eq(project_id))
            .to_owned();
        db.execute(&update).await?;
        if !queued.contains(&old.id) {
            deltas.add_event(old, -1)?;
            deltas.add_event(new, 1)?;
        }
    }
    if !rewritten_lines.is_empty() {
        let delete = Query::delete()
            .from_table(Alias::new("line_cost_items"))
            .and_where(Expr::col(Alias::new("line_ref")).is_in(rewritten_lines))
            .to_owned();
        db.execute(&delete).await?;
    }
    LINE_COST_ITEMS.insert_all(db, items).await?;
    let records = changes.iter().map(|(old, new)| {
        vec![
            Value::from(Uuid::now_v7()),
            Value::from(project_id),
            Value::from(new.id),
            Value::from(now),
            Value::from(cause.as_str()),
            Value::from(detail.to_owned()),
            Value::from(old.status().as_str()),
            Value::from(new.status().as_str()),
            Value::from(old.total().map(Usd::e10)),
            Value::from(new.total().map(Usd::e10)),
        ]
    });
    let table = {
        use repricings::Column::*;
        Table::of([
            Id,
            ProjectId,
            EventRef,
            RepriceTime,
            Reason,
            Detail,
            OldStatus,
            NewStatus,
            OldCostE10,
            NewCostE10,
        ])
    };
    table.insert_all(db, records.collect()).await?;
    deltas.prune();
    apply_deltas(db, project_id, &deltas).await
}

/// Writes the reason of events still parked whose reason changed (a mapping applied to counts that
/// break their provider's convention, a target that lacks a rate): their figures stay as they are.
pub async fn set_errors(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    errors: &[(Uuid, String)],
) -> Result<(), StoreError> {
    for (event_id, error) in errors {
        let update = Query::update()
            .table(Alias::new("cost_events"))
            .values([(Alias::new("error"), val(Some(error.clone())))])
            .and_where(Expr::col(Alias::new("id")).eq(*event_id))
            .and_where(Expr::col(Alias::new("project_id")).eq(project_id))
            .to_owned();
        db.execute(&update).await?;
    }
    Ok(())
}
