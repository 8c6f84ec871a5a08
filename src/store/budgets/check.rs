//! Everything `CheckBudget` reads, in one statement: the run, the budgets covering its customer and
//! agent, each budget's spend this month and what open holds set aside. One round trip on one
//! pooled connection: on two cores beside ingest a check waits for CPU, and three statements cost
//! three parses, plans and connection checkouts where one does. A check that places a hold is one
//! statement too on PostgreSQL (see [`check_and_hold`]).

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbBackend,
    FromQueryResult, QueryResult, Statement,
};
use uuid::Uuid;

use super::{Budget, from_row};
use crate::{
    domain::money::Usd,
    store::{
        StoreError, begin_write,
        entities::{budget_holds, budgets},
        runs::RunBrief,
        sql::sum_bigint,
    },
};

/// What a check is about: the run (when named) and the customer and agent as given, at `now`.
#[derive(Clone, Copy, Debug)]
pub struct CheckQuery<'a> {
    pub project_id: Uuid,
    pub run_key: Option<&'a str>,
    pub customer_id: Option<&'a str>,
    pub agent_code: Option<&'a str>,
    pub month_start: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

/// The hold a check places if it allows the step.
#[derive(Clone, Copy, Debug)]
pub struct HoldAsk {
    pub id: Uuid,
    pub amount: Usd,
    pub expire_time: DateTime<Utc>,
}

/// An applicable budget with its scope's spend and open holds in the month (zero for budgets with
/// no monthly limit).
#[derive(Clone, Debug)]
pub struct Applicable {
    pub budget: Budget,
    pub spent: Usd,
    pub held: Usd,
}

/// What a check reads: the run if it exists, the open holds of the run named (it may not exist
/// yet), each applicable budget, and whether the hold asked for was placed.
#[derive(Debug, Default)]
pub struct CheckReading {
    pub run: Option<RunBrief>,
    pub run_held: Usd,
    pub budgets: Vec<Applicable>,
    pub placed: bool,
}

/// Bound as `$1` project, `$2` run key, `$3` customer, `$4` agent, `$5` month start, `$6` now
/// (`?N` on SQLite).
///
/// PostgreSQL plans its first executions on each connection afresh (and again after each ANALYZE
/// of the tables read), so it is shaped to plan cheaply: the run's customer and agent and each
/// budget's spend are scalar subqueries rather than joins, which halves planning (0.3 ms against
/// 0.6 ms, measured). The one-row `one` keeps a row when there is no run and no budget; the run's
/// customer and agent win over the given ones. A budget's spend: `monthly_spend` for the scopes
/// without a customer (`''` for "all agents"), a customer's from `customer_monthly` (over plans)
/// or, with an agent, `event_monthly` (over plans and signals); `{sum}` is `sql::sum_bigint`.
/// On PostgreSQL the events still queued for folding (`fold_queue`) are added: `{tail}` reads
/// and sums their costs once, `{run_tail}` and `{scope_tail}` add them to the run's and each
/// budget's spend. SQLite folds as it writes: the three are empty there. Open holds (not ended,
/// not expired at `$6`) count apart: the run's by its key, whether or not the run exists yet,
/// and a budget's those of the month whose customer and agent its scope covers.
const CHECK_SQL: &str = "WITH r AS MATERIALIZED (SELECT \
      (SELECT c.customer_id FROM customers c WHERE c.id = runs.customer_ref) AS customer_id, \
      (SELECT a.agent_code FROM agents a WHERE a.id = runs.agent_ref) AS agent_code, \
      runs.id, runs.total_cost_e10, runs.start_time FROM runs \
      WHERE runs.project_id = $1 AND runs.run_key = $2){tail} \
    SELECT r.customer_id AS r_customer_id, r.agent_code AS r_agent_code, \
    r.total_cost_e10{run_tail} AS r_total_cost_e10, r.start_time AS r_start_time, \
    (SELECT {held_sum} FROM budget_holds h WHERE h.project_id = $1 AND h.run_key = $2 \
      AND h.end_time IS NULL AND h.expire_time > $6) AS r_held_e10, \
    b.id AS b_id, b.project_id AS b_project_id, b.name AS b_name, \
    b.scope_kind AS b_scope_kind, b.customer_id AS b_customer_id, \
    b.agent_code AS b_agent_code, b.monthly_limit_e10 AS b_monthly_limit_e10, \
    b.per_run_limit_e10 AS b_per_run_limit_e10, b.enforcement AS b_enforcement, \
    b.create_time AS b_create_time, b.update_time AS b_update_time, \
    CASE WHEN b.monthly_limit_e10 IS NULL THEN NULL \
      WHEN b.customer_id IS NULL THEN COALESCE((SELECT s.cost_e10 FROM monthly_spend s \
        WHERE s.project_id = $1 AND s.month_start = $5 AND s.customer_id = '' \
        AND s.agent_code = COALESCE(b.agent_code, '')), 0) \
      WHEN b.agent_code IS NULL THEN (SELECT {sum} FROM customer_monthly m \
        WHERE m.project_id = $1 AND m.month_start = $5 AND m.customer_id = b.customer_id) \
      ELSE (SELECT {sum} FROM event_monthly m \
        WHERE m.project_id = $1 AND m.month_start = $5 AND m.customer_id = b.customer_id \
        AND m.agent_code = b.agent_code) END{scope_tail} AS s_cost_e10, \
    CASE WHEN b.monthly_limit_e10 IS NULL THEN 0 ELSE (SELECT {held_sum} FROM budget_holds h \
      WHERE h.project_id = $1 AND h.month_start = $5 AND h.end_time IS NULL \
      AND h.expire_time > $6 AND (b.customer_id IS NULL OR h.customer_id = b.customer_id) \
      AND (b.agent_code IS NULL OR h.agent_code = b.agent_code)) END AS s_held_e10 \
    FROM (SELECT 1 AS one) AS one \
    LEFT JOIN r ON 1 = 1 \
    LEFT JOIN budgets b ON b.project_id = $1 \
      AND (b.customer_id IS NULL OR b.customer_id = COALESCE(r.customer_id, $3)) \
      AND (b.agent_code IS NULL OR b.agent_code = COALESCE(r.agent_code, $4))";

/// Reads the run `run_key` (when given) and the budgets covering its customer and agent, or the
/// given ones when the run does not exist: the caller compares the two when both are known.
/// Budgets come in id (creation) order.
pub async fn check_reading(
    db: &impl ConnectionTrait,
    query: &CheckQuery<'_>,
) -> Result<CheckReading, StoreError> {
    static POSTGRES: LazyLock<String> =
        LazyLock::new(|| format!("{} ORDER BY b.id", check_sql(DbBackend::Postgres)));
    static SQLITE: LazyLock<String> =
        LazyLock::new(|| format!("{} ORDER BY b.id", check_sql(DbBackend::Sqlite)));
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => POSTGRES.as_str(),
        _ => SQLITE.as_str(),
    };
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            query_values(query),
        ))
        .await?;
    reading_of(&rows)
}

/// Reads as [`check_reading`] and places `hold` if the step is allowed, taking the checks that
/// hold in turn per BLOCK budget, so that concurrent checks cannot pass a limit between them.
///
/// On PostgreSQL in one statement: `tally_check_locked` (migration 000013) takes the advisory
/// lock of each BLOCK budget covering the step (per budget for its month, per budget and run for
/// its run), in key order, then runs [`HOLD_SQL`] with a fresh snapshot, which sees the holds of
/// the checks that held the locks before. The statement decides as `domain::budget::stand` does:
/// `allows` only checks that the two agree. On SQLite the one writer serialises the checks: the
/// reading and the hold share a write transaction, and `allows` decides.
pub async fn check_and_hold(
    db: &DatabaseConnection,
    query: &CheckQuery<'_>,
    hold: &HoldAsk,
    allows: impl Fn(&CheckReading) -> bool,
) -> Result<CheckReading, StoreError> {
    let backend = db.get_database_backend();
    if backend == DbBackend::Postgres {
        let mut values = query_values(query);
        values.extend([
            hold.amount.e10().into(),
            hold.id.into(),
            hold.expire_time.into(),
            HOLD_SQL.clone().into(),
        ]);
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(backend, LOCKED_SQL, values))
            .await?;
        let mut reading = reading_of(&rows)?;
        reading.placed = match rows.first() {
            Some(row) => row.try_get::<Option<Uuid>>("", "hold_id")?.is_some(),
            None => false,
        };
        if reading.placed != allows(&reading) {
            tracing::error!(hold = %hold.id, placed = reading.placed, "the locked check and the domain disagree on a hold");
        }
        return Ok(reading);
    }
    let txn = begin_write(db).await?;
    let mut reading = check_reading(&txn, query).await?;
    if allows(&reading) {
        let (customer_id, agent_code) = match (&reading.run, query.customer_id, query.agent_code) {
            (Some(run), _, _) => (run.customer_id.clone(), run.agent_code.clone()),
            (None, Some(customer), Some(agent)) => (customer.to_owned(), agent.to_owned()),
            (None, _, _) => return Ok(reading),
        };
        budget_holds::ActiveModel {
            id: Set(hold.id),
            project_id: Set(query.project_id),
            customer_id: Set(customer_id),
            agent_code: Set(agent_code),
            run_key: Set(query.run_key.map(str::to_owned)),
            amount_e10: Set(hold.amount.e10()),
            month_start: Set(query.month_start),
            create_time: Set(query.now),
            expire_time: Set(hold.expire_time),
            end_time: Set(None),
            end_reason: Set(None),
            event_id: Set(None),
            settled_cost_e10: Set(None),
        }
        .insert(&txn)
        .await?;
        reading.placed = true;
    }
    txn.commit().await?;
    Ok(reading)
}

fn query_values(query: &CheckQuery<'_>) -> Vec<sea_orm::Value> {
    vec![
        query.project_id.into(),
        query.run_key.map(str::to_owned).into(),
        query.customer_id.map(str::to_owned).into(),
        query.agent_code.map(str::to_owned).into(),
        query.month_start.into(),
        query.now.into(),
    ]
}

fn reading_of(rows: &[QueryResult]) -> Result<CheckReading, StoreError> {
    let mut reading = CheckReading {
        budgets: Vec::with_capacity(rows.len()),
        ..CheckReading::default()
    };
    for (index, row) in rows.iter().enumerate() {
        if index == 0 {
            reading.run = run_of(row)?;
            reading.run_held =
                Usd::from_e10(row.try_get::<Option<i64>>("", "r_held_e10")?.unwrap_or(0));
        }
        if row.try_get::<Option<Uuid>>("", "b_id")?.is_some() {
            let budget = from_row(budgets::Model::from_query_result(row, "b_")?)?;
            let spent = row.try_get::<Option<i64>>("", "s_cost_e10")?;
            let held = row.try_get::<Option<i64>>("", "s_held_e10")?;
            reading.budgets.push(Applicable {
                budget,
                spent: spent.map_or(Usd::ZERO, Usd::from_e10),
                held: held.map_or(Usd::ZERO, Usd::from_e10),
            });
        }
    }
    Ok(reading)
}

/// The check that places a hold, run by `tally_check_locked` with the parameters of
/// [`CHECK_SQL`] and `$7` the amount, `$8` the hold's id, `$9` its expiry. The hold goes in
/// unless a BLOCK budget denies (spend, holds and the amount together over a limit: the month's,
/// or the run's when a run is named), or the step's customer and agent are unknown or differ from
/// the run's (the service refuses those). Every row carries the placed hold's id, or NULL.
static HOLD_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH reading AS ({check}), \
         subject AS (SELECT COALESCE(MIN(r_customer_id), $3) AS customer_id, \
           COALESCE(MIN(r_agent_code), $4) AS agent_code, \
           (MIN(r_customer_id) IS NULL OR $3 IS NULL OR MIN(r_customer_id) = $3) \
           AND (MIN(r_agent_code) IS NULL OR $4 IS NULL OR MIN(r_agent_code) = $4) AS consistent \
           FROM reading), \
         denied AS (SELECT 1 FROM reading WHERE b_enforcement = 'BLOCK' AND (\
           (b_monthly_limit_e10 IS NOT NULL \
             AND s_cost_e10::numeric + s_held_e10 + $7 > b_monthly_limit_e10) \
           OR (b_per_run_limit_e10 IS NOT NULL AND $2 IS NOT NULL \
             AND COALESCE(r_total_cost_e10, 0)::numeric + r_held_e10 + $7 > b_per_run_limit_e10))), \
         placed AS (INSERT INTO budget_holds (id, project_id, customer_id, agent_code, run_key, \
             amount_e10, month_start, create_time, expire_time) \
           SELECT $8, $1, s.customer_id, s.agent_code, $2, $7, $5, $6, $9 FROM subject s \
           WHERE s.consistent AND s.customer_id IS NOT NULL AND s.agent_code IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM denied) \
           RETURNING id) \
         SELECT reading.*, (SELECT id FROM placed) AS hold_id FROM reading ORDER BY b_id",
        check = check_sql(DbBackend::Postgres),
    )
});

/// Calls `tally_check_locked` with the lock keys of the BLOCK budgets covering the step (the
/// run's customer and agent win over the given ones) and [`HOLD_SQL`] as `$10`. The keys are
/// read before the locks: a budget created meanwhile is checked but not locked, once.
const LOCKED_SQL: &str = "WITH subject AS (SELECT \
       COALESCE((SELECT c.customer_id FROM runs JOIN customers c ON c.id = runs.customer_ref \
         WHERE runs.project_id = $1 AND runs.run_key = $2), $3) AS customer_id, \
       COALESCE((SELECT a.agent_code FROM runs JOIN agents a ON a.id = runs.agent_ref \
         WHERE runs.project_id = $1 AND runs.run_key = $2), $4) AS agent_code), \
     blocking AS (SELECT b.id, b.monthly_limit_e10, b.per_run_limit_e10 FROM budgets b, subject \
       WHERE b.project_id = $1 AND b.enforcement = 'BLOCK' \
       AND (b.customer_id IS NULL OR b.customer_id = subject.customer_id) \
       AND (b.agent_code IS NULL OR b.agent_code = subject.agent_code)) \
     SELECT t.* FROM tally_check_locked(ARRAY(SELECT k FROM (\
         SELECT hashtextextended(id::text, 0) AS k FROM blocking \
           WHERE monthly_limit_e10 IS NOT NULL \
         UNION SELECT hashtextextended(id::text || ' ' || $2, 0) FROM blocking \
           WHERE per_run_limit_e10 IS NOT NULL AND $2 IS NOT NULL) keys ORDER BY k), \
       $10, $1, $2, $3, $4, $5, $6, $7, $8, $9) AS t(r_customer_id text, r_agent_code text, \
       r_total_cost_e10 bigint, r_start_time timestamptz, r_held_e10 bigint, b_id uuid, \
       b_project_id uuid, b_name text, b_scope_kind text, b_customer_id text, b_agent_code text, \
       b_monthly_limit_e10 bigint, b_per_run_limit_e10 bigint, b_enforcement text, \
       b_create_time timestamptz, b_update_time timestamptz, s_cost_e10 bigint, \
       s_held_e10 bigint, hold_id uuid)";

/// The queued tail, read once and summed into a few rows: the queue rows' costs (from their arrays,
/// without touching the events) by whether they are of the checked customer, agent and run, and of
/// the month `$5`. Each budget then adds up at most a couple of dozen rows, not every entry.
const TAIL_CTE: &str = ", me AS MATERIALIZED (SELECT \
      (SELECT c.id FROM customers c WHERE c.project_id = $1 \
        AND c.customer_id = COALESCE((SELECT r.customer_id FROM r), $3)) AS customer_ref, \
      (SELECT a.id FROM agents a WHERE a.project_id = $1 \
        AND a.agent_code = COALESCE((SELECT r.agent_code FROM r), $4)) AS agent_ref, \
      (SELECT r.id FROM r) AS run_ref), \
    tail AS MATERIALIZED (SELECT t.customer_ref = me.customer_ref AS my_customer, \
      t.agent_ref = me.agent_ref AS my_agent, t.run_ref = me.run_ref AS my_run, \
      t.month_start = $5 AS in_month, {entry_sum} AS cost FROM fold_queue q CROSS JOIN LATERAL \
      unnest(q.spend_months, q.spend_customers, q.spend_agents, q.spend_runs, q.spend_costs) \
      AS t(month_start, customer_ref, agent_ref, run_ref, cost) CROSS JOIN me \
      WHERE q.project_id = $1 GROUP BY 1, 2, 3, 4)";

/// A budget's share of the tail: the month's costs of its customer and agent (or of all; the
/// budgets read are those of the checked customer and agent).
const SCOPE_TAIL: &str = " + (SELECT {tail_sum} FROM tail WHERE tail.in_month \
      AND (b.customer_id IS NULL OR tail.my_customer) AND (b.agent_code IS NULL OR tail.my_agent))";

/// [`CHECK_SQL`] for `backend`.
fn check_sql(backend: DbBackend) -> String {
    let sql = match backend {
        DbBackend::Postgres => CHECK_SQL
            .replace("{tail}", TAIL_CTE)
            .replace(
                "{run_tail}",
                " + (SELECT {tail_sum} FROM tail WHERE tail.my_run)",
            )
            .replace("{scope_tail}", SCOPE_TAIL)
            .replace("{entry_sum}", &sum_bigint(backend, "t.cost"))
            .replace("{tail_sum}", &sum_bigint(backend, "tail.cost")),
        _ => CHECK_SQL
            .replace("{tail}", "")
            .replace("{run_tail}", "")
            .replace("{scope_tail}", ""),
    };
    let sql = sql
        .replace("{sum}", &sum_bigint(backend, "m.cost_e10"))
        .replace("{held_sum}", &sum_bigint(backend, "h.amount_e10"));
    match backend {
        DbBackend::Postgres => sql,
        _ => sql.replace('$', "?"),
    }
}

fn run_of(row: &QueryResult) -> Result<Option<RunBrief>, StoreError> {
    let Some(customer_id) = row.try_get::<Option<String>>("", "r_customer_id")? else {
        return Ok(None);
    };
    Ok(Some(RunBrief {
        customer_id,
        agent_code: row.try_get("", "r_agent_code")?,
        total_cost: Usd::from_e10(row.try_get("", "r_total_cost_e10")?),
        start_time: row.try_get("", "r_start_time")?,
    }))
}
