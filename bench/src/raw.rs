//! The raw baseline: the rows ingest writes for the same synthetic events, written straight into
//! the database by K concurrent writers, one transaction per batch, with no gRPC, no pricing and no
//! validation. What is left is the cost of the database itself.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use sea_orm::{DatabaseConnection, sqlx::PgPool};
use tally::{
    domain::ledger::Deltas,
    store::{
        self,
        ingest::{COST_EVENTS, LINE_COST_ITEMS, SERVICE_LINES},
    },
};

use super::{
    raw_copy::copy_rows,
    raw_directory,
    raw_rows::{BatchRows, batch_rows, insert_rows},
    raw_totals::{batch_deltas, run_starts},
    report::Report,
    synthetic::{SyntheticEvent, Workload},
};

/// How the raw baseline writes its rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RawMethod {
    /// Multi-row `INSERT … VALUES (…), (…)` statements (both databases).
    Insert,
    /// PostgreSQL `COPY … FROM STDIN` (text format).
    Copy,
}

impl RawMethod {
    fn name(self) -> &'static str {
        match self {
            Self::Insert => "insert",
            Self::Copy => "copy",
        }
    }
}

/// How the raw baseline runs.
#[derive(Clone, Debug)]
pub struct RawSettings {
    /// Concurrent writers, each with its own connection.
    pub writers: usize,
    /// Events per transaction.
    pub batch: usize,
    pub method: RawMethod,
    /// Also add each batch to the running totals ingest keeps (aggregates, monthly spend, runs),
    /// with the store's own statements, in the batch's transaction.
    pub totals: bool,
    /// The project the rows go into (created when new).
    pub project: String,
}

/// Writes the workload's rows and reports the throughput and the latency of a batch's
/// transaction. The database must be migrated.
pub async fn write_raw(
    db: &DatabaseConnection,
    workload: &Workload,
    settings: &RawSettings,
) -> anyhow::Result<Report> {
    ensure!(settings.batch >= 1, "--batch must be at least 1");
    ensure!(settings.writers >= 1, "--streams must be at least 1");
    let postgres = store::is_postgres(db);
    if settings.method == RawMethod::Copy && !postgres {
        bail!("--method copy needs PostgreSQL; SQLite has no COPY");
    }
    if settings.method == RawMethod::Copy && settings.totals {
        bail!("--with-totals writes through the store's statements: use --method insert");
    }
    let refs = std::sync::Arc::new(raw_directory::prepare(db, workload, &settings.project).await?);
    let per_writer = make_batches(workload, settings).await?;
    let batches: u64 = per_writer.iter().map(|b| b.len() as u64).sum();
    let starts = std::sync::Arc::new(if settings.totals {
        run_starts(per_writer.iter().flatten())
    } else {
        Default::default()
    });
    let pool = postgres.then(|| db.get_postgres_connection_pool().clone());

    let started = Instant::now();
    let mut writers = tokio::task::JoinSet::new();
    for batches in per_writer {
        let (db, pool, refs, method) = (db.clone(), pool.clone(), refs.clone(), settings.method);
        let (totals, starts) = (settings.totals, starts.clone());
        writers.spawn(async move {
            let mut latencies = Vec::with_capacity(batches.len());
            let mut written = [0_u64; 3];
            for batch in batches {
                let begun = Instant::now();
                let rows = batch_rows(&batch, &refs, store::now());
                let deltas = totals
                    .then(|| batch_deltas(&batch, &refs, &starts))
                    .transpose()?;
                for (total, rows) in
                    written
                        .iter_mut()
                        .zip([&rows.events, &rows.lines, &rows.items])
                {
                    *total += rows.len() as u64;
                }
                match (&pool, method) {
                    (Some(pool), RawMethod::Copy) => write_copy(pool, rows).await?,
                    _ => write_insert(&db, rows, deltas.map(|d| (refs.project_id, d))).await?,
                }
                latencies.push(begun.elapsed());
            }
            anyhow::Ok((latencies, written))
        });
    }
    let mut latencies: Vec<Duration> = Vec::with_capacity(batches as usize);
    let mut written = [0_u64; 3];
    while let Some(joined) = writers.join_next().await {
        let (writer_latencies, writer_written) = joined.context("a writer panicked")??;
        latencies.extend(writer_latencies);
        for (total, count) in written.iter_mut().zip(writer_written) {
            *total += count;
        }
    }
    let wall = started.elapsed();

    let mut report = Report::new(
        "raw",
        if settings.totals {
            "insert, with totals"
        } else {
            settings.method.name()
        },
        workload.events,
        batches,
        wall,
        latencies,
    );
    report.database = Some(if postgres { "postgres" } else { "sqlite" });
    report.streams = settings.writers;
    report.batch_size = settings.batch;
    for (table, count) in [&COST_EVENTS, &SERVICE_LINES, &LINE_COST_ITEMS]
        .iter()
        .zip(written)
    {
        report.counts.insert(format!("{} rows", table.name), count);
    }
    Ok(report)
}

/// Every writer's batches of events, made before the clock starts: batch `b` holds events
/// `b * batch ..` and goes to writer `b % writers`, as the streams of the ingest benchmark.
async fn make_batches(
    workload: &Workload,
    settings: &RawSettings,
) -> anyhow::Result<Vec<Vec<Vec<SyntheticEvent>>>> {
    let batch = settings.batch as u64;
    let total_batches = workload.events.div_ceil(batch);
    let mut makers = tokio::task::JoinSet::new();
    for writer in 0..settings.writers {
        let workload = workload.clone();
        let writers = settings.writers;
        makers.spawn_blocking(move || {
            let batches: Vec<Vec<SyntheticEvent>> = (writer as u64..total_batches)
                .step_by(writers)
                .map(|b| {
                    (b * batch..((b + 1) * batch).min(workload.events))
                        .map(|number| workload.event(number))
                        .collect()
                })
                .collect();
            (writer, batches)
        });
    }
    let mut per_writer = vec![Vec::new(); settings.writers];
    while let Some(made) = makers.join_next().await {
        let (writer, batches) = made.context("making batches panicked")?;
        per_writer[writer] = batches;
    }
    Ok(per_writer)
}

/// One batch in one transaction with multi-row inserts, and its running totals when given.
async fn write_insert(
    db: &DatabaseConnection,
    rows: BatchRows,
    totals: Option<(uuid::Uuid, Deltas)>,
) -> anyhow::Result<()> {
    let txn = store::begin_write(db).await?;
    insert_rows(&txn, &COST_EVENTS, rows.events).await?;
    insert_rows(&txn, &SERVICE_LINES, rows.lines).await?;
    insert_rows(&txn, &LINE_COST_ITEMS, rows.items).await?;
    if let Some((project_id, deltas)) = totals {
        store::totals::apply_deltas(&txn, project_id, &deltas).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// One batch in one transaction with a `COPY` per table.
async fn write_copy(pool: &PgPool, rows: BatchRows) -> anyhow::Result<()> {
    let mut txn = pool.begin().await?;
    copy_rows(&mut txn, &COST_EVENTS, &rows.events).await?;
    copy_rows(&mut txn, &SERVICE_LINES, &rows.lines).await?;
    copy_rows(&mut txn, &LINE_COST_ITEMS, &rows.items).await?;
    txn.commit().await?;
    Ok(())
}
