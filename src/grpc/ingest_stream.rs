//! `RecordEvents`: every batch of a stream is answered, in order. The batches that arrive while
//! the earlier ones are being written are then written as one (their records in the order sent,
//! so a run one batch starts is known to the next and a record repeated in a later batch is its
//! duplicate, as if each had waited for the one before), which lets a client with several batches
//! in flight on one stream have them written in bulk.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::{StreamExt, wrappers::ReceiverStream};
use tonic::{Status, Streaming};

use super::{ingest::batch_inputs, ingest_results::record_results};
use crate::{domain::tenant::Tenant, pb, service::ingest::IngestService, store};

/// Batch answers a stream may have waiting for the client before the server stops writing
/// (backpressure instead of buffering).
const STREAM_BUFFER: usize = 4;
/// Batches a stream reads ahead while earlier ones are written: at most this many are written
/// together.
const READ_AHEAD: usize = 8;

type Answer = Result<pb::RecordEventsResponse, Status>;

/// A batch as read from the stream, or why the next one could not be read.
type Read = Result<pb::RecordEventsRequest, Status>;

/// Answers the batches of `batches`, in order; ends after the first batch answered with an error,
/// or, after answering every batch before it, with the error of a message that could not be read.
pub fn answer(
    service: Arc<IngestService>,
    tenant: Tenant,
    batches: Streaming<pb::RecordEventsRequest>,
) -> ReceiverStream<Answer> {
    let (answers, receiver) = mpsc::channel(STREAM_BUFFER);
    let (read, mut waiting) = mpsc::channel(READ_AHEAD);
    tokio::spawn(read_ahead(batches, read));
    tokio::spawn(async move {
        while let Some(first) = waiting.recv().await {
            let mut unreadable = None;
            let mut taken = Vec::with_capacity(READ_AHEAD);
            let mut next = Some(first);
            while let Some(read) = next.take() {
                match read {
                    Ok(batch) => taken.push(batch),
                    Err(status) => {
                        unreadable = Some(status);
                        break;
                    }
                }
                if taken.len() < READ_AHEAD {
                    next = waiting.try_recv().ok();
                }
            }
            if !taken.is_empty() && !answer_together(&service, tenant, taken, &answers).await {
                return;
            }
            if let Some(status) = unreadable {
                let _ = answers.send(Err(status)).await;
                return;
            }
        }
    });
    ReceiverStream::new(receiver)
}

/// Reads batches until the client ends the stream or a message cannot be read. A message that
/// cannot be read (too large, not a batch, cut short) is not the end of the client's stream: it is
/// passed on, to end the stream with its status once the batches before it are answered.
async fn read_ahead(mut batches: Streaming<pb::RecordEventsRequest>, waiting: mpsc::Sender<Read>) {
    let mut read = 0_usize;
    while let Some(batch) = batches.next().await {
        if let Err(status) = &batch {
            tracing::info!(
                code = ?status.code(),
                error = status.message(),
                batches_read = read,
                "record stream ends: a message could not be read"
            );
        }
        let failed = batch.is_err();
        if waiting.send(batch).await.is_err() || failed {
            return;
        }
        read += 1;
    }
}

/// Writes `taken` as one batch, up to the first that is refused whole (its size), and answers
/// each. False when the stream must end: an answer was an error or the client is gone.
async fn answer_together(
    service: &IngestService,
    tenant: Tenant,
    taken: Vec<pb::RecordEventsRequest>,
    answers: &mpsc::Sender<Answer>,
) -> bool {
    let now = store::now();
    let mut ids = Vec::with_capacity(taken.len());
    let mut lengths = Vec::with_capacity(taken.len());
    let mut inputs = Vec::new();
    let mut refused = None;
    for pb::RecordEventsRequest { batch_id, records } in taken {
        match batch_inputs(records, now) {
            Ok(batch) => {
                ids.push(batch_id);
                lengths.push(batch.len());
                inputs.extend(batch);
            }
            Err(status) => {
                refused = Some(status);
                break;
            }
        }
    }
    if !inputs.is_empty() {
        let mut outcomes = match service.record(tenant, inputs).await {
            Ok(outcomes) => outcomes.into_iter(),
            Err(error) => {
                let _ = answers.send(Err(error.into())).await;
                return false;
            }
        };
        for (batch_id, length) in ids.into_iter().zip(lengths) {
            let results = record_results(outcomes.by_ref().take(length));
            let answer = pb::RecordEventsResponse { batch_id, results };
            if answers.send(Ok(answer)).await.is_err() {
                return false;
            }
        }
    }
    match refused {
        Some(status) => {
            let _ = answers.send(Err(status)).await;
            false
        }
        None => true,
    }
}
