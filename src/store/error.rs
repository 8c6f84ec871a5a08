//! Sorts database errors into what the layers above act on: retry later, a unique key already taken,
//! a conflict with a concurrent transaction, or a fault of ours. The sorting reads the database's
//! own code (PostgreSQL's SQLSTATE, SQLite's extended result code), not its wording.

use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr, sqlx};

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
    /// A concurrent transaction got in the way: a serialization failure or deadlock (PostgreSQL
    /// 40001, 40P01), or SQLite's lock still held after the busy timeout (SQLITE_BUSY,
    /// SQLITE_LOCKED).
    #[error("conflict with a concurrent transaction: {0}")]
    Contention(#[source] DbErr),
    /// A running total would pass what its column holds (i64: about 922 million USD of cost).
    #[error("a running total is out of range: {0}")]
    OutOfRange(#[source] DbErr),
    /// Anything else.
    #[error("database error: {0}")]
    Other(#[source] DbErr),
}

pub(super) fn classify(error: DbErr) -> StoreError {
    let kind = match &error {
        DbErr::ConnectionAcquire(ConnAcquireErr::Timeout | ConnAcquireErr::ConnectionClosed)
        | DbErr::Conn(_) => Kind::Unavailable,
        DbErr::Exec(RuntimeErr::SqlxError(inner)) | DbErr::Query(RuntimeErr::SqlxError(inner)) => {
            match inner.as_ref() {
                sqlx::Error::Database(refusal) => refused(refusal.as_ref()),
                sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Tls(_)
                | sqlx::Error::WorkerCrashed => Kind::Unavailable,
                _ => Kind::Other,
            }
        }
        _ => Kind::Other,
    };
    match kind {
        Kind::Unavailable => StoreError::Unavailable(error),
        Kind::Conflict => StoreError::Conflict(error),
        Kind::Contention => StoreError::Contention(error),
        Kind::OutOfRange => StoreError::OutOfRange(error),
        Kind::Other => StoreError::Other(error),
    }
}

/// What a database error means to the layers above; one per [`StoreError`] variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Unavailable,
    Conflict,
    Contention,
    OutOfRange,
    Other,
}

/// The code a database refused a statement with.
#[derive(Clone, Copy, Debug)]
enum Code<'a> {
    /// A PostgreSQL SQLSTATE.
    Postgres(&'a str),
    /// A SQLite extended result code, whose low byte is the primary one.
    Sqlite(i32),
}

/// Sorts the error of a statement the database refused, by its code.
fn refused(refusal: &dyn sqlx::error::DatabaseError) -> Kind {
    let code = refusal.code();
    let code = if refusal
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        Code::Postgres(code.as_deref().unwrap_or_default())
    } else if refusal
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
    {
        let Some(number) = code.and_then(|code| code.parse().ok()) else {
            return Kind::Other;
        };
        // SQLite's `sum()` raises "integer overflow" with the generic SQLITE_ERROR and no code of
        // its own, so its wording is all there is to tell it by (the checked sums of `sql::added`).
        if number == SQLITE_ERROR && refusal.message() == "integer overflow" {
            return Kind::OutOfRange;
        }
        Code::Sqlite(number)
    } else {
        return Kind::Other;
    };
    kind_of(code)
}

/// Sorts a database's error code.
fn kind_of(code: Code<'_>) -> Kind {
    match code {
        Code::Postgres(sqlstate) => match sqlstate {
            "23505" => Kind::Conflict,
            "22003" => Kind::OutOfRange,
            "40001" | "40P01" => Kind::Contention,
            // Connection exceptions (class 08), too many connections, and a server shutting down
            // or starting up.
            "53300" | "57P01" | "57P02" | "57P03" => Kind::Unavailable,
            _ if sqlstate.starts_with("08") => Kind::Unavailable,
            _ => Kind::Other,
        },
        Code::Sqlite(SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY) => Kind::Conflict,
        Code::Sqlite(extended) => match extended & 0xff {
            SQLITE_BUSY | SQLITE_LOCKED => Kind::Contention,
            // The disk fails, fills up or cannot be opened: the operator's to fix, then retry.
            SQLITE_IOERR | SQLITE_FULL | SQLITE_CANTOPEN => Kind::Unavailable,
            _ => Kind::Other,
        },
    }
}

// SQLite result codes (https://www.sqlite.org/rescode.html).
const SQLITE_ERROR: i32 = 1;
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;
const SQLITE_IOERR: i32 = 10;
const SQLITE_FULL: i32 = 13;
const SQLITE_CANTOPEN: i32 = 14;
const SQLITE_CONSTRAINT_PRIMARYKEY: i32 = 1555;
const SQLITE_CONSTRAINT_UNIQUE: i32 = 2067;

impl StoreError {
    /// A conflict with a concurrent transaction that the same work, done again from its reads,
    /// gets past: a unique key another writer took meanwhile, or [`StoreError::Contention`].
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Conflict(_) | StoreError::Contention(_) => true,
            StoreError::Unavailable(_) | StoreError::OutOfRange(_) | StoreError::Other(_) => false,
        }
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
            StoreError::Conflict(_)
            | StoreError::Contention(_)
            | StoreError::OutOfRange(_)
            | StoreError::Other(_) => DomainError::Internal(Box::new(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Arc, time::Duration};

    use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};

    use super::*;

    #[test]
    fn postgres_codes_sort_by_sqlstate() {
        let cases = [
            ("23505", Kind::Conflict),
            ("22003", Kind::OutOfRange),
            ("40001", Kind::Contention),
            ("40P01", Kind::Contention),
            ("08000", Kind::Unavailable),
            ("08003", Kind::Unavailable),
            ("08006", Kind::Unavailable),
            ("08P01", Kind::Unavailable),
            ("53300", Kind::Unavailable),
            ("57P01", Kind::Unavailable),
            ("57P02", Kind::Unavailable),
            ("57P03", Kind::Unavailable),
            // A foreign key, a missing table, a timestamp out of range, cancelled by timeout.
            ("23503", Kind::Other),
            ("42P01", Kind::Other),
            ("22008", Kind::Other),
            ("57014", Kind::Other),
            ("", Kind::Other),
        ];
        for (sqlstate, kind) in cases {
            assert_eq!(kind_of(Code::Postgres(sqlstate)), kind, "{sqlstate}");
        }
    }

    #[test]
    fn sqlite_codes_sort_by_extended_then_primary_code() {
        let cases = [
            (2067, Kind::Conflict),   // SQLITE_CONSTRAINT_UNIQUE
            (1555, Kind::Conflict),   // SQLITE_CONSTRAINT_PRIMARYKEY
            (5, Kind::Contention),    // SQLITE_BUSY
            (517, Kind::Contention),  // SQLITE_BUSY_SNAPSHOT
            (6, Kind::Contention),    // SQLITE_LOCKED
            (262, Kind::Contention),  // SQLITE_LOCKED_SHAREDCACHE
            (10, Kind::Unavailable),  // SQLITE_IOERR
            (266, Kind::Unavailable), // SQLITE_IOERR_READ
            (13, Kind::Unavailable),  // SQLITE_FULL
            (14, Kind::Unavailable),  // SQLITE_CANTOPEN
            (1, Kind::Other),         // SQLITE_ERROR
            (19, Kind::Other),        // SQLITE_CONSTRAINT
            (787, Kind::Other),       // SQLITE_CONSTRAINT_FOREIGNKEY
            (1299, Kind::Other),      // SQLITE_CONSTRAINT_NOTNULL
        ];
        for (code, kind) in cases {
            assert_eq!(kind_of(Code::Sqlite(code)), kind, "{code}");
        }
    }

    fn sqlx(error: sqlx::Error) -> DbErr {
        DbErr::Exec(RuntimeErr::SqlxError(Arc::new(error)))
    }

    #[test]
    fn errors_without_a_database_code_sort_by_their_kind() {
        let unavailable = [
            DbErr::Conn(RuntimeErr::Internal("connection refused".to_owned())),
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
            sqlx(sqlx::Error::PoolTimedOut),
            sqlx(sqlx::Error::PoolClosed),
            sqlx(sqlx::Error::WorkerCrashed),
            sqlx(sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into())),
        ];
        for error in unavailable {
            let sorted = classify(error);
            assert!(matches!(sorted, StoreError::Unavailable(_)), "{sorted}");
            assert!(!sorted.is_retryable(), "{sorted}");
        }
        // Wording no longer counts: only the database's code does.
        let other = [
            DbErr::Custom("value out of range".to_owned()),
            DbErr::Type("integer overflow".to_owned()),
            sqlx(sqlx::Error::RowNotFound),
        ];
        for error in other {
            let sorted = classify(error);
            assert!(matches!(sorted, StoreError::Other(_)), "{sorted}");
            assert!(!sorted.is_retryable(), "{sorted}");
        }
        let overflow = StoreError::from(crate::domain::ledger::TotalOverflow);
        assert!(matches!(overflow, StoreError::OutOfRange(DbErr::Custom(_))));
        assert!(!overflow.is_retryable());
    }

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
        assert!(
            matches!(busy, StoreError::Contention(_)) && busy.is_retryable(),
            "{busy}"
        );
        first.execute_unprepared("ROLLBACK").await.expect("unlock");

        let mistake = fails(&first, "INSERT INTO missing VALUES (1)").await;
        assert!(
            matches!(mistake, StoreError::Other(_)) && !mistake.is_retryable(),
            "{mistake}"
        );
    }

    #[tokio::test]
    async fn a_sqlite_sum_past_i64_is_out_of_range() {
        let db = connect("sqlite::memory:").await;
        let overflow = fails(
            &db,
            "SELECT sum(x) FROM (SELECT 9223372036854775807 AS x UNION ALL SELECT 1)",
        )
        .await;
        assert!(
            matches!(overflow, StoreError::OutOfRange(_)) && !overflow.is_retryable(),
            "{overflow}"
        );
    }
}
