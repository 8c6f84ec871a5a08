//! What ingest adds to the running totals for a batch of synthetic events (hourly, daily and monthly
//! aggregates, monthly spend, the runs' totals and per-model totals), worked out from the events'
//! expected prices, for the raw baseline's `--with-totals`: every row ingest writes, not only the
//! events, lines and cost items.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use tally::domain::{
    ledger::{Deltas, PricedEvent, PricedLine, TotalOverflow},
    money::Usd,
    pricing::Usage,
};

use super::{
    raw_rows::Refs,
    synthetic::{AGENTS, Call, SyntheticEvent, Workload},
};

/// The deltas of `events`, as ingest adds them; `starts` holds the numbers of the events that
/// start their run (see [`run_starts`]).
pub fn batch_deltas(
    events: &[SyntheticEvent],
    refs: &Refs,
    starts: &HashSet<u64>,
) -> Result<Deltas, TotalOverflow> {
    let mut deltas = Deltas::default();
    for event in events {
        let priced = priced_event(event, refs);
        deltas.add_event(&priced, 1)?;
        if starts.contains(&event.number) {
            deltas.add_started_run(
                event.usage_time,
                &priced.customer_id,
                priced.plan_name.as_deref(),
                &priced.agent_code,
                priced.user_id.as_deref(),
            );
        }
    }
    Ok(deltas)
}

/// The events that start their run, as ingest counts them: a run starts with the earliest event of
/// the first batch that names it.
pub fn run_starts<'a>(batches: impl IntoIterator<Item = &'a Vec<SyntheticEvent>>) -> HashSet<u64> {
    // (the batch's first event number, usage time, event number) of each run's start so far.
    let mut first: HashMap<usize, (u64, DateTime<Utc>, u64)> = HashMap::new();
    for batch in batches {
        let Some(batch_number) = batch.first().map(|event| event.number) else {
            continue;
        };
        for event in batch {
            let Some(run) = event.run else { continue };
            let candidate = (batch_number, event.usage_time, event.number);
            let best = first.entry(run).or_insert(candidate);
            *best = (*best).min(candidate);
        }
    }
    first.into_values().map(|(_, _, number)| number).collect()
}

fn priced_event(event: &SyntheticEvent, refs: &Refs) -> PricedEvent {
    let (agent_code, signal) = AGENTS[event.agent];
    let lines = event
        .lines
        .iter()
        .zip(event.expected_lines())
        .map(|(line, expected)| PricedLine {
            provider: line.call.provider().to_owned(),
            model: line.call.model().to_owned(),
            usage: Usage {
                input_tokens: line.tokens.input,
                output_tokens: line.tokens.output,
                cached_input_tokens: line.tokens.cached_input,
                cache_creation_tokens: line.tokens.cache_creation,
                reasoning_tokens: line.tokens.reasoning,
                ..Usage::default()
            },
            manual_cost: match line.call {
                Call::Manual(_, _, cost) => Some(Usd::from_e10(cost)),
                _ => None,
            },
            latency_ms: line.latency_ms.map(i64::from),
            call_status: line.call_status.map(str::to_owned),
            status: expected.status,
            cost: expected.cost_e10.map(Usd::from_e10),
            items: Vec::new(),
            priced_as: expected
                .priced_as
                .map(|(provider, model)| (provider.to_owned(), model.to_owned())),
            error: expected.error,
        })
        .collect();
    PricedEvent {
        id: uuid::Uuid::nil(),
        usage_time: event.usage_time,
        customer_id: Workload::customer_id(event.customer),
        plan_name: Some(Workload::plan(event.customer).0.to_owned()),
        agent_code: agent_code.to_owned(),
        signal_name: signal.map(str::to_owned),
        user_id: event.user.map(|u| Workload::user_id(event.customer, u)),
        quantity: event.quantity.unwrap_or(1),
        run: event.run.map(|run| refs.runs[run]),
        lines,
    }
}
