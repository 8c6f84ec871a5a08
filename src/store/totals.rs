//! Running totals moved by deltas: the runs' totals and per-model totals, the hourly aggregates,
//! monthly spend and the coarser report tables (`rollups`), sent together (`Writes`: one
//! statement on PostgreSQL for the hourly rows, one for the rest).

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, Value};
use uuid::Uuid;

use super::{
    StoreError,
    entities::{event_hourly, line_hourly, monthly_spend, run_model_totals, runs},
    rollups,
    runs::{COUNTER_COLUMNS, counter_values},
    sql::{Assign, Writes},
};
use crate::domain::{
    ledger::{Deltas, EventFigures, EventKey, LineFigures},
    run_flags::FlagCounters,
};

/// The event-level figure columns of the aggregates, in the order of [`event_figures`]: those of
/// `event_hourly`, which the daily and monthly tables repeat.
pub(super) const EVENT_FIGURES: [event_hourly::Column; 11] = {
    use event_hourly::Column::*;
    [
        Events,
        Quantity,
        CostE10,
        UnpricedEvents,
        MissingVolumeEvents,
        RunsStarted,
        InputTokens,
        OutputTokens,
        CachedInputTokens,
        CacheCreationTokens,
        ReasoningTokens,
    ]
};

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

/// The line-level figure columns of the aggregates, in the order of [`line_figures`]: those of
/// `line_hourly`, which `line_daily` repeats.
pub(super) const LINE_FIGURES: [line_hourly::Column; 10] = {
    use line_hourly::Column::*;
    [
        Lines,
        Events,
        CostE10,
        UnpricedLines,
        MissingVolumeLines,
        InputTokens,
        OutputTokens,
        CachedInputTokens,
        CacheCreationTokens,
        ReasoningTokens,
    ]
};

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
    run_totals(&mut writes, project_id, deltas, counters);
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

const EVENT_KEYS: [event_hourly::Column; 7] = {
    use event_hourly::Column::*;
    [
        ProjectId, HourStart, CustomerId, PlanName, AgentCode, SignalName, UserId,
    ]
};

/// [`EVENT_KEYS`], then the line's provider and model.
const LINE_KEYS: [line_hourly::Column; 9] = {
    use line_hourly::Column::*;
    [
        ProjectId, HourStart, CustomerId, PlanName, AgentCode, SignalName, UserId, Provider, Model,
    ]
};

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
    writes.add(&EVENT_KEYS, &EVENT_FIGURES, rows);

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
    writes.add(&LINE_KEYS, &LINE_FIGURES, rows);
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
    {
        use monthly_spend::Column::*;
        writes.add(
            &[ProjectId, MonthStart, CustomerId, AgentCode],
            &[CostE10],
            rows,
        );
    }

    rollups::add_to(writes, project_id, deltas);
}

/// The runs' totals (with their flag counters where given) and per-model totals.
fn run_totals(
    writes: &mut Writes,
    project_id: Uuid,
    deltas: &Deltas,
    counters: &HashMap<Uuid, FlagCounters>,
) {
    let mut set: Vec<(runs::Column, Assign)> = {
        use runs::Column::*;
        vec![
            (EventCount, Assign::Add),
            (StepCount, Assign::Add),
            (TotalCostE10, Assign::Add),
            (UnpricedLines, Assign::Add),
            (InputTokens, Assign::Add),
            (OutputTokens, Assign::Add),
            (CachedInputTokens, Assign::Add),
            (CacheCreationTokens, Assign::Add),
            (ReasoningTokens, Assign::Add),
            (FirstEventTime, Assign::Earliest),
            (LastEventTime, Assign::Latest),
        ]
    };
    let columns: Vec<runs::Column> = [runs::Column::Id]
        .into_iter()
        .chain(set.iter().map(|(column, _)| *column))
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
    writes.update(&columns, &set, alone);
    let columns: Vec<runs::Column> = columns.into_iter().chain(COUNTER_COLUMNS).collect();
    set.extend(COUNTER_COLUMNS.map(|column| (column, Assign::Replace)));
    writes.update(&columns, &set, with_counters);

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
    let (keys, values) = {
        use run_model_totals::Column::*;
        let values = [
            Steps,
            UnpricedSteps,
            CostE10,
            InputTokens,
            OutputTokens,
            CachedInputTokens,
            CacheCreationTokens,
            ReasoningTokens,
        ];
        ([ProjectId, RunRef, Provider, Model], values)
    };
    // The table's key is the run, provider and model: the run fixes the project.
    writes.add_on(&keys, &keys[1..], &values, rows);
}
