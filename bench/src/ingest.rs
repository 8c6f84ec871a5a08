//! The ingest load generator: synthetic events over K concurrent `RecordEvents` streams, several
//! batches in flight on each (sent without waiting; the server answers in order), the latency of
//! every batch from its sending to its answer, and every result checked.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};
use tally_client::pb::{self, ingest_client::IngestClient};
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{
    Request,
    metadata::{Ascii, MetadataValue},
    transport::{Channel, Endpoint},
};

use super::{report::Report, synthetic::Workload};

/// How the events are sent.
#[derive(Clone, Copy, Debug)]
pub struct StreamSettings {
    /// Concurrent streams, each on its own connection.
    pub streams: usize,
    /// Records per batch (1 to 100).
    pub batch: usize,
    /// Batches sent and not answered yet, per stream.
    pub in_flight: usize,
}

/// The largest answer accepted: a batch of 100 multi-service results is far below it.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// What one stream saw.
struct StreamOutcome {
    latencies: Vec<Duration>,
    statuses: BTreeMap<String, u64>,
}

/// Streams the workload's events to the server at `endpoint` with the secret key `key`, checks
/// every result, and reports the throughput and batch latencies. Fails on the first record that
/// was not stored, or was a duplicate (the keys of an earlier run), or on a broken stream.
pub async fn stream_events(
    endpoint: &Endpoint,
    key: &str,
    workload: &Workload,
    settings: StreamSettings,
) -> anyhow::Result<Report> {
    ensure!(
        (1..=100).contains(&settings.batch),
        "--batch must be 1 to 100, got {}",
        settings.batch
    );
    ensure!(settings.streams >= 1, "--streams must be at least 1");
    ensure!(settings.in_flight >= 1, "--in-flight must be at least 1");
    let authorization: MetadataValue<Ascii> = format!("Bearer {key}")
        .parse()
        .context("the key is not printable ASCII")?;

    let per_stream = make_batches(workload, settings).await?;
    let batches: u64 = per_stream.iter().map(|b| b.len() as u64).sum();
    let mut channels = Vec::with_capacity(settings.streams);
    for _ in 0..settings.streams {
        channels.push(
            endpoint
                .connect()
                .await
                .with_context(|| format!("cannot connect to {}", endpoint.uri()))?,
        );
    }

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (channel, batches) in channels.into_iter().zip(per_stream) {
        let authorization = authorization.clone();
        tasks.spawn(run_stream(
            channel,
            authorization,
            batches,
            settings,
            workload.events,
        ));
    }
    let mut latencies = Vec::with_capacity(batches as usize);
    let mut statuses = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        let outcome = joined.context("a stream task panicked")??;
        latencies.extend(outcome.latencies);
        for (status, count) in outcome.statuses {
            *statuses.entry(status).or_default() += count;
        }
    }
    let wall = started.elapsed();

    let mut report = Report::new("ingest", "grpc", workload.events, batches, wall, latencies);
    report.streams = settings.streams;
    report.batch_size = settings.batch;
    report.counts = statuses;
    Ok(report)
}

/// Every stream's batches, made before the clock starts: batch `b` holds events `b * batch ..` and
/// goes to stream `b % streams`.
async fn make_batches(
    workload: &Workload,
    settings: StreamSettings,
) -> anyhow::Result<Vec<Vec<pb::RecordEventsRequest>>> {
    let batch = settings.batch as u64;
    let total_batches = workload.events.div_ceil(batch);
    let mut makers = tokio::task::JoinSet::new();
    for stream in 0..settings.streams as u64 {
        let workload = workload.clone();
        let streams = settings.streams as u64;
        makers.spawn_blocking(move || {
            let batches = (stream..total_batches)
                .step_by(streams as usize)
                .map(|b| pb::RecordEventsRequest {
                    batch_id: b.to_string(),
                    records: (b * batch..((b + 1) * batch).min(workload.events))
                        .map(|number| workload.event(number).record(&workload))
                        .collect(),
                })
                .collect::<Vec<_>>();
            (stream, batches)
        });
    }
    let mut per_stream = vec![Vec::new(); settings.streams];
    while let Some(made) = makers.join_next().await {
        let (stream, batches) = made.context("making batches panicked")?;
        per_stream[stream as usize] = batches;
    }
    Ok(per_stream)
}

/// Sends one stream's batches, at most `in_flight` unanswered, and checks each answer.
async fn run_stream(
    channel: Channel,
    authorization: MetadataValue<Ascii>,
    batches: Vec<pb::RecordEventsRequest>,
    settings: StreamSettings,
    events: u64,
) -> anyhow::Result<StreamOutcome> {
    let mut client = IngestClient::with_interceptor(channel, move |mut request: Request<()>| {
        request
            .metadata_mut()
            .insert("authorization", authorization.clone());
        Ok(request)
    })
    .max_decoding_message_size(MAX_ANSWER_BYTES);

    let expected: Vec<(String, usize)> = batches
        .iter()
        .map(|batch| (batch.batch_id.clone(), batch.records.len()))
        .collect();
    let window = Arc::new(Semaphore::new(settings.in_flight));
    let (requests, outgoing) = mpsc::channel(settings.in_flight);
    let (sent_times, mut send_times) = mpsc::unbounded_channel();
    let sender_window = window.clone();
    // Dropping the set (on an error) stops the sender.
    let mut sender = tokio::task::JoinSet::new();
    sender.spawn(async move {
        for batch in batches {
            let Ok(permit) = sender_window.acquire().await else {
                return;
            };
            permit.forget();
            // The time goes first, so that the answer always finds it.
            if sent_times.send(Instant::now()).is_err() || requests.send(batch).await.is_err() {
                return;
            }
        }
    });

    let mut answers = client
        .record_events(ReceiverStream::new(outgoing))
        .await
        .context("RecordEvents refused the stream")?
        .into_inner();
    let mut outcome = StreamOutcome {
        latencies: Vec::with_capacity(expected.len()),
        statuses: BTreeMap::new(),
    };
    for (batch_id, records) in &expected {
        let answer = answers
            .message()
            .await
            .with_context(|| format!("the stream failed before the answer to batch {batch_id}"))?
            .with_context(|| format!("the stream ended before the answer to batch {batch_id}"))?;
        let sent = send_times
            .recv()
            .await
            .context("a batch was answered before it was sent")?;
        outcome.latencies.push(sent.elapsed());
        window.add_permits(1);
        check_answer(
            &answer,
            batch_id,
            *records,
            settings.batch,
            events,
            &mut outcome,
        )?;
    }
    while let Some(sent) = sender.join_next().await {
        sent.context("the sending task panicked")?;
    }
    Ok(outcome)
}

/// Fails unless the answer is the expected batch's, with one stored, non-duplicate result per
/// record in order.
fn check_answer(
    answer: &pb::RecordEventsResponse,
    batch_id: &str,
    records: usize,
    batch_size: usize,
    events: u64,
    outcome: &mut StreamOutcome,
) -> anyhow::Result<()> {
    ensure!(
        answer.batch_id == batch_id,
        "answers out of order: expected batch {batch_id}, got {:?}",
        answer.batch_id
    );
    ensure!(
        answer.results.len() == records,
        "batch {batch_id}: {} results for {records} records",
        answer.results.len()
    );
    let first_event = batch_id.parse::<u64>().unwrap_or(0) * batch_size as u64;
    for (position, result) in answer.results.iter().enumerate() {
        let status = pb::EventStatus::try_from(result.status).unwrap_or_default();
        let event = first_event + position as u64;
        let failed = !result.stored
            || matches!(
                status,
                pb::EventStatus::InternalError
                    | pb::EventStatus::ValidationError
                    | pb::EventStatus::Unspecified
            );
        if failed || result.index as usize != position {
            bail!(
                "event {event} of {events} (batch {batch_id}, record {position}) not stored: \
                 {} stored={} index={}: {}",
                status.as_str_name(),
                result.stored,
                result.index,
                result.error
            );
        }
        if result.duplicate {
            bail!(
                "event {event} (batch {batch_id}, record {position}) was a duplicate of {}: its \
                 idempotency key was sent before; pass another --tag",
                result.event_id
            );
        }
        *outcome
            .statuses
            .entry(status.as_str_name().to_owned())
            .or_default() += 1;
    }
    Ok(())
}
