//! The load generator against a real server: every event it streams over concurrent streams is
//! stored once, and the raw baseline writes the same rows (counts, statuses and costs) for the same
//! events as ingest does.

mod harness;

use sea_orm::DatabaseConnection;
use tally::store;
use tally_bench::{
    check::{CheckSettings, check_budgets},
    ingest::{StreamSettings, stream_events},
    raw::{RawMethod, RawSettings, write_raw},
    report::Report,
    reports::{self, time_reports},
    synthetic::Workload,
};
use tally_client::pb::{ListBudgetsRequest, ListEventsRequest};
use tonic::transport::Endpoint;

use crate::harness::{Backend, TestApp, assert_totals_match_events, spawn_app};

const EVENTS: u64 = 300;

fn workload(tag: &str) -> Workload {
    Workload {
        events: EVENTS,
        customers: 20,
        models: 21,
        seed: 7,
        tag: tag.to_owned(),
        now: store::now(),
    }
}

const STREAMS: StreamSettings = StreamSettings {
    streams: 2,
    batch: 50,
    in_flight: 3,
};

fn endpoint(app: &TestApp) -> Endpoint {
    app.endpoint()
}

async fn stream(app: &TestApp, workload: &Workload) -> Report {
    stream_events(&endpoint(app), &app.secret_key, workload, STREAMS)
        .await
        .expect("every event stored")
}

async fn listed_events(app: &TestApp) -> u64 {
    let mut client = app.client(&app.publishable_key).ingest();
    let (mut listed, mut page_token) = (0, String::new());
    loop {
        let page = client
            .list_events(ListEventsRequest {
                page_size: 100,
                page_token,
                ..Default::default()
            })
            .await
            .expect("a page")
            .into_inner();
        listed += page.events.len() as u64;
        if page.next_page_token.is_empty() {
            return listed;
        }
        page_token = page.next_page_token;
    }
}

/// One number about a project's rows: `{project}` in `sql` is replaced by the project's name.
async fn project_figure(db: &DatabaseConnection, sql: &str, project: &str) -> i64 {
    let sql = sql.replace(
        "{project}",
        &format!("(SELECT id FROM projects WHERE name = '{project}')"),
    );
    crate::harness::scalar(db, &sql).await
}

const FIGURES: [&str; 5] = [
    "SELECT CAST(COUNT(*) AS BIGINT) FROM cost_events WHERE project_id = {project}",
    "SELECT CAST(COUNT(*) AS BIGINT) FROM service_lines WHERE project_id = {project}",
    "SELECT CAST(COUNT(*) AS BIGINT) FROM line_cost_items WHERE project_id = {project}",
    "SELECT CAST(COUNT(*) AS BIGINT) FROM cost_events WHERE project_id = {project} AND status = 'PROCESSED'",
    "SELECT CAST(COALESCE(SUM(total_cost_e10), 0) AS BIGINT) FROM cost_events WHERE project_id = {project}",
];

/// Figures of the running totals that ingest keeps and `--with-totals` writes too. (Which batch
/// starts a run, and so the hour and user a start is counted under, depends on the streams' timing.)
const TOTALS: [&str; 8] = [
    "SELECT CAST(COALESCE(SUM(runs_started), 0) AS BIGINT) FROM event_hourly WHERE project_id = {project}",
    "SELECT CAST(COALESCE(SUM(cost_e10), 0) AS BIGINT) FROM event_hourly WHERE project_id = {project}",
    "SELECT CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT) FROM line_hourly WHERE project_id = {project}",
    "SELECT CAST(COUNT(*) AS BIGINT) FROM line_daily WHERE project_id = {project}",
    "SELECT CAST(COALESCE(SUM(events), 0) AS BIGINT) FROM customer_monthly WHERE project_id = {project}",
    "SELECT CAST(COALESCE(SUM(cost_e10), 0) AS BIGINT) FROM monthly_spend WHERE project_id = {project}",
    "SELECT CAST(COALESCE(SUM(total_cost_e10), 0) AS BIGINT) FROM runs WHERE project_id = {project}",
    "SELECT CAST(COALESCE(SUM(steps), 0) AS BIGINT) FROM run_model_totals WHERE project_id = {project}",
];

async fn streamed_events_are_all_stored_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let report = stream(&app, &workload("api")).await;
    assert_eq!(report.events, EVENTS);
    assert_eq!(report.batches, EVENTS / 50);
    assert_eq!(report.counts.values().sum::<u64>(), EVENTS);
    assert!(report.counts["EVENT_STATUS_PROCESSED"] > EVENTS * 9 / 10);
    assert!(report.latency_ms.p50 > 0.0 && report.latency_ms.p50 <= report.latency_ms.max);
    assert_eq!(listed_events(&app).await, EVENTS);
    assert_totals_match_events(&app.database).await;
}

async fn the_raw_baseline_writes_the_rows_ingest_writes(backend: Backend) {
    let app = spawn_app(backend).await;
    let ingest = workload("ingest");
    stream(&app, &ingest).await;
    let db = app.database.connect().await;
    crate::harness::wait_folded(&db).await;
    let methods: &[(RawMethod, bool)] = match backend {
        Backend::Sqlite => &[(RawMethod::Insert, false), (RawMethod::Insert, true)],
        Backend::Postgres => &[
            (RawMethod::Insert, false),
            (RawMethod::Copy, false),
            (RawMethod::Insert, true),
        ],
    };
    for &(method, totals) in methods {
        let project = format!("raw-{method:?}-{totals}");
        let settings = RawSettings {
            writers: 2,
            batch: 50,
            method,
            totals,
            project: project.clone(),
        };
        let raw = Workload {
            tag: project.clone(),
            ..ingest.clone()
        };
        let report = write_raw(&db, &raw, &settings).await.expect("raw rows");
        assert_eq!(report.events, EVENTS);
        assert_eq!(report.counts["cost_events rows"], EVENTS);
        for sql in FIGURES {
            assert_eq!(
                project_figure(&db, sql, &project).await,
                project_figure(&db, sql, "test").await,
                "{method:?}: {sql}"
            );
        }
        for sql in TOTALS {
            let raw = project_figure(&db, sql, &project).await;
            let expected = if totals {
                project_figure(&db, sql, "test").await
            } else {
                0
            };
            assert_eq!(raw, expected, "{method:?}, totals {totals}: {sql}");
        }
    }
    db.close().await.ok();
}

async fn budget_checks_answer_with_every_budget_alone_and_beside_ingest(backend: Backend) {
    let app = spawn_app(backend).await;
    let workload = workload("check");
    let alone = CheckSettings {
        checks: 25,
        rate: 1_000,
        with_ingest: None,
        hold: false,
    };
    let report = check_budgets(&endpoint(&app), &app.secret_key, &workload, alone)
        .await
        .expect("checks");
    assert_eq!((report.checks, report.allowed, report.denied), (25, 25, 0));
    // Project monthly and per run, the run's agent, and its customer (all 20 have a budget).
    assert_eq!(report.budgets_per_check, 4.0);
    assert!(report.latency_ms.p50 > 0.0 && report.ingest.is_none());

    let beside = CheckSettings {
        with_ingest: Some(STREAMS),
        ..alone
    };
    let report = check_budgets(&endpoint(&app), &app.secret_key, &workload, beside)
        .await
        .expect("checks beside ingest");
    let ingest = report.ingest.expect("the ingest figures");
    assert_eq!(ingest.events, EVENTS);
    assert!(report.checks >= 1 && report.denied == 0);
    assert_eq!(listed_events(&app).await, EVENTS);
    // The budgets were created once, not again by the second run.
    let budgets = app
        .client(&app.secret_key)
        .budgets()
        .list_budgets(ListBudgetsRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("list budgets")
        .into_inner();
    assert_eq!(budgets.budgets.len(), 2 + 6 + 20);

    // Checks that hold, against the same budgets as BLOCK: every one allowed and held, and its
    // hold released after it.
    let holding = CheckSettings {
        hold: true,
        ..alone
    };
    let report = check_budgets(&endpoint(&app), &app.secret_key, &workload, holding)
        .await
        .expect("checks that hold");
    assert!(report.hold);
    assert_eq!((report.checks, report.allowed, report.denied), (25, 25, 0));
    // The BLOCK copies of the four budgets, beside the ALERT ones.
    assert_eq!(report.budgets_per_check, 8.0);
    let db = app.database.connect().await;
    let open = crate::harness::scalar(
        &db,
        "SELECT COUNT(*) FROM budget_holds WHERE end_time IS NULL",
    )
    .await;
    let released = crate::harness::scalar(
        &db,
        "SELECT COUNT(*) FROM budget_holds WHERE end_reason = 'RELEASED'",
    )
    .await;
    assert_eq!((open, released), (0, 25));
    db.close().await.ok();
}

async fn reports_are_timed_against_the_raw_scan_with_the_same_groups(backend: Backend) {
    let app = spawn_app(backend).await;
    stream(&app, &workload("reports")).await;
    let db = app.database.connect().await;
    let window = reports::window(None, None).expect("window");
    let report = time_reports(&endpoint(&app), &app.secret_key, &db, window)
        .await
        .expect("timed");
    assert!(report.events_in_window > 0 && report.events_in_window <= EVENTS as i64);
    assert_eq!(report.timings.len(), 3);
    let (customers, models, days) = (&report.timings[0], &report.timings[1], &report.timings[2]);
    // The report and the raw scan find the same groups.
    assert_eq!(customers.rows, customers.raw_rows, "{customers:?}");
    assert_eq!(models.rows, models.raw_rows, "{models:?}");
    // Every day of the window is a bucket; the raw scan has the days with events.
    assert!(days.rows >= days.raw_rows && days.rows >= 30, "{days:?}");
    for timing in &report.timings {
        assert!(timing.report_median_ms > 0.0 && timing.raw_sql_median_ms > 0.0);
    }
    db.close().await.ok();
}

crate::on_both_databases!(
    reports_are_timed_against_the_raw_scan_with_the_same_groups,
    budget_checks_answer_with_every_budget_alone_and_beside_ingest,
    streamed_events_are_all_stored_once,
    the_raw_baseline_writes_the_rows_ingest_writes
);
