//! The events stored but not yet in the running totals (`fold_queue`, migration 000012), on
//! PostgreSQL: ingest queues the ids of each transaction's events (or of the runs it started) in
//! one row, and the folder takes rows oldest first and deletes them in the transaction that adds
//! their events to the totals. One folder per project at a time: it and every other writer of the project's totals
//! from stored events (repricing, plan moves) take the project's advisory lock for their
//! transaction.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, Statement, Value, sea_query::ArrayType};
use uuid::Uuid;

use super::{StoreError, sql::Params};

/// The class of the project's fold lock (`pg_advisory_xact_lock(key)` with `key` the hash of this
/// and the project id), apart from the migration lock.
const LOCK_SEED: i64 = 0x7a11_f01d;

fn uuids(ids: impl IntoIterator<Item = Uuid>) -> Value {
    array(ArrayType::Uuid, ids.into_iter().map(Value::from))
}

/// What a batch adds to the totals that bound all others: the project's spend of each month (every
/// customer's, agent's, hour's and day's is part of it) and each run's total (each per-model total
/// is part of it), and its cost in all.
#[derive(Debug, Default)]
pub struct BatchCosts {
    pub months: Vec<(DateTime<Utc>, i64)>,
    pub runs: Vec<(Uuid, i64)>,
    pub total: i64,
    /// The batch's cost by month, customer row, agent row and run (`Uuid::nil()` for none).
    pub spend: Vec<(SpendKey, i64)>,
}

/// What `CheckBudget` sums the queued tail by: month start, customer row, agent row, run.
pub type SpendKey = (DateTime<Utc>, Uuid, Uuid, Uuid);

/// The check of [`enqueue`]: the batch's months and runs whose stored total, plus the whole queued
/// tail (a bound: it counts every month and run), plus the batch passes what a total holds.
const ENQUEUE_SQL: &str = "WITH tail AS (SELECT COALESCE(SUM(cost_e10), 0)::numeric AS cost \
      FROM fold_queue WHERE project_id = $1), \
    over AS (SELECT 1 FROM unnest($2::timestamptz[], $3::int8[]) AS b(month_start, cost) \
        CROSS JOIN tail LEFT JOIN monthly_spend s ON s.project_id = $1 \
        AND s.month_start = b.month_start AND s.customer_id = '' AND s.agent_code = '' \
      WHERE COALESCE(s.cost_e10, 0)::numeric + tail.cost + b.cost > 9223372036854775807 \
      UNION ALL SELECT 1 FROM unnest($4::uuid[], $5::int8[]) AS b(run, cost) \
        CROSS JOIN tail JOIN runs r ON r.id = b.run \
      WHERE r.total_cost_e10::numeric + tail.cost + b.cost > 9223372036854775807) \
    INSERT INTO fold_queue (id, project_id, event_ids, run_ids, cost_e10, create_time, \
      spend_months, spend_customers, spend_agents, spend_runs, spend_costs) \
    SELECT $6, $1, $7, '{}', $8, $9, $10, $11, $12, $13, $14 WHERE NOT EXISTS (SELECT 1 FROM over) \
    RETURNING id";

fn array(kind: ArrayType, values: impl IntoIterator<Item = Value>) -> Value {
    Value::Array(kind, Some(Box::new(values.into_iter().collect())))
}

/// Queues a batch's events for folding (on PostgreSQL only: SQLite folds in the writing
/// transaction), unless folding them would carry a running total past what it holds: then
/// `OutOfRange`, and ingest writes the records again one by one to refuse the one that would.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    events: impl IntoIterator<Item = Uuid>,
    costs: &BatchCosts,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let values = vec![
        project_id.into(),
        array(
            ArrayType::ChronoDateTimeUtc,
            costs.months.iter().map(|(month, _)| Value::from(*month)),
        ),
        array(
            ArrayType::BigInt,
            costs.months.iter().map(|(_, cost)| Value::from(*cost)),
        ),
        array(
            ArrayType::Uuid,
            costs.runs.iter().map(|(run, _)| Value::from(*run)),
        ),
        array(
            ArrayType::BigInt,
            costs.runs.iter().map(|(_, cost)| Value::from(*cost)),
        ),
        Uuid::now_v7().into(),
        uuids(events),
        costs.total.into(),
        now.into(),
        array(
            ArrayType::ChronoDateTimeUtc,
            costs
                .spend
                .iter()
                .map(|((month, ..), _)| Value::from(*month)),
        ),
        uuids(costs.spend.iter().map(|((_, customer, ..), _)| *customer)),
        uuids(costs.spend.iter().map(|((_, _, agent, _), _)| *agent)),
        uuids(costs.spend.iter().map(|((.., run), _)| *run)),
        array(
            ArrayType::BigInt,
            costs.spend.iter().map(|(_, cost)| Value::from(*cost)),
        ),
    ];
    let statement = Statement::from_sql_and_values(db.get_database_backend(), ENQUEUE_SQL, values);
    if db.query_one_raw(statement).await?.is_none() {
        return Err(StoreError::OutOfRange(DbErr::Custom(
            crate::domain::ledger::TotalOverflow.to_string(),
        )));
    }
    Ok(())
}

/// Queues the counting of runs a transaction started (on PostgreSQL only).
pub async fn enqueue_runs(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    runs: impl IntoIterator<Item = Uuid>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut params = Params::new(db.get_database_backend());
    let sql = format!(
        "INSERT INTO fold_queue (id, project_id, event_ids, run_ids, cost_e10, create_time, \
         spend_months, spend_customers, spend_agents, spend_runs, spend_costs) \
         VALUES ({}, {}, '{{}}', {}, 0, {}, '{{}}', '{{}}', '{{}}', '{{}}', '{{}}')",
        params.bind(Uuid::now_v7()),
        params.bind(project_id),
        params.bind(uuids(runs)),
        params.bind(now),
    );
    db.execute_raw(params.into_statement(sql)).await?;
    Ok(())
}

/// Waits for the project's fold lock, held until the transaction ends (SQLite, with one writer,
/// needs none).
pub async fn lock(db: &impl ConnectionTrait, project_id: Uuid) -> Result<(), StoreError> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(());
    }
    let mut params = Params::new(db.get_database_backend());
    let sql = format!(
        "SELECT pg_advisory_xact_lock(hashtextextended({}, {LOCK_SEED}))",
        params.bind(project_id.to_string()),
    );
    db.query_one_raw(params.into_statement(sql)).await?;
    Ok(())
}

/// Takes the project's fold lock if it is free; `false` when another transaction holds it.
pub async fn try_lock(db: &impl ConnectionTrait, project_id: Uuid) -> Result<bool, StoreError> {
    let mut params = Params::new(db.get_database_backend());
    let sql = format!(
        "SELECT pg_try_advisory_xact_lock(hashtextextended({}, {LOCK_SEED})) AS locked",
        params.bind(project_id.to_string()),
    );
    let row = db.query_one_raw(params.into_statement(sql)).await?;
    Ok(match row {
        Some(row) => row.try_get("", "locked")?,
        None => false,
    })
}

/// Queue rows taken for one fold: their ids, and the events and started runs they name.
#[derive(Debug, Default)]
pub struct Taken {
    pub rows: Vec<Uuid>,
    pub events: Vec<Uuid>,
    pub runs: Vec<Uuid>,
    /// Whether rows were left behind (the fold was full).
    pub more: bool,
}

/// Rows to look at per fold: enough for [`take`] to fill a fold from small transactions.
const ROWS_READ: u64 = 500;

/// The oldest queue rows of the project, whole, up to about `max_events` events (at least one row).
pub async fn take(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    max_events: usize,
) -> Result<Taken, StoreError> {
    let mut params = Params::new(db.get_database_backend());
    let sql = format!(
        "SELECT id, event_ids, run_ids FROM fold_queue WHERE project_id = {} ORDER BY id \
         LIMIT {ROWS_READ}",
        params.bind(project_id),
    );
    let rows = db.query_all_raw(params.into_statement(sql)).await?;
    let mut taken = Taken {
        more: rows.len() as u64 == ROWS_READ,
        ..Taken::default()
    };
    for row in &rows {
        if !taken.rows.is_empty() && taken.events.len() >= max_events {
            taken.more = true;
            break;
        }
        taken.rows.push(row.try_get("", "id")?);
        taken
            .events
            .extend(row.try_get::<Vec<Uuid>>("", "event_ids")?);
        taken.runs.extend(row.try_get::<Vec<Uuid>>("", "run_ids")?);
    }
    Ok(taken)
}

/// Deletes folded queue rows.
pub async fn remove(db: &impl ConnectionTrait, rows: &[Uuid]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut params = Params::new(db.get_database_backend());
    let sql = format!(
        "DELETE FROM fold_queue WHERE id = ANY({}::uuid[])",
        params.bind(uuids(rows.iter().copied())),
    );
    db.execute_raw(params.into_statement(sql)).await?;
    Ok(())
}

/// Which of these events of the project are still queued (their figures are not in the totals).
/// Read under the fold lock, so that no fold changes the answer before the transaction ends.
pub async fn still_queued(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    events: &[Uuid],
) -> Result<HashSet<Uuid>, StoreError> {
    queued_of(db, project_id, "event_ids", events).await
}

/// Which of these runs' starts are still queued (not counted in `runs_started` yet); read under
/// the fold lock.
pub async fn runs_still_queued(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    runs: &[Uuid],
) -> Result<HashSet<Uuid>, StoreError> {
    queued_of(db, project_id, "run_ids", runs).await
}

async fn queued_of(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    column: &str,
    ids: &[Uuid],
) -> Result<HashSet<Uuid>, StoreError> {
    if ids.is_empty() || db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(HashSet::new());
    }
    let mut params = Params::new(db.get_database_backend());
    let wanted = params.bind(uuids(ids.iter().copied()));
    let sql = format!(
        "SELECT DISTINCT e.id FROM fold_queue q CROSS JOIN LATERAL unnest(q.{column}) AS e(id) \
         WHERE q.project_id = {} AND e.id = ANY({wanted}::uuid[])",
        params.bind(project_id),
    );
    db.query_all_raw(params.into_statement(sql))
        .await?
        .iter()
        .map(|row| Ok(row.try_get_by_index::<Uuid>(0)?))
        .collect()
}

/// Whether the project has events waiting to be folded.
pub async fn has_queued(db: &impl ConnectionTrait, project_id: Uuid) -> Result<bool, StoreError> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(false);
    }
    let mut params = Params::new(db.get_database_backend());
    let sql = format!(
        "SELECT EXISTS (SELECT 1 FROM fold_queue WHERE project_id = {}) AS queued",
        params.bind(project_id),
    );
    let row = db.query_one_raw(params.into_statement(sql)).await?;
    Ok(match row {
        Some(row) => row.try_get("", "queued")?,
        None => false,
    })
}

/// The projects with events waiting to be folded.
pub async fn projects(db: &impl ConnectionTrait) -> Result<Vec<Uuid>, StoreError> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(Vec::new());
    }
    let params = Params::new(db.get_database_backend());
    let sql = "SELECT DISTINCT project_id FROM fold_queue".to_owned();
    db.query_all_raw(params.into_statement(sql))
        .await?
        .iter()
        .map(|row| Ok(row.try_get_by_index::<Uuid>(0)?))
        .collect()
}
