//! Rules for the caller's identifiers and names: kept exactly as sent (never trimmed or rewritten),
//! non-empty, at most 256 characters, no control characters.

use super::FieldViolation;

/// The longest id or name accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 256;

/// Accepts an identifier such as a customer id or agent code exactly as sent.
pub fn identifier(value: &str, field: &str) -> Result<String, FieldViolation> {
    if value.trim().is_empty() {
        return Err(FieldViolation::new(
            field,
            "required: must not be empty or blank",
        ));
    }
    bounded(value, field)
}

/// Accepts a display name: like an identifier, but surrounding blanks are dropped.
pub fn name(value: &str, field: &str) -> Result<String, FieldViolation> {
    identifier(value.trim(), field)
}

fn bounded(value: &str, field: &str) -> Result<String, FieldViolation> {
    let chars = value.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(FieldViolation::new(
            field,
            format!("at most {MAX_TEXT_CHARS} characters, got {chars}"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldViolation::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_kept_exactly() {
        assert_eq!(
            identifier("workspace_42", "customer.id"),
            Ok("workspace_42".to_owned())
        );
        assert_eq!(
            identifier(" Case Kept ", "customer.id"),
            Ok(" Case Kept ".to_owned())
        );
        assert_eq!(name("  pro  ", "plan.name"), Ok("pro".to_owned()));
    }

    #[test]
    fn refuses_empty_long_and_control_text() {
        assert!(identifier("", "f").is_err());
        assert!(identifier("   ", "f").is_err());
        assert!(identifier(&"x".repeat(257), "f").is_err());
        assert!(identifier(&"é".repeat(256), "f").is_ok());
        assert!(identifier("a\nb", "f").is_err());
    }
}
