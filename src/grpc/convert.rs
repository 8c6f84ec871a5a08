//! Conversions shared by the adapters: times, ids and enum values between the wire and the domain.

use chrono::{DateTime, Utc};

use uuid::Uuid;

use crate::domain::FieldViolation;

/// A UTC time as a protobuf timestamp.
pub fn timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    }
}

/// A protobuf timestamp as a UTC time; `field` names it in the error.
pub fn time(
    timestamp: &prost_types::Timestamp,
    field: &str,
) -> Result<DateTime<Utc>, FieldViolation> {
    u32::try_from(timestamp.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(timestamp.seconds, nanos))
        .map(crate::store::truncate_to_micros)
        .ok_or_else(|| FieldViolation::new(field, "not a valid timestamp"))
}

/// An id Tally issued (a UUID); `what` says whose id it is in the error.
pub fn id(text: &str, field: &str, what: &str) -> Result<Uuid, FieldViolation> {
    if text.trim().is_empty() {
        return Err(FieldViolation::new(field, "required"));
    }
    Uuid::parse_str(text.trim())
        .map_err(|_| FieldViolation::new(field, format!("not a {what} id: {text:?}")))
}

/// Free-form metadata (a protobuf `Struct`) as a JSON object. Numbers are floats on the wire; they
/// are metadata, never money.
pub fn struct_to_json(value: prost_types::Struct) -> Result<serde_json::Value, String> {
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
    fn ids_name_the_field() {
        let id_text = Uuid::now_v7().to_string();
        assert!(id(&id_text, "budget_id", "budget").is_ok());
        let error = id("nope", "budget_id", "budget").expect_err("not a uuid");
        assert_eq!(error.field, "budget_id");
        assert!(error.description.contains("not a budget id"));
    }
}
