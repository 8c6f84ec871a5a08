//! Conversions shared by the adapters: times, ids and enum values between the wire and the domain.

use chrono::{DateTime, TimeDelta, Utc};

use uuid::Uuid;

use crate::domain::{FieldViolation, error::quote, event};

/// A UTC time as a protobuf timestamp.
pub fn timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

/// The first second a protobuf `Timestamp` may hold: 0001-01-01T00:00:00Z.
const MIN_TIMESTAMP_SECONDS: i64 = -62_135_596_800;
/// The last second a protobuf `Timestamp` may hold: 9999-12-31T23:59:59Z.
const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;
/// The longest protobuf `Duration`, in seconds (about 10,000 years).
const MAX_DURATION_SECONDS: i64 = 315_576_000_000;
/// The most nanoseconds a `Timestamp` or `Duration` may add to its seconds.
const MAX_NANOS: i32 = 999_999_999;

/// A protobuf timestamp as a UTC time; `field` names it in the error. Only what `Timestamp` defines:
/// years 1 to 9999 and nanos below one second. chrono takes more (a leap second in nanos, years past
/// 9999), and a time stored from such a value comes back as a timestamp strict clients refuse.
pub fn time(
    timestamp: &prost_types::Timestamp,
    field: &str,
) -> Result<DateTime<Utc>, FieldViolation> {
    let prost_types::Timestamp { seconds, nanos } = *timestamp;
    if !(MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&seconds) {
        return Err(FieldViolation::new(
            field,
            format!(
                "seconds {seconds} is outside the range of a Timestamp \
                 (0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z)"
            ),
        ));
    }
    u32::try_from(nanos)
        .ok()
        .filter(|_| nanos <= MAX_NANOS)
        .and_then(|nanos| DateTime::from_timestamp(seconds, nanos))
        .map(crate::store::truncate_to_micros)
        .ok_or_else(|| FieldViolation::new(field, format!("nanos {nanos} is not 0 to {MAX_NANOS}")))
}

/// A protobuf duration as a time span; `field` names it in the error. Only what `Duration` defines:
/// at most 315,576,000,000 seconds either way, nanos below one second with the sign of the seconds.
pub fn duration(
    duration: &prost_types::Duration,
    field: &str,
) -> Result<TimeDelta, FieldViolation> {
    let prost_types::Duration { seconds, nanos } = *duration;
    if !(-MAX_DURATION_SECONDS..=MAX_DURATION_SECONDS).contains(&seconds) {
        return Err(FieldViolation::new(
            field,
            format!(
                "seconds {seconds} is outside the range of a Duration \
                 (at most {MAX_DURATION_SECONDS} either way)"
            ),
        ));
    }
    let same_sign = (seconds >= 0 && nanos >= 0) || (seconds <= 0 && nanos <= 0);
    if !(-MAX_NANOS..=MAX_NANOS).contains(&nanos) || !same_sign {
        return Err(FieldViolation::new(
            field,
            format!(
                "nanos {nanos} is not -{MAX_NANOS} to {MAX_NANOS} with the sign of the seconds"
            ),
        ));
    }
    Ok(TimeDelta::seconds(seconds) + TimeDelta::nanoseconds(i64::from(nanos)))
}

/// An enum value of a request: `None` for 0 (UNSPECIFIED), the value where the contract defines
/// it, and a violation naming `field` for a number it does not define (a newer client's value, or
/// garbage). An unknown filter value never reads as "no filter": that would answer everything.
pub fn enum_value<E: TryFrom<i32>>(value: i32, field: &str) -> Result<Option<E>, FieldViolation> {
    if value == 0 {
        return Ok(None);
    }
    E::try_from(value).map(Some).map_err(|_| {
        FieldViolation::new(
            field,
            format!("unknown value {value}: not a value the contract defines"),
        )
    })
}

/// The value of an optional field's parse, or `None` with its violation recorded.
pub fn known<T>(
    result: Result<Option<T>, FieldViolation>,
    violations: &mut Vec<FieldViolation>,
) -> Option<T> {
    result.map_err(|v| violations.push(v)).ok().flatten()
}

/// An id Tally issued (a UUID); `what` says whose id it is in the error.
pub fn id(text: &str, field: &str, what: &str) -> Result<Uuid, FieldViolation> {
    if text.trim().is_empty() {
        return Err(FieldViolation::new(field, "required"));
    }
    Uuid::parse_str(text.trim())
        .map_err(|_| FieldViolation::new(field, format!("not a {what} id: {}", quote(text))))
}

/// Free-form metadata of a request as a JSON object, checked against the contract's limits
/// ([`event::metadata`]); `field` names it in the error.
pub fn metadata(
    value: prost_types::Struct,
    field: &str,
) -> Result<serde_json::Value, FieldViolation> {
    struct_to_json(value)
        .map_err(|message| FieldViolation::new(field, message))
        .and_then(|value| event::metadata(value, field))
}

/// Free-form metadata (a protobuf `Struct`) as a JSON object. Numbers are floats on the wire; they
/// are metadata, never money.
fn struct_to_json(value: prost_types::Struct) -> Result<serde_json::Value, String> {
    value
        .fields
        .into_iter()
        .map(|(key, value)| Ok((key, value_to_json(value)?)))
        .collect::<Result<serde_json::Map<_, _>, String>>()
        .map(serde_json::Value::Object)
}

fn value_to_json(value: prost_types::Value) -> Result<serde_json::Value, String> {
    use prost_types::value::Kind;
    Ok(match value.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(flag)) => serde_json::Value::Bool(flag),
        Some(Kind::StringValue(text)) => serde_json::Value::String(text),
        Some(Kind::NumberValue(number)) => serde_json::Number::from_f64(number)
            .map(serde_json::Value::Number)
            .ok_or_else(|| format!("{number} is not a JSON number"))?,
        Some(Kind::StructValue(inner)) => struct_to_json(inner)?,
        Some(Kind::ListValue(list)) => serde_json::Value::Array(
            list.values
                .into_iter()
                .map(value_to_json)
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// A stored JSON object as a protobuf `Struct` (anything else is wrapped as `{"value": …}`).
pub fn json_to_struct(value: serde_json::Value) -> prost_types::Struct {
    match value {
        serde_json::Value::Object(map) => prost_types::Struct {
            fields: map
                .into_iter()
                .map(|(key, value)| (key, json_to_value(value)))
                .collect(),
        },
        other => prost_types::Struct {
            fields: [("value".to_owned(), json_to_value(other))].into(),
        },
    }
}

fn json_to_value(value: serde_json::Value) -> prost_types::Value {
    use prost_types::value::Kind;
    let kind = match value {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(flag) => Kind::BoolValue(flag),
        serde_json::Value::Number(number) => Kind::NumberValue(number.as_f64().unwrap_or_default()),
        serde_json::Value::String(text) => Kind::StringValue(text),
        serde_json::Value::Array(values) => Kind::ListValue(prost_types::ListValue {
            values: values.into_iter().map(json_to_value).collect(),
        }),
        serde_json::Value::Object(_) => Kind::StructValue(json_to_struct(value)),
    };
    prost_types::Value { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_stay_in_the_range_of_a_timestamp() {
        let at = |seconds, nanos| time(&prost_types::Timestamp { seconds, nanos }, "usage_time");
        assert!(at(MIN_TIMESTAMP_SECONDS, 0).is_ok());
        assert!(at(MAX_TIMESTAMP_SECONDS, 999_999_999).is_ok());
        assert!(at(MIN_TIMESTAMP_SECONDS - 1, 0).is_err());
        assert!(at(MAX_TIMESTAMP_SECONDS + 1, 0).is_err());
        assert!(
            at(0, 1_000_000_000).is_err(),
            "a leap second is not a Timestamp"
        );
        assert!(at(0, -1).is_err());
        assert!(at(i64::MIN, i32::MIN).is_err());
        assert_eq!(at(0, -1).unwrap_err().field, "usage_time");
    }

    #[test]
    fn durations_stay_in_the_range_of_a_duration() {
        let span = |seconds, nanos| duration(&prost_types::Duration { seconds, nanos }, "latency");
        assert_eq!(span(1, 500_000_000), Ok(TimeDelta::milliseconds(1_500)));
        assert_eq!(span(-1, -5), Ok(-TimeDelta::nanoseconds(1_000_000_005)));
        assert!(span(MAX_DURATION_SECONDS, MAX_NANOS).is_ok());
        assert!(span(MAX_DURATION_SECONDS + 1, 0).is_err());
        assert!(span(-MAX_DURATION_SECONDS - 1, 0).is_err());
        assert!(span(0, 1_000_000_000).is_err());
        assert!(span(1, -1).is_err(), "nanos take the sign of the seconds");
        assert!(span(i64::MIN, i32::MIN).is_err());
    }

    #[test]
    fn unknown_enum_values_are_refused() {
        let read = |value| enum_value::<crate::pb::RunStatus>(value, "status");
        assert_eq!(read(0), Ok(None));
        assert_eq!(read(2), Ok(Some(crate::pb::RunStatus::Completed)));
        assert_eq!(read(99).unwrap_err().field, "status");
        assert!(read(-1).is_err());
    }

    #[test]
    fn ids_name_the_field() {
        let id_text = Uuid::now_v7().to_string();
        assert!(id(&id_text, "budget_id", "budget").is_ok());
        let error = id("nope", "budget_id", "budget").expect_err("not a uuid");
        assert_eq!(error.field, "budget_id");
        assert!(error.description.contains("not a budget id"));
    }
}
