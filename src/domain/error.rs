//! Errors of the domain layer. No transport types here: `grpc::status` maps them to gRPC statuses.

use std::fmt;

/// One thing wrong with one field of a request, named by its path in the request (`budget.name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.description)
    }
}

/// Collects every violation of a request before answering, so a caller fixes them all at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// Records the error of a parse, if any, and returns its value.
    pub fn check<T>(&mut self, result: Result<T, FieldViolation>) -> Option<T> {
        result.map_err(|violation| self.0.push(violation)).ok()
    }

    /// `Ok` when nothing was found wrong.
    pub fn into_result(self) -> Result<(), DomainError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Invalid(self.0))
        }
    }
}

/// Why a domain operation did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The request breaks one or more rules; every violation is listed.
    #[error("invalid request: {}", join(.0))]
    Invalid(Vec<FieldViolation>),
    /// The named thing does not exist in the caller's project.
    #[error("{what} not found: {id}")]
    NotFound { what: &'static str, id: String },
    /// The thing to create exists already.
    #[error("{what} already exists: {id}")]
    AlreadyExists { what: &'static str, id: String },
    /// The request is valid but the state of the thing forbids it.
    #[error("{message}")]
    FailedPrecondition {
        reason: &'static str,
        message: String,
    },
    /// The database cannot be reached; the caller may retry.
    #[error("storage unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A fault of ours; logged with its cause, answered with a generic message.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

fn join(violations: &[FieldViolation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
