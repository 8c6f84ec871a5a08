//! The events of a batch: the ones already stored under its idempotency keys, and the rows of new
//! events, their service lines and cost items.

use std::{
    collections::{HashMap, HashSet},
    sync::LazyLock,
};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, Value};
use uuid::Uuid;

use super::returned_ids;
use crate::{
    domain::{ledger::PricedEvent, money::Usd, pricing::CostItem},
    store::{
        StoreError,
        entities::{cost_events, line_cost_items, service_lines},
        sql::{Params, Table, Writes},
    },
};

/// The events already stored under these idempotency keys.
pub async fn events_by_key(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    keys: &[String],
) -> Result<HashMap<String, Uuid>, StoreError> {
    let mut found = HashMap::new();
    if keys.is_empty() {
        return Ok(found);
    }
    let mut params = Params::new(db.get_database_backend());
    let sql = format!(
        "SELECT id, idempotency_key FROM cost_events WHERE project_id = {} AND idempotency_key {}",
        params.bind(project_id),
        params.in_texts(keys.to_vec()),
    );
    for row in db.query_all_raw(params.into_statement(sql)).await? {
        found.insert(row.try_get_by_index(1)?, row.try_get_by_index(0)?);
    }
    Ok(found)
}

/// The event rows, one per record stored.
pub static COST_EVENTS: LazyLock<Table> = LazyLock::new(|| {
    use cost_events::Column::*;
    Table::of([
        Id,
        ProjectId,
        IdempotencyKey,
        CustomerRef,
        AgentRef,
        SignalRef,
        UserId,
        RunRef,
        PlanName,
        Quantity,
        UsageTime,
        ReceiveTime,
        Status,
        TotalCostE10,
        Metadata,
        Error,
    ])
});

/// The service lines of an event, one per service called.
pub static SERVICE_LINES: LazyLock<Table> = LazyLock::new(|| {
    use service_lines::Column::*;
    Table::of([
        Id,
        ProjectId,
        EventRef,
        LineIndex,
        Provider,
        Model,
        ServiceTier,
        InputTokens,
        OutputTokens,
        CachedInputTokens,
        CacheCreationTokens,
        ReasoningTokens,
        Quantity,
        ManualCostE10,
        LatencyMs,
        CallStatus,
        Status,
        PricedProvider,
        PricedModel,
        CostE10,
        TierPriceMissing,
    ])
});

/// The cost items of a line, one per priced dimension, in the column order of [`item_row`].
pub static LINE_COST_ITEMS: LazyLock<Table> = LazyLock::new(|| Table::of(ITEM_COLUMNS));

/// An event row to insert, with its resolved references.
pub struct NewEvent<'a> {
    pub event: &'a PricedEvent,
    pub idempotency_key: Option<&'a str>,
    pub customer_ref: Uuid,
    pub agent_ref: Uuid,
    pub signal_ref: Option<Uuid>,
    pub metadata: Option<&'a serde_json::Value>,
    pub receive_time: DateTime<Utc>,
}

/// Inserts events; an event whose idempotency key another writer stored first is skipped (the unique
/// index decides, not a prior check). Returns the ids actually inserted.
pub async fn insert_events(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    events: &[NewEvent<'_>],
) -> Result<HashSet<Uuid>, StoreError> {
    let rows = events
        .iter()
        .map(|new| {
            let event = new.event;
            let errors: Vec<&str> = event
                .lines
                .iter()
                .filter_map(|line| line.error.as_deref())
                .collect();
            vec![
                Value::from(event.id),
                Value::from(project_id),
                Value::from(new.idempotency_key.map(str::to_owned)),
                Value::from(new.customer_ref),
                Value::from(new.agent_ref),
                Value::from(new.signal_ref),
                Value::from(event.user_id.clone()),
                Value::from(event.run),
                Value::from(event.plan_name.clone()),
                Value::from(i64::try_from(event.quantity).unwrap_or(i64::MAX)),
                Value::from(event.usage_time),
                Value::from(new.receive_time),
                Value::from(event.status().as_str()),
                Value::from(event.total().map(Usd::e10)),
                Value::from(new.metadata.cloned()),
                Value::from((!errors.is_empty()).then(|| errors.join("; "))),
            ]
        })
        .collect();
    let returned = COST_EVENTS
        .insert_new(
            db,
            rows,
            &[
                cost_events::Column::ProjectId,
                cost_events::Column::IdempotencyKey,
            ],
            &[cost_events::Column::Id],
        )
        .await?;
    returned_ids(returned)
}

/// Inserts the service lines and cost items of events just inserted.
pub async fn insert_lines(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    events: &[&PricedEvent],
) -> Result<(), StoreError> {
    let count = |value: Option<u64>| value.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
    let mut lines = Vec::new();
    let mut items = Vec::new();
    for event in events {
        for (index, line) in event.lines.iter().enumerate() {
            let line_id = Uuid::now_v7();
            let usage = &line.usage;
            lines.push(vec![
                Value::from(line_id),
                Value::from(project_id),
                Value::from(event.id),
                Value::from(index as i64),
                Value::from(line.provider.clone()),
                Value::from(line.model.clone()),
                Value::from(usage.tier.as_str()),
                Value::from(count(usage.input_tokens)),
                Value::from(count(usage.output_tokens)),
                Value::from(count(usage.cached_input_tokens)),
                Value::from(count(usage.cache_creation_tokens)),
                Value::from(count(usage.reasoning_tokens)),
                Value::from(count(usage.quantity)),
                Value::from(line.manual_cost.map(Usd::e10)),
                Value::from(line.latency_ms),
                Value::from(line.call_status.clone()),
                Value::from(line.status.as_str()),
                Value::from(
                    line.priced_as
                        .as_ref()
                        .map(|(provider, _)| provider.clone()),
                ),
                Value::from(line.priced_as.as_ref().map(|(_, model)| model.clone())),
                Value::from(line.cost.map(Usd::e10)),
                Value::from(line.tier_price_missing()),
            ]);
            for item in &line.items {
                items.push(item_row(project_id, line_id, item));
            }
        }
    }
    // One statement on PostgreSQL: a lone batch waits one round trip for them, not two.
    let mut writes = Writes::default();
    writes.insert(&SERVICE_LINES, lines);
    writes.insert(&LINE_COST_ITEMS, items);
    writes.execute(db).await?;
    Ok(())
}

/// The columns of a cost item row, in the order of [`item_row`].
const ITEM_COLUMNS: [line_cost_items::Column; 12] = {
    use line_cost_items::Column::*;
    [
        Id,
        ProjectId,
        LineRef,
        Dimension,
        ServiceTier,
        LongContext,
        Units,
        UnitPriceUsd,
        CostE10,
        PriceSource,
        PriceRef,
        PriceEffectiveTime,
    ]
};

/// A cost item row of a line, with the price row it used.
pub(in crate::store) fn item_row(project_id: Uuid, line_id: Uuid, item: &CostItem) -> Vec<Value> {
    vec![
        Value::from(Uuid::now_v7()),
        Value::from(project_id),
        Value::from(line_id),
        Value::from(item.dimension.as_str()),
        Value::from(item.tier.as_str()),
        Value::from(item.long_context),
        Value::from(i64::try_from(item.units).unwrap_or(i64::MAX)),
        Value::from(item.unit_price.normalize().to_string()),
        Value::from(item.cost.e10()),
        Value::from(item.price.map_or("MANUAL", |price| price.source.as_str())),
        Value::from(item.price.map(|price| price.id)),
        Value::from(item.price.map(|price| price.effective_time)),
    ]
}

#[cfg(test)]
mod tests {
    use sea_orm::Iterable;

    use super::*;
    use crate::store::sql::names;

    /// Ingest gives every column of its tables a value: a column added to an entity fails here
    /// until the rows give it one.
    #[test]
    fn ingest_rows_fill_every_column_of_their_tables() {
        assert_eq!(COST_EVENTS.columns, names(cost_events::Column::iter()));
        assert_eq!(SERVICE_LINES.columns, names(service_lines::Column::iter()));
        assert_eq!(
            LINE_COST_ITEMS.columns,
            names(line_cost_items::Column::iter())
        );
    }
}
