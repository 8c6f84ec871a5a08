//! `tally-bench`: the ingest load generator and the raw baseline it is measured against (see
//! BENCHMARKS.md). Both send the same synthetic events, made from a seed, in batches spread over K
//! concurrent streams or writers, and print events per second and batch latencies.
//!
//! The load generators call the server through `tally-client`; the raw baseline and the reports'
//! plain SQL use the server's own store (`tally`), which is why this is a crate of its own: the
//! server does not ship it.

pub mod check;
pub mod expected;
pub mod ingest;
pub mod models;
pub mod raw;
mod raw_copy;
mod raw_directory;
pub mod raw_rows;
mod raw_totals;
pub mod records;
pub mod report;
pub mod reports;
pub mod synthetic;
#[cfg(test)]
mod tests;

use anyhow::ensure;
use clap::{Args, Subcommand};
use tally::{admin, store};
use tonic::{
    Request,
    metadata::{Ascii, MetadataValue},
    transport::Endpoint,
};

use self::{
    check::{CheckSettings, check_budgets},
    ingest::{StreamSettings, stream_events},
    models::KNOWN_MODELS,
    raw::{RawMethod, RawSettings, write_raw},
    report::Report,
    synthetic::Workload,
};

/// The benchmarks.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Streams synthetic events to a running server over concurrent RecordEvents streams.
    Ingest(IngestArgs),
    /// Calls CheckBudget at a steady rate, alone or beside the ingest load generator
    /// (--with-ingest), and prints the check's latency and the ingest figures.
    Check(CheckArgs),
    /// Times GetMargin by customer and by model and GetCostSeries by day over the last 30 days,
    /// against the same figures by a plain SQL GROUP BY over the events (--database-url).
    Reports(ReportsArgs),
    /// Writes the rows ingest would write for the same events straight into the database
    /// (--database-url), with no gRPC, pricing or validation: the baseline.
    Raw(RawArgs),
}

/// What both benchmarks send, and how.
#[derive(Args, Clone, Debug)]
pub struct WorkloadArgs {
    /// Events to send.
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// Concurrent streams (ingest) or writers (raw), each on its own connection.
    #[arg(long, default_value_t = 4)]
    pub streams: usize,
    /// Events per batch (1 to 100).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Distinct customers (bench_customer_0 …).
    #[arg(long, default_value_t = 1_000)]
    pub customers: usize,
    /// Distinct catalog models called (1 to 21), besides a few unknown ones.
    #[arg(long, default_value_t = 20)]
    pub models: usize,
    /// Seed of the synthetic events: the same seed makes the same events.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Prefix of this run's idempotency keys and run ids (default: random), so that reruns don't
    /// collide.
    #[arg(long)]
    pub tag: Option<String>,
    /// Usage times are spread over the 30 days before this instant (RFC 3339) [default: now].
    #[arg(long)]
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// Print one JSON line instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct IngestArgs {
    /// The server's address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub target: String,
    /// A secret key (sk_…) of the project to fill.
    #[arg(long, env = "TALLY_KEY", hide_env_values = true)]
    pub key: String,
    /// Batches sent and not answered yet, per stream.
    #[arg(long, default_value_t = 4)]
    pub in_flight: usize,
    #[command(flatten)]
    pub workload: WorkloadArgs,
}

#[derive(Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub ingest: IngestArgs,
    /// Checks to make (without --with-ingest; beside ingest, checks go on until it ends).
    #[arg(long, default_value_t = 10_000)]
    pub checks: u64,
    /// Checks per second, from one caller on one connection.
    #[arg(long, default_value_t = 500)]
    pub rate: u32,
    /// Stream the workload's events at full speed while checking.
    #[arg(long)]
    pub with_ingest: bool,
    /// Place a hold with each check (released after it, untimed), against BLOCK budgets, so that
    /// each check takes the budgets' locks and writes its hold.
    #[arg(long)]
    pub hold: bool,
}

#[derive(Args)]
pub struct ReportsArgs {
    /// The server's address.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub target: String,
    /// A key (sk_… or pk_…) of the project whose events are reported.
    #[arg(long, env = "TALLY_KEY", hide_env_values = true)]
    pub key: String,
    /// Start of the reports' window, a whole hour (RFC 3339) [default: 30 days before --end].
    #[arg(long)]
    pub start: Option<chrono::DateTime<chrono::Utc>>,
    /// End of the reports' window, a whole hour (RFC 3339) [default: the next whole hour].
    #[arg(long)]
    pub end: Option<chrono::DateTime<chrono::Utc>>,
    /// Print one JSON line instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct RawArgs {
    /// The project the rows go into; a new one named bench-raw-TAG when not given.
    #[arg(long)]
    pub project: Option<String>,
    /// How rows are written [default: copy on PostgreSQL, insert on SQLite].
    #[arg(long, value_enum)]
    pub method: Option<RawMethod>,
    /// Also write what ingest adds to the running totals (hourly, daily and monthly aggregates,
    /// monthly spend, runs' and per-model totals): every row ingest writes [needs --method insert].
    #[arg(long)]
    pub with_totals: bool,
    #[command(flatten)]
    pub workload: WorkloadArgs,
}

impl IngestArgs {
    fn stream_settings(&self) -> StreamSettings {
        StreamSettings {
            streams: self.workload.streams,
            batch: self.workload.batch,
            in_flight: self.in_flight,
        }
    }
}

fn endpoint(target: &str) -> anyhow::Result<Endpoint> {
    Endpoint::from_shared(target.to_owned())
        .map_err(|error| anyhow::anyhow!("--target {target:?}: {error}"))
}

impl WorkloadArgs {
    /// The workload these flags describe, with usage times up to `--until` (default now).
    pub fn workload(&self) -> anyhow::Result<Workload> {
        ensure!(self.events >= 1, "--events must be at least 1");
        ensure!(self.customers >= 1, "--customers must be at least 1");
        ensure!(
            (1..=KNOWN_MODELS.len()).contains(&self.models),
            "--models must be 1 to {}",
            KNOWN_MODELS.len()
        );
        let tag = match &self.tag {
            Some(tag) => tag.clone(),
            None => uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
        };
        Ok(Workload {
            events: self.events,
            customers: self.customers,
            models: self.models,
            seed: self.seed,
            tag,
            now: self.until.unwrap_or_else(store::now),
        })
    }
}

/// Runs a benchmark and prints its report on standard output.
pub async fn run(command: BenchCommand, database_url: &str) -> anyhow::Result<()> {
    let (report, json) = match command {
        BenchCommand::Ingest(args) => {
            let workload = args.workload.workload()?;
            let endpoint = endpoint(&args.target)?;
            (
                stream_events(&endpoint, &args.key, &workload, args.stream_settings()).await?,
                args.workload.json,
            )
        }
        BenchCommand::Check(args) => {
            let workload = args.ingest.workload.workload()?;
            let endpoint = endpoint(&args.ingest.target)?;
            let settings = CheckSettings {
                checks: args.checks,
                rate: args.rate,
                with_ingest: args.with_ingest.then(|| args.ingest.stream_settings()),
                hold: args.hold,
            };
            let report = check_budgets(&endpoint, &args.ingest.key, &workload, settings).await?;
            if args.ingest.workload.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{report}");
            }
            return Ok(());
        }
        BenchCommand::Reports(args) => {
            let db = store::connect(database_url).await?;
            let window = reports::window(args.start, args.end)?;
            let report =
                reports::time_reports(&endpoint(&args.target)?, &args.key, &db, window).await?;
            db.close().await.ok();
            reports::ensure_events(&report)?;
            if args.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print!("{report}");
            }
            return Ok(());
        }
        BenchCommand::Raw(args) => {
            let workload = args.workload.workload()?;
            let db = store::connect(database_url).await?;
            store::migrate(&db).await?;
            admin::ensure_catalog(&db).await?;
            let method = args
                .method
                .unwrap_or(if store::is_postgres(&db) && !args.with_totals {
                    RawMethod::Copy
                } else {
                    RawMethod::Insert
                });
            let settings = RawSettings {
                writers: args.workload.streams,
                batch: args.workload.batch,
                method,
                totals: args.with_totals,
                project: args
                    .project
                    .clone()
                    .unwrap_or_else(|| format!("bench-raw-{}", workload.tag)),
            };
            let report = write_raw(&db, &workload, &settings).await?;
            db.close().await.ok();
            (report, args.workload.json)
        }
    };
    print_report(&report, json)
}

/// A request with the key in its metadata.
fn authorized<T>(message: T, auth: &MetadataValue<Ascii>) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert("authorization", auth.clone());
    request
}

fn print_report(report: &Report, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", report.to_json()?);
    } else {
        print!("{report}");
    }
    Ok(())
}
