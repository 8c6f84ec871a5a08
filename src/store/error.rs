//! Sorts database errors into what the layers above act on: retry later, a unique key already taken,
//! or a fault of ours.

use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr, SqlErr, sqlx};

use crate::domain::DomainError;

/// A storage failure, classified.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is overloaded; the call may be retried.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] DbErr),
    /// A unique index refused the row.
    #[error("unique constraint violated: {0}")]
    Conflict(#[source] DbErr),
    /// A running total would pass what its column holds (i64: about 922 million USD of cost).
    #[error("a running total is out of range: {0}")]
    OutOfRange(#[source] DbErr),
    /// Anything else.
    #[error("database error: {0}")]
    Other(#[source] DbErr),
}

pub(super) fn classify(error: DbErr) -> StoreError {
    if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
        return StoreError::Conflict(error);
    }
    let unavailable = match &error {
        DbErr::ConnectionAcquire(ConnAcquireErr::Timeout | ConnAcquireErr::ConnectionClosed) => {
            true
        }
        DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(inner)) | DbErr::Query(RuntimeErr::SqlxError(inner)) => {
            matches!(
                inner.as_ref(),
                sqlx::Error::Io(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::WorkerCrashed
            )
        }
        _ => false,
    };
    // PostgreSQL: "bigint out of range" (22003); SQLite: "integer overflow" from the checked sums
    // of `sql::added`.
    let text = error.to_string();
    if unavailable {
        StoreError::Unavailable(error)
    } else if text.contains("out of range") || text.contains("integer overflow") {
        StoreError::OutOfRange(error)
    } else {
        StoreError::Other(error)
    }
}

impl StoreError {
    /// A conflict with a concurrent transaction that the same work, done again from its reads,
    /// gets past: a unique key another writer took meanwhile, a serialization failure or deadlock
    /// (PostgreSQL 40001, 40P01), or SQLite's lock still held after the busy timeout
    /// (SQLITE_BUSY, SQLITE_LOCKED).
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Conflict(_) => true,
            StoreError::Other(error) => database_error(error).is_some_and(|error| {
                let code = error.code();
                if error
                    .try_downcast_ref::<sqlx::sqlite::SqliteError>()
                    .is_some()
                {
                    // SQLite gives its extended result code, whose low byte is the primary one.
                    code.and_then(|code| code.parse::<i32>().ok())
                        .is_some_and(|code| matches!(code & 0xff, SQLITE_BUSY | SQLITE_LOCKED))
                } else {
                    matches!(code.as_deref(), Some("40001" | "40P01"))
                }
            }),
            StoreError::Unavailable(_) | StoreError::OutOfRange(_) => false,
        }
    }
}

const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;

/// The driver's error, when the database itself refused the statement.
fn database_error(error: &DbErr) -> Option<&(dyn sqlx::error::DatabaseError + 'static)> {
    match error {
        DbErr::Exec(RuntimeErr::SqlxError(inner)) | DbErr::Query(RuntimeErr::SqlxError(inner)) => {
            inner.as_database_error()
        }
        _ => None,
    }
}

/// Costs that add up past a running total fail the write like a database error: the caller's
/// transaction is dropped, and ingest writes the records again one by one.
impl From<crate::domain::ledger::TotalOverflow> for StoreError {
    fn from(error: crate::domain::ledger::TotalOverflow) -> Self {
        StoreError::OutOfRange(DbErr::Custom(error.to_string()))
    }
}

impl From<StoreError> for DomainError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => DomainError::Unavailable(Box::new(error)),
            StoreError::Conflict(_) | StoreError::OutOfRange(_) | StoreError::Other(_) => {
                DomainError::Internal(Box::new(error))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

    use super::*;

    async fn connect(url: &str) -> DatabaseConnection {
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .max_connections(1)
            .map_sqlx_sqlite_opts(|options| options.busy_timeout(Duration::ZERO));
        Database::connect(options).await.expect("sqlite")
    }

    async fn fails(db: &DatabaseConnection, sql: &str) -> StoreError {
        classify(db.execute_unprepared(sql).await.expect_err(sql))
    }

    #[tokio::test]
    async fn conflicts_with_other_writers_are_retryable_and_mistakes_are_not() {
        let dir = tempfile::tempdir().expect("directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let (first, second) = (connect(&url).await, connect(&url).await);
        first
            .execute_unprepared("CREATE TABLE t (k TEXT PRIMARY KEY); INSERT INTO t VALUES ('a')")
            .await
            .expect("table");

        let taken = fails(&first, "INSERT INTO t VALUES ('a')").await;
        assert!(matches!(taken, StoreError::Conflict(_)) && taken.is_retryable());

        first
            .execute_unprepared("BEGIN IMMEDIATE")
            .await
            .expect("lock");
        let busy = fails(&second, "INSERT INTO t VALUES ('b')").await;
        assert!(busy.is_retryable(), "{busy}");
        first.execute_unprepared("ROLLBACK").await.expect("unlock");

        let mistake = fails(&first, "INSERT INTO missing VALUES (1)").await;
        assert!(!mistake.is_retryable(), "{mistake}");
    }
}
