//! `Reports.ListTopRuns` on the wire, and the time windows of the reports this adapter serves.

use chrono::{DateTime, Utc};
use tonic::{Request, Response, Status};

use super::{
    convert::{known, time},
    runs::run_message,
    status::tenant,
};
use crate::{
    domain::{DomainError, FieldViolation, text},
    pb,
    service::{
        runs::RunsService,
        top_runs::{TopRunsQuery, top_runs},
    },
};

/// Reads an optional time of a request; a bad one is a violation naming `field`.
pub(super) fn optional_time(
    value: Option<prost_types::Timestamp>,
    field: &str,
    violations: &mut Vec<FieldViolation>,
) -> Option<DateTime<Utc>> {
    value.and_then(|value| time(&value, field).map_err(|v| violations.push(v)).ok())
}

/// Checks that a window with both ends set ends after it starts.
pub(super) fn check_order(
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    violations: &mut Vec<FieldViolation>,
) {
    if let (Some(start), Some(end)) = (start, end)
        && end <= start
    {
        violations.push(FieldViolation::new("end_time", "must be after start_time"));
    }
}

/// Reads a count of a request where 0 means the default and a negative value is refused.
pub(super) fn count(value: i32, field: &str, violations: &mut Vec<FieldViolation>) -> i32 {
    if value < 0 {
        violations.push(FieldViolation::new(field, "must not be negative"));
    }
    value
}

/// Answers `ListTopRuns`.
pub async fn list_top_runs(
    runs: &RunsService,
    request: Request<pb::ListTopRunsRequest>,
) -> Result<Response<pb::ListTopRunsResponse>, Status> {
    let tenant = tenant(&request)?;
    let pb::ListTopRunsRequest {
        start_time,
        end_time,
        limit,
        customer_id,
        agent_code,
    } = request.into_inner();
    let mut violations = Vec::new();
    let mut required = |value: Option<prost_types::Timestamp>, field: &str| {
        if value.is_none() {
            violations.push(FieldViolation::new(field, "required"));
        }
        optional_time(value, field, &mut violations)
    };
    let (start_time, end_time) = (
        required(start_time, "start_time"),
        required(end_time, "end_time"),
    );
    check_order(start_time, end_time, &mut violations);
    let limit = count(limit, "limit", &mut violations);
    let customer_id = known(text::filter(customer_id, "customer_id"), &mut violations);
    let agent_code = known(text::filter(agent_code, "agent_code"), &mut violations);
    let (Some(start_time), Some(end_time), true) = (start_time, end_time, violations.is_empty())
    else {
        return Err(DomainError::Invalid(violations).into());
    };
    let query = TopRunsQuery {
        start_time,
        end_time,
        limit,
        customer_id,
        agent_code,
    };
    let records = top_runs(runs, tenant, query).await?;
    Ok(Response::new(pb::ListTopRunsResponse {
        runs: records
            .into_iter()
            .map(|record| run_message(record, runs))
            .collect(),
    }))
}
