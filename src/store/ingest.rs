//! Writes a batch of priced events in the caller's transaction: customers, agents, signals, plan
//! periods and runs on the spot; then events, lines, cost items and the running totals. Rows are
//! written in key order so that concurrent batches take locks in the same order.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, QueryResult, Value,
    sea_query::{Alias, Expr, ExprTrait, OnConflict, Query},
};
use uuid::Uuid;

use super::{
    StoreError,
    sql::{Params, Table, val},
};
use crate::domain::{
    event::Plan, ledger::PricedEvent, money::Usd, plan::PlanPeriod, pricing::CostItem,
};

/// When a name (customer, agent or signal) was seen in a batch.
#[derive(Clone, Debug)]
pub struct Seen {
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    /// A customer's display name as last sent.
    pub display_name: Option<String>,
}

impl Seen {
    pub fn at(time: DateTime<Utc>) -> Self {
        Self {
            first: time,
            last: time,
            display_name: None,
        }
    }

    /// Widens the times to cover `time`.
    pub fn widen(&mut self, time: DateTime<Utc>) {
        self.first = Ord::min(self.first, time);
        self.last = Ord::max(self.last, time);
    }
}

/// Customers found or created by [`upsert_customers`].
pub struct CustomerRows {
    /// The row id of every customer id.
    pub ids: HashMap<String, Uuid>,
    /// The rows this call created: nothing can be stored for them before it commits.
    pub created: HashSet<Uuid>,
}

/// Finds or creates the customers. Existing rows are only read (a display name that changed is
/// the one update): no lock on a hot customer's row is held for the rest of the batch's
/// transaction, so concurrent batches for the same customers do not queue behind each other.
pub async fn upsert_customers(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    seen: &BTreeMap<String, Seen>,
    now: DateTime<Utc>,
) -> Result<CustomerRows, StoreError> {
    let names = Named {
        table: "customers",
        name_column: "customer_id",
        project_id,
    };
    let existing = names.find(db, seen.keys(), true).await?;
    let rows: Vec<Vec<Expr>> = seen
        .iter()
        .filter(|(customer_id, _)| !existing.contains_key(*customer_id))
        .map(|(customer_id, seen)| {
            vec![
                val(Uuid::now_v7()),
                val(project_id),
                val(customer_id.clone()),
                val(seen.display_name.clone()),
                val(serde_json::json!([])),
                val(now),
                val(seen.first),
                val(seen.last),
            ]
        })
        .collect();
    let columns = [
        "id",
        "project_id",
        "customer_id",
        "display_name",
        "aliases",
        "create_time",
        "first_seen_time",
        "last_seen_time",
    ];
    let (mut ids, created) = names
        .create(db, &columns, rows, seen.keys(), &existing)
        .await?;
    for (customer_id, seen) in seen {
        let Some((id, stored)) = existing.get(customer_id) else {
            continue;
        };
        if seen.display_name.is_some() && seen.display_name != *stored {
            let update = Query::update()
                .table(Alias::new("customers"))
                .value(Alias::new("display_name"), val(seen.display_name.clone()))
                .and_where(Expr::col(Alias::new("id")).eq(*id))
                .to_owned();
            db.execute(&update).await?;
        }
    }
    ids.extend(
        existing
            .into_iter()
            .map(|(customer_id, (id, _))| (customer_id, id)),
    );
    Ok(CustomerRows { ids, created })
}

/// Finds or creates agents or signals; returns the row id of every name. `table` is `agents`
/// (`agent_code`) or `signals` (`signal_name`). Existing rows are only read.
pub async fn upsert_names(
    db: &impl ConnectionTrait,
    table: &'static str,
    name_column: &'static str,
    project_id: Uuid,
    seen: &BTreeMap<String, Seen>,
    now: DateTime<Utc>,
) -> Result<HashMap<String, Uuid>, StoreError> {
    let names = Named {
        table,
        name_column,
        project_id,
    };
    let existing = names.find(db, seen.keys(), false).await?;
    let rows: Vec<Vec<Expr>> = seen
        .iter()
        .filter(|(name, _)| !existing.contains_key(*name))
        .map(|(name, seen)| {
            vec![
                val(Uuid::now_v7()),
                val(project_id),
                val(name.clone()),
                val(now),
                val(seen.first),
                val(seen.last),
            ]
        })
        .collect();
    let columns = [
        "id",
        "project_id",
        name_column,
        "create_time",
        "first_seen_time",
        "last_seen_time",
    ];
    let (mut ids, _) = names
        .create(db, &columns, rows, seen.keys(), &existing)
        .await?;
    ids.extend(existing.into_iter().map(|(name, (id, _))| (name, id)));
    Ok(ids)
}

/// A table of named rows of a project (customers, agents, signals), unique on `(project_id, name)`.
struct Named {
    table: &'static str,
    name_column: &'static str,
    project_id: Uuid,
}

/// Rows found by name: id and display name.
type Found = HashMap<String, (Uuid, Option<String>)>;

impl Named {
    /// The rows of these names that exist, with their display name when asked.
    async fn find<'a>(
        &self,
        db: &impl ConnectionTrait,
        names: impl Iterator<Item = &'a String>,
        with_display_name: bool,
    ) -> Result<Found, StoreError> {
        let names: Vec<String> = names.cloned().collect();
        let mut found = HashMap::with_capacity(names.len());
        if names.is_empty() {
            return Ok(found);
        }
        let mut select = Query::select()
            .columns([Alias::new("id"), Alias::new(self.name_column)])
            .from(Alias::new(self.table))
            .and_where(Expr::col(Alias::new("project_id")).eq(self.project_id))
            .and_where(Expr::col(Alias::new(self.name_column)).is_in(names))
            .to_owned();
        if with_display_name {
            select.column(Alias::new("display_name"));
        }
        for row in db.query_all(&select).await? {
            let display_name = if with_display_name {
                row.try_get("", "display_name")?
            } else {
                None
            };
            found.insert(
                row.try_get("", self.name_column)?,
                (row.try_get("", "id")?, display_name),
            );
        }
        Ok(found)
    }

    /// Inserts the missing rows; a row another writer inserted meanwhile is read back. Returns
    /// the ids by name, and the ids of the rows this call inserted.
    async fn create<'a>(
        &self,
        db: &impl ConnectionTrait,
        columns: &[&str],
        rows: Vec<Vec<Expr>>,
        names: impl Iterator<Item = &'a String>,
        existing: &Found,
    ) -> Result<(HashMap<String, Uuid>, HashSet<Uuid>), StoreError> {
        let mut ids = HashMap::with_capacity(rows.len());
        if rows.is_empty() {
            return Ok((ids, HashSet::new()));
        }
        let table = Table {
            name: self.table,
            columns,
        };
        for chunk in rows.chunks(table.rows_per_statement()) {
            let mut insert = table.insert(chunk.to_vec());
            insert
                .on_conflict(
                    OnConflict::columns([Alias::new("project_id"), Alias::new(self.name_column)])
                        .do_nothing()
                        .to_owned(),
                )
                .returning(
                    Query::returning().columns([Alias::new("id"), Alias::new(self.name_column)]),
                );
            for row in db.query_all(&insert).await? {
                ids.insert(
                    row.try_get::<String>("", self.name_column)?,
                    row.try_get::<Uuid>("", "id")?,
                );
            }
        }
        let created = ids.values().copied().collect();
        let raced: Vec<&String> = names
            .filter(|name| !existing.contains_key(*name) && !ids.contains_key(*name))
            .collect();
        if !raced.is_empty() {
            let found = self.find(db, raced.into_iter(), false).await?;
            ids.extend(found.into_iter().map(|(name, (id, _))| (name, id)));
        }
        Ok((ids, created))
    }
}

/// The plan history of each customer, oldest first.
pub async fn plan_periods(
    db: &impl ConnectionTrait,
    customer_refs: &[Uuid],
) -> Result<HashMap<Uuid, Vec<PlanPeriod>>, StoreError> {
    use super::entities::customer_plan_periods as periods;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let mut history: HashMap<Uuid, Vec<PlanPeriod>> = HashMap::new();
    if customer_refs.is_empty() {
        return Ok(history);
    }
    let rows = periods::Entity::find()
        .filter(periods::Column::CustomerRef.is_in(customer_refs.iter().copied()))
        .order_by_asc(periods::Column::StartTime)
        .all(db)
        .await?;
    for row in rows {
        history
            .entry(row.customer_ref)
            .or_default()
            .push(PlanPeriod {
                start_time: row.start_time,
                plan: Plan {
                    name: row.plan_name,
                    monthly: Usd::from_e10(row.monthly_usd_e10),
                },
            });
    }
    Ok(history)
}

/// Starts plan periods (replacing one that starts at the same instant).
pub async fn insert_plan_periods(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    periods: &[(Uuid, PlanPeriod)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if periods.is_empty() {
        return Ok(());
    }
    let table = Table {
        name: "customer_plan_periods",
        columns: &[
            "id",
            "project_id",
            "customer_ref",
            "plan_name",
            "monthly_usd_e10",
            "start_time",
            "create_time",
        ],
    };
    let rows = periods.iter().map(|(customer_ref, period)| {
        vec![
            val(Uuid::now_v7()),
            val(project_id),
            val(*customer_ref),
            val(period.plan.name.clone()),
            val(period.plan.monthly.e10()),
            val(period.start_time),
            val(now),
        ]
    });
    let mut insert = table.insert(rows);
    insert.on_conflict(
        OnConflict::columns([Alias::new("customer_ref"), Alias::new("start_time")])
            .update_columns([Alias::new("plan_name"), Alias::new("monthly_usd_e10")])
            .to_owned(),
    );
    db.execute(&insert).await?;
    let customers: BTreeSet<Uuid> = periods
        .iter()
        .map(|(customer_ref, _)| *customer_ref)
        .collect();
    drop_repeated_periods(db, &customers).await
}

/// Deletes the periods of these customers that repeat the plan of the period before them: a
/// period started earlier with the plan of the next one (a back-dated record of the customer's
/// plan) makes the next one say nothing, and a history without repeats is what reports read.
async fn drop_repeated_periods(
    db: &impl ConnectionTrait,
    customers: &BTreeSet<Uuid>,
) -> Result<(), StoreError> {
    let mut params = Params::new(db.get_database_backend());
    let refs: Vec<String> = customers.iter().map(|id| params.bind(*id)).collect();
    let sql = format!(
        "DELETE FROM customer_plan_periods WHERE id IN (SELECT id FROM (\
         SELECT p.id, COALESCE(LAG(p.plan_name) OVER w = p.plan_name \
         AND LAG(p.monthly_usd_e10) OVER w = p.monthly_usd_e10, FALSE) AS repeats \
         FROM customer_plan_periods p WHERE p.customer_ref IN ({refs}) \
         WINDOW w AS (PARTITION BY p.customer_ref ORDER BY p.start_time)) periods WHERE repeats)",
        refs = refs.join(", ")
    );
    db.execute_raw(params.statement(sql)).await?;
    Ok(())
}

/// A run as ingest needs it: its id and the attribution it supplies to its events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRef {
    pub id: Uuid,
    pub customer_ref: Uuid,
    pub customer_id: String,
    pub agent_ref: Uuid,
    pub agent_code: String,
    pub user_id: Option<String>,
}

/// The project's runs with these caller run ids.
pub async fn find_runs(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    run_keys: &[String],
) -> Result<HashMap<String, RunRef>, StoreError> {
    let mut runs = HashMap::new();
    if run_keys.is_empty() {
        return Ok(runs);
    }
    let mut params = Params::new(db.get_database_backend());
    let sql = format!(
        "SELECT r.id, r.run_key, r.customer_ref, c.customer_id, r.agent_ref, a.agent_code, \
         r.user_id FROM runs r JOIN customers c ON c.id = r.customer_ref \
         JOIN agents a ON a.id = r.agent_ref WHERE r.project_id = {} AND r.run_key {}",
        params.bind(project_id),
        params.in_texts(run_keys.to_vec()),
    );
    for row in db.query_all_raw(params.into_statement(sql)).await? {
        runs.insert(
            row.try_get::<String>("", "run_key")?,
            RunRef {
                id: row.try_get("", "id")?,
                customer_ref: row.try_get("", "customer_ref")?,
                customer_id: row.try_get("", "customer_id")?,
                agent_ref: row.try_get("", "agent_ref")?,
                agent_code: row.try_get("", "agent_code")?,
                user_id: row.try_get("", "user_id")?,
            },
        );
    }
    Ok(runs)
}

pub use super::runs::NewRun;

/// Creates runs; one that another writer created meanwhile is left as it is. Returns the ids of
/// the runs actually created.
pub async fn insert_runs(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    runs: &[NewRun],
) -> Result<HashSet<Uuid>, StoreError> {
    let table = Table {
        name: "runs",
        columns: &[
            "id",
            "project_id",
            "run_key",
            "customer_ref",
            "agent_ref",
            "user_id",
            "status",
            "start_time",
            "cancelled",
            "metadata",
        ],
    };
    let rows = runs
        .iter()
        .map(|run| {
            vec![
                Value::from(Uuid::now_v7()),
                Value::from(project_id),
                Value::from(run.run_key.clone()),
                Value::from(run.customer_ref),
                Value::from(run.agent_ref),
                Value::from(run.user_id.clone()),
                Value::from("RUNNING"),
                Value::from(run.start_time),
                Value::from(false),
                Value::from(run.metadata.clone()),
            ]
        })
        .collect();
    let returned = table
        .insert_with(
            db,
            rows,
            "ON CONFLICT (project_id, run_key) DO NOTHING RETURNING id",
        )
        .await?;
    returned_ids(returned)
}

/// The ids an `INSERT … RETURNING id` returned.
fn returned_ids(rows: Vec<QueryResult>) -> Result<HashSet<Uuid>, StoreError> {
    rows.iter()
        .map(|row| Ok(row.try_get::<Uuid>("", "id")?))
        .collect()
}

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
pub const COST_EVENTS: Table<'static> = Table {
    name: "cost_events",
    columns: &[
        "id",
        "project_id",
        "idempotency_key",
        "customer_ref",
        "agent_ref",
        "signal_ref",
        "user_id",
        "run_ref",
        "plan_name",
        "quantity",
        "usage_time",
        "receive_time",
        "status",
        "total_cost_e10",
        "metadata",
        "error",
    ],
};

/// The service lines of an event, one per service called.
pub const SERVICE_LINES: Table<'static> = Table {
    name: "service_lines",
    columns: &[
        "id",
        "project_id",
        "event_ref",
        "line_index",
        "provider",
        "model",
        "service_tier",
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "cache_creation_tokens",
        "reasoning_tokens",
        "quantity",
        "manual_cost_e10",
        "latency_ms",
        "call_status",
        "status",
        "priced_provider",
        "priced_model",
        "cost_e10",
        "tier_price_missing",
    ],
};

/// The cost items of a line, one per priced dimension, in the column order of [`item_row`].
pub const LINE_COST_ITEMS: Table<'static> = Table {
    name: "line_cost_items",
    columns: ITEM_COLUMNS,
};

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
        .insert_with(
            db,
            rows,
            "ON CONFLICT (project_id, idempotency_key) DO NOTHING RETURNING id",
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
    SERVICE_LINES.insert_all(db, lines).await?;
    LINE_COST_ITEMS.insert_all(db, items).await?;
    Ok(())
}

/// The columns of a cost item row, in the order of [`item_row`].
const ITEM_COLUMNS: &[&str] = &[
    "id",
    "project_id",
    "line_ref",
    "dimension",
    "service_tier",
    "long_context",
    "units",
    "unit_price_usd",
    "cost_e10",
    "price_source",
    "price_ref",
    "price_effective_time",
];

/// A cost item row of a line, with the price row it used.
pub(super) fn item_row(project_id: Uuid, line_id: Uuid, item: &CostItem) -> Vec<Value> {
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
