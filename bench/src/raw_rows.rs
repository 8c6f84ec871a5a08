//! The rows ingest writes for a batch of events, in the store's own tables and columns
//! ([`tally::store::ingest::COST_EVENTS`] and the rest), made from the synthetic events without
//! pricing or validation.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseTransaction, Value};
use tally::store::Table;
use uuid::Uuid;

use super::{
    expected::event_summary,
    synthetic::{AGENTS, Call, SyntheticEvent, Workload},
};

/// The ids the rows point at, made before the clock starts.
pub struct Refs {
    pub project_id: Uuid,
    pub customers: Vec<Uuid>,
    pub agents: Vec<Uuid>,
    /// By signal name.
    pub signals: HashMap<&'static str, Uuid>,
    /// By run index.
    pub runs: Vec<Uuid>,
    /// The catalog price row of each (provider, model, dimension) at the standard tier.
    pub prices: HashMap<(String, String, String), (Uuid, DateTime<Utc>)>,
}

/// The rows of one batch, one `Vec<Value>` per row.
#[derive(Default)]
pub struct BatchRows {
    pub events: Vec<Vec<Value>>,
    pub lines: Vec<Vec<Value>>,
    pub items: Vec<Vec<Value>>,
}

/// The rows ingest writes for `events`.
pub fn batch_rows(
    events: &[SyntheticEvent],
    refs: &Refs,
    receive_time: DateTime<Utc>,
) -> BatchRows {
    let mut rows = BatchRows::default();
    let count = |value: Option<u64>| Value::BigInt(value.map(|v| v as i64));
    let text = |value: Option<&str>| Value::String(value.map(str::to_owned));
    for event in events {
        let event_id = Uuid::now_v7();
        let expected = event.expected_lines();
        let (status, total, error) = event_summary(&expected);
        let (_, signal) = AGENTS[event.agent];
        rows.events.push(vec![
            Value::Uuid(Some(event_id)),
            Value::Uuid(Some(refs.project_id)),
            Value::String(Some(event.idempotency_key.clone())),
            Value::Uuid(Some(refs.customers[event.customer])),
            Value::Uuid(Some(refs.agents[event.agent])),
            Value::Uuid(signal.and_then(|name| refs.signals.get(name).copied())),
            Value::String(event.user.map(|u| Workload::user_id(event.customer, u))),
            Value::Uuid(event.run.map(|run| refs.runs[run])),
            text(Some(Workload::plan(event.customer).0)),
            Value::BigInt(Some(event.quantity.unwrap_or(1) as i64)),
            Value::ChronoDateTimeUtc(Some(event.usage_time)),
            Value::ChronoDateTimeUtc(Some(receive_time)),
            text(Some(status.as_str())),
            Value::BigInt(total),
            Value::Json(event.metadata_json().map(Box::new)),
            Value::String(error),
        ]);
        for (index, (line, priced)) in event.lines.iter().zip(&expected).enumerate() {
            let line_id = Uuid::now_v7();
            let manual = match line.call {
                Call::Manual(_, _, cost) => Some(cost),
                _ => None,
            };
            rows.lines.push(vec![
                Value::Uuid(Some(line_id)),
                Value::Uuid(Some(refs.project_id)),
                Value::Uuid(Some(event_id)),
                Value::BigInt(Some(index as i64)),
                text(Some(line.call.provider())),
                text(Some(line.call.model())),
                text(Some("STANDARD")),
                count(line.tokens.input),
                count(line.tokens.output),
                count(line.tokens.cached_input),
                count(line.tokens.cache_creation),
                count(line.tokens.reasoning),
                count(None),
                Value::BigInt(manual),
                Value::BigInt(line.latency_ms.map(i64::from)),
                text(line.call_status),
                text(Some(priced.status.as_str())),
                text(priced.priced_as.map(|(provider, _)| provider)),
                text(priced.priced_as.map(|(_, model)| model)),
                Value::BigInt(priced.cost_e10),
                // Standard tier only: never billed without its tier's price.
                Value::Bool(Some(false)),
            ]);
            for item in &priced.items {
                let price = priced.priced_as.and_then(|(provider, model)| {
                    refs.prices.get(&(
                        provider.to_owned(),
                        model.to_owned(),
                        item.dimension.to_owned(),
                    ))
                });
                rows.items.push(vec![
                    Value::Uuid(Some(Uuid::now_v7())),
                    Value::Uuid(Some(refs.project_id)),
                    Value::Uuid(Some(line_id)),
                    text(Some(item.dimension)),
                    text(Some("STANDARD")),
                    Value::Bool(Some(false)),
                    Value::BigInt(Some(item.units as i64)),
                    Value::String(Some(item.unit_price_usd.clone())),
                    Value::BigInt(Some(item.cost_e10)),
                    text(Some(item.price_source)),
                    Value::Uuid(price.map(|(id, _)| *id)),
                    Value::ChronoDateTimeUtc(price.map(|(_, time)| *time)),
                ]);
            }
        }
    }
    rows
}

/// Writes `rows` into `table` as the store does (`Table::insert_all`: rows bound as arrays on
/// PostgreSQL, multi-row `INSERT`s on SQLite).
pub async fn insert_rows(
    txn: &DatabaseTransaction,
    table: &Table,
    rows: Vec<Vec<Value>>,
) -> anyhow::Result<()> {
    table.insert_all(txn, rows).await?;
    Ok(())
}
