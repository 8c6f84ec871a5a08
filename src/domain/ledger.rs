//! What stored events add to the running totals that reports, budgets and run summaries read: per
//! hour and attribution, per month for budgets, per run and per run and model. Totals are kept by
//! adding deltas; a repriced event is taken out with its old figures and put back with its new ones.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    event::{EventStatus, LineInput},
    money::Usd,
    pricing::{CostItem, Usage},
};

/// A service line as stored: what was sent and how it was priced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricedLine {
    pub provider: String,
    pub model: String,
    pub usage: Usage,
    pub manual_cost: Option<Usd>,
    pub latency_ms: Option<i64>,
    pub call_status: Option<String>,
    pub status: EventStatus,
    /// Known cost; `None` while unpriced.
    pub cost: Option<Usd>,
    pub items: Vec<CostItem>,
    /// The provider and model whose prices were used (after mapping or alias).
    pub priced_as: Option<(String, String)>,
    /// Why the line has no cost, naming the field.
    pub error: Option<String>,
}

/// An event as stored, with its attribution resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct PricedEvent {
    pub id: Uuid,
    pub usage_time: DateTime<Utc>,
    pub customer_id: String,
    /// The plan in force for the customer at `usage_time`.
    pub plan_name: Option<String>,
    pub agent_code: String,
    pub signal_name: Option<String>,
    pub user_id: Option<String>,
    pub quantity: u64,
    pub run: Option<Uuid>,
    pub lines: Vec<PricedLine>,
}

impl PricedLine {
    /// The line as sent (with any volume given since), to price it again.
    pub fn input(&self) -> LineInput {
        LineInput {
            provider: self.provider.clone(),
            model: self.model.clone(),
            usage: self.usage,
            manual_cost: self.manual_cost,
            latency_ms: self.latency_ms,
            call_status: self.call_status.clone(),
        }
    }

    /// Whether some of the line's units were billed at the standard price because the model has
    /// no price at the call's tier (batch, flex, priority) for them.
    pub fn tier_price_missing(&self) -> bool {
        self.items
            .iter()
            .any(|item| item.billed_without_tier_price(self.usage.tier))
    }
}

impl PricedEvent {
    /// The worst status of the lines.
    pub fn status(&self) -> EventStatus {
        EventStatus::worst(self.lines.iter().map(|line| line.status))
    }

    /// Why lines have no cost: their reasons joined with "; "; `None` when every line is priced.
    pub fn error(&self) -> Option<String> {
        let errors: Vec<&str> = self
            .lines
            .iter()
            .filter_map(|line| line.error.as_deref())
            .collect();
        (!errors.is_empty()).then(|| errors.join("; "))
    }

    /// The sum of the priced lines; `None` when no line is priced. Ingest and repricing keep the
    /// sum in range (`line_pricing`), so the fold never has a line to leave out.
    pub fn total(&self) -> Option<Usd> {
        let mut known = self.lines.iter().filter_map(|line| line.cost).peekable();
        known.peek()?;
        Some(known.fold(Usd::ZERO, |sum, cost| sum.checked_add(cost).unwrap_or(sum)))
    }
}

// The hour and month a figure is kept under: the report windows' own boundaries.
pub use super::report::{floor_hour as hour_start, month_start};

/// Token counts by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tokens {
    pub input: i64,
    pub output: i64,
    pub cached_input: i64,
    pub cache_creation: i64,
    pub reasoning: i64,
}

impl Tokens {
    /// The counts in column order: input, output, cached input, cache creation, reasoning.
    pub fn counts(self) -> [i64; 5] {
        [
            self.input,
            self.output,
            self.cached_input,
            self.cache_creation,
            self.reasoning,
        ]
    }

    fn of(usage: &Usage, sign: i64) -> Self {
        let count =
            |value: Option<u64>| sign * value.map_or(0, |v| i64::try_from(v).unwrap_or(i64::MAX));
        Self {
            input: count(usage.input_tokens),
            output: count(usage.output_tokens),
            cached_input: count(usage.cached_input_tokens),
            cache_creation: count(usage.cache_creation_tokens),
            reasoning: count(usage.reasoning_tokens),
        }
    }

    fn add(&mut self, other: Tokens) {
        self.input += other.input;
        self.output += other.output;
        self.cached_input += other.cached_input;
        self.cache_creation += other.cache_creation;
        self.reasoning += other.reasoning;
    }
}

/// The attribution of an hourly event row.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventKey {
    pub hour_start: DateTime<Utc>,
    pub customer_id: String,
    pub plan_name: String,
    pub agent_code: String,
    pub signal_name: String,
    pub user_id: String,
}

/// Event-level figures of an hour and attribution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventFigures {
    pub events: i64,
    pub quantity: i64,
    pub cost_e10: i64,
    /// Events whose worst line has no price (`NEEDS_COST_BACKFILL`). The events of unknown cost
    /// that reports count as unpriced are these and `missing_volume_events` (the two never overlap).
    pub unpriced_events: i64,
    /// Events whose worst line lacks volume (`MISSING_VOLUME_DATA`).
    pub missing_volume_events: i64,
    pub runs_started: i64,
    /// Tokens of the events' lines.
    pub tokens: Tokens,
}

/// The attribution of an hourly line row: the event's, plus provider and model as reported.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineKey {
    pub event: EventKey,
    pub provider: String,
    pub model: String,
}

/// Line-level figures of an hour, attribution, provider and model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LineFigures {
    pub lines: i64,
    pub events: i64,
    pub cost_e10: i64,
    /// Lines with no price; with `missing_volume_lines`, the lines of unknown cost.
    pub unpriced_lines: i64,
    pub missing_volume_lines: i64,
    pub tokens: Tokens,
}

/// The key of a month's spend: month, customer and agent; `''` in either means all of them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SpendKey {
    pub month_start: DateTime<Utc>,
    pub customer_id: String,
    pub agent_code: String,
}

/// What a run's totals change by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunFigures {
    pub events: i64,
    pub steps: i64,
    pub cost_e10: i64,
    /// Lines of unknown cost: no price or no volume.
    pub unpriced_lines: i64,
    pub tokens: Tokens,
    pub first_event_time: Option<DateTime<Utc>>,
    pub last_event_time: Option<DateTime<Utc>>,
}

/// What a run's per-model totals change by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunModelFigures {
    pub steps: i64,
    pub unpriced_steps: i64,
    pub cost_e10: i64,
    pub tokens: Tokens,
}

/// Every delta of a set of events, keyed in a fixed order so that concurrent writers lock rows in
/// the same order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deltas {
    pub events: BTreeMap<EventKey, EventFigures>,
    pub lines: BTreeMap<LineKey, LineFigures>,
    pub spend: BTreeMap<SpendKey, i64>,
    pub runs: BTreeMap<Uuid, RunFigures>,
    pub run_models: BTreeMap<(Uuid, String, String), RunModelFigures>,
}

/// A sum of costs past what a running total holds (i64 of 1e-10 USD, about 922 million USD).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the costs of these events add up past a running total's limit of 922,337,203 USD")]
pub struct TotalOverflow;

/// `total += sign * cost`, refusing a sum that does not fit (a plain `+=` wraps in release).
fn add_cost(total: &mut i64, sign: i64, cost: i64) -> Result<(), TotalOverflow> {
    *total = sign
        .checked_mul(cost)
        .and_then(|delta| total.checked_add(delta))
        .ok_or(TotalOverflow)?;
    Ok(())
}

impl Deltas {
    /// Adds an event's figures (`sign` 1), or takes them out (`sign` −1) before a repricing. Counts
    /// are bounded at ingest (`event::MAX_COUNT`) so their sums fit; costs of many events can add
    /// up past a total's limit, and then the deltas are left part-added: drop them.
    pub fn add_event(&mut self, event: &PricedEvent, sign: i64) -> Result<(), TotalOverflow> {
        let key = EventKey {
            hour_start: hour_start(event.usage_time),
            customer_id: event.customer_id.clone(),
            plan_name: event.plan_name.clone().unwrap_or_default(),
            agent_code: event.agent_code.clone(),
            signal_name: event.signal_name.clone().unwrap_or_default(),
            user_id: event.user_id.clone().unwrap_or_default(),
        };
        let status = event.status();
        let cost = event.total().map_or(0, Usd::e10);
        let figures = self.events.entry(key.clone()).or_default();
        figures.events += sign;
        figures.quantity += sign * i64::try_from(event.quantity).unwrap_or(i64::MAX);
        add_cost(&mut figures.cost_e10, sign, cost)?;
        figures.unpriced_events += sign * i64::from(status == EventStatus::NeedsCostBackfill);
        figures.missing_volume_events += sign * i64::from(status == EventStatus::MissingVolumeData);

        // The spend of the budget scopes without a customer: the agent's and the whole project's
        // ('' stands for "all"; a real id is never blank). A customer's spend, alone or with its
        // agent, is read from `event_monthly`, which holds the same cost: keeping it here too
        // cost two more upserts per event.
        let month = month_start(event.usage_time);
        for agent_code in [event.agent_code.as_str(), ""] {
            let spend = self
                .spend
                .entry(SpendKey {
                    month_start: month,
                    customer_id: String::new(),
                    agent_code: agent_code.to_owned(),
                })
                .or_default();
            add_cost(spend, sign, cost)?;
        }

        let mut models_seen = BTreeSet::new();
        let mut event_tokens = Tokens::default();
        for line in &event.lines {
            let line_key = LineKey {
                event: key.clone(),
                provider: line.provider.clone(),
                model: line.model.clone(),
            };
            let figures = self.lines.entry(line_key).or_default();
            figures.lines += sign;
            if models_seen.insert((line.provider.clone(), line.model.clone())) {
                figures.events += sign;
            }
            add_cost(&mut figures.cost_e10, sign, line.cost.map_or(0, Usd::e10))?;
            figures.unpriced_lines +=
                sign * i64::from(line.status == EventStatus::NeedsCostBackfill);
            figures.missing_volume_lines +=
                sign * i64::from(line.status == EventStatus::MissingVolumeData);
            figures.tokens.add(Tokens::of(&line.usage, sign));
            event_tokens.add(Tokens::of(&line.usage, sign));
        }
        if let Some(figures) = self.events.get_mut(&key) {
            figures.tokens.add(event_tokens);
        }

        if let Some(run) = event.run {
            let figures = self.runs.entry(run).or_default();
            figures.events += sign;
            add_cost(&mut figures.cost_e10, sign, cost)?;
            for line in &event.lines {
                figures.steps += sign;
                figures.unpriced_lines += sign * i64::from(line.cost.is_none());
                figures.tokens.add(Tokens::of(&line.usage, sign));
                let model = self
                    .run_models
                    .entry((run, line.provider.clone(), line.model.clone()))
                    .or_default();
                model.steps += sign;
                model.unpriced_steps += sign * i64::from(line.cost.is_none());
                add_cost(&mut model.cost_e10, sign, line.cost.map_or(0, Usd::e10))?;
                model.tokens.add(Tokens::of(&line.usage, sign));
            }
            // Times only widen; a repricing takes nothing out of them.
            if sign > 0 {
                let figures = self.runs.entry(run).or_default();
                figures.first_event_time = Some(
                    figures
                        .first_event_time
                        .map_or(event.usage_time, |t| t.min(event.usage_time)),
                );
                figures.last_event_time = Some(
                    figures
                        .last_event_time
                        .map_or(event.usage_time, |t| t.max(event.usage_time)),
                );
            }
        }
        Ok(())
    }

    /// Counts a run started at `start_time` under the event attribution of its first event.
    pub fn add_run_start(&mut self, event: &PricedEvent, start_time: DateTime<Utc>) {
        self.add_started_run(
            start_time,
            &event.customer_id,
            event.plan_name.as_deref(),
            &event.agent_code,
            event.user_id.as_deref(),
        );
    }

    /// Counts a run started at `start_time` for this attribution.
    pub fn add_started_run(
        &mut self,
        start_time: DateTime<Utc>,
        customer_id: &str,
        plan_name: Option<&str>,
        agent_code: &str,
        user_id: Option<&str>,
    ) {
        self.add_started_run_signed(start_time, customer_id, plan_name, agent_code, user_id, 1);
    }

    /// Counts a started run (`sign` 1) or takes it out (`sign` −1), to move it to another plan.
    pub fn add_started_run_signed(
        &mut self,
        start_time: DateTime<Utc>,
        customer_id: &str,
        plan_name: Option<&str>,
        agent_code: &str,
        user_id: Option<&str>,
        sign: i64,
    ) {
        let key = EventKey {
            hour_start: hour_start(start_time),
            customer_id: customer_id.to_owned(),
            plan_name: plan_name.unwrap_or_default().to_owned(),
            agent_code: agent_code.to_owned(),
            signal_name: String::new(),
            user_id: user_id.unwrap_or_default().to_owned(),
        };
        self.events.entry(key).or_default().runs_started += sign;
    }

    /// The spend of the customers' budget scopes in these deltas, by month: each customer with
    /// each agent, and each customer alone (agent `''`).
    pub fn customer_spend(&self) -> BTreeMap<SpendKey, i64> {
        let mut spend: BTreeMap<SpendKey, i64> = BTreeMap::new();
        for (key, figures) in &self.events {
            for agent_code in [key.agent_code.as_str(), ""] {
                let total = spend
                    .entry(SpendKey {
                        month_start: month_start(key.hour_start),
                        customer_id: key.customer_id.clone(),
                        agent_code: agent_code.to_owned(),
                    })
                    .or_default();
                *total = total.saturating_add(figures.cost_e10);
            }
        }
        spend
    }

    /// Drops rows whose every figure is zero (an event taken out and put back unchanged).
    pub fn prune(&mut self) {
        self.events
            .retain(|_, figures| *figures != EventFigures::default());
        self.lines
            .retain(|_, figures| *figures != LineFigures::default());
        self.spend.retain(|_, cost| *cost != 0);
        self.run_models
            .retain(|_, figures| *figures != RunModelFigures::default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::pricing::Usage;

    fn line(provider: &str, model: &str, cost: Option<i64>, input: u64) -> PricedLine {
        PricedLine {
            provider: provider.into(),
            model: model.into(),
            usage: Usage {
                input_tokens: Some(input),
                ..Usage::default()
            },
            manual_cost: None,
            latency_ms: None,
            call_status: None,
            status: if cost.is_some() {
                EventStatus::Processed
            } else {
                EventStatus::NeedsCostBackfill
            },
            cost: cost.map(Usd::from_e10),
            items: Vec::new(),
            priced_as: None,
            error: None,
        }
    }

    fn event(lines: Vec<PricedLine>) -> PricedEvent {
        PricedEvent {
            id: Uuid::now_v7(),
            usage_time: "2026-11-29T10:42:00Z".parse().unwrap(),
            customer_id: "acme".into(),
            plan_name: Some("pro".into()),
            agent_code: "support".into(),
            signal_name: None,
            user_id: None,
            quantity: 2,
            run: Some(Uuid::nil()),
            lines,
        }
    }

    #[test]
    fn a_multi_model_event_counts_once_per_model_and_once_in_total() {
        let event = event(vec![
            line("openai", "gpt-4o", Some(100), 10),
            line("openai", "gpt-4o", Some(50), 5),
            line("acme", "x-1", None, 7),
        ]);
        assert_eq!(event.status(), EventStatus::NeedsCostBackfill);
        assert_eq!(event.total(), Some(Usd::from_e10(150)));
        let mut deltas = Deltas::default();
        deltas.add_event(&event, 1).unwrap();
        let figures = deltas.events.values().next().unwrap();
        assert_eq!(
            (
                figures.events,
                figures.quantity,
                figures.cost_e10,
                figures.unpriced_events
            ),
            (1, 2, 150, 1)
        );
        assert_eq!(deltas.lines.len(), 2);
        let gpt = deltas
            .lines
            .iter()
            .find(|(key, _)| key.model == "gpt-4o")
            .unwrap()
            .1;
        assert_eq!(
            (gpt.lines, gpt.events, gpt.cost_e10, gpt.tokens.input),
            (2, 1, 150, 15)
        );
        let run = deltas.runs[&Uuid::nil()];
        assert_eq!(
            (run.events, run.steps, run.cost_e10, run.unpriced_lines),
            (1, 3, 150, 1)
        );
        assert_eq!(
            deltas.spend.values().copied().collect::<Vec<_>>(),
            [150; 2],
            "agent, project"
        );
        assert_eq!(
            deltas
                .customer_spend()
                .values()
                .copied()
                .collect::<Vec<_>>(),
            [150; 2],
            "customer alone, customer and agent"
        );
        assert_eq!(
            deltas.events.keys().next().unwrap().hour_start.to_rfc3339(),
            "2026-11-29T10:00:00+00:00"
        );
        assert_eq!(
            deltas.spend.keys().next().unwrap().month_start.to_rfc3339(),
            "2026-11-01T00:00:00+00:00"
        );
    }

    #[test]
    fn a_repricing_moves_only_the_difference() {
        let before = event(vec![line("acme", "x-1", None, 7)]);
        let mut after = before.clone();
        after.lines[0] = line("acme", "x-1", Some(70), 7);
        let mut deltas = Deltas::default();
        deltas.add_event(&before, -1).unwrap();
        deltas.add_event(&after, 1).unwrap();
        deltas.prune();
        let figures = deltas.events.values().next().unwrap();
        assert_eq!(
            (figures.events, figures.cost_e10, figures.unpriced_events),
            (0, 70, -1)
        );
        let run = deltas.runs[&Uuid::nil()];
        assert_eq!(
            (run.events, run.steps, run.cost_e10, run.unpriced_lines),
            (0, 0, 70, -1)
        );
    }
}
