//! The `tally.v1.Ingest` service: record events one at a time, in batches or over a stream, and read
//! them back.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status, Streaming, codegen::BoxStream};
use uuid::Uuid;

use super::{
    convert::{enum_value, id, known, time},
    ingest_convert::event_input,
    ingest_results::{cost_event, record_results},
    ingest_stream,
    status::tenant,
};
use crate::{
    domain::{
        DomainError, FieldViolation,
        event::{EventInput, EventStatus, MAX_BATCH_RECORDS, RawCounts},
        page_token::{self, PageLimits},
        tenant::Tenant,
        text,
    },
    pb::{self, ingest_server::Ingest},
    service::{events as event_service, ingest::IngestService, pricing::PricingService},
    store::{self, events::EventFilter},
};

/// Events per `ListEvents` page: 50 unless asked, at most 100.
const PAGE_LIMITS: PageLimits = PageLimits {
    default: 50,
    max: 100,
};

/// Adapter from the `Ingest` contract to the ingest service.
pub struct IngestApi {
    db: DatabaseConnection,
    service: Arc<IngestService>,
    pricing: Arc<PricingService>,
}

impl IngestApi {
    pub fn new(
        db: DatabaseConnection,
        service: Arc<IngestService>,
        pricing: Arc<PricingService>,
    ) -> Self {
        Self {
            db,
            service,
            pricing,
        }
    }
}

/// A batch's records as inputs to record, once its size is checked.
pub(super) fn batch_inputs(
    records: Vec<pb::EventRecord>,
    now: DateTime<Utc>,
) -> Result<Vec<Result<EventInput, Vec<FieldViolation>>>, Status> {
    if records.is_empty() || records.len() > MAX_BATCH_RECORDS {
        return Err(DomainError::Invalid(vec![FieldViolation::new(
            "records",
            format!(
                "1 to {MAX_BATCH_RECORDS} records per batch, got {}",
                records.len()
            ),
        )])
        .into());
    }
    Ok(records
        .into_iter()
        .map(|record| event_input(record, now))
        .collect())
}

/// Checks the size of a batch and records it; one result per record, in order.
async fn record_batch(
    service: &IngestService,
    tenant: Tenant,
    records: Vec<pb::EventRecord>,
) -> Result<Vec<pb::RecordResult>, Status> {
    let inputs = batch_inputs(records, store::now())?;
    let outcomes = service.record(tenant, inputs).await?;
    Ok(record_results(outcomes))
}

#[tonic::async_trait]
impl Ingest for IngestApi {
    #[tracing::instrument(skip_all)]
    async fn record_event(
        &self,
        request: Request<pb::RecordEventRequest>,
    ) -> Result<Response<pb::RecordEventResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::RecordEventRequest { record } = request.into_inner();
        let Some(record) = record else {
            return Err(
                DomainError::Invalid(vec![FieldViolation::new("record", "required")]).into(),
            );
        };
        let result = record_batch(&self.service, tenant, vec![record])
            .await?
            .pop();
        Ok(Response::new(pb::RecordEventResponse { result }))
    }

    #[tracing::instrument(skip_all)]
    async fn record_batch(
        &self,
        request: Request<pb::RecordBatchRequest>,
    ) -> Result<Response<pb::RecordBatchResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::RecordBatchRequest { records } = request.into_inner();
        let results = record_batch(&self.service, tenant, records).await?;
        Ok(Response::new(pb::RecordBatchResponse { results }))
    }

    #[tracing::instrument(skip_all)]
    async fn record_events(
        &self,
        request: Request<Streaming<pb::RecordEventsRequest>>,
    ) -> Result<Response<BoxStream<pb::RecordEventsResponse>>, Status> {
        let tenant = tenant(&request)?;
        let answers = ingest_stream::answer(self.service.clone(), tenant, request.into_inner());
        Ok(Response::new(Box::pin(answers)))
    }

    #[tracing::instrument(skip_all)]
    async fn fill_volume(
        &self,
        request: Request<pb::FillVolumeRequest>,
    ) -> Result<Response<pb::FillVolumeResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::FillVolumeRequest {
            event_id,
            line_index,
            input_tokens,
            output_tokens,
            cached_input_tokens,
            cache_creation_tokens,
            reasoning_tokens,
            quantity,
        } = request.into_inner();
        let event_id =
            id(&event_id, "event_id", "event").map_err(|v| DomainError::Invalid(vec![v]))?;
        let counts = RawCounts {
            input_tokens,
            output_tokens,
            cached_input_tokens,
            cache_creation_tokens,
            reasoning_tokens,
            quantity,
        };
        let event = self
            .pricing
            .fill_volume(tenant, event_id, line_index as usize, counts)
            .await?;
        Ok(Response::new(pb::FillVolumeResponse {
            event: Some(cost_event(event)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_event(
        &self,
        request: Request<pb::GetEventRequest>,
    ) -> Result<Response<pb::GetEventResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::GetEventRequest { event_id } = request.into_inner();
        let event_id =
            id(&event_id, "event_id", "event").map_err(|v| DomainError::Invalid(vec![v]))?;
        let event = event_service::get(&self.db, tenant, event_id).await?;
        Ok(Response::new(pb::GetEventResponse {
            event: Some(cost_event(event)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> Result<Response<pb::ListEventsResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::ListEventsRequest {
            page_size,
            page_token,
            customer_id,
            agent_code,
            signal_name,
            run_id,
            status,
            start_time,
            end_time,
        } = request.into_inner();
        let mut violations = Vec::new();
        let optional_time =
            |value: Option<prost_types::Timestamp>, field: &str, violations: &mut Vec<_>| {
                value.and_then(|value| time(&value, field).map_err(|v| violations.push(v)).ok())
            };
        let start_time = optional_time(start_time, "start_time", &mut violations);
        let end_time = optional_time(end_time, "end_time", &mut violations);
        let filter = EventFilter {
            customer_id: known(text::filter(customer_id, "customer_id"), &mut violations),
            agent_code: known(text::filter(agent_code, "agent_code"), &mut violations),
            signal_name: known(text::filter(signal_name, "signal_name"), &mut violations),
            run_key: known(text::filter(run_id, "run_id"), &mut violations),
            status: match enum_value(status, "status") {
                Ok(Some(pb::EventStatus::Processed)) => Some(EventStatus::Processed),
                Ok(Some(pb::EventStatus::MissingVolumeData)) => {
                    Some(EventStatus::MissingVolumeData)
                }
                Ok(Some(pb::EventStatus::NeedsCostBackfill)) => {
                    Some(EventStatus::NeedsCostBackfill)
                }
                Ok(None | Some(pb::EventStatus::Unspecified)) => None,
                Ok(Some(pb::EventStatus::ValidationError | pb::EventStatus::InternalError)) => {
                    violations.push(FieldViolation::new(
                        "status",
                        "not a status of a stored event",
                    ));
                    None
                }
                Err(violation) => {
                    violations.push(violation);
                    None
                }
            },
            start_time,
            end_time,
        };
        let fingerprint = format!("{filter:?}");
        let before = page_token::decode(&page_token, &fingerprint)
            .and_then(|cursor| cursor.map(|cursor| event_cursor(&cursor)).transpose())
            .map_err(|v| violations.push(v))
            .ok()
            .flatten();
        if !violations.is_empty() {
            return Err(DomainError::Invalid(violations).into());
        }
        let size = PAGE_LIMITS.size(page_size);
        let mut events = event_service::list(&self.db, tenant, &filter, before, size + 1).await?;
        let next_page_token = if events.len() as u64 > size {
            events.truncate(size as usize);
            events
                .last()
                .map(|last| {
                    let cursor =
                        format!("{}|{}", last.priced.usage_time.to_rfc3339(), last.priced.id);
                    page_token::encode(&cursor, &fingerprint)
                })
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListEventsResponse {
            events: events.into_iter().map(cost_event).collect(),
            next_page_token,
        }))
    }
}

/// Reads the position a `ListEvents` page token carries: the usage time and id of the last event.
fn event_cursor(cursor: &str) -> Result<(DateTime<Utc>, Uuid), FieldViolation> {
    let invalid = || FieldViolation::new("page_token", "not a page token of this list");
    let (time, id) = cursor.split_once('|').ok_or_else(invalid)?;
    let time = DateTime::parse_from_rfc3339(time)
        .map_err(|_| invalid())?
        .with_timezone(&Utc);
    Ok((time, Uuid::parse_str(id).map_err(|_| invalid())?))
}
