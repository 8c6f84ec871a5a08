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

/// An id Tally issued (a UUID); `what` says whose id it is in the error.
pub fn id(text: &str, field: &str, what: &str) -> Result<Uuid, FieldViolation> {
    if text.trim().is_empty() {
        return Err(FieldViolation::new(field, "required"));
    }
    Uuid::parse_str(text.trim())
        .map_err(|_| FieldViolation::new(field, format!("not a {what} id: {text:?}")))
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
