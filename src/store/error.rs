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
