//! Writes Tally's shipped catalog from a litellm price file: the entries Tally prices, each with
//! only the fields it reads, numbers copied as their exact source text, one entry per line so that
//! a price change is a one-line diff.

use std::fmt::Write as _;

use super::{
    CatalogError,
    fields::token_field,
    source::{Members, read_prices},
};

/// The derived file and what went into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Derived {
    pub json: String,
    /// Entries written.
    pub entries: usize,
    /// Entries of the source with no price Tally reads.
    pub skipped: usize,
}

/// Derives the shipped catalog from litellm's `model_prices_and_context_window.json`. Deriving the
/// derived file again gives it back unchanged.
pub fn derive(source: &str) -> Result<Derived, CatalogError> {
    let members = Members::parse(source).ok_or(CatalogError::NotAnObject)?;
    let mut lines = Vec::new();
    let mut skipped = 0;
    for (key, value) in &members.0 {
        let Some(entry) = Members::parse(value.get()) else {
            skipped += 1;
            continue;
        };
        if key == super::SAMPLE_SPEC || entry.string("litellm_provider").is_none() {
            skipped += 1;
            continue;
        }
        let read = read_prices(key, &entry);
        if read.prices.is_empty() {
            skipped += 1;
            continue;
        }
        lines.push(entry_line(key, &entry, &read.used_fields));
    }
    let entries = lines.len();
    let json = format!("{{\n{}\n}}\n", lines.join(",\n"));
    Ok(Derived {
        json,
        entries,
        skipped,
    })
}

/// `  "key": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 2.5e-06}`
fn entry_line(key: &str, entry: &Members<'_>, used_fields: &[String]) -> String {
    let mut fields = Vec::with_capacity(used_fields.len() + 2);
    for name in ["litellm_provider", "mode"] {
        if let Some(value) = entry.get(name) {
            fields.push(member(name, value.get()));
        }
    }
    for (name, value) in &entry.0 {
        if !used_fields.contains(name) {
            continue;
        }
        if name == "tiered_pricing" {
            fields.push(member(name, &tiered_pricing(value.get())));
        } else {
            fields.push(member(name, value.get()));
        }
    }
    format!("  {}: {{{}}}", quote(key), fields.join(", "))
}

/// The input-size tiers with only their range and the token prices Tally reads.
fn tiered_pricing(json: &str) -> String {
    let tiers: Vec<&serde_json::value::RawValue> = serde_json::from_str(json).unwrap_or_default();
    let mut out = String::from("[");
    for tier in tiers {
        let Some(tier) = Members::parse(tier.get()) else {
            continue;
        };
        if tier.get("range").is_none() {
            continue;
        }
        let fields: Vec<String> = tier
            .0
            .iter()
            .filter(|(name, _)| {
                name == "range"
                    || token_field(name).is_some_and(|field| field.min_input_tokens == 0)
            })
            .map(|(name, value)| match name.as_str() {
                "range" => member(name, &compact_list(value.get())),
                _ => member(name, value.get()),
            })
            .collect();
        if out.len() > 1 {
            out.push_str(", ");
        }
        let _ = write!(out, "{{{}}}", fields.join(", "));
    }
    out.push(']');
    out
}

/// A list of numbers on one line, each number's text unchanged (the source spreads it over lines).
fn compact_list(json: &str) -> String {
    let items: Vec<&serde_json::value::RawValue> = serde_json::from_str(json).unwrap_or_default();
    let items: Vec<&str> = items.iter().map(|item| item.get()).collect();
    format!("[{}]", items.join(", "))
}

fn member(name: &str, raw_json: &str) -> String {
    format!("{}: {raw_json}", quote(name))
}

fn quote(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| format!("\"{text}\""))
}
