//! The aggregate tables, hourly and coarser, as sources of report figures: which table can answer
//! which figures for which dimensions at which grain, and the writes that keep the coarser tables
//! (`customer_monthly`, `event_monthly`, `event_daily`, `line_daily`, see migration 000008) in
//! step with the hourly ones, from the same deltas and in the same transaction.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::Value;
use uuid::Uuid;

use super::{
    sql::{self, Writes},
    totals::{EVENT_FIGURES, LINE_FIGURES, event_figures, line_figures},
};
use crate::domain::{
    grain::{Grain, segments},
    ledger::{Deltas, EventKey},
    report::{Dimension, Window},
};

/// Which figures a read wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Event-level figures: [`EVENT_SUMS`].
    Event,
    /// Line-level figures, by provider and model: [`LINE_SUMS`].
    Line,
}

/// Event-level figures, in the order reads return them; tokens last, in the order of `Tokens`.
/// `unpriced_events` counts the events whose worst line has no price (`NEEDS_COST_BACKFILL`),
/// `missing_volume_events` those whose worst line lacks volume: the reports' events of unknown cost
/// are both.
pub const EVENT_SUMS: [&str; 11] = [
    "events",
    "cost_e10",
    "unpriced_events",
    "missing_volume_events",
    "runs_started",
    "quantity",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
];

/// Line-level figures, in the order reads return them. `unpriced_lines` are the lines with no
/// price, `missing_volume_lines` those without volume: the lines of unknown cost are both.
pub const LINE_SUMS: [&str; 9] = [
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

impl Level {
    pub fn sums(self) -> &'static [&'static str] {
        match self {
            Self::Event => &EVENT_SUMS,
            Self::Line => &LINE_SUMS,
        }
    }
}

/// One aggregate table.
#[derive(Debug, PartialEq, Eq)]
pub struct Source {
    pub table: &'static str,
    pub time_column: &'static str,
    pub grain: Grain,
    pub dimensions: &'static [Dimension],
    line_level: bool,
}

impl Source {
    fn serves(&self, level: Level, dimensions: &[Dimension]) -> bool {
        self.line_level == (level == Level::Line)
            && dimensions.iter().all(|d| self.dimensions.contains(d))
    }
}

use Dimension::{Agent, Customer, Model, Plan, Provider, Signal, User};

/// Every aggregate table, preferred first among those of one grain (the fewest rows first).
pub const SOURCES: [Source; 6] = [
    Source {
        table: "customer_monthly",
        time_column: "month_start",
        grain: Grain::Month,
        dimensions: &[Customer, Plan],
        line_level: false,
    },
    Source {
        table: "event_monthly",
        time_column: "month_start",
        grain: Grain::Month,
        dimensions: &[Customer, Plan, Agent, Signal],
        line_level: false,
    },
    Source {
        table: "event_daily",
        time_column: "day_start",
        grain: Grain::Day,
        dimensions: &[Plan, Agent, Signal],
        line_level: false,
    },
    Source {
        table: "line_daily",
        time_column: "day_start",
        grain: Grain::Day,
        dimensions: &[Plan, Agent, Signal, Provider, Model],
        line_level: true,
    },
    Source {
        table: "event_hourly",
        time_column: "hour_start",
        grain: Grain::Hour,
        dimensions: &[Customer, Plan, Agent, Signal, User],
        line_level: false,
    },
    Source {
        table: "line_hourly",
        time_column: "hour_start",
        grain: Grain::Hour,
        dimensions: &[Customer, Plan, Agent, Signal, User, Provider, Model],
        line_level: true,
    },
];

/// Which table answers each part of `window`: the coarsest that holds `level`'s figures for every
/// dimension of `dimensions` (grouped or filtered), no coarser than `finest_key` when the answer
/// is keyed by period. Parts of one table come together, in time order.
pub fn plan(
    level: Level,
    dimensions: &[Dimension],
    window: Window,
    finest_key: Option<Grain>,
) -> Vec<(&'static Source, Vec<Window>)> {
    let source_of = |grain: Grain| {
        SOURCES
            .iter()
            .find(|source| source.grain == grain && source.serves(level, dimensions))
    };
    let coarse: Vec<Grain> = [Grain::Month, Grain::Day]
        .into_iter()
        .filter(|grain| finest_key.is_none_or(|key| *grain <= key))
        .filter(|grain| source_of(*grain).is_some())
        .collect();
    let mut out: Vec<(&'static Source, Vec<Window>)> = Vec::new();
    for (grain, part) in segments(window, &coarse) {
        // Every level has an hourly table with every dimension.
        let Some(source) = source_of(grain) else {
            continue;
        };
        match out.iter_mut().find(|(known, _)| *known == source) {
            Some((_, parts)) => parts.push(part),
            None => out.push((source, vec![part])),
        }
    }
    out
}

/// The figures of one coarse row being built, in the order of its table's columns.
type Sums = Vec<i64>;

fn add(sums: &mut Sums, more: &[i64]) {
    if sums.is_empty() {
        sums.resize(more.len(), 0);
    }
    for (sum, value) in sums.iter_mut().zip(more) {
        *sum += value;
    }
}

fn event_value(key: &EventKey, dimension: Dimension) -> &str {
    match dimension {
        Customer => &key.customer_id,
        Plan => &key.plan_name,
        Agent => &key.agent_code,
        Signal => &key.signal_name,
        User => &key.user_id,
        Provider | Model => "",
    }
}

/// Adds the deltas to the coarse tables to `writes` (the hourly ones are the caller's).
pub fn add_to(writes: &mut Writes, project_id: Uuid, deltas: &Deltas) {
    for source in SOURCES.iter().filter(|s| s.grain != Grain::Hour) {
        let mut rows: BTreeMap<(DateTime<Utc>, Vec<String>), Sums> = BTreeMap::new();
        let key_of = |key: &EventKey, extra: &[&str]| {
            let values = source
                .dimensions
                .iter()
                .filter(|d| !d.is_line_level())
                .map(|d| event_value(key, *d).to_owned())
                .chain(extra.iter().map(|v| (*v).to_owned()))
                .collect();
            (source.grain.floor(key.hour_start), values)
        };
        if source.line_level {
            for (key, f) in &deltas.lines {
                let row = key_of(&key.event, &[&key.provider, &key.model]);
                add(rows.entry(row).or_default(), &line_figures(f));
            }
        } else {
            for (key, f) in &deltas.events {
                add(rows.entry(key_of(key, &[])).or_default(), &event_figures(f));
            }
        }
        rows.retain(|_, sums| sums.iter().any(|value| *value != 0));
        if rows.is_empty() {
            continue;
        }
        // The coarse tables repeat the hourly ones' figure columns (migration 000008).
        let figures = if source.line_level {
            sql::names(LINE_FIGURES)
        } else {
            sql::names(EVENT_FIGURES)
        };
        let keys: Vec<&'static str> = ["project_id", source.time_column]
            .into_iter()
            .chain(source.dimensions.iter().map(|d| d.column()))
            .collect();
        let values: Vec<Vec<Value>> = rows
            .into_iter()
            .map(|((period, key), sums)| {
                [project_id.into(), period.into()]
                    .into_iter()
                    .chain(key.into_iter().map(Value::from))
                    .chain(sums.into_iter().map(Value::from))
                    .collect()
            })
            .collect();
        writes.add_named(source.table, keys, figures, values);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn november() -> Window {
        Window {
            start: at("2026-11-01T00:00:00Z"),
            end: at("2026-12-01T00:00:00Z"),
        }
    }

    fn tables(parts: &[(&'static Source, Vec<Window>)]) -> Vec<&'static str> {
        parts.iter().map(|(source, _)| source.table).collect()
    }

    #[test]
    fn whole_months_of_customers_come_from_the_monthly_table() {
        let parts = plan(Level::Event, &[Customer], november(), None);
        assert_eq!(tables(&parts), ["customer_monthly"]);
        let parts = plan(Level::Event, &[Customer, Agent], november(), None);
        assert_eq!(tables(&parts), ["event_monthly"]);
    }

    #[test]
    fn users_and_customers_of_models_need_the_hourly_tables() {
        assert_eq!(
            tables(&plan(Level::Event, &[User], november(), None)),
            ["event_hourly"]
        );
        assert_eq!(
            tables(&plan(Level::Line, &[Customer, Model], november(), None)),
            ["line_hourly"]
        );
        assert_eq!(
            tables(&plan(Level::Line, &[Provider, Model], november(), None)),
            ["line_daily"]
        );
    }

    #[test]
    fn a_series_by_day_reads_no_monthly_rows() {
        let window = Window {
            start: at("2026-10-31T20:00:00Z"),
            end: at("2026-12-01T00:00:00Z"),
        };
        let parts = plan(Level::Event, &[], window, Some(Grain::Day));
        assert_eq!(tables(&parts), ["event_hourly", "event_daily"]);
        assert_eq!(parts[1].1, [november()]);
        let hourly = plan(Level::Event, &[], window, Some(Grain::Hour));
        assert_eq!(tables(&hourly), ["event_hourly"]);
        assert_eq!(hourly[0].1, [window]);
    }
}
