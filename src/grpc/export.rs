//! `Reports.ExportEvents` on the wire: the request checked, the events packed into messages.

use prost::Message;
use sea_orm::DatabaseConnection;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, codegen::BoxStream};

use super::{
    ingest_results::cost_event,
    status::tenant,
    top_runs::{check_order, count, optional_time},
};
use crate::{
    domain::{DomainError, page_token::PageLimits},
    pb,
    service::export::{Export, ExportRequest, Packer},
    store::events::StoredEvent,
};

/// Events per message: 100 unless asked, at most 1000.
const EVENTS_PER_MESSAGE: PageLimits = PageLimits {
    default: 100,
    max: 1000,
};

/// The messages of an export.
pub type ExportStream = BoxStream<pb::ExportEventsResponse>;

/// Packs events as `CostEvent`s, sized as encoded in the `events` field.
struct WirePacker;

impl Packer for WirePacker {
    type Item = pb::CostEvent;
    type Message = pb::ExportEventsResponse;

    fn convert(&self, event: StoredEvent) -> (pb::CostEvent, usize) {
        let event = cost_event(event);
        let length = event.encoded_len();
        // The field's tag, the length prefix, the event.
        (event, 1 + prost::length_delimiter_len(length) + length)
    }

    fn message(
        &self,
        events: Vec<pb::CostEvent>,
        resume_token: String,
    ) -> pb::ExportEventsResponse {
        pb::ExportEventsResponse {
            events,
            resume_token,
        }
    }
}

/// Answers `ExportEvents`: checks the request, then streams.
pub async fn export_events(
    db: &DatabaseConnection,
    request: Request<pb::ExportEventsRequest>,
) -> Result<Response<ExportStream>, Status> {
    let tenant = tenant(&request)?;
    let pb::ExportEventsRequest {
        start_time,
        end_time,
        events_per_message,
        resume_token,
    } = request.into_inner();
    let mut violations = Vec::new();
    let start_time = optional_time(start_time, "start_time", &mut violations);
    let end_time = optional_time(end_time, "end_time", &mut violations);
    check_order(start_time, end_time, &mut violations);
    let events_per_message = count(events_per_message, "events_per_message", &mut violations);
    if !violations.is_empty() {
        return Err(DomainError::Invalid(violations).into());
    }
    let export = Export::open(
        db.clone(),
        tenant,
        ExportRequest {
            start_time,
            end_time,
            resume_token,
        },
    )?;
    let max_events = EVENTS_PER_MESSAGE.size(events_per_message) as usize;
    let messages = export
        .stream(WirePacker, max_events)
        .map(|message| message.map_err(Status::from));
    Ok(Response::new(Box::pin(messages)))
}
