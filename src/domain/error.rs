//! Errors of the domain layer. No transport types here: `grpc::status` maps them to gRPC statuses.
//!
//! Every message here may quote what a caller sent, and a caller may send megabytes: a quoted value
//! keeps only its first [`QUOTED_CHARS`] characters and a description at most
//! [`MAX_DESCRIPTION_CHARS`], so that an error always fits the 16 KiB of trailers a standard gRPC
//! client accepts.

use std::fmt;

/// Characters of a caller's value that an error message quotes.
pub const QUOTED_CHARS: usize = 64;
/// Characters of one violation's description, whatever it quotes.
pub const MAX_DESCRIPTION_CHARS: usize = 256;
/// Violations that an error's message lists; the details carry more.
const LISTED_VIOLATIONS: usize = 3;

/// Quotes a caller's value for an error message, as `{:?}` does, keeping only its first
/// [`QUOTED_CHARS`] characters: `"aaaa"…(10000 bytes)` for a long one.
pub fn quote(value: &str) -> String {
    match value.char_indices().nth(QUOTED_CHARS) {
        None => format!("{value:?}"),
        Some((end, _)) => format!("{:?}…({} bytes)", &value[..end], value.len()),
    }
}

/// Cuts a message to `max` characters, saying how long it was.
pub fn shorten(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text,
        Some((end, _)) => format!("{}…({} bytes)", &text[..end], text.len()),
    }
}

/// One thing wrong with one field of a request, named by its path in the request (`budget.name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    /// A violation of `field`; a description longer than [`MAX_DESCRIPTION_CHARS`] is cut.
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: shorten(field.into(), MAX_DESCRIPTION_CHARS),
            description: shorten(description.into(), MAX_DESCRIPTION_CHARS),
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
    #[error("{what} not found: {}", quote_id(.id))]
    NotFound { what: &'static str, id: String },
    /// The thing to create exists already.
    #[error("{what} already exists: {}", quote_id(.id))]
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

/// An id as a message shows it: as sent, or its start when it is long.
fn quote_id(id: &str) -> String {
    match id.char_indices().nth(QUOTED_CHARS) {
        None => id.to_owned(),
        Some(_) => quote(id),
    }
}

/// The first few violations, and how many more the details list.
fn join(violations: &[FieldViolation]) -> String {
    let mut text = violations
        .iter()
        .take(LISTED_VIOLATIONS)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if violations.len() > LISTED_VIOLATIONS {
        text.push_str(&format!(
            "; and {} more",
            violations.len() - LISTED_VIOLATIONS
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_quoted_by_their_start() {
        assert_eq!(quote("run-7"), "\"run-7\"");
        let long = "é".repeat(5_000);
        let quoted = quote(&long);
        assert_eq!(
            quoted,
            format!("{:?}…(10000 bytes)", "é".repeat(QUOTED_CHARS))
        );
        let violation = FieldViolation::new("run_id", format!("{long} is wrong"));
        assert!(violation.description.chars().count() < MAX_DESCRIPTION_CHARS + 20);
        assert!(violation.description.ends_with("…(10009 bytes)"));
    }

    #[test]
    fn messages_list_the_first_violations() {
        let violations: Vec<_> = (0..5)
            .map(|i| FieldViolation::new(format!("f{i}"), "bad"))
            .collect();
        assert_eq!(
            DomainError::Invalid(violations).to_string(),
            "invalid request: f0: bad; f1: bad; f2: bad; and 2 more"
        );
        let missing = DomainError::NotFound {
            what: "run",
            id: "x".repeat(10_000),
        };
        assert!(missing.to_string().len() < 200);
    }
}
