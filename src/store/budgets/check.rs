//! Everything `CheckBudget` reads, in one statement: the run, the budgets covering its customer and
//! agent, and each budget's spend this month. One round trip on one pooled connection: on two cores
//! beside ingest a check waits for CPU, and three statements cost three parses, plans and
//! connection checkouts where one does.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, FromQueryResult, QueryResult, Statement};
use uuid::Uuid;

use super::{Budget, from_row};
use crate::{
    domain::money::Usd,
    store::{StoreError, entities::budgets, runs::RunBrief, sql::sum_bigint},
};

/// What a check reads: the run if it exists, and each applicable budget with its scope's spend in
/// the month (zero when nothing was spent; also zero for budgets with no monthly limit).
#[derive(Debug, Default)]
pub struct CheckReading {
    pub run: Option<RunBrief>,
    pub budgets: Vec<(Budget, Usd)>,
}

/// Bound as `$1` project, `$2` run key, `$3` customer, `$4` agent, `$5` month start (`?N` on
/// SQLite).
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
/// budget's spend. SQLite folds as it writes: the three are empty there.
const CHECK_SQL: &str = "WITH r AS MATERIALIZED (SELECT \
      (SELECT c.customer_id FROM customers c WHERE c.id = runs.customer_ref) AS customer_id, \
      (SELECT a.agent_code FROM agents a WHERE a.id = runs.agent_ref) AS agent_code, \
      runs.id, runs.total_cost_e10, runs.start_time FROM runs \
      WHERE runs.project_id = $1 AND runs.run_key = $2){tail} \
    SELECT r.customer_id AS r_customer_id, r.agent_code AS r_agent_code, \
    r.total_cost_e10{run_tail} AS r_total_cost_e10, r.start_time AS r_start_time, \
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
        AND m.agent_code = b.agent_code) END{scope_tail} AS s_cost_e10 \
    FROM (SELECT 1 AS one) AS one \
    LEFT JOIN r ON 1 = 1 \
    LEFT JOIN budgets b ON b.project_id = $1 \
      AND (b.customer_id IS NULL OR b.customer_id = COALESCE(r.customer_id, $3)) \
      AND (b.agent_code IS NULL OR b.agent_code = COALESCE(r.agent_code, $4)) \
    ORDER BY b.id";

/// Reads the run `run_key` (when given) and the budgets covering its customer and agent, or the
/// given ones when the run does not exist: the caller compares the two when both are known.
/// Budgets come in id (creation) order.
pub async fn check_reading(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    run_key: Option<&str>,
    customer_id: Option<&str>,
    agent_code: Option<&str>,
    month_start: DateTime<Utc>,
) -> Result<CheckReading, StoreError> {
    static POSTGRES: LazyLock<String> = LazyLock::new(|| check_sql(DbBackend::Postgres));
    static SQLITE: LazyLock<String> = LazyLock::new(|| check_sql(DbBackend::Sqlite));
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => POSTGRES.clone(),
        _ => SQLITE.clone(),
    };
    let values: Vec<sea_orm::Value> = vec![
        project_id.into(),
        run_key.map(str::to_owned).into(),
        customer_id.map(str::to_owned).into(),
        agent_code.map(str::to_owned).into(),
        month_start.into(),
    ];

    let statement = Statement::from_sql_and_values(backend, sql, values);
    let rows = db.query_all_raw(statement).await?;
    let mut reading = CheckReading {
        run: None,
        budgets: Vec::with_capacity(rows.len()),
    };
    for row in &rows {
        if reading.run.is_none() {
            reading.run = run_of(row)?;
        }
        if row.try_get::<Option<Uuid>>("", "b_id")?.is_some() {
            let budget = from_row(budgets::Model::from_query_result(row, "b_")?)?;
            let spent = row.try_get::<Option<i64>>("", "s_cost_e10")?;
            reading
                .budgets
                .push((budget, spent.map_or(Usd::ZERO, Usd::from_e10)));
        }
    }
    Ok(reading)
}

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
    let sql = sql.replace("{sum}", &sum_bigint(backend, "m.cost_e10"));
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
