//! Storage: sea-orm entities and repositories; the only place that knows SQL.

pub mod api_keys;
pub mod attention;
pub mod budgets;
pub mod catalog;
pub mod customer_writes;
pub mod directory;
pub mod entities;
mod error;
pub mod events;
pub mod fold_queue;
pub mod ingest;
mod migrate;
pub mod prices;
pub mod pricing_admin;
pub mod report_inputs;
pub mod report_reads;
pub mod repricing;
pub mod rollups;
pub mod runs;
pub mod signal_prices;
pub(crate) mod sql;
pub mod totals;
pub mod webhooks;

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};

pub use error::StoreError;
pub use migrate::{migrate, pending as pending_migrations};
/// The bulk-write table definitions (`ingest::COST_EVENTS` and the rest), for the raw baseline of
/// `tally-bench`, which writes the same rows with them.
pub use sql::Table;

/// Opens a pool on `url` without touching the database yet (`connect_lazy`), so that the server can
/// start, report `NOT_SERVING`, and wait for a database that is not up.
pub async fn connect(url: &str) -> Result<DatabaseConnection, StoreError> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .connect_lazy(true)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        // A ping on every checkout doubled the round trips of a one-statement call (CheckBudget);
        // only a connection idle long enough to have been dropped on the way is tested first.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false)
        // SQLite: WAL lets readers go on beside the single writer; FULL sync makes every acknowledged
        // commit durable; writers queue on the busy timeout instead of failing at once.
        .map_sqlx_sqlite_opts(|options| {
            options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    // PostgreSQL keeps its default plan cache (`plan_cache_mode = auto`): prepared statements run
    // on a generic plan once it proves as cheap as planning each call, and the foreign-key checks
    // of every inserted row reuse theirs. Planning each execution afresh (`force_custom_plan`)
    // cost ingest a quarter of its throughput. A generic plan made while a table was nearly empty
    // is replaced when the table is analyzed, so autovacuum must stay on (the default); see
    // README "Running on PostgreSQL".
    if url.starts_with("sqlite:") {
        // One writer at a time is all SQLite allows; a small pool avoids lock churn.
        options.max_connections(4).min_connections(0);
    } else {
        options.max_connections(16).min_connections(0);
    }
    Ok(Database::connect(options).await?)
}

/// Begins a transaction that writes. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`):
/// a deferred transaction that reads first and writes later fails outright, without waiting, when
/// another writer committed in between.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, StoreError> {
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    };
    // sqlx keeps no count of waits for a connection: the time to begin is the nearest measure.
    let started = std::time::Instant::now();
    let txn = db.begin_with_options(options).await?;
    crate::telemetry::metrics::instruments()
        .db_wait_time
        .record(started.elapsed().as_secs_f64(), &[]);
    Ok(txn)
}

/// Begins a transaction that writes, whose commit does not wait for its log to reach the disk
/// (PostgreSQL's `synchronous_commit = off`; SQLite keeps its full sync). Only for writes that are
/// either made durable by a later synchronous commit on the same database before anything is
/// acknowledged (the log is flushed in order), or derived from durable rows and redone if a crash
/// loses them (a fold and the deletion of its queue rows go together): each saves a disk flush.
pub async fn begin_unflushed(db: &DatabaseConnection) -> Result<DatabaseTransaction, StoreError> {
    let txn = begin_write(db).await?;
    if is_postgres(db) {
        txn.execute_unprepared("SET LOCAL synchronous_commit = off")
            .await?;
    }
    Ok(txn)
}

/// Answers whether the database responds to a trivial query.
pub async fn ping(db: &DatabaseConnection) -> Result<(), StoreError> {
    db.execute_unprepared("SELECT 1").await?;
    Ok(())
}

/// Whether the pool speaks to PostgreSQL (otherwise SQLite).
pub fn is_postgres(db: &DatabaseConnection) -> bool {
    db.get_database_backend() == DbBackend::Postgres
}

/// The current time with the precision both databases keep (microseconds), so that a value read back
/// equals the value written.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    truncate_to_micros(chrono::Utc::now())
}

/// Drops the nanoseconds that PostgreSQL would drop on write.
pub fn truncate_to_micros(time: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::{DurationRound, TimeDelta};
    time.duration_trunc(TimeDelta::microseconds(1))
        .unwrap_or(time)
}

impl From<DbErr> for StoreError {
    fn from(error: DbErr) -> Self {
        error::classify(error)
    }
}
