//! Every event of a window as a stream (`Reports.ExportEvents`), for loading into a warehouse.
//!
//! Memory stays bounded however many events the window holds: a reader task reads keyset pages of
//! [`READ_PAGE`] events in (usage time, id) order, packs them into messages, and sends each through
//! a channel of [`MESSAGES_BUFFERED`] messages. When the client reads slowly, gRPC flow control
//! stops taking messages, the channel fills, and the reader waits instead of reading on; when the
//! client goes away, the channel closes and the reader stops.

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use uuid::Uuid;

use crate::{
    domain::{DomainError, FieldViolation, page_token, tenant::Tenant},
    store::{
        self,
        events::{EventFilter, ListOrder, StoredEvent},
    },
};

/// Events read per query.
pub const READ_PAGE: u64 = 500;
/// Messages packed ahead of the client.
pub const MESSAGES_BUFFERED: usize = 2;
/// The largest message, in encoded bytes: 4 MiB, less room for the resume token.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024 - 1024;

/// An export as asked.
#[derive(Clone, Debug)]
pub struct ExportRequest {
    pub start_time: Option<DateTime<Utc>>,
    /// Unset: the time of the first call of the export.
    pub end_time: Option<DateTime<Utc>>,
    /// Empty: from the first event.
    pub resume_token: String,
}

/// Turns stored events into the messages of the stream (the wire format is not ours to know).
pub trait Packer: Send + Sync + 'static {
    /// An event as sent.
    type Item: Send;
    /// A message of the stream.
    type Message: Send + 'static;

    /// The event as sent and its size within a message, in bytes.
    fn convert(&self, event: StoredEvent) -> (Self::Item, usize);

    /// A message of these events, resumed after by `resume_token`.
    fn message(&self, items: Vec<Self::Item>, resume_token: String) -> Self::Message;
}

/// An export under way: its window and its position.
pub struct Export {
    db: DatabaseConnection,
    tenant: Tenant,
    filter: EventFilter,
    /// The window as first asked, which a resume token is bound to.
    fingerprint: String,
    end_time: DateTime<Utc>,
    position: Option<(DateTime<Utc>, Uuid)>,
}

impl Export {
    /// Starts an export, or resumes one after the position its token carries. An unset end is the
    /// time of the first call, carried in the token so that a resumed export keeps the window.
    pub fn open(
        db: DatabaseConnection,
        tenant: Tenant,
        request: ExportRequest,
    ) -> Result<Self, DomainError> {
        let ExportRequest {
            start_time,
            end_time,
            resume_token,
        } = request;
        let fingerprint = format!("export {start_time:?} {end_time:?}");
        let invalid = || {
            DomainError::Invalid(vec![FieldViolation::new(
                "resume_token",
                "not a resume token of an export of this window",
            )])
        };
        let resumed = page_token::decode(&resume_token, &fingerprint)
            .map_err(|_| invalid())?
            .map(|cursor| decode_cursor(&cursor).ok_or_else(invalid))
            .transpose()?;
        let (position, end_time) = match resumed {
            Some((time, id, end)) => (Some((time, id)), end),
            None => (None, end_time.unwrap_or_else(store::now)),
        };
        Ok(Self {
            db,
            tenant,
            filter: EventFilter {
                start_time,
                end_time: Some(end_time),
                ..EventFilter::default()
            },
            fingerprint,
            end_time,
            position,
        })
    }

    /// The token that resumes the export after `event`.
    fn resume_token(&self, (time, id): (DateTime<Utc>, Uuid)) -> String {
        let cursor = format!("{}|{id}|{}", time.to_rfc3339(), self.end_time.to_rfc3339());
        page_token::encode(&cursor, &self.fingerprint)
    }

    /// Streams the export: messages of at most `max_events` events and [`MAX_MESSAGE_BYTES`]
    /// bytes, then the end of the stream, or a fatal error.
    pub fn stream<P: Packer>(
        self,
        packer: P,
        max_events: usize,
    ) -> ReceiverStream<Result<P::Message, DomainError>> {
        let (sender, receiver) = mpsc::channel(MESSAGES_BUFFERED);
        tokio::spawn(async move {
            if let Err(error) = self.run(&packer, max_events.max(1), &sender).await {
                let _ = sender.send(Err(error)).await;
            }
        });
        ReceiverStream::new(receiver)
    }

    async fn run<P: Packer>(
        mut self,
        packer: &P,
        max_events: usize,
        sender: &mpsc::Sender<Result<P::Message, DomainError>>,
    ) -> Result<(), DomainError> {
        let mut items = Vec::new();
        let mut bytes = 0;
        let mut last = None;
        loop {
            if sender.is_closed() {
                tracing::debug!("export client went away");
                return Ok(());
            }
            let page = store::events::list_in_order(
                &self.db,
                self.tenant.project_id,
                &self.filter,
                ListOrder::OldestFirst,
                self.position,
                READ_PAGE,
            )
            .await?;
            let done = (page.len() as u64) < READ_PAGE;
            for event in page {
                let at = (event.priced.usage_time, event.priced.id);
                let (item, size) = packer.convert(event);
                if !items.is_empty() && bytes + size > MAX_MESSAGE_BYTES {
                    let message = packer.message(std::mem::take(&mut items), self.token(last));
                    bytes = 0;
                    if sender.send(Ok(message)).await.is_err() {
                        return Ok(());
                    }
                }
                items.push(item);
                bytes += size;
                last = Some(at);
                self.position = Some(at);
                if items.len() >= max_events {
                    let message = packer.message(std::mem::take(&mut items), self.token(last));
                    bytes = 0;
                    if sender.send(Ok(message)).await.is_err() {
                        return Ok(());
                    }
                }
            }
            if done {
                if !items.is_empty() {
                    let message = packer.message(items, self.token(last));
                    let _ = sender.send(Ok(message)).await;
                }
                return Ok(());
            }
        }
    }

    fn token(&self, last: Option<(DateTime<Utc>, Uuid)>) -> String {
        last.map(|last| self.resume_token(last)).unwrap_or_default()
    }
}

/// Reads a resume token's position and the export's end.
fn decode_cursor(cursor: &str) -> Option<(DateTime<Utc>, Uuid, DateTime<Utc>)> {
    let mut parts = cursor.split('|');
    let time = |text: &str| {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    };
    let position = time(parts.next()?)?;
    let id = Uuid::parse_str(parts.next()?).ok()?;
    let end = time(parts.next()?)?;
    parts.next().is_none().then_some((position, id, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_exactly() {
        let time = store::now();
        let id = Uuid::now_v7();
        let cursor = format!("{}|{id}|{}", time.to_rfc3339(), time.to_rfc3339());
        assert_eq!(decode_cursor(&cursor), Some((time, id, time)));
        assert_eq!(decode_cursor("x|y|z"), None);
        assert_eq!(decode_cursor(&format!("{cursor}|more")), None);
    }
}
