//! The figures a benchmark prints: events, batches, wall time, events per second and the latency
//! of a batch, as text for people or one JSON line for scripts.

use std::{collections::BTreeMap, fmt, time::Duration};

use serde::Serialize;

/// What one benchmark run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// `ingest` or `raw`.
    pub benchmark: &'static str,
    /// How the rows were written (`grpc`, `insert`, `copy`).
    pub method: &'static str,
    /// `postgres` or `sqlite`, when known.
    pub database: Option<&'static str>,
    pub events: u64,
    pub batches: u64,
    pub streams: usize,
    pub batch_size: usize,
    pub wall_seconds: f64,
    pub events_per_second: f64,
    pub latency_ms: Latency,
    /// Rows written per table (raw), or records per status (ingest).
    pub counts: BTreeMap<String, u64>,
}

/// Batch latency percentiles in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    /// The percentiles of `samples` (nearest rank); zeros when there are none.
    pub fn of(mut samples: Vec<Duration>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_unstable();
        let rank = |percent: usize| {
            let index = (samples.len() * percent).div_ceil(100).max(1) - 1;
            samples[index.min(samples.len() - 1)].as_secs_f64() * 1000.0
        };
        Self {
            p50: rank(50),
            p90: rank(90),
            p99: rank(99),
            max: rank(100),
        }
    }
}

impl Report {
    /// Fills in the rate from the events and the wall time.
    pub fn new(
        benchmark: &'static str,
        method: &'static str,
        events: u64,
        batches: u64,
        wall: Duration,
        latencies: Vec<Duration>,
    ) -> Self {
        let wall_seconds = wall.as_secs_f64();
        Self {
            benchmark,
            method,
            database: None,
            events,
            batches,
            streams: 0,
            batch_size: 0,
            wall_seconds,
            events_per_second: if wall_seconds > 0.0 {
                events as f64 / wall_seconds
            } else {
                0.0
            },
            latency_ms: Latency::of(latencies),
            counts: BTreeMap::new(),
        }
    }

    /// One JSON line.
    pub fn to_json(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string(self)?)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let database = self
            .database
            .map(|d| format!(" on {d}"))
            .unwrap_or_default();
        writeln!(f, "{} ({}){database}", self.benchmark, self.method)?;
        writeln!(f, "  events            {}", self.events)?;
        writeln!(
            f,
            "  batches           {} of up to {} over {} streams",
            self.batches, self.batch_size, self.streams
        )?;
        writeln!(f, "  wall time         {:.3} s", self.wall_seconds)?;
        writeln!(f, "  events/s          {:.0}", self.events_per_second)?;
        let l = self.latency_ms;
        writeln!(
            f,
            "  batch latency ms  p50 {:.1}  p90 {:.1}  p99 {:.1}  max {:.1}",
            l.p50, l.p90, l.p99, l.max
        )?;
        for (name, count) in &self.counts {
            writeln!(f, "  {name:<17} {count}")?;
        }
        Ok(())
    }
}
