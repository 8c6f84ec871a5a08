//! Fire-and-forget event recording: [`Recorder::record`] puts an event in a bounded buffer and
//! returns at once; a background task sends the buffer in batches with `RecordBatch`, and retries
//! what did not get through, with the same idempotency keys, so that a retry can never count an
//! event twice.
//!
//! What is retried: a whole batch that failed with `UNAVAILABLE` or a broken connection, and the
//! records of an answered batch that came back neither stored nor refused (`INTERNAL_ERROR`: the
//! server stored nothing and asks for the record again). What is never retried: a record that came
//! back `stored` (a duplicate included), one refused as `VALIDATION_ERROR` (sending it again cannot
//! help; it is counted and logged), and a batch refused as a whole for another reason (a bad key,
//! say: counted as dropped and logged).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tonic::{Code, Status};

use crate::{
    client::Client,
    pb::{self, EventRecord, EventStatus},
};

/// How a [`Recorder`] buffers, batches and retries.
#[derive(Clone, Debug)]
pub struct RecorderConfig {
    /// Events held before [`Recorder::record`] refuses more (default 1,000).
    pub capacity: usize,
    /// Events per `RecordBatch` call, 1 to 100 (default 100).
    pub batch_size: usize,
    /// How long a partial batch waits for more events before it is sent (default 200 ms).
    pub linger: Duration,
    /// Attempts per batch before its events are dropped (default 5).
    pub max_attempts: u32,
    /// Wait before the first retry; it doubles on each retry (default 10 s: 10, 20, 40, …).
    pub first_backoff: Duration,
    /// The longest wait between attempts (default 60 s).
    pub max_backoff: Duration,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        Self {
            capacity: 1_000,
            batch_size: 100,
            linger: Duration::from_millis(200),
            max_attempts: 5,
            first_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(60),
        }
    }
}

/// What a recorder has done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecorderStats {
    /// Events accepted by [`Recorder::record`].
    pub recorded: u64,
    /// Events the server confirmed as stored (duplicates of stored events included).
    pub stored: u64,
    /// Of those, events the server already had (a retry of an event stored before).
    pub duplicates: u64,
    /// Events refused as invalid; never retried.
    pub rejected: u64,
    /// Events given up on after the last attempt, or refused with their whole batch.
    pub dropped: u64,
    /// Attempts beyond the first, over all batches.
    pub retries: u64,
}

/// Why [`Recorder::record`] did not take an event; the event is handed back.
#[derive(Debug)]
pub enum RecordError {
    /// The buffer is full (the server has been unreachable for a while): the caller decides whether
    /// to drop the event, keep it, or slow down.
    Full(Box<EventRecord>),
    /// The recorder has shut down.
    Closed(Box<EventRecord>),
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Full(_) => write!(f, "the recorder's buffer is full"),
            Self::Closed(_) => write!(f, "the recorder has shut down"),
        }
    }
}

impl std::error::Error for RecordError {}

enum Item {
    Record(Box<EventRecord>),
    Flush(oneshot::Sender<()>),
}

#[derive(Default)]
struct Counters {
    recorded: AtomicU64,
    stored: AtomicU64,
    duplicates: AtomicU64,
    rejected: AtomicU64,
    dropped: AtomicU64,
    retries: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, count: u64) {
        counter.fetch_add(count, Ordering::Relaxed);
    }

    fn snapshot(&self) -> RecorderStats {
        RecorderStats {
            recorded: self.recorded.load(Ordering::Relaxed),
            stored: self.stored.load(Ordering::Relaxed),
            duplicates: self.duplicates.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }
}

/// Records events in the background; see the module documentation.
pub struct Recorder {
    sender: mpsc::Sender<Item>,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl Recorder {
    /// Starts the background task on the current Tokio runtime.
    pub fn new(client: Client, config: RecorderConfig) -> Self {
        let config = RecorderConfig {
            capacity: config.capacity.max(1),
            batch_size: config.batch_size.clamp(1, 100),
            max_attempts: config.max_attempts.max(1),
            ..config
        };
        let (sender, receiver) = mpsc::channel(config.capacity);
        let counters = Arc::new(Counters::default());
        let sending = Sending {
            client,
            config,
            counters: counters.clone(),
        };
        let task = tokio::spawn(sending.run(receiver));
        Self {
            sender,
            counters,
            task,
        }
    }

    /// Queues an event and returns its idempotency key (set to a new UUIDv7 when the event has
    /// none). Never waits: a full buffer hands the event back.
    pub fn record(&self, mut record: EventRecord) -> Result<String, RecordError> {
        if record.idempotency_key.is_empty() {
            record.idempotency_key = uuid::Uuid::now_v7().to_string();
        }
        let key = record.idempotency_key.clone();
        match self.sender.try_send(Item::Record(Box::new(record))) {
            Ok(()) => {
                Counters::add(&self.counters.recorded, 1);
                Ok(key)
            }
            Err(mpsc::error::TrySendError::Full(Item::Record(record))) => {
                Err(RecordError::Full(record))
            }
            Err(mpsc::error::TrySendError::Closed(Item::Record(record))) => {
                Err(RecordError::Closed(record))
            }
            Err(_) => unreachable!("only records are sent here"),
        }
    }

    /// Waits until every event recorded before the call has been sent and answered (stored,
    /// rejected or dropped).
    pub async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.sender.send(Item::Flush(done)).await.is_ok() {
            let _ = flushed.await;
        }
    }

    /// What the recorder has done so far.
    pub fn stats(&self) -> RecorderStats {
        self.counters.snapshot()
    }

    /// Sends everything still buffered (retrying as configured), stops the task and returns the
    /// final figures.
    pub async fn shutdown(self) -> RecorderStats {
        let Self {
            sender,
            counters,
            task,
        } = self;
        drop(sender);
        if let Err(error) = task.await {
            tracing::error!(%error, "the recorder's task failed");
        }
        counters.snapshot()
    }
}

/// The background task's state.
struct Sending {
    client: Client,
    config: RecorderConfig,
    counters: Arc<Counters>,
}

impl Sending {
    async fn run(self, mut receiver: mpsc::Receiver<Item>) {
        let mut batch: Vec<EventRecord> = Vec::with_capacity(self.config.batch_size);
        loop {
            let item = if batch.is_empty() {
                receiver.recv().await
            } else {
                match tokio::time::timeout(self.config.linger, receiver.recv()).await {
                    Ok(item) => item,
                    Err(_) => {
                        self.send(std::mem::take(&mut batch)).await;
                        continue;
                    }
                }
            };
            match item {
                Some(Item::Record(record)) => {
                    batch.push(*record);
                    if batch.len() >= self.config.batch_size {
                        self.send(std::mem::take(&mut batch)).await;
                    }
                }
                Some(Item::Flush(done)) => {
                    if !batch.is_empty() {
                        self.send(std::mem::take(&mut batch)).await;
                    }
                    let _ = done.send(());
                }
                None => {
                    if !batch.is_empty() {
                        self.send(batch).await;
                    }
                    return;
                }
            }
        }
    }

    /// Sends one batch until every event is stored, rejected, or out of attempts.
    async fn send(&self, mut records: Vec<EventRecord>) {
        let mut backoff = self.config.first_backoff;
        for attempt in 1..=self.config.max_attempts {
            if attempt > 1 {
                Counters::add(&self.counters.retries, 1);
            }
            let request = pb::RecordBatchRequest {
                records: records.clone(),
            };
            match self.client.ingest().record_batch(request).await {
                Ok(answer) => {
                    records = self.settle(records, answer.into_inner().results);
                    if records.is_empty() {
                        return;
                    }
                }
                Err(status) if retryable(&status) => {
                    tracing::warn!(code = ?status.code(), message = status.message(), events = records.len(), attempt, "a batch did not get through; it will be sent again");
                }
                Err(status) => {
                    tracing::error!(code = ?status.code(), message = status.message(), events = records.len(), "a batch was refused; its events are dropped");
                    Counters::add(&self.counters.dropped, records.len() as u64);
                    return;
                }
            }
            if attempt < self.config.max_attempts {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(self.config.max_backoff);
            }
        }
        tracing::error!(
            events = records.len(),
            attempts = self.config.max_attempts,
            "events dropped after the last attempt"
        );
        Counters::add(&self.counters.dropped, records.len() as u64);
    }

    /// Counts the answered records and returns those to send again.
    fn settle(
        &self,
        records: Vec<EventRecord>,
        results: Vec<pb::RecordResult>,
    ) -> Vec<EventRecord> {
        let mut again = Vec::new();
        for (index, record) in records.into_iter().enumerate() {
            let Some(result) = results.iter().find(|result| result.index as usize == index) else {
                again.push(record);
                continue;
            };
            if result.stored {
                Counters::add(&self.counters.stored, 1);
                if result.duplicate {
                    Counters::add(&self.counters.duplicates, 1);
                }
            } else if result.status == EventStatus::ValidationError as i32 {
                tracing::error!(
                    key = record.idempotency_key,
                    error = result.error,
                    "an event was refused as invalid"
                );
                Counters::add(&self.counters.rejected, 1);
            } else {
                again.push(record);
            }
        }
        again
    }
}

/// `UNAVAILABLE`, or a status made by the client's transport rather than sent by the server (the
/// connection broke mid-call: it has an error source, which a server's status never has).
fn retryable(status: &Status) -> bool {
    status.code() == Code::Unavailable
        || (matches!(
            status.code(),
            Code::Unknown | Code::Cancelled | Code::Internal
        ) && std::error::Error::source(status).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transport_failures_and_unavailable_are_retried() {
        assert!(retryable(&Status::unavailable("down")));
        assert!(!retryable(&Status::invalid_argument("bad batch")));
        assert!(!retryable(&Status::unauthenticated("bad key")));
        assert!(!retryable(&Status::unknown("sent by a server")));
        let broken = Status::from_error(Box::new(std::io::Error::new(
            std::io::ErrorKind::BrokenPipe,
            "connection reset",
        )));
        assert!(retryable(&broken), "{broken:?}");
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = RecorderConfig::default();
        assert_eq!(config.capacity, 1_000);
        assert_eq!(config.max_attempts, 5);
        assert_eq!(config.first_backoff, Duration::from_secs(10));
        assert_eq!(config.max_backoff, Duration::from_secs(60));
    }
}
