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

use backon::{BackoffBuilder, ExponentialBuilder, Retryable};
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
    /// Wait before the first retry; it doubles on each retry (default 10 s: 10, 20, 40, …), and
    /// each wait is lengthened by up to as much again at random, so that recorders cut off together
    /// do not all come back at once.
    pub first_backoff: Duration,
    /// The longest wait between attempts, jitter included (default 60 s).
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

    /// Sends one batch until every event is stored, rejected, or out of attempts; each attempt
    /// sends only what the answers so far left unsettled.
    async fn send(&self, records: Vec<EventRecord>) {
        let unsettled = std::sync::Mutex::new(records);
        let unsettled = &unsettled;
        let attempt = move || async move {
            let records = take(unsettled);
            let request = pb::RecordBatchRequest {
                records: records.clone(),
            };
            match self.client.ingest().record_batch(request).await {
                Ok(answer) => {
                    let again = self.settle(records, answer.into_inner().results);
                    let left = again.len();
                    put_back(unsettled, again);
                    if left == 0 {
                        Ok(())
                    } else {
                        Err(Unsettled::Unanswered)
                    }
                }
                Err(status) => {
                    put_back(unsettled, records);
                    if retryable(&status) {
                        Err(Unsettled::Unreached(status))
                    } else {
                        Err(Unsettled::Refused(status))
                    }
                }
            }
        };
        let outcome = attempt
            .retry(backoff(&self.config))
            .when(|unsettled| !matches!(unsettled, Unsettled::Refused(_)))
            .notify(|unsettled, pause| {
                Counters::add(&self.counters.retries, 1);
                if let Unsettled::Unreached(status) = unsettled {
                    tracing::warn!(code = ?status.code(), message = status.message(), ?pause, "a batch did not get through; it will be sent again");
                }
            })
            .await;
        let dropped = take(unsettled).len();
        match outcome {
            Ok(()) => return,
            Err(Unsettled::Refused(status)) => {
                tracing::error!(code = ?status.code(), message = status.message(), events = dropped, "a batch was refused; its events are dropped");
            }
            Err(Unsettled::Unanswered | Unsettled::Unreached(_)) => {
                tracing::error!(
                    events = dropped,
                    attempts = self.config.max_attempts,
                    "events dropped after the last attempt"
                );
            }
        }
        Counters::add(&self.counters.dropped, dropped as u64);
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

/// The waits between a batch's attempts: doubling, jittered, at most `max_backoff` each.
fn backoff(config: &RecorderConfig) -> impl BackoffBuilder + use<> {
    let longest = config.max_backoff;
    ExponentialBuilder::new()
        .with_min_delay(config.first_backoff)
        .with_max_delay(longest)
        .with_max_times(config.max_attempts.saturating_sub(1) as usize)
        .with_jitter()
        .build()
        .map(move |pause| pause.min(longest))
}

/// Why an attempt left events of its batch unsettled.
enum Unsettled {
    /// The server answered, and some records came back neither stored nor refused.
    Unanswered,
    /// The batch did not get through (`UNAVAILABLE`, a broken connection): sent again.
    Unreached(Status),
    /// The server refused the batch as a whole (a bad key, say): never sent again.
    Refused(Status),
}

/// The records left to send, leaving the slot empty.
fn take(unsettled: &std::sync::Mutex<Vec<EventRecord>>) -> Vec<EventRecord> {
    std::mem::take(&mut *unsettled.lock().unwrap_or_else(|e| e.into_inner()))
}

fn put_back(unsettled: &std::sync::Mutex<Vec<EventRecord>>, records: Vec<EventRecord>) {
    *unsettled.lock().unwrap_or_else(|e| e.into_inner()) = records;
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
    fn waits_double_with_jitter_and_stay_under_the_longest() {
        let config = RecorderConfig::default();
        for _ in 0..100 {
            let waits: Vec<Duration> = backoff(&config).build().collect();
            assert_eq!(waits.len(), 4, "a wait before each attempt after the first");
            assert!(
                waits[0] >= Duration::from_secs(10) && waits[0] < Duration::from_secs(20),
                "{waits:?}"
            );
            assert!(
                waits[1] >= Duration::from_secs(20) && waits[1] < Duration::from_secs(40),
                "{waits:?}"
            );
            assert!(
                waits.iter().all(|wait| *wait <= config.max_backoff),
                "{waits:?}"
            );
        }
        let firsts: std::collections::HashSet<Duration> = (0..20)
            .filter_map(|_| backoff(&config).build().next())
            .collect();
        assert!(firsts.len() > 1, "waits are jittered");
        let once = RecorderConfig {
            max_attempts: 1,
            ..config
        };
        assert_eq!(backoff(&once).build().count(), 0);
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
