//! What the migration tests share: a fresh database on each backend, removed afterwards, and inserts
//! of raw rows (the tests write below the service, straight into the tables).

use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection,
    prelude::DateTimeUtc,
    sea_query::{InsertStatement, Query, SimpleExpr},
};
use uuid::Uuid;

/// PostgreSQL server used by the tests; each run creates and drops its own database.
const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
const POSTGRES_SERVER_URL: &str = "postgres://postgres@127.0.0.1:5432";

/// Runs `test` on a fresh SQLite file named `<prefix>_<uuid>.db` in the temporary directory, then
/// removes the file and its companions.
pub async fn on_sqlite(prefix: &str, test: impl AsyncFnOnce(&DatabaseConnection)) {
    let path = std::env::temp_dir().join(format!("{prefix}_{}.db", Uuid::new_v4().simple()));
    let db = Database::connect(format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .expect("open sqlite file");
    test(&db).await;
    db.close().await.expect("close sqlite");
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Runs `test` on a fresh PostgreSQL database named `<prefix>_<uuid>`, then drops it.
pub async fn on_postgres(prefix: &str, test: impl AsyncFnOnce(&DatabaseConnection)) {
    let name = format!("{prefix}_{}", Uuid::new_v4().simple());
    let admin = Database::connect(POSTGRES_ADMIN_URL)
        .await
        .expect("connect to postgres database `test`");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let db = Database::connect(format!("{POSTGRES_SERVER_URL}/{name}"))
        .await
        .expect("connect to new database");
    test(&db).await;
    db.close().await.expect("close postgres");
    admin
        .execute_unprepared(&format!("DROP DATABASE {name}"))
        .await
        .expect("drop database");
}

/// `INSERT INTO table (columns) VALUES (values)` of one row given as (column, value) pairs.
pub fn insert_statement(
    table: &'static str,
    row: &[(&'static str, SimpleExpr)],
) -> InsertStatement {
    let mut stmt = Query::insert();
    stmt.into_table(table)
        .columns(row.iter().map(|(col, _)| *col))
        .values_panic(row.iter().map(|(_, value)| value.clone()));
    stmt
}

/// Inserts project `id`, named `default`, created at `now`: what every other row hangs from.
pub async fn insert_project(db: &DatabaseConnection, id: Uuid, now: DateTimeUtc) {
    let row = [
        ("id", id.into()),
        ("name", "default".into()),
        ("create_time", now.into()),
    ];
    db.execute(&insert_statement("projects", &row))
        .await
        .expect("insert project");
}
