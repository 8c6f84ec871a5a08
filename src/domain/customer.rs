//! Rules of the customer directory: what `UpdateCustomer` may change, aliases and the name filter.
//! The spans a plan change re-attributes are `plan::moved_spans`.

use chrono::{DateTime, Utc};

use super::{Violations, event::Plan, text};

/// The most aliases a customer may have.
pub const MAX_ALIASES: usize = 20;

/// A checked `UpdateCustomer`: the customer and the fields that change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerChanges {
    pub customer_id: String,
    /// `Some(None)` clears the display name.
    pub display_name: Option<Option<String>>,
    pub aliases: Option<Vec<String>>,
    pub plan: Option<Plan>,
    /// When the new plan comes into force; `None` is the time of the call.
    pub plan_start_time: Option<DateTime<Utc>>,
    pub allow_missing: bool,
}

/// Accepts a list of aliases: at most [`MAX_ALIASES`], each a name (trimmed, at most 256
/// characters); duplicates are kept once.
pub fn aliases(values: &[String], field: &str, violations: &mut Violations) -> Option<Vec<String>> {
    if values.len() > MAX_ALIASES {
        violations.add(
            field,
            format!("at most {MAX_ALIASES} aliases, got {}", values.len()),
        );
        return None;
    }
    let mut accepted: Vec<String> = Vec::with_capacity(values.len());
    let mut valid = true;
    for (index, value) in values.iter().enumerate() {
        match violations.check(text::name(value, &format!("{field}[{index}]"))) {
            Some(alias) if !accepted.contains(&alias) => accepted.push(alias),
            Some(_) => {}
            None => valid = false,
        }
    }
    valid.then_some(accepted)
}

/// Whether a display name or alias starts with `prefix`, ignoring case (Unicode lowercase).
pub fn name_matches(name: &str, prefix: &str) -> bool {
    name.to_lowercase().starts_with(&prefix.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_bounded_and_each_named_in_errors() {
        let mut violations = Violations::default();
        let many: Vec<String> = (0..21).map(|i| format!("a{i}")).collect();
        assert!(aliases(&many, "customer.aliases", &mut violations).is_none());
        let bad = vec!["ok".to_owned(), " ".to_owned()];
        assert!(aliases(&bad, "customer.aliases", &mut violations).is_none());
        let error = violations.into_result().expect_err("two violations");
        let text = error.to_string();
        assert!(text.contains("customer.aliases:") && text.contains("customer.aliases[1]"));
    }

    #[test]
    fn prefixes_ignore_case() {
        assert!(name_matches("Élan Vital", "élan"));
        assert!(name_matches("Northstar", "NORTH"));
        assert!(!name_matches("Northstar", "star"));
    }
}
