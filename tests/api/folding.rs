//! Folding (`service::fold`): on PostgreSQL ingest only stores and queues the events, and a folder
//! adds them to the running totals afterwards. With the folder paused, every read still counts every
//! event already answered `stored` (`CheckBudget` reads the queued tail; the other reads fold it
//! first), and the stored totals equal the events once folded. A folder killed (SIGKILL) in the
//! middle of its folds loses nothing and folds nothing twice. SQLite folds as it writes: the same
//! reads hold there.

use chrono::{Datelike, TimeZone, Utc};
use nix::sys::signal::Signal;
use prost_types::Timestamp;
use tally::pb::{
    self, CheckBudgetRequest, CreateBudgetRequest, GetCostSeriesRequest, GetMarginRequest,
    GetRunRequest, RecordBatchRequest, ingest_client::IngestClient,
};
use tonic::transport::Channel;

use crate::{
    cli::{Served, key_after, serve_with_env},
    fixtures::EventRecordBuilder,
    helpers::{
        ApiKey, Backend, TestApp, TestDatabase, scalar, spawn_app_with, test_settings, wait_folded,
    },
};

/// gpt-4o-mini, 1000 input and 100 output tokens (catalog/litellm_prices.json: 1.5e-7 USD per
/// input token, 6e-7 per output token): 0.00015 + 0.00006 = 0.00021 USD, in 1e-10 USD.
const STEP_E10: i64 = 2_100_000;

/// `e10` units of 1e-10 USD as the API writes an amount.
fn usd(e10: i64) -> String {
    format!("{}.{:010}", e10 / 10_000_000_000, e10 % 10_000_000_000)
}

fn month_window() -> (Timestamp, Timestamp) {
    let now = Utc::now();
    let start = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .unwrap();
    let end = if now.month() == 12 {
        Utc.with_ymd_and_hms(now.year() + 1, 1, 1, 0, 0, 0).unwrap()
    } else {
        Utc.with_ymd_and_hms(now.year(), now.month() + 1, 1, 0, 0, 0)
            .unwrap()
    };
    let ts = |t: chrono::DateTime<Utc>| Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    };
    (ts(start), ts(end))
}

/// The app with background folding paused: events wait in the queue until a read folds them.
async fn spawn_paused(backend: Backend) -> TestApp {
    let database = TestDatabase::create(backend).await;
    spawn_app_with(database, |url| tally::config::Settings {
        fold_in_background: false,
        ..test_settings(url)
    })
    .await
}

async fn queued(app: &TestApp) -> i64 {
    let db = app.database.connect().await;
    let count = scalar(&db, "SELECT CAST(COUNT(*) AS BIGINT) FROM fold_queue").await;
    db.close().await.ok();
    count
}

async fn budget(
    app: &TestApp,
    name: &str,
    kind: pb::BudgetScopeKind,
    (customer, agent): (&str, &str),
    per_run: &str,
) {
    app.budgets(&app.secret_key)
        .create_budget(CreateBudgetRequest {
            budget: Some(pb::Budget {
                name: name.to_owned(),
                scope: Some(pb::BudgetScope {
                    kind: kind as i32,
                    customer_id: customer.to_owned(),
                    agent_code: agent.to_owned(),
                }),
                monthly_limit_usd: "10".to_owned(),
                per_run_limit_usd: per_run.to_owned(),
                enforcement: pb::BudgetEnforcement::Block as i32,
                ..Default::default()
            }),
        })
        .await
        .expect("budget created");
}

async fn reads_count_the_events_the_folder_has_not_reached(backend: Backend) {
    let app = spawn_paused(backend).await;
    use pb::BudgetScopeKind::{Agent, Customer, CustomerAgent, Project};
    budget(&app, "project", Project, ("", ""), "").await;
    budget(&app, "acme", Customer, ("acme", ""), "10").await;
    budget(&app, "writer", Agent, ("", "writer"), "").await;
    budget(&app, "acme writer", CustomerAgent, ("acme", "writer"), "").await;
    // acme: 20 steps of run r1 by writer and 5 by reviewer; globex: 10 steps of run r2 by writer.
    let records = (0..35)
        .map(|n| {
            let record = EventRecordBuilder::new().key(&format!("e{n}"));
            match n {
                0..20 => record.customer("acme").run("r1"),
                20..30 => record.customer("globex").run("r2"),
                _ => record.customer("acme").agent("reviewer"),
            }
            .build()
        })
        .collect();
    app.record_all(records).await;
    if backend == Backend::Postgres {
        assert!(queued(&app).await > 0, "the events wait in the queue");
    }

    let check = app
        .budgets(&app.publishable_key)
        .check_budget(CheckBudgetRequest {
            run_id: "r1".to_owned(),
            ..Default::default()
        })
        .await
        .expect("check")
        .into_inner();
    let spent: Vec<(i32, &str)> = check
        .checks
        .iter()
        .map(|c| (c.window, c.spent_usd.as_str()))
        .collect();
    let (month, run) = (pb::BudgetWindow::Month as i32, pb::BudgetWindow::Run as i32);
    // The project 35 steps, acme 25, writer 30, acme by writer and run r1 20.
    let (all, acme, writer, r1) = (
        usd(35 * STEP_E10),
        usd(25 * STEP_E10),
        usd(30 * STEP_E10),
        usd(20 * STEP_E10),
    );
    assert_eq!(
        spent.len(),
        5,
        "four monthly limits and a per-run one: {spent:?}"
    );
    for expected in [
        (month, all.as_str()),
        (month, acme.as_str()),
        (month, writer.as_str()),
        (month, r1.as_str()),
        (run, r1.as_str()),
    ] {
        assert!(spent.contains(&expected), "{expected:?} in {spent:?}");
    }
    if backend == Backend::Postgres {
        assert!(
            queued(&app).await > 0,
            "a check reads the queue and folds nothing"
        );
    }

    let run = app
        .runs(&app.publishable_key)
        .get_run(GetRunRequest {
            run_id: "r1".to_owned(),
        })
        .await
        .expect("run")
        .into_inner()
        .run
        .expect("run");
    assert_eq!(
        (run.total_cost_usd.as_str(), run.event_count),
        (r1.as_str(), 20)
    );

    // Twelve more after the fold: the margin and the series count them too.
    app.record_all(
        (35..47)
            .map(|n| EventRecordBuilder::new().key(&format!("e{n}")).build())
            .collect(),
    )
    .await;
    let (start, end) = month_window();
    let margin = app
        .reports(&app.publishable_key)
        .get_margin(GetMarginRequest {
            start_time: Some(start),
            end_time: Some(end),
            ..Default::default()
        })
        .await
        .expect("margin")
        .into_inner();
    assert_eq!(margin.totals.expect("totals").cost_usd, usd(47 * STEP_E10));
    app.record_all(vec![EventRecordBuilder::new().key("e47").build()])
        .await;
    let series = app
        .reports(&app.publishable_key)
        .get_cost_series(GetCostSeriesRequest {
            start_time: Some(start),
            end_time: Some(end),
            granularity: pb::TimeGranularity::Month as i32,
            ..Default::default()
        })
        .await
        .expect("series")
        .into_inner();
    let bucket = &series.series[0].buckets[0];
    assert_eq!(
        (bucket.cost_usd.as_str(), bucket.event_count),
        (usd(48 * STEP_E10).as_str(), 48)
    );
    assert_eq!(queued(&app).await, 0, "the reads folded the queue");
    app.assert_totals_match_events().await;
}

fn ingest_client(
    served: &Served,
    key: &str,
) -> IngestClient<tonic::service::interceptor::InterceptedService<Channel, ApiKey>> {
    let channel = Channel::from_shared(format!("http://{}", served.address()))
        .expect("uri")
        .connect_lazy();
    IngestClient::with_interceptor(channel, ApiKey::bearer(key))
}

/// Events (and run starts) whose figures are in the stored totals (not queued) against those
/// totals: equal when every fold committed whole and none twice.
async fn assert_folded_totals_exact(db: &sea_orm::DatabaseConnection) {
    let pairs = [
        (
            "SELECT CAST(COUNT(*) AS BIGINT) FROM cost_events e WHERE NOT EXISTS \
             (SELECT 1 FROM fold_queue q WHERE e.id = ANY(q.event_ids))",
            "SELECT CAST(COALESCE(SUM(events), 0) AS BIGINT) FROM event_hourly",
        ),
        (
            "SELECT CAST(COALESCE(SUM(total_cost_e10), 0) AS BIGINT) FROM cost_events e WHERE \
             NOT EXISTS (SELECT 1 FROM fold_queue q WHERE e.id = ANY(q.event_ids))",
            "SELECT CAST(COALESCE(SUM(cost_e10), 0) AS BIGINT) FROM monthly_spend \
             WHERE customer_id = '' AND agent_code = ''",
        ),
        (
            "SELECT CAST(COUNT(*) AS BIGINT) FROM cost_events e WHERE run_ref IS NOT NULL AND \
             NOT EXISTS (SELECT 1 FROM fold_queue q WHERE e.id = ANY(q.event_ids))",
            "SELECT CAST(COALESCE(SUM(event_count), 0) AS BIGINT) FROM runs",
        ),
        (
            "SELECT CAST(COUNT(*) AS BIGINT) FROM runs r WHERE NOT EXISTS \
             (SELECT 1 FROM fold_queue q WHERE r.id = ANY(q.run_ids))",
            "SELECT CAST(COALESCE(SUM(runs_started), 0) AS BIGINT) FROM event_hourly",
        ),
    ];
    for (events, totals) in pairs {
        assert_eq!(
            scalar(db, events).await,
            scalar(db, totals).await,
            "{totals}"
        );
    }
}

/// PostgreSQL only: SQLite never queues.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_killed_mid_fold_loses_nothing_and_folds_nothing_twice() {
    let database = TestDatabase::create(Backend::Postgres).await;
    // Stored with folding paused: 6,000 events in 60 transactions wait in the queue.
    let mut paused = serve_with_env(&database.url, &[("TALLY_PAUSE_FOLDING", "true")]).await;
    let mut printed = Vec::new();
    for _ in 0..3 {
        printed.push(paused.stdout_line().await);
    }
    let key = key_after(&printed, "secret key");
    let mut ingest = ingest_client(&paused, &key);
    for batch in 0..60 {
        let records = (0..100)
            .map(|n| {
                EventRecordBuilder::new()
                    .key(&format!("k{batch}-{n}"))
                    .customer(&format!("c{}", n % 13 % 7))
                    .run(&format!("run{}", n % 13))
                    .build()
            })
            .collect();
        let results = ingest
            .record_batch(RecordBatchRequest { records })
            .await
            .expect("batch")
            .into_inner()
            .results;
        assert!(results.iter().all(|r| r.stored), "{results:?}");
    }
    paused.stop_with(Signal::SIGTERM).await;
    let db = database.connect().await;
    // 60 transactions of events, and one of the 13 runs the first batch started.
    assert_eq!(
        scalar(&db, "SELECT CAST(COUNT(*) AS BIGINT) FROM fold_queue").await,
        61
    );

    // Servers that start folding at once and are killed at different points of it.
    let mut interrupted = 0;
    for delay_ms in [0, 40, 80, 150, 250, 400, 700] {
        let before = scalar(&db, "SELECT CAST(COUNT(*) AS BIGINT) FROM fold_queue").await;
        if before == 0 {
            break;
        }
        let folding = serve_with_env(&database.url, &[]).await;
        tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
        folding.kill_now().await;
        let after = scalar(&db, "SELECT CAST(COUNT(*) AS BIGINT) FROM fold_queue").await;
        if after > 0 {
            interrupted += 1;
        }
        assert_folded_totals_exact(&db).await;
    }
    assert!(
        interrupted > 0,
        "at least one kill came before the queue was folded"
    );

    // A last server folds the rest: every event once.
    let last = serve_with_env(&database.url, &[]).await;
    wait_folded(&db).await;
    assert_folded_totals_exact(&db).await;
    assert_eq!(
        scalar(&db, "SELECT CAST(COUNT(*) AS BIGINT) FROM cost_events").await,
        6_000
    );
    assert_eq!(
        scalar(
            &db,
            "SELECT CAST(COALESCE(SUM(cost_e10), 0) AS BIGINT) FROM event_hourly"
        )
        .await,
        6_000 * STEP_E10
    );
    last.stop_with(Signal::SIGTERM).await;
    db.close().await.ok();
}

/// MapModel and a plan re-dated by a record while the events wait in the queue (folding paused):
/// the repricing and the move change only the queued rows, and the fold counts them once, repriced
/// and under the new plan. Then a mapping of folded events: the totals move by the difference.
async fn repricing_and_plan_moves_of_queued_events_count_once(backend: Backend) {
    let app = spawn_paused(backend).await;
    let (start, end) = month_window();
    let at = Timestamp {
        seconds: start.seconds + 3_600,
        nanos: 0,
    };
    let unpriced = |n: u32, model: &str| {
        EventRecordBuilder::new()
            .key(&format!("{model}-{n}"))
            .plan(Some(pb::Plan {
                name: "pro".to_owned(),
                monthly_usd: "99".to_owned(),
            }))
            .model("acme", model)
            .at(Some(at))
            .build()
    };
    app.record_all((0..5).map(|n| unpriced(n, "x-1")).collect())
        .await;
    if backend == Backend::Postgres {
        assert!(queued(&app).await > 0, "the events wait in the queue");
    }
    let map = |from: &str| pb::MapModelRequest {
        from_provider: "acme".to_owned(),
        from_model: from.to_owned(),
        to_provider: "openai".to_owned(),
        to_model: "gpt-4o-mini".to_owned(),
    };
    let pricing = || app.pricing(&app.secret_key);
    let margin = |app: &TestApp| {
        let mut reports = app.reports(&app.publishable_key);
        async move {
            reports
                .get_margin(GetMarginRequest {
                    start_time: Some(start),
                    end_time: Some(end),
                    ..Default::default()
                })
                .await
                .expect("margin")
                .into_inner()
                .totals
                .expect("totals")
                .cost_usd
        }
    };

    let repriced = pricing()
        .map_model(map("x-1"))
        .await
        .expect("mapped")
        .into_inner();
    assert_eq!(repriced.repriced_event_count, 5);
    // A record carrying plan "team" from the same instant: the five queued events move from "pro"
    // to "team" at ingest (no read has folded them).
    app.record_all(vec![
        EventRecordBuilder::new()
            .key("team")
            .plan(Some(pb::Plan {
                name: "team".to_owned(),
                monthly_usd: "299".to_owned(),
            }))
            .at(Some(at))
            .build(),
    ])
    .await;
    if backend == Backend::Postgres {
        assert!(queued(&app).await > 0, "the events still wait in the queue");
    }
    let cost = margin(&app).await;
    assert_eq!(cost, usd(6 * STEP_E10), "five repriced and the new one");
    let by_plan = app.assert_plan_totals_match_events().await;
    assert_eq!(
        by_plan.get("team").map(|(events, _)| *events),
        Some(6),
        "{by_plan:?}"
    );
    assert_eq!(
        by_plan.get("pro").map_or(0, |(events, _)| *events),
        0,
        "{by_plan:?}"
    );

    // Five more of another unknown model, folded by a read, then mapped.
    app.record_all((0..5).map(|n| unpriced(n, "x-2")).collect())
        .await;
    assert_eq!(margin(&app).await, usd(6 * STEP_E10), "x-2 is unpriced yet");
    assert_eq!(queued(&app).await, 0, "the read folded the queue");
    let repriced = pricing()
        .map_model(map("x-2"))
        .await
        .expect("mapped")
        .into_inner();
    assert_eq!(repriced.repriced_event_count, 5);
    assert_eq!(margin(&app).await, usd(11 * STEP_E10));
    app.assert_totals_match_events().await;
}

crate::on_both_databases!(
    reads_count_the_events_the_folder_has_not_reached,
    repricing_and_plan_moves_of_queued_events_count_once
);
