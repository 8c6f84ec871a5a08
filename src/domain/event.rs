//! A cost event as received: its attribution, its service lines, and the rules a record must meet
//! before anything is stored. Every violation is collected, with its path in the record.

use chrono::{DateTime, TimeDelta, Utc};

use super::{
    FieldViolation,
    money::Usd,
    pricing::{Tier, Usage, normalize_name},
};

/// Records per `RecordBatch` or stream batch.
pub const MAX_BATCH_RECORDS: usize = 100;
/// Service lines per event.
pub const MAX_LINES: usize = 100;
/// Serialized metadata, in bytes of JSON.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// Levels of objects and lists in metadata, the metadata object itself being the first. Well below
/// where protobuf decoding gives up (about 33 nested `Struct`s, 100 messages deep), so the limit is
/// ours and answered field by field.
pub const MAX_METADATA_DEPTH: usize = 20;
/// The most a token count or quantity may be (10^12): the running totals add up thousands of them
/// per row in 64 bits, and a group of records is summed in memory before it is written.
pub const MAX_COUNT: u64 = 1_000_000_000_000;
/// How far in the future a usage time may be (clock skew between the caller and us).
pub const MAX_FUTURE_SKEW: TimeDelta = TimeDelta::minutes(5);

/// How an event stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventStatus {
    Processed,
    MissingVolumeData,
    NeedsCostBackfill,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processed => "PROCESSED",
            Self::MissingVolumeData => "MISSING_VOLUME_DATA",
            Self::NeedsCostBackfill => "NEEDS_COST_BACKFILL",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        [
            Self::Processed,
            Self::MissingVolumeData,
            Self::NeedsCostBackfill,
        ]
        .into_iter()
        .find(|status| status.as_str() == stored)
    }

    /// The status of an event: the worst of its lines
    /// (`NEEDS_COST_BACKFILL` > `MISSING_VOLUME_DATA` > `PROCESSED`).
    pub fn worst(lines: impl IntoIterator<Item = EventStatus>) -> EventStatus {
        lines.into_iter().max().unwrap_or(EventStatus::Processed)
    }
}

/// A plan as sent: its name and monthly price.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub name: String,
    pub monthly: Usd,
}

/// The customer as a record names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerRef {
    /// Exactly as sent.
    pub id: String,
    pub name: Option<String>,
    pub plan: Option<Plan>,
}

/// One service line, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineInput {
    /// Trimmed and lowercased.
    pub provider: String,
    /// Trimmed and lowercased.
    pub model: String,
    pub usage: Usage,
    pub manual_cost: Option<Usd>,
    pub latency_ms: Option<i64>,
    pub call_status: Option<String>,
}

/// Whether a record carried one service (`service`) or a list (`services`): it names the lines'
/// fields in violations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Single,
    Multi,
}

impl Shape {
    /// The path of the record's lines: `service` or `services.services`.
    pub fn lines_path(self) -> &'static str {
        match self {
            Self::Single => "service",
            Self::Multi => "services.services",
        }
    }

    /// The path of line `index` in the record, ending with a dot: `service.` or
    /// `services.services[2].`.
    pub fn line_path(self, index: usize) -> String {
        match self {
            Self::Single => "service.".to_owned(),
            Self::Multi => format!("services.services[{index}]."),
        }
    }
}

/// A record that passed every check that needs no stored state. Whether it may lack customer and
/// agent depends on its run, which only the store knows.
#[derive(Clone, Debug, PartialEq)]
pub struct EventInput {
    pub idempotency_key: Option<String>,
    pub customer: Option<CustomerRef>,
    pub user_id: Option<String>,
    pub agent_code: Option<String>,
    pub signal_name: Option<String>,
    pub quantity: u64,
    pub run_id: Option<String>,
    /// The hold the event settles (see `domain::hold`).
    pub hold_id: Option<uuid::Uuid>,
    pub usage_time: DateTime<Utc>,
    pub metadata: Option<serde_json::Value>,
    pub shape: Shape,
    pub lines: Vec<LineInput>,
}

/// The raw counts of a service line as a caller sent them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawCounts {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cached_input_tokens: Option<u64>,
    pub cache_creation_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
    pub quantity: Option<u64>,
}

/// Checks a count: at most [`MAX_COUNT`].
pub fn check_count(
    value: Option<u64>,
    field: impl Into<String>,
    violations: &mut Vec<FieldViolation>,
) {
    if value.is_some_and(|value| value > MAX_COUNT) {
        violations.push(FieldViolation::new(
            field,
            format!("too large: at most {MAX_COUNT}"),
        ));
    }
}

/// Checks a line's counts: each at most [`MAX_COUNT`].
pub fn counts(
    raw: RawCounts,
    tier: Tier,
    prefix: &str,
    violations: &mut Vec<FieldViolation>,
) -> Usage {
    let mut check = |value: Option<u64>, name: &str| {
        check_count(value, format!("{prefix}{name}"), violations);
        value
    };
    Usage {
        input_tokens: check(raw.input_tokens, "input_tokens"),
        output_tokens: check(raw.output_tokens, "output_tokens"),
        cached_input_tokens: check(raw.cached_input_tokens, "cached_input_tokens"),
        cache_creation_tokens: check(raw.cache_creation_tokens, "cache_creation_tokens"),
        reasoning_tokens: check(raw.reasoning_tokens, "reasoning_tokens"),
        quantity: check(raw.quantity, "quantity"),
        tier,
    }
}

/// Checks a provider or model name and returns it normalized (trimmed, lowercased).
pub fn service_name(value: &str, field: &str) -> Result<String, FieldViolation> {
    super::text::identifier(value, field).map(|_| normalize_name(value))
}

/// Checks the usage time: unset means `now`; at most five minutes ahead of `now`.
pub fn usage_time(
    sent: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    field: &str,
) -> Result<DateTime<Utc>, FieldViolation> {
    let Some(time) = sent else { return Ok(now) };
    if time > now + MAX_FUTURE_SKEW {
        return Err(FieldViolation::new(
            field,
            format!(
                "{} is more than 5 minutes in the future (server time {})",
                time.to_rfc3339(),
                now.to_rfc3339()
            ),
        ));
    }
    Ok(time)
}

/// Checks metadata: a JSON object of at most 16 KiB serialized, nested at most
/// [`MAX_METADATA_DEPTH`] levels.
pub fn metadata(
    value: serde_json::Value,
    field: &str,
) -> Result<serde_json::Value, FieldViolation> {
    let depth = depth(&value);
    if depth > MAX_METADATA_DEPTH {
        return Err(FieldViolation::new(
            field,
            format!("nests at most {MAX_METADATA_DEPTH} levels of objects and lists, got {depth}"),
        ));
    }
    let size = serde_json::to_vec(&value)
        .map(|bytes| bytes.len())
        .unwrap_or(usize::MAX);
    if size > MAX_METADATA_BYTES {
        return Err(FieldViolation::new(
            field,
            format!("at most {MAX_METADATA_BYTES} bytes as JSON, got {size}"),
        ));
    }
    Ok(value)
}

/// Levels of objects and lists in `value`: 0 for a scalar, 1 for `{}`.
fn depth(value: &serde_json::Value) -> usize {
    let children = match value {
        serde_json::Value::Object(map) => map.values().map(depth).max(),
        serde_json::Value::Array(values) => values.iter().map(depth).max(),
        _ => return 0,
    };
    1 + children.unwrap_or(0)
}

/// Checks a latency: not negative; kept in whole milliseconds.
pub fn latency_ms(latency: TimeDelta, field: &str) -> Result<i64, FieldViolation> {
    if latency < TimeDelta::zero() {
        return Err(FieldViolation::new(field, "must not be negative"));
    }
    Ok(latency.num_milliseconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_line_status_wins() {
        use EventStatus::*;
        assert_eq!(
            EventStatus::worst([Processed, MissingVolumeData]),
            MissingVolumeData
        );
        assert_eq!(
            EventStatus::worst([MissingVolumeData, NeedsCostBackfill, Processed]),
            NeedsCostBackfill
        );
        assert_eq!(EventStatus::worst([Processed]), Processed);
    }

    #[test]
    fn usage_time_defaults_to_now_and_refuses_the_far_future() {
        let now = Utc::now();
        assert_eq!(usage_time(None, now, "usage_time"), Ok(now));
        assert!(usage_time(Some(now + TimeDelta::minutes(4)), now, "usage_time").is_ok());
        assert!(usage_time(Some(now - TimeDelta::days(400)), now, "usage_time").is_ok());
        assert!(usage_time(Some(now + TimeDelta::minutes(6)), now, "usage_time").is_err());
    }

    #[test]
    fn metadata_is_bounded() {
        let small = serde_json::json!({"template": "v2"});
        assert!(metadata(small, "metadata").is_ok());
        let large = serde_json::json!({"blob": "x".repeat(MAX_METADATA_BYTES)});
        assert!(metadata(large, "metadata").is_err());
        let nested = |levels: usize| {
            (1..levels).fold(serde_json::json!({}), |inner, level| {
                if level % 2 == 0 {
                    serde_json::json!({ "a": inner })
                } else {
                    serde_json::json!([1, inner])
                }
            })
        };
        assert_eq!(depth(&nested(MAX_METADATA_DEPTH)), MAX_METADATA_DEPTH);
        assert!(metadata(nested(MAX_METADATA_DEPTH), "metadata").is_ok());
        let error = metadata(nested(MAX_METADATA_DEPTH + 1), "metadata").unwrap_err();
        assert_eq!(
            error.description,
            "nests at most 20 levels of objects and lists, got 21"
        );
    }

    #[test]
    fn names_are_normalized_and_counts_must_fit() {
        assert_eq!(
            service_name("  OpenAI ", "service.provider"),
            Ok("openai".to_owned())
        );
        let mut violations = Vec::new();
        let raw = RawCounts {
            input_tokens: Some(u64::MAX),
            output_tokens: Some(5),
            ..RawCounts::default()
        };
        let usage = counts(raw, Tier::Standard, "service.", &mut violations);
        assert_eq!(usage.output_tokens, Some(5));
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, "service.input_tokens");

        let mut violations = Vec::new();
        let raw = RawCounts {
            input_tokens: Some(MAX_COUNT),
            quantity: Some(MAX_COUNT + 1),
            ..RawCounts::default()
        };
        counts(raw, Tier::Standard, "service.", &mut violations);
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, "service.quantity");
        assert_eq!(
            violations[0].description,
            "too large: at most 1000000000000"
        );
    }
}
