//! The server's instruments, made once from the global meter provider that [`super::init`]
//! installs (a no-op one when nothing reads them). Names and units follow the OpenTelemetry
//! semantic conventions where they define the measure (RPC, database client); Tally's own are
//! under `tally.`. README "Metrics" lists them.

use std::sync::LazyLock;

use opentelemetry::{
    KeyValue,
    metrics::{Counter, Histogram, Meter},
};

/// Bucket bounds (seconds) of every duration: from half a millisecond (a cached key, a small
/// read) to ten seconds (a long export page).
const SECONDS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
    10.0,
];

/// Bucket bounds of counts of records or batches.
const COUNTS: [f64; 11] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 5000.0,
];

/// Every instrument the server records into.
pub struct Instruments {
    /// `rpc.server.call.duration`: each call, from its arrival to its last response byte.
    pub rpc_duration: Histogram<f64>,
    /// `tally.events.recorded`: records answered by ingest, by `status`.
    pub events_recorded: Counter<u64>,
    /// `tally.ingest.batch.size`: records per batch (a `RecordEvent` is a batch of one).
    pub batch_size: Histogram<u64>,
    /// `tally.ingest.group.size`: batches written in one transaction (group commit).
    pub group_size: Histogram<u64>,
    /// `tally.ingest.write.duration`: one group's write, retries and fallbacks included.
    pub write_duration: Histogram<f64>,
    /// `tally.fold.duration`: one fold of queued events into the running totals.
    pub fold_duration: Histogram<f64>,
    /// `tally.fold.events`: events folded.
    pub folded_events: Counter<u64>,
    /// `tally.budget.checks`: budget checks, by `outcome` (`allowed`, `denied`) and `hold`.
    pub budget_checks: Counter<u64>,
    /// `tally.auth.key_cache.lookups`: API key lookups, by `result` (`hit`, `miss`).
    pub key_cache_lookups: Counter<u64>,
    /// `db.client.operation.duration`: each SQL statement.
    pub db_operation_duration: Histogram<f64>,
    /// `db.client.connection.wait_time`: opening a transaction (a pooled connection and `BEGIN`).
    pub db_wait_time: Histogram<f64>,
}

static INSTRUMENTS: LazyLock<Instruments> = LazyLock::new(|| make(&meter()));

/// The meter of Tally's instruments.
pub fn meter() -> Meter {
    opentelemetry::global::meter("tally")
}

/// The instruments; the first use makes them from the meter provider installed by then.
pub fn instruments() -> &'static Instruments {
    &INSTRUMENTS
}

fn make(meter: &Meter) -> Instruments {
    let seconds = |name: &'static str, description: &'static str| {
        meter
            .f64_histogram(name)
            .with_unit("s")
            .with_description(description)
            .with_boundaries(SECONDS.to_vec())
            .build()
    };
    let counts = |name: &'static str, unit: &'static str, description: &'static str| {
        meter
            .u64_histogram(name)
            .with_unit(unit)
            .with_description(description)
            .with_boundaries(COUNTS.to_vec())
            .build()
    };
    let counter = |name: &'static str, unit: &'static str, description: &'static str| {
        meter
            .u64_counter(name)
            .with_unit(unit)
            .with_description(description)
            .build()
    };
    Instruments {
        rpc_duration: seconds(
            "rpc.server.call.duration",
            "gRPC calls served, from arrival to the last response byte",
        ),
        events_recorded: counter(
            "tally.events.recorded",
            "{event}",
            "Records answered by ingest, by status (duplicates, invalid and failed records included)",
        ),
        batch_size: counts(
            "tally.ingest.batch.size",
            "{event}",
            "Records per ingest batch",
        ),
        group_size: counts(
            "tally.ingest.group.size",
            "{batch}",
            "Batches of one project written in one transaction",
        ),
        write_duration: seconds(
            "tally.ingest.write.duration",
            "Writing one group of batches, retries included",
        ),
        fold_duration: seconds(
            "tally.fold.duration",
            "Folding queued events into the running totals (PostgreSQL)",
        ),
        folded_events: counter(
            "tally.fold.events",
            "{event}",
            "Events folded into the running totals (PostgreSQL)",
        ),
        budget_checks: counter(
            "tally.budget.checks",
            "{check}",
            "Budget checks, by outcome (allowed, denied) and whether they placed a hold",
        ),
        key_cache_lookups: counter(
            "tally.auth.key_cache.lookups",
            "{lookup}",
            "API key lookups, by result (hit: answered from the cache; miss: asked the database)",
        ),
        db_operation_duration: seconds(
            "db.client.operation.duration",
            "SQL statements, by database and operation",
        ),
        db_wait_time: seconds(
            "db.client.connection.wait_time",
            "Opening a transaction: waiting for a pooled connection, and BEGIN",
        ),
    }
}

/// Counts records of one outcome.
pub fn events_recorded(status: &'static str, count: u64) {
    if count > 0 {
        instruments()
            .events_recorded
            .add(count, &[KeyValue::new("status", status)]);
    }
}

/// Counts one budget check.
pub fn budget_checked(allowed: bool, hold: bool) {
    let outcome = if allowed { "allowed" } else { "denied" };
    instruments().budget_checks.add(
        1,
        &[
            KeyValue::new("outcome", outcome),
            KeyValue::new("hold", hold),
        ],
    );
}

/// Counts one API key lookup.
pub fn key_lookup(hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    instruments()
        .key_cache_lookups
        .add(1, &[KeyValue::new("result", result)]);
}
