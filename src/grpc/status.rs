//! Maps domain errors to gRPC statuses with `google.rpc` details: `BadRequest` field violations for bad
//! input, `ErrorInfo` (domain `tally`, an UPPER_SNAKE reason) always, `RetryInfo` with `UNAVAILABLE`.

use std::{collections::HashMap, time::Duration};

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::{DomainError, error::shorten};

/// The `ErrorInfo.domain` of every error Tally returns.
pub const ERROR_DOMAIN: &str = "tally";

/// How long a caller should wait before retrying after `UNAVAILABLE`.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Characters of a status message about an unreadable request (prost's error names every field on
/// the way to the broken one).
const MAX_MESSAGE_CHARS: usize = 512;
/// Field violations a status carries: with each description bounded, the details stay well under
/// the 16 KiB of trailers a standard client accepts (more would reach the caller as
/// `RESOURCE_EXHAUSTED` instead of the violations).
const MAX_DETAILED_VIOLATIONS: usize = 20;

impl From<DomainError> for Status {
    fn from(error: DomainError) -> Self {
        let mut details = ErrorDetails::new();
        let (code, reason, message) = match &error {
            DomainError::Invalid(violations) => {
                for violation in violations.iter().take(MAX_DETAILED_VIOLATIONS) {
                    details.add_bad_request_violation(&violation.field, &violation.description);
                }
                (Code::InvalidArgument, "INVALID_ARGUMENT", error.to_string())
            }
            DomainError::NotFound { .. } => (Code::NotFound, "NOT_FOUND", error.to_string()),
            DomainError::AlreadyExists { .. } => {
                (Code::AlreadyExists, "ALREADY_EXISTS", error.to_string())
            }
            DomainError::FailedPrecondition { reason, message } => {
                (Code::FailedPrecondition, *reason, message.clone())
            }
            DomainError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "storage unavailable");
                return storage_unavailable();
            }
            DomainError::Internal(cause) => {
                tracing::error!(error = %cause, "internal error");
                (Code::Internal, "INTERNAL", "internal error".to_owned())
            }
        };
        details.set_error_info(reason, ERROR_DOMAIN, HashMap::new());
        Status::with_error_details(code, message, details)
    }
}

/// `UNAVAILABLE` with `RetryInfo` and reason `STORAGE_UNAVAILABLE`: the database cannot be reached
/// now, and the same call may succeed after the pause it names.
pub fn storage_unavailable() -> Status {
    let mut details = ErrorDetails::new();
    details.set_retry_info(Some(RETRY_AFTER));
    details.set_error_info("STORAGE_UNAVAILABLE", ERROR_DOMAIN, HashMap::new());
    Status::with_error_details(
        Code::Unavailable,
        "storage unavailable, retry later",
        details,
    )
}

/// A request whose bytes are not a message of the method: the caller's error, never `INTERNAL`
/// (reason `MALFORMED_MESSAGE`).
pub fn malformed(message: impl Into<String>) -> Status {
    caller_error(Code::InvalidArgument, "MALFORMED_MESSAGE", message.into())
}

/// A request message larger than the server accepts (reason `MESSAGE_TOO_LARGE`).
pub fn too_large(message: impl Into<String>) -> Status {
    caller_error(Code::ResourceExhausted, "MESSAGE_TOO_LARGE", message.into())
}

fn caller_error(code: Code, reason: &str, message: String) -> Status {
    let mut details = ErrorDetails::new();
    details.set_error_info(reason, ERROR_DOMAIN, HashMap::new());
    Status::with_error_details(code, shorten(message, MAX_MESSAGE_CHARS), details)
}

/// Reads the project a call acts for, put there by the auth layer.
pub fn tenant<T>(request: &tonic::Request<T>) -> Result<crate::domain::tenant::Tenant, Status> {
    request.extensions().get().copied().ok_or_else(|| {
        tracing::error!("call reached a handler without authentication");
        Status::internal("internal error")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::FieldViolation;

    #[test]
    fn invalid_input_lists_every_violation() {
        let error = DomainError::Invalid(vec![
            FieldViolation::new("budget.name", "must not be empty"),
            FieldViolation::new("budget.monthly_limit_usd", "must be a decimal number"),
        ]);
        let status = Status::from(error);
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let violations = details
            .bad_request()
            .expect("bad request details")
            .field_violations
            .clone();
        assert_eq!(violations.len(), 2);
        assert_eq!(violations[0].field, "budget.name");
        assert_eq!(
            details.error_info().expect("error info").domain,
            ERROR_DOMAIN
        );
    }

    #[test]
    fn unavailable_says_when_to_retry() {
        let status = Status::from(DomainError::Unavailable("down".into()));
        assert_eq!(status.code(), Code::Unavailable);
        let details = status.get_error_details();
        assert!(details.retry_info().is_some());
        assert_eq!(
            details.error_info().expect("error info").reason,
            "STORAGE_UNAVAILABLE"
        );
    }
}
