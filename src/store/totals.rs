//! Running totals moved by deltas: the runs' totals and per-model totals, the hourly aggregates,
//! monthly spend and the coarser report tables (`rollups`), sent together (`Writes`: one
//! statement on PostgreSQL for the hourly rows, one for the rest).

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbBackend, Value};
use uuid::Uuid;

use super::{
    StoreError, rollups,
    runs::counter_values,
    sql::{self, Writes},
};
use crate::domain::{
    ledger::{Deltas, EventFigures, EventKey, LineFigures},
    run_flags::FlagCounters,
};

/// The token columns of the aggregates and run totals, in the order of `Tokens::counts`.
pub const TOKEN_COLUMNS: [&str; 5] = [
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
];

/// The event-level figure columns of the aggregates (hourly, daily, monthly), in the order of
/// [`event_figures`].
pub(super) const EVENT_FIGURES: [&str; 11] = [
    "events",
    "quantity",
    "cost_e10",
    "unpriced_events",
    "missing_volume_events",
    "runs_started",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
];

/// Event-level figures as values of [`EVENT_FIGURES`].
pub(super) fn event_figures(f: &EventFigures) -> [i64; 11] {
    let [input, output, cached, creation, reasoning] = f.tokens.counts();
    [
        f.events,
        f.quantity,
        f.cost_e10,
        f.unpriced_events,
        f.missing_volume_events,
        f.runs_started,
        input,
        output,
        cached,
        creation,
        reasoning,
    ]
}

/// The line-level figure columns of the aggregates, in the order of [`line_figures`].
pub(super) const LINE_FIGURES: [&str; 10] = [
    "lines",
    "events",
    "cost_e10",
    "unpriced_lines",
    "missing_volume_lines",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
];

/// Line-level figures as values of [`LINE_FIGURES`].
pub(super) fn line_figures(f: &LineFigures) -> [i64; 10] {
    let [input, output, cached, creation, reasoning] = f.tokens.counts();
    [
        f.lines,
        f.events,
        f.cost_e10,
        f.unpriced_lines,
        f.missing_volume_lines,
        input,
        output,
        cached,
        creation,
        reasoning,
    ]
}

/// Adds the deltas to every running total (in the order ingest writes them, so that the two never
/// wait on each other in a cycle).
pub async fn apply_deltas(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    deltas: &Deltas,
) -> Result<(), StoreError> {
    apply_hourly_deltas(db, project_id, deltas).await?;
    apply_batch_deltas(db, project_id, deltas, &HashMap::new()).await
}

/// Adds the deltas to the hourly aggregates. Their rows are keyed down to the hour and the user,
/// so concurrent batches seldom share one: ingest writes them before it locks the runs.
pub async fn apply_hourly_deltas(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    deltas: &Deltas,
) -> Result<(), StoreError> {
    let mut writes = Writes::default();
    hourly_totals(&mut writes, project_id, deltas);
    writes.execute(db).await?;
    Ok(())
}

/// Adds the deltas to the runs' totals, saving the flag counters of the runs in `counters`
/// (which ingest has locked and fed this batch's steps), and to the totals that many batches
/// share: monthly spend and the daily and monthly report tables. Those rows are hot, and an
/// upsert locks a row until commit, so ingest writes them last, in one statement.
pub async fn apply_batch_deltas(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    deltas: &Deltas,
    counters: &HashMap<Uuid, FlagCounters>,
) -> Result<(), StoreError> {
    let mut writes = Writes::default();
    run_totals(
        &mut writes,
        db.get_database_backend(),
        project_id,
        deltas,
        counters,
    );
    shared_totals(&mut writes, project_id, deltas);
    writes.execute(db).await?;
    Ok(())
}

/// Adds the deltas of runs started to the hourly and shared totals.
pub async fn apply_shared_deltas(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    deltas: &Deltas,
) -> Result<(), StoreError> {
    apply_hourly_deltas(db, project_id, deltas).await?;
    let mut writes = Writes::default();
    shared_totals(&mut writes, project_id, deltas);
    writes.execute(db).await?;
    Ok(())
}

const EVENT_KEYS: [&str; 7] = [
    "project_id",
    "hour_start",
    "customer_id",
    "plan_name",
    "agent_code",
    "signal_name",
    "user_id",
];

/// The values of [`EVENT_KEYS`] for a key of the hourly tables.
fn event_key_values(project_id: Uuid, key: &EventKey) -> [Value; 7] {
    [
        project_id.into(),
        key.hour_start.into(),
        key.customer_id.clone().into(),
        key.plan_name.clone().into(),
        key.agent_code.clone().into(),
        key.signal_name.clone().into(),
        key.user_id.clone().into(),
    ]
}

fn hourly_totals(writes: &mut Writes, project_id: Uuid, deltas: &Deltas) {
    let rows = deltas
        .events
        .iter()
        .map(|(key, f)| {
            event_key_values(project_id, key)
                .into_iter()
                .chain(event_figures(f).map(Value::from))
                .collect()
        })
        .collect();
    writes.add("event_hourly", &EVENT_KEYS, &EVENT_FIGURES, rows);

    let line_keys: Vec<&'static str> = EVENT_KEYS
        .iter()
        .copied()
        .chain(["provider", "model"])
        .collect();
    let rows = deltas
        .lines
        .iter()
        .map(|(key, f)| {
            event_key_values(project_id, &key.event)
                .into_iter()
                .chain([key.provider.clone().into(), key.model.clone().into()])
                .chain(line_figures(f).map(Value::from))
                .collect()
        })
        .collect();
    writes.add("line_hourly", &line_keys, &LINE_FIGURES, rows);
}

fn shared_totals(writes: &mut Writes, project_id: Uuid, deltas: &Deltas) {
    let rows = deltas
        .spend
        .iter()
        .map(|(key, cost)| {
            vec![
                project_id.into(),
                key.month_start.into(),
                key.customer_id.clone().into(),
                key.agent_code.clone().into(),
                (*cost).into(),
            ]
        })
        .collect();
    writes.add(
        "monthly_spend",
        &["project_id", "month_start", "customer_id", "agent_code"],
        &["cost_e10"],
        rows,
    );

    rollups::add_to(writes, project_id, deltas);
}

/// The runs' totals (with their flag counters where given) and per-model totals.
fn run_totals(
    writes: &mut Writes,
    backend: DbBackend,
    project_id: Uuid,
    deltas: &Deltas,
    counters: &HashMap<Uuid, FlagCounters>,
) {
    let added: Vec<&'static str> = [
        "event_count",
        "step_count",
        "total_cost_e10",
        "unpriced_lines",
    ]
    .into_iter()
    .chain(TOKEN_COLUMNS)
    .collect();
    let mut set: Vec<(&'static str, String)> = added
        .iter()
        .map(|column| {
            let sum = sql::added(backend, &format!("runs.{column}"), &format!("v.{column}"));
            (*column, sum)
        })
        .collect();
    for (column, later) in [("first_event_time", ">"), ("last_event_time", "<")] {
        set.push((
            column,
            format!(
                "CASE WHEN v.{column} IS NOT NULL AND (runs.{column} IS NULL OR runs.{column} {later} \
                 v.{column}) THEN v.{column} ELSE runs.{column} END"
            ),
        ));
    }
    let columns: Vec<&'static str> = ["id"]
        .into_iter()
        .chain(added.iter().copied())
        .chain(["first_event_time", "last_event_time"])
        .collect();
    let (mut with_counters, mut alone) = (Vec::new(), Vec::new());
    for (run, f) in &deltas.runs {
        let mut row: Vec<Value> = vec![
            (*run).into(),
            f.events.into(),
            f.steps.into(),
            f.cost_e10.into(),
            f.unpriced_lines.into(),
        ];
        row.extend(f.tokens.counts().map(Value::from));
        row.extend([f.first_event_time.into(), f.last_event_time.into()]);
        match counters.get(run) {
            Some(counters) => {
                row.extend(counter_values(counters));
                with_counters.push(row);
            }
            None => alone.push(row),
        }
    }
    writes.update("runs", &columns, set.clone(), alone);
    let counter_columns = super::runs::COUNTER_COLUMNS;
    let columns: Vec<&'static str> = columns.into_iter().chain(counter_columns).collect();
    set.extend(
        counter_columns
            .iter()
            .map(|column| (*column, format!("v.{column}"))),
    );
    writes.update("runs", &columns, set, with_counters);

    let model_keys = ["project_id", "run_ref", "provider", "model"];
    let model_values: Vec<&'static str> = ["steps", "unpriced_steps", "cost_e10"]
        .into_iter()
        .chain(TOKEN_COLUMNS)
        .collect();
    let rows = deltas
        .run_models
        .iter()
        .map(|((run, provider, model), f)| {
            let figures: [Value; 7] = [
                project_id.into(),
                (*run).into(),
                provider.clone().into(),
                model.clone().into(),
                f.steps.into(),
                f.unpriced_steps.into(),
                f.cost_e10.into(),
            ];
            figures
                .into_iter()
                .chain(f.tokens.counts().map(Value::from))
                .collect()
        })
        .collect();
    writes.add_on(
        "run_model_totals",
        &model_keys,
        &model_keys[1..],
        &model_values,
        rows,
    );
}
