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

/// Reads a list filter on an identifier: empty is no filter; anything else must be an identifier
/// that could be stored (a value no identifier can have matches nothing, so it is refused rather
/// than sent to the database, which cannot even compare some of them, such as U+0000).
pub fn filter(value: String, field: &str) -> Result<Option<String>, FieldViolation> {
    if value.is_empty() {
        return Ok(None);
    }
    bounded(&value, field)?;
    Ok(Some(value))
}

/// Accepts free text such as a failure reason: at most `max_chars` characters, any of them but
/// U+0000, which PostgreSQL cannot store.
pub fn free_text(value: &str, max_chars: usize, field: &str) -> Result<String, FieldViolation> {
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(FieldViolation::new(
            field,
            format!("at most {max_chars} characters, got {chars}"),
        ));
    }
    if value.contains('\0') {
        return Err(FieldViolation::new(field, "must not contain U+0000"));
    }
    Ok(value.to_owned())
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

    #[test]
    fn filters_take_what_an_identifier_can_be() {
        assert_eq!(filter(String::new(), "f"), Ok(None));
        assert_eq!(filter(" x ".to_owned(), "f"), Ok(Some(" x ".to_owned())));
        assert!(filter("a\0b".to_owned(), "f").is_err());
        assert!(filter("x".repeat(257), "f").is_err());
        assert_eq!(
            free_text("tool\ttimeout\n", 20, "reason"),
            Ok("tool\ttimeout\n".to_owned())
        );
        assert!(free_text("a\0", 20, "reason").is_err());
        assert!(free_text(&"x".repeat(21), 20, "reason").is_err());
    }
}
