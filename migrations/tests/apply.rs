//! Applies every migration to a fresh SQLite file and to a fresh PostgreSQL database: once, again
//! (nothing changes), each migration's own `up` again (every statement is `IF NOT EXISTS`), then
//! rolls everything back with `down` and applies it once more. Along the way it checks the
//! behaviours the schema promises: idempotency keys are unique per project (and a replay with
//! `ON CONFLICT DO NOTHING` writes nothing without aborting its transaction), NULL keys are not,
//! aggregates upsert on their key with `''` for an absent dimension, money sums exactly, and
//! deleting a project deletes its rows.

mod common;

use common::{insert_project, insert_statement};
use migrations::{Migrator, MigratorTrait, SchemaManager};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, SqlErr, Statement, TransactionTrait,
    prelude::DateTimeUtc,
    sea_query::{Expr, ExprTrait, InsertStatement, OnConflict, Query, SimpleExpr},
};
use uuid::Uuid;

/// Every table the migrations create.
const TABLES: [&str; 32] = [
    "agents",
    "api_keys",
    "budget_alerts",
    "budget_holds",
    "budgets",
    "catalog_prices",
    "cost_events",
    "customer_monthly",
    "customer_plan_periods",
    "customers",
    "event_daily",
    "event_hourly",
    "event_monthly",
    "fold_queue",
    "line_cost_items",
    "line_daily",
    "line_hourly",
    "model_aliases",
    "model_mappings",
    "monthly_spend",
    "outcomes",
    "prices",
    "projects",
    "provider_conventions",
    "repricings",
    "run_model_totals",
    "runs",
    "service_lines",
    "signal_prices",
    "signals",
    "webhook_deliveries",
    "webhooks",
];

const MIGRATION_TABLE: &str = "seaql_migrations";

#[tokio::test]
async fn migrations_apply_twice_roll_back_and_apply_again_on_sqlite() {
    common::on_sqlite("tally_mig", exercise).await;
}

#[tokio::test]
async fn migrations_apply_twice_roll_back_and_apply_again_on_postgres() {
    common::on_postgres("tally_mig", exercise).await;
}

async fn exercise(db: &DatabaseConnection) {
    let migration_count = Migrator::migrations().len();

    Migrator::up(db, None).await.expect("first up");
    let schema = schema_snapshot(db).await;
    let mut expected: Vec<&str> = TABLES.iter().copied().chain([MIGRATION_TABLE]).collect();
    expected.sort_unstable();
    assert_eq!(table_names(db).await, expected);
    assert_eq!(applied(db).await, migration_count);

    Migrator::up(db, None).await.expect("second up");
    assert_eq!(
        schema_snapshot(db).await,
        schema,
        "second up changed the schema"
    );
    assert_eq!(applied(db).await, migration_count);

    let manager = SchemaManager::new(db);
    for migration in Migrator::migrations() {
        migration
            .up(&manager)
            .await
            .unwrap_or_else(|e| panic!("{} again: {e}", migration.name()));
    }
    assert_eq!(
        schema_snapshot(db).await,
        schema,
        "re-running up changed the schema"
    );

    check_behaviour(db).await;

    Migrator::down(db, None).await.expect("down");
    assert_eq!(table_names(db).await, vec![MIGRATION_TABLE]);
    assert_eq!(applied(db).await, 0);

    Migrator::up(db, None).await.expect("up after down");
    assert_eq!(schema_snapshot(db).await, schema, "up after down differs");
    assert_eq!(applied(db).await, migration_count);
}

async fn applied(db: &DatabaseConnection) -> usize {
    Migrator::get_applied_migrations(db)
        .await
        .expect("read applied migrations")
        .len()
}

async fn strings(db: &DatabaseConnection, sql: &str) -> Vec<String> {
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("text column"))
        .collect()
}

async fn table_names(db: &DatabaseConnection) -> Vec<String> {
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        _ => {
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = 'public' ORDER BY table_name"
        }
    };
    strings(db, sql).await
}

/// Describes every table, column, index and constraint, one line each.
async fn schema_snapshot(db: &DatabaseConnection) -> Vec<String> {
    match db.get_database_backend() {
        DbBackend::Sqlite => {
            strings(
                db,
                "SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master \
                 WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
            )
            .await
        }
        _ => {
            let mut lines = strings(
                db,
                "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || \
                 is_nullable || ' ' || coalesce(column_default, '') \
                 FROM information_schema.columns WHERE table_schema = 'public' \
                 ORDER BY table_name, ordinal_position",
            )
            .await;
            lines.extend(
                strings(
                    db,
                    "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' \
                     ORDER BY indexname",
                )
                .await,
            );
            lines.extend(
                strings(
                    db,
                    "SELECT conrelid::regclass::text || ' ' || conname || ' ' || \
                     pg_get_constraintdef(oid) FROM pg_constraint \
                     WHERE connamespace = 'public'::regnamespace ORDER BY 1",
                )
                .await,
            );
            lines
        }
    }
}

fn at(seconds: i64) -> DateTimeUtc {
    DateTimeUtc::from_timestamp(seconds, 0).expect("valid timestamp")
}

async fn insert(
    db: &DatabaseConnection,
    table: &'static str,
    row: &[(&'static str, SimpleExpr)],
) -> Result<(), DbErr> {
    db.execute(&insert_statement(table, row)).await.map(|_| ())
}

fn event_insert(
    project: Uuid,
    customer: Uuid,
    agent: Uuid,
    idempotency_key: Option<&str>,
) -> InsertStatement {
    insert_statement(
        "cost_events",
        &[
            ("id", Uuid::now_v7().into()),
            ("project_id", project.into()),
            ("idempotency_key", idempotency_key.map(str::to_owned).into()),
            ("customer_ref", customer.into()),
            ("agent_ref", agent.into()),
            ("quantity", 1i64.into()),
            ("usage_time", at(1_800_000_000).into()),
            ("receive_time", at(1_800_000_001).into()),
            ("status", "PROCESSED".into()),
            ("total_cost_e10", 22_500_000i64.into()),
        ],
    )
}

/// Adds `cost_e10` to one `monthly_spend` row, creating it when missing.
async fn add_spend(
    db: &DatabaseConnection,
    project: Uuid,
    month: DateTimeUtc,
    customer_id: &str,
    cost_e10: i64,
) -> Result<(), DbErr> {
    let mut stmt = Query::insert();
    stmt.into_table("monthly_spend")
        .columns([
            "project_id",
            "month_start",
            "customer_id",
            "agent_code",
            "cost_e10",
        ])
        .values_panic([
            project.into(),
            month.into(),
            customer_id.into(),
            "".into(),
            cost_e10.into(),
        ])
        .on_conflict(
            OnConflict::columns(["project_id", "month_start", "customer_id", "agent_code"])
                .value(
                    "cost_e10",
                    Expr::col(("monthly_spend", "cost_e10"))
                        .add(Expr::col(("excluded", "cost_e10"))),
                )
                .to_owned(),
        );
    db.execute(&stmt).await.map(|_| ())
}

async fn check_behaviour(db: &DatabaseConnection) {
    let project = Uuid::now_v7();
    let customer = Uuid::now_v7();
    let agent = Uuid::now_v7();
    let now = at(1_800_000_000);
    insert_project(db, project, now).await;
    insert(
        db,
        "customers",
        &[
            ("id", customer.into()),
            ("project_id", project.into()),
            ("customer_id", "Acme Corp ".into()),
            ("aliases", serde_json_array().into()),
            ("create_time", now.into()),
            ("first_seen_time", now.into()),
            ("last_seen_time", now.into()),
        ],
    )
    .await
    .expect("insert customer");
    insert(
        db,
        "agents",
        &[
            ("id", agent.into()),
            ("project_id", project.into()),
            ("agent_code", "support_reply".into()),
            ("create_time", now.into()),
            ("first_seen_time", now.into()),
            ("last_seen_time", now.into()),
        ],
    )
    .await
    .expect("insert agent");

    db.execute(&event_insert(project, customer, agent, Some("key-1")))
        .await
        .expect("first event with key-1");
    let duplicate = db
        .execute(&event_insert(project, customer, agent, Some("key-1")))
        .await
        .expect_err("second event with key-1 must be refused");
    assert!(
        matches!(
            duplicate.sql_err(),
            Some(SqlErr::UniqueConstraintViolation(_))
        ),
        "unexpected error: {duplicate}"
    );
    // Inside a batch's transaction a plain unique violation would abort the whole transaction on
    // PostgreSQL; `ON CONFLICT (project_id, idempotency_key) DO NOTHING` reports the duplicate as
    // zero rows written and lets the batch go on.
    let batch = db.begin().await.expect("begin batch");
    let mut replay = event_insert(project, customer, agent, Some("key-1"));
    replay.on_conflict(
        OnConflict::columns(["project_id", "idempotency_key"])
            .do_nothing()
            .to_owned(),
    );
    let written = batch
        .execute(&replay)
        .await
        .expect("replay with do nothing");
    assert_eq!(written.rows_affected(), 0, "a duplicate writes nothing");
    for _ in 0..2 {
        batch
            .execute(&event_insert(project, customer, agent, None))
            .await
            .expect("events without a key are never duplicates");
    }
    batch.commit().await.expect("commit batch");
    let events = strings(db, "SELECT CAST(count(*) AS TEXT) FROM cost_events").await;
    assert_eq!(events, vec!["3".to_owned()]);

    let month = at(1_798_761_600); // 2027-01-01T00:00:00Z
    let big = 4_000_000_000_000_000_000i64; // 400 million USD in 1e-10 USD
    add_spend(db, project, month, "Acme Corp ", big)
        .await
        .expect("insert spend");
    add_spend(db, project, month, "Acme Corp ", 1)
        .await
        .expect("add to spend");
    add_spend(db, project, month, "", 7)
        .await
        .expect("spend with an absent customer");
    add_spend(db, project, month, "", 5)
        .await
        .expect("add to spend with an absent customer");
    let rows = strings(
        db,
        "SELECT customer_id || '=' || CAST(cost_e10 AS TEXT) FROM monthly_spend \
         ORDER BY customer_id",
    )
    .await;
    assert_eq!(
        rows,
        vec!["=12".to_owned(), format!("Acme Corp ={}", big + 1)]
    );
    // PostgreSQL sums BIGINT into NUMERIC: cast back to read an i64.
    let total = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT CAST(COALESCE(SUM(cost_e10), 0) AS BIGINT) FROM monthly_spend",
        ))
        .await
        .expect("sum spend")
        .expect("one row")
        .try_get_by_index::<i64>(0)
        .expect("i64 sum");
    assert_eq!(total, big + 13, "exact sum");

    // Leave nothing behind for `down`: cascading deletes from the project.
    db.execute_unprepared("DELETE FROM projects")
        .await
        .expect("delete project cascades");
    for table in ["cost_events", "customers", "agents", "monthly_spend"] {
        let left = strings(db, &format!("SELECT CAST(count(*) AS TEXT) FROM {table}")).await;
        assert_eq!(left, vec!["0".to_owned()], "{table} not emptied");
    }
}

fn serde_json_array() -> sea_orm::prelude::Json {
    sea_orm::prelude::Json::Array(Vec::new())
}
