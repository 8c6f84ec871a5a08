//! Migrations applied again, by `migrate` and by a server starting over an existing database, change
//! nothing and lose nothing; servers and `migrate` jobs started together take turns.

use migrations::MigratorTrait as _;
use sea_orm::ConnectionTrait as _;
use tally::{
    domain::api_key::ApiKeyKind,
    pb::{self, CreateBudgetRequest, ListBudgetsRequest},
    store,
};

use crate::{
    cli::{serve, tally},
    helpers::{Backend, TestDatabase, create_key, scalar, spawn_app_on},
};

async fn migrations_applied_twice_keep_the_data(backend: Backend) {
    let database = TestDatabase::create(backend).await;

    let mut first = spawn_app_on(database.alias()).await;
    first
        .budgets(&first.secret_key)
        .create_budget(CreateBudgetRequest {
            budget: Some(pb::Budget {
                name: "kept".to_owned(),
                scope: Some(pb::BudgetScope {
                    kind: pb::BudgetScopeKind::Project as i32,
                    ..Default::default()
                }),
                monthly_limit_usd: "42".to_owned(),
                enforcement: pb::BudgetEnforcement::Alert as i32,
                ..Default::default()
            }),
        })
        .await
        .expect("created");
    first.stop().await.expect("clean stop");

    let db = database.connect().await;
    store::migrate(&db).await.expect("migrations applied again");
    store::migrate(&db).await.expect("and again");
    db.close().await.ok();

    // A new server over the same database applies them once more at start.
    let second = spawn_app_on(database.alias()).await;
    let listed = second
        .budgets(&second.secret_key)
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.budgets.len(), 1);
    assert_eq!(listed.budgets[0].name, "kept");
    assert_eq!(listed.budgets[0].monthly_limit_usd, "42.0000000000");
}

/// Reports answered by a server: margin by customer and by model over September, and the cost
/// series by day over a window that is not whole months.
async fn report_answers(app: &crate::helpers::TestApp) -> Vec<String> {
    use crate::report_data::{reports, t, ts};
    let mut out = Vec::new();
    for group_by in [pb::ReportDimension::Customer, pb::ReportDimension::Model] {
        let response = reports(app)
            .get_margin(pb::GetMarginRequest {
                start_time: Some(ts(t(0, 0))),
                end_time: Some(ts(t(30, 0))),
                group_by: vec![group_by as i32],
                page_size: 1000,
                ..Default::default()
            })
            .await
            .expect("margin")
            .into_inner();
        out.push(format!("{:?}", (response.rows, response.totals)));
    }
    let series = reports(app)
        .get_cost_series(pb::GetCostSeriesRequest {
            start_time: Some(ts(t(-3, 5))),
            end_time: Some(ts(t(33, 7))),
            granularity: pb::TimeGranularity::Day as i32,
            ..Default::default()
        })
        .await
        .expect("series")
        .into_inner();
    out.push(format!("{:?}", series.series));
    out
}

/// A database that held events before the daily and monthly aggregates (and the tokens of the
/// hourly event rows) existed gets them filled from the hourly ones when the migration runs, and
/// reports the same figures from them.
async fn coarse_aggregates_are_filled_from_the_hourly_ones(backend: Backend) {
    use sea_orm::ConnectionTrait as _;
    let database = TestDatabase::create(backend).await;
    let mut first = spawn_app_on(database.alias()).await;
    crate::report_data::load(&first, false).await;
    let before = report_answers(&first).await;
    first.stop().await.expect("clean stop");

    // As the database was before migration 000008: no coarse rows, no tokens in event_hourly,
    // the migration not applied.
    let db = database.connect().await;
    let tokens = [
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "cache_creation_tokens",
        "reasoning_tokens",
    ];
    let statements = [
        "DELETE FROM customer_monthly".to_owned(),
        "DELETE FROM event_monthly".to_owned(),
        "DELETE FROM event_daily".to_owned(),
        "DELETE FROM line_daily".to_owned(),
        "DELETE FROM seaql_migrations WHERE version = 'm20261129_000008_rollups'".to_owned(),
    ]
    .into_iter()
    .chain(
        tokens
            .iter()
            .map(|column| format!("ALTER TABLE event_hourly DROP COLUMN {column}")),
    );
    for statement in statements {
        db.execute_unprepared(&statement).await.expect(&statement);
    }
    store::migrate(&db)
        .await
        .expect("migration 000008 applied again");
    let count = |table: &str| {
        let db = &db;
        let sql = format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}");
        async move { crate::helpers::scalar(db, &sql).await }
    };
    for table in [
        "customer_monthly",
        "event_monthly",
        "event_daily",
        "line_daily",
    ] {
        assert!(count(table).await > 0, "{table} filled");
    }
    db.close().await.ok();

    let second = spawn_app_on(database.alias()).await;
    assert_eq!(report_answers(&second).await, before);
}

/// Four `tally serve` and two `tally migrate` started at the same moment on an empty database (as
/// replicas and a migration job of a first deployment): every one succeeds, each migration is applied
/// and recorded once, the first-start keys are made once, and every server answers calls.
async fn servers_and_migrate_jobs_started_together_all_succeed(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let url = database.url.as_str();
    let migrate = || async move {
        let output = tally(url)
            .arg("migrate")
            .output()
            .await
            .expect("tally migrate runs");
        assert!(
            output.status.success(),
            "tally migrate failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    // `join!` starts all six before any is awaited.
    let (first, second, third, fourth, (), ()) = tokio::join!(
        serve(url),
        serve(url),
        serve(url),
        serve(url),
        migrate(),
        migrate()
    );

    let db = database.connect().await;
    let applied: Vec<String> = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT version FROM seaql_migrations ORDER BY version",
        ))
        .await
        .expect("migration records")
        .iter()
        .map(|row| row.try_get_by_index(0).expect("version"))
        .collect();
    let mut expected: Vec<String> = migrations::Migrator::migrations()
        .iter()
        .map(|migration| migration.name().to_owned())
        .collect();
    expected.sort();
    assert_eq!(applied, expected, "each migration recorded once");
    assert_eq!(
        scalar(&db, "SELECT CAST(COUNT(*) AS BIGINT) FROM api_keys").await,
        2,
        "one secret and one publishable key made at first start, once"
    );
    let key = create_key(&db, "test", ApiKeyKind::Secret).await;
    db.close().await.ok();
    for server in [&first, &second, &third, &fourth] {
        server
            .budgets(&key)
            .list_budgets(ListBudgetsRequest::default())
            .await
            .expect("the schema serves calls");
    }
}

crate::on_both_databases!(
    migrations_applied_twice_keep_the_data,
    coarse_aggregates_are_filled_from_the_hourly_ones,
    servers_and_migrate_jobs_started_together_all_succeed
);
