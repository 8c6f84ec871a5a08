//! The reports benchmark: times `GetMargin` by customer and by model over a window (a calendar
//! month in `scripts/bench.sh`, the last 30 days by default) and `GetCostSeries` by day, through
//! gRPC against a running server, and the same figures computed by a plain SQL `GROUP BY` over the
//! raw events on the same database, which is what reports would cost without the aggregates.

use std::{
    fmt,
    time::{Duration, Instant},
};

use anyhow::{Context as _, ensure};
use chrono::{DateTime, DurationRound as _, TimeDelta, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use serde::Serialize;
use tally::{domain::api_key::PresentedKey, store};
use tally_client::pb::{self, reports_client::ReportsClient};
use tonic::{
    metadata::{Ascii, MetadataValue},
    transport::Endpoint,
};
use uuid::Uuid;

use super::authorized;

/// Timed runs of each query after one untimed warm-up.
const RUNS: usize = 15;

/// One query's timings, in milliseconds.
#[derive(Debug, Serialize)]
pub struct Timing {
    pub query: &'static str,
    /// Rows (groups or buckets) in the report's answer.
    pub rows: usize,
    /// Rows of the raw SQL's answer (groups, or days with events).
    pub raw_rows: usize,
    pub report_median_ms: f64,
    pub raw_sql_median_ms: f64,
    /// How many times faster the report is than the raw scan.
    pub speedup: f64,
}

/// What the benchmark measured.
#[derive(Debug, Serialize)]
pub struct ReportsReport {
    pub benchmark: &'static str,
    pub events_in_window: i64,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    pub timings: Vec<Timing>,
}

/// The window of the reports: `end` defaults to the next whole hour, `start` to 30 days before it.
pub fn window(
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) -> anyhow::Result<(DateTime<Utc>, DateTime<Utc>)> {
    let end = match end {
        Some(end) => end,
        None => store::now().duration_trunc(TimeDelta::hours(1))? + TimeDelta::hours(1),
    };
    let start = start.unwrap_or(end - TimeDelta::days(30));
    ensure!(start < end, "--start must be before --end");
    Ok((start, end))
}

/// Times the three reports and their raw-SQL equivalents over `(start, end)`, for the project of
/// `key`, whose events are in `db`.
pub async fn time_reports(
    endpoint: &Endpoint,
    key: &str,
    db: &DatabaseConnection,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
) -> anyhow::Result<ReportsReport> {
    let auth: MetadataValue<Ascii> = format!("Bearer {key}")
        .parse()
        .context("the key is not printable ASCII")?;
    let project_id = project_of(db, key).await?;
    let client =
        ReportsClient::new(endpoint.connect().await?).max_decoding_message_size(64 * 1024 * 1024);
    let window = |time: DateTime<Utc>| {
        Some(prost_types::Timestamp {
            seconds: time.timestamp(),
            nanos: 0,
        })
    };
    let margin = |dimensions: Vec<pb::ReportDimension>| pb::GetMarginRequest {
        start_time: window(start),
        end_time: window(end),
        group_by: dimensions.into_iter().map(i32::from).collect(),
        page_size: 1_000,
        ..Default::default()
    };

    // One GetMargin call; its answer's row count.
    let margin_rows = |request: pb::GetMarginRequest| {
        let mut client = client.clone();
        let message = authorized(request, &auth);
        async move { Ok(client.get_margin(message).await?.into_inner().rows.len()) }
    };

    let mut timings = Vec::new();
    let by_customer = margin(vec![pb::ReportDimension::Customer]);
    let (rows, report, raw) = time_against_raw(
        || margin_rows(by_customer.clone()),
        db,
        &raw_by_customer(db, project_id, start, end),
    )
    .await?;
    timings.push(Timing::new("GetMargin by customer", rows, report, raw));

    let by_model = margin(vec![
        pb::ReportDimension::Provider,
        pb::ReportDimension::Model,
    ]);
    let (rows, report, raw) = time_against_raw(
        || margin_rows(by_model.clone()),
        db,
        &raw_by_model(db, project_id, start, end),
    )
    .await?;
    timings.push(Timing::new(
        "GetMargin by provider and model",
        rows,
        report,
        raw,
    ));

    let series = pb::GetCostSeriesRequest {
        start_time: window(start),
        end_time: window(end),
        granularity: pb::TimeGranularity::Day.into(),
        ..Default::default()
    };
    let (rows, report, raw) = time_against_raw(
        || {
            let mut client = client.clone();
            let message = authorized(series.clone(), &auth);
            async move {
                let answer = client.get_cost_series(message).await?.into_inner();
                Ok(answer.series.iter().map(|s| s.buckets.len()).sum())
            }
        },
        db,
        &raw_by_day(db, project_id, start, end),
    )
    .await?;
    timings.push(Timing::new("GetCostSeries by day", rows, report, raw));

    let count = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            placeholders(
                db,
                "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM cost_events WHERE project_id = ? AND usage_time >= ? AND usage_time < ?",
            ),
            [project_id.into(), start.into(), end.into()],
        ))
        .await?
        .context("a count")?
        .try_get::<i64>("", "n")?;
    Ok(ReportsReport {
        benchmark: "reports",
        events_in_window: count,
        window_start: start,
        window_end: end,
        timings,
    })
}

impl Timing {
    fn new(query: &'static str, rows: usize, report: f64, (raw_rows, raw): (usize, f64)) -> Self {
        Self {
            query,
            rows,
            raw_rows,
            report_median_ms: report,
            raw_sql_median_ms: raw,
            speedup: if report > 0.0 { raw / report } else { 0.0 },
        }
    }
}

/// The project of a key, read from the database.
async fn project_of(db: &DatabaseConnection, key: &str) -> anyhow::Result<Uuid> {
    let presented = PresentedKey::parse(key).context("--key is not a Tally key")?;
    let candidate = store::api_keys::active_candidates(db, presented.prefix())
        .await?
        .into_iter()
        .find(|candidate| presented.matches(&candidate.digest))
        .context("--key is not an active key of this database")?;
    Ok(candidate.project_id)
}

/// Runs the report `call` and the raw `statement` once each untimed, then [`RUNS`] times each,
/// one after the other, so that both see the machine as it is at that moment (its speed drifts
/// by a quarter within minutes here). Returns the report's size, its median time, and the raw
/// statement's row count and median time.
async fn time_against_raw<F, Fut>(
    call: F,
    db: &DatabaseConnection,
    statement: &Statement,
) -> anyhow::Result<(usize, f64, (usize, f64))>
where
    F: Fn() -> Fut,
    Fut: Future<Output = anyhow::Result<usize>>,
{
    let rows = call().await?;
    let raw_rows = raw_scan(db, statement).await?;
    let mut report_times = Vec::with_capacity(RUNS);
    let mut raw_times = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let begun = Instant::now();
        call().await?;
        report_times.push(begun.elapsed());
        let begun = Instant::now();
        raw_scan(db, statement).await?;
        raw_times.push(begun.elapsed());
    }
    Ok((
        rows,
        median_ms(report_times),
        (raw_rows, median_ms(raw_times)),
    ))
}

/// Runs the raw statement; returns its row count. On PostgreSQL it is planned for its values on
/// every run: from the sixth run of a prepared statement PostgreSQL may switch to a generic plan,
/// which for these scans reads the events through the (project, time) index, ten times slower
/// than the parallel scan it plans for a month's window. The report would look faster than it is.
async fn raw_scan(db: &DatabaseConnection, statement: &Statement) -> anyhow::Result<usize> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(db.query_all_raw(statement.clone()).await?.len());
    }
    let txn = db.begin().await?;
    txn.execute_unprepared("SET LOCAL plan_cache_mode = force_custom_plan")
        .await?;
    let rows = txn.query_all_raw(statement.clone()).await?.len();
    txn.commit().await?;
    Ok(rows)
}

fn median_ms(mut times: Vec<Duration>) -> f64 {
    times.sort_unstable();
    times[times.len() / 2].as_secs_f64() * 1000.0
}

/// `?` placeholders as the backend numbers them.
fn placeholders(db: &DatabaseConnection, sql: &str) -> String {
    if db.get_database_backend() != DbBackend::Postgres {
        return sql.to_owned();
    }
    let mut numbered = String::with_capacity(sql.len());
    for (index, part) in sql.split('?').enumerate() {
        if index > 0 {
            numbered.push_str(&format!("${index}"));
        }
        numbered.push_str(part);
    }
    numbered
}

fn windowed(
    db: &DatabaseConnection,
    sql: &str,
    project: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Statement {
    Statement::from_sql_and_values(
        db.get_database_backend(),
        placeholders(db, sql),
        [project.into(), start.into(), end.into()],
    )
}

/// Cost, events and events of unknown cost (no price or no volume) per customer, straight from the
/// events.
fn raw_by_customer(
    db: &DatabaseConnection,
    project: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Statement {
    windowed(
        db,
        "SELECT c.customer_id, SUM(e.total_cost_e10), COUNT(*), \
         SUM(CASE WHEN e.status <> 'PROCESSED' THEN 1 ELSE 0 END) \
         FROM cost_events e JOIN customers c ON c.id = e.customer_ref \
         WHERE e.project_id = ? AND e.usage_time >= ? AND e.usage_time < ? GROUP BY c.customer_id",
        project,
        start,
        end,
    )
}

/// Cost, events and tokens per provider and model, straight from the lines.
fn raw_by_model(
    db: &DatabaseConnection,
    project: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Statement {
    windowed(
        db,
        "SELECT l.provider, l.model, SUM(l.cost_e10), COUNT(DISTINCT l.event_ref), \
         SUM(l.input_tokens), SUM(l.output_tokens) \
         FROM service_lines l JOIN cost_events e ON e.id = l.event_ref \
         WHERE e.project_id = ? AND e.usage_time >= ? AND e.usage_time < ? GROUP BY l.provider, l.model",
        project,
        start,
        end,
    )
}

/// Cost and events per UTC day, straight from the events.
fn raw_by_day(
    db: &DatabaseConnection,
    project: Uuid,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Statement {
    let day = match db.get_database_backend() {
        DbBackend::Postgres => "date_trunc('day', e.usage_time AT TIME ZONE 'UTC')",
        _ => "substr(e.usage_time, 1, 10)",
    };
    windowed(
        db,
        &format!(
            "SELECT {day} AS day, SUM(e.total_cost_e10), COUNT(*) FROM cost_events e \
             WHERE e.project_id = ? AND e.usage_time >= ? AND e.usage_time < ? GROUP BY 1 ORDER BY 1"
        ),
        project,
        start,
        end,
    )
}

/// Checks that the report timing is meaningful: the window has events.
pub fn ensure_events(report: &ReportsReport) -> anyhow::Result<()> {
    ensure!(
        report.events_in_window > 0,
        "no events in the window {} – {}: load some first (tally-bench ingest)",
        report.window_start,
        report.window_end
    );
    Ok(())
}

impl fmt::Display for ReportsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "reports over {} events, {} – {}",
            self.events_in_window, self.window_start, self.window_end
        )?;
        for timing in &self.timings {
            writeln!(
                f,
                "  {:<32} {:>5} rows  report {:>9.2} ms  raw SQL {:>9.2} ms  {:>6.1}× faster",
                timing.query,
                timing.rows,
                timing.report_median_ms,
                timing.raw_sql_median_ms,
                timing.speedup
            )?;
        }
        Ok(())
    }
}
