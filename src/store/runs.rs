//! Runs: starting and ending them, their outcomes, their flag counters, and reading their summaries.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QueryResult, Value,
    sea_query::{Alias, Expr, ExprTrait, LockType, Order, Query, SelectStatement},
};
use uuid::Uuid;

use super::{
    StoreError,
    entities::{outcomes, run_model_totals, runs},
    sql::{Table, val},
};
use crate::domain::{
    ledger::Tokens,
    money::Usd,
    run::{Outcome, OutcomeValue, RunStatus},
    run_flags::{FlagCounters, FlagSettings, FlagState},
};

/// A run to start: explicitly (`StartRun`), or by the first event naming it.
#[derive(Clone, Debug)]
pub struct NewRun {
    pub run_key: String,
    pub customer_ref: Uuid,
    pub agent_ref: Uuid,
    pub user_id: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub start_time: DateTime<Utc>,
}

/// A run as its summary shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    pub id: Uuid,
    pub run_key: String,
    pub status: RunStatus,
    pub agent_code: String,
    pub customer_id: String,
    pub customer_name: Option<String>,
    /// The plan in force for the customer when the run started.
    pub plan: Option<(String, Usd)>,
    pub user_id: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub start_time: DateTime<Utc>,
    pub end_time: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
    pub cancelled: bool,
    pub total_cost: Usd,
    pub event_count: u64,
    pub step_count: u64,
    pub unpriced_steps: u64,
    pub first_event_time: Option<DateTime<Utc>>,
    pub last_event_time: Option<DateTime<Utc>>,
    pub flags: FlagState,
    pub models: Vec<ModelTotals>,
    pub outcomes: Vec<Outcome>,
}

/// One model's share of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelTotals {
    pub provider: String,
    pub model: String,
    pub cost: Usd,
    pub steps: u64,
    pub unpriced_steps: u64,
    pub tokens: Tokens,
}

/// Creates a run unless one with its key exists; true when created.
pub async fn start(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    run: &NewRun,
) -> Result<bool, StoreError> {
    let created = super::ingest::insert_runs(db, project_id, std::slice::from_ref(run)).await?;
    Ok(!created.is_empty())
}

/// Ends a run.
pub async fn end(
    db: &impl ConnectionTrait,
    run_id: Uuid,
    status: RunStatus,
    end_time: DateTime<Utc>,
    failure: Option<(&str, bool)>,
) -> Result<(), StoreError> {
    let update = Query::update()
        .table(Alias::new("runs"))
        .values([
            (Alias::new("status"), val(status.as_str())),
            (Alias::new("end_time"), val(end_time)),
            (
                Alias::new("failure_reason"),
                val(failure.map(|(reason, _)| reason.to_owned())),
            ),
            (
                Alias::new("cancelled"),
                val(failure.is_some_and(|(_, cancelled)| cancelled)),
            ),
        ])
        .and_where(Expr::col(Alias::new("id")).eq(run_id))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

/// Attaches outcomes to a run.
pub async fn insert_outcomes(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    run_id: Uuid,
    outcomes: &[Outcome],
) -> Result<(), StoreError> {
    let rows = outcomes
        .iter()
        .map(|outcome| {
            let (kind, usd, units) = match &outcome.value {
                None => ("NONE", None, None),
                Some(OutcomeValue::Usd(amount)) => ("USD", Some(amount.e10()), None),
                Some(OutcomeValue::Units(units)) => {
                    ("UNITS", None, Some(units.normalize().to_string()))
                }
            };
            vec![
                Value::from(Uuid::now_v7()),
                Value::from(project_id),
                Value::from(run_id),
                Value::from(outcome.name.clone()),
                Value::from(kind),
                Value::from(usd),
                Value::from(units),
                Value::from(outcome.metadata.clone()),
                Value::from(outcome.record_time),
            ]
        })
        .collect();
    let table = {
        use outcomes::Column::*;
        Table::of([
            Id, ProjectId, RunRef, Name, ValueKind, ValueE10, ValueUnits, Metadata, RecordTime,
        ])
    };
    table.insert_all(db, rows).await?;
    Ok(())
}

/// The columns of a run's flag counters, in the order of [`counter_values`].
pub(crate) const COUNTER_COLUMNS: [runs::Column; 9] = {
    use runs::Column::*;
    [
        BaselineSteps,
        BaselineInputTokens,
        MaxStepInputTokens,
        BloatStep,
        LastCallSignature,
        RepeatStreak,
        RepeatStartStep,
        MaxRepeatStreak,
        LoopStep,
    ]
};

/// The flag counters of runs, locked until the transaction ends (PostgreSQL; SQLite has one writer).
pub async fn lock_counters(
    db: &impl ConnectionTrait,
    run_ids: &[Uuid],
) -> Result<HashMap<Uuid, FlagCounters>, StoreError> {
    let mut counters = HashMap::new();
    if run_ids.is_empty() {
        return Ok(counters);
    }
    let mut select = Query::select()
        .columns(["id", "step_count"].map(Alias::new))
        .columns(COUNTER_COLUMNS)
        .from(Alias::new("runs"))
        .and_where(Expr::col(Alias::new("id")).is_in(run_ids.iter().copied()))
        .order_by(Alias::new("id"), Order::Asc)
        .to_owned();
    if db.get_database_backend() == DbBackend::Postgres {
        // NO KEY UPDATE, not UPDATE: the foreign-key checks of events being inserted for these
        // runs take KEY SHARE locks, which UPDATE would block (and deadlock with).
        select.lock(LockType::NoKeyUpdate);
    }
    for row in db.query_all(&select).await? {
        counters.insert(row.try_get::<Uuid>("", "id")?, flag_counters(&row)?);
    }
    Ok(counters)
}

/// A run row's flag counters (`step_count` and [`COUNTER_COLUMNS`]). `steps` is the steps stored
/// before: ingest observes a batch's steps, then adds them to `step_count`.
fn flag_counters(row: &QueryResult) -> Result<FlagCounters, DbErr> {
    let count = |column: &str| -> Result<u64, DbErr> {
        Ok(u64::try_from(row.try_get::<i64>("", column)?).unwrap_or_default())
    };
    let step = |column: &str| -> Result<Option<u64>, DbErr> {
        Ok(row
            .try_get::<Option<i64>>("", column)?
            .map(|v| u64::try_from(v).unwrap_or_default()))
    };
    Ok(FlagCounters {
        steps: count("step_count")?,
        baseline_steps: count("baseline_steps")?,
        baseline_input_tokens: count("baseline_input_tokens")?,
        max_step_input_tokens: count("max_step_input_tokens")?,
        bloat_step: step("bloat_step")?,
        last_call_signature: row.try_get("", "last_call_signature")?,
        repeat_streak: count("repeat_streak")?,
        repeat_start_step: count("repeat_start_step")?,
        max_repeat_streak: count("max_repeat_streak")?,
        loop_step: step("loop_step")?,
    })
}

/// A run's flag counters as values of [`COUNTER_COLUMNS`].
pub(crate) fn counter_values(counters: &FlagCounters) -> Vec<sea_orm::Value> {
    let number = |value: u64| sea_orm::Value::from(i64::try_from(value).unwrap_or(i64::MAX));
    let step = |value: Option<u64>| {
        sea_orm::Value::from(value.map(|v| i64::try_from(v).unwrap_or(i64::MAX)))
    };
    vec![
        number(counters.baseline_steps),
        number(counters.baseline_input_tokens),
        number(counters.max_step_input_tokens),
        step(counters.bloat_step),
        counters.last_call_signature.clone().into(),
        number(counters.repeat_streak),
        number(counters.repeat_start_step),
        number(counters.max_repeat_streak),
        step(counters.loop_step),
    ]
}

/// Flags a run as over a budget (the first budget passed is kept).
pub async fn mark_exceeded(
    db: &impl ConnectionTrait,
    run_id: Uuid,
    budget_id: Uuid,
) -> Result<(), StoreError> {
    let update = Query::update()
        .table(Alias::new("runs"))
        .values([
            (Alias::new("budget_exceeded"), val(true)),
            (
                Alias::new("exceeded_budget_ref"),
                Expr::case(
                    Expr::col(Alias::new("exceeded_budget_ref")).is_null(),
                    budget_id,
                )
                .finally(Expr::col(Alias::new("exceeded_budget_ref")))
                .into(),
            ),
        ])
        .and_where(Expr::col(Alias::new("id")).eq(run_id))
        .to_owned();
    db.execute(&update).await?;
    Ok(())
}

/// Which runs to list, and in which order.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub status: Option<RunStatus>,
    pub customer_id: Option<String>,
    pub agent_code: Option<String>,
    pub flag: Option<crate::domain::run_flags::FlagKind>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub by_cost: bool,
    pub descending: bool,
}

/// Where the next page starts: the sort value and the run id of the last run listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunCursor {
    Time(DateTime<Utc>, Uuid),
    Cost(i64, Uuid),
}

fn summary_select(project_id: Uuid) -> SelectStatement {
    let r = Alias::new("runs");
    let plan = |column: &str| {
        Expr::cust(format!(
            "(SELECT p.{column} FROM customer_plan_periods p WHERE p.customer_ref = runs.customer_ref \
             AND p.start_time <= runs.start_time ORDER BY p.start_time DESC LIMIT 1)"
        ))
    };
    Query::select()
        .column((r.clone(), sea_orm::sea_query::Asterisk))
        .column((Alias::new("customers"), Alias::new("customer_id")))
        .expr_as(
            Expr::col((Alias::new("customers"), Alias::new("display_name"))),
            Alias::new("customer_name"),
        )
        .column((Alias::new("agents"), Alias::new("agent_code")))
        .expr_as(plan("plan_name"), Alias::new("start_plan_name"))
        .expr_as(
            plan("monthly_usd_e10"),
            Alias::new("start_plan_monthly_e10"),
        )
        .from(r.clone())
        .inner_join(
            Alias::new("customers"),
            Expr::col((Alias::new("customers"), Alias::new("id")))
                .equals((r.clone(), Alias::new("customer_ref"))),
        )
        .inner_join(
            Alias::new("agents"),
            Expr::col((Alias::new("agents"), Alias::new("id")))
                .equals((r.clone(), Alias::new("agent_ref"))),
        )
        .and_where(Expr::col((r, Alias::new("project_id"))).eq(project_id))
        .to_owned()
}

/// The project's run with this caller id, with its models and outcomes.
pub async fn find(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    run_key: &str,
) -> Result<Option<RunRecord>, StoreError> {
    let select = summary_select(project_id)
        .and_where(Expr::col((Alias::new("runs"), Alias::new("run_key"))).eq(run_key))
        .to_owned();
    let Some(row) = db.query_all(&select).await?.pop() else {
        return Ok(None);
    };
    let mut runs = vec![record(&row)?];
    attach_details(db, &mut runs).await?;
    Ok(runs.pop())
}

/// One page of the project's runs.
pub async fn list(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    filter: &RunFilter,
    after: Option<&RunCursor>,
    limit: u64,
    settings: &FlagSettings,
    now: DateTime<Utc>,
) -> Result<Vec<RunRecord>, StoreError> {
    use crate::domain::run_flags::FlagKind;
    let r = Alias::new("runs");
    let col = |name: &str| Expr::col((Alias::new("runs"), Alias::new(name)));
    let mut select = summary_select(project_id);
    if let Some(status) = filter.status {
        select.and_where(col("status").eq(status.as_str()));
    }
    if let Some(customer_id) = &filter.customer_id {
        select.and_where(
            Expr::col((Alias::new("customers"), Alias::new("customer_id")))
                .eq(customer_id.as_str()),
        );
    }
    if let Some(agent_code) = &filter.agent_code {
        select.and_where(
            Expr::col((Alias::new("agents"), Alias::new("agent_code"))).eq(agent_code.as_str()),
        );
    }
    if let Some(start) = filter.start_time {
        select.and_where(col("start_time").gte(start));
    }
    if let Some(end) = filter.end_time {
        select.and_where(col("start_time").lt(end));
    }
    match filter.flag {
        Some(FlagKind::ContextBloat) => {
            select.and_where(col("bloat_step").is_not_null());
        }
        Some(FlagKind::RunawayLoop) => {
            let max_steps = i64::try_from(settings.loop_max_steps).unwrap_or(i64::MAX);
            select.and_where(
                col("loop_step")
                    .is_not_null()
                    .or(col("step_count").gt(max_steps)),
            );
        }
        Some(FlagKind::BudgetExceeded) => {
            select.and_where(col("budget_exceeded").eq(true));
        }
        Some(FlagKind::Stale) => {
            let cutoff = now - settings.stale_after;
            select.and_where(col("status").eq(RunStatus::Running.as_str()));
            select.and_where(
                col("last_event_time").lt(cutoff).or(col("last_event_time")
                    .is_null()
                    .and(col("start_time").lt(cutoff))),
            );
        }
        None => {}
    }
    let key = if filter.by_cost {
        "total_cost_e10"
    } else {
        "start_time"
    };
    if let Some(cursor) = after {
        let (value, id): (sea_orm::Value, Uuid) = match cursor {
            RunCursor::Time(time, id) => ((*time).into(), *id),
            RunCursor::Cost(cost, id) => ((*cost).into(), *id),
        };
        let after_value = if filter.descending {
            col(key)
                .lt(Expr::val(value.clone()))
                .or(col(key).eq(Expr::val(value)).and(col("id").lt(id)))
        } else {
            col(key)
                .gt(Expr::val(value.clone()))
                .or(col(key).eq(Expr::val(value)).and(col("id").gt(id)))
        };
        select.and_where(after_value);
    }
    let order = if filter.descending {
        Order::Desc
    } else {
        Order::Asc
    };
    select
        .order_by((r.clone(), Alias::new(key)), order.clone())
        .order_by((r, Alias::new("id")), order)
        .limit(limit);
    let mut runs = db
        .query_all(&select)
        .await?
        .iter()
        .map(record)
        .collect::<Result<Vec<_>, _>>()?;
    attach_details(db, &mut runs).await?;
    Ok(runs)
}

fn record(row: &QueryResult) -> Result<RunRecord, StoreError> {
    let count = |column: &str| -> Result<u64, DbErr> {
        Ok(u64::try_from(row.try_get::<i64>("", column)?).unwrap_or_default())
    };
    let status: String = row.try_get("", "status")?;
    let status = RunStatus::parse(&status)
        .ok_or_else(|| StoreError::Other(DbErr::Type(format!("run status {status}"))))?;
    let start_time: DateTime<Utc> = row.try_get("", "start_time")?;
    let last_event_time: Option<DateTime<Utc>> = row.try_get("", "last_event_time")?;
    let plan_name: Option<String> = row.try_get("", "start_plan_name")?;
    let plan_monthly: Option<i64> = row.try_get("", "start_plan_monthly_e10")?;
    Ok(RunRecord {
        id: row.try_get("", "id")?,
        run_key: row.try_get("", "run_key")?,
        status,
        agent_code: row.try_get("", "agent_code")?,
        customer_id: row.try_get("", "customer_id")?,
        customer_name: row.try_get("", "customer_name")?,
        plan: plan_name.zip(plan_monthly.map(Usd::from_e10)),
        user_id: row.try_get("", "user_id")?,
        metadata: row.try_get("", "metadata")?,
        start_time,
        end_time: row.try_get("", "end_time")?,
        failure_reason: row.try_get("", "failure_reason")?,
        cancelled: row.try_get("", "cancelled")?,
        total_cost: Usd::from_e10(row.try_get("", "total_cost_e10")?),
        event_count: count("event_count")?,
        step_count: count("step_count")?,
        unpriced_steps: count("unpriced_lines")?,
        first_event_time: row.try_get("", "first_event_time")?,
        last_event_time,
        flags: FlagState {
            counters: flag_counters(row)?,
            running: status == RunStatus::Running,
            start_time,
            last_event_time,
            exceeded_budget: row.try_get("", "exceeded_budget_ref")?,
            budget_exceeded: row.try_get("", "budget_exceeded")?,
        },
        models: Vec::new(),
        outcomes: Vec::new(),
    })
}

async fn attach_details(
    db: &impl ConnectionTrait,
    runs: &mut [RunRecord],
) -> Result<(), StoreError> {
    if runs.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = runs.iter().map(|run| run.id).collect();
    let mut models: HashMap<Uuid, Vec<ModelTotals>> = HashMap::new();
    for row in run_model_totals::Entity::find()
        .filter(run_model_totals::Column::RunRef.is_in(ids.clone()))
        .all(db)
        .await?
    {
        let count = |value: i64| u64::try_from(value).unwrap_or_default();
        models.entry(row.run_ref).or_default().push(ModelTotals {
            provider: row.provider,
            model: row.model,
            cost: Usd::from_e10(row.cost_e10),
            steps: count(row.steps),
            unpriced_steps: count(row.unpriced_steps),
            tokens: Tokens {
                input: row.input_tokens,
                output: row.output_tokens,
                cached_input: row.cached_input_tokens,
                cache_creation: row.cache_creation_tokens,
                reasoning: row.reasoning_tokens,
            },
        });
    }
    let mut run_outcomes: HashMap<Uuid, Vec<Outcome>> = HashMap::new();
    let rows = outcomes::Entity::find()
        .filter(outcomes::Column::RunRef.is_in(ids))
        .order_by_asc(outcomes::Column::RecordTime)
        .order_by_asc(outcomes::Column::Id)
        .all(db)
        .await?;
    for row in rows {
        let value = match row.value_kind.as_str() {
            "USD" => row
                .value_e10
                .map(|e10| OutcomeValue::Usd(Usd::from_e10(e10))),
            "UNITS" => row
                .value_units
                .as_deref()
                .and_then(|text| text.parse::<Decimal>().ok())
                .map(OutcomeValue::Units),
            _ => None,
        };
        run_outcomes.entry(row.run_ref).or_default().push(Outcome {
            name: row.name,
            value,
            metadata: row.metadata,
            record_time: row.record_time,
        });
    }
    for run in runs {
        let mut own = models.remove(&run.id).unwrap_or_default();
        own.sort_by(|a, b| {
            b.cost
                .cmp(&a.cost)
                .then_with(|| (&a.provider, &a.model).cmp(&(&b.provider, &b.model)))
        });
        run.models = own;
        run.outcomes = run_outcomes.remove(&run.id).unwrap_or_default();
    }
    Ok(())
}

/// The total cost of each run, as stored now.
pub async fn totals(
    db: &impl ConnectionTrait,
    run_ids: &[Uuid],
) -> Result<HashMap<Uuid, Usd>, StoreError> {
    let mut totals = HashMap::new();
    if run_ids.is_empty() {
        return Ok(totals);
    }
    let select = Query::select()
        .columns([Alias::new("id"), Alias::new("total_cost_e10")])
        .from(Alias::new("runs"))
        .and_where(Expr::col(Alias::new("id")).is_in(run_ids.iter().copied()))
        .to_owned();
    for row in db.query_all(&select).await? {
        totals.insert(
            row.try_get("", "id")?,
            Usd::from_e10(row.try_get("", "total_cost_e10")?),
        );
    }
    Ok(totals)
}

/// What a budget check needs of a run: its customer, agent, spend and start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunBrief {
    pub customer_id: String,
    pub agent_code: String,
    pub total_cost: Usd,
    pub start_time: DateTime<Utc>,
}
