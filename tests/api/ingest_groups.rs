//! Concurrent batches of one project, which the server writes together (group commit): each is
//! answered as if written alone (its records in order, its invalid record refused without harm to
//! the rest), a record sent in two concurrent batches is written once, runs started by several
//! batches at once are one run each, and the running totals agree with the events. Batches sent at
//! once on one stream (which the server writes together) are answered as if each had waited for
//! the one before.

use std::collections::HashMap;

use tally::pb::{
    self, CustomerAttribution, EventRecord, GetRunRequest, RecordBatchRequest, RecordEventsRequest,
    ServiceUsage, event_record::Usage,
};
use tokio_stream::StreamExt;

use crate::helpers::{Backend, spawn_app};

/// Batches sent at once; batch `k + DISTINCT` repeats batch `k`.
const BATCHES: usize = 12;
const DISTINCT: usize = 6;
const RECORDS: usize = 30;
/// The record of every batch that names no customer (and no run): refused.
const INVALID: usize = 7;
const RUNS: usize = 3;

/// Record `n` of batch `k`: in run `run-{n % RUNS}` of customer `c{n % RUNS}`.
fn record(k: usize, n: usize) -> EventRecord {
    let base = k % DISTINCT;
    let run = n % RUNS;
    let named = n != INVALID;
    EventRecord {
        idempotency_key: format!("group-{base}-{n}"),
        customer: named.then(|| CustomerAttribution {
            id: format!("c{run}"),
            ..Default::default()
        }),
        agent_code: "support_reply".to_owned(),
        run_id: if named {
            format!("run-{run}")
        } else {
            String::new()
        },
        usage: Some(Usage::Service(ServiceUsage {
            provider: "openai".to_owned(),
            model: "gpt-4o-mini".to_owned(),
            input_tokens: Some((1_000 * base + n) as u64 + 1),
            output_tokens: Some(10),
            ..Default::default()
        })),
        ..Default::default()
    }
}

async fn concurrent_batches_are_each_answered_as_if_alone(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut sent = Vec::new();
    for k in 0..BATCHES {
        let mut client = app.ingest(&app.secret_key);
        sent.push(tokio::spawn(async move {
            let records = (0..RECORDS).map(|n| record(k, n)).collect();
            client
                .record_batch(RecordBatchRequest { records })
                .await
                .expect("batch")
                .into_inner()
                .results
        }));
    }
    let mut answers = Vec::new();
    for batch in sent {
        answers.push(batch.await.expect("task"));
    }

    for (k, results) in answers.iter().enumerate() {
        assert_eq!(results.len(), RECORDS, "batch {k}: one result per record");
        for (n, result) in results.iter().enumerate() {
            assert_eq!(result.index as usize, n, "batch {k}: results in order");
            if n == INVALID {
                assert_eq!(result.status(), pb::EventStatus::ValidationError);
                assert!(!result.stored, "batch {k}: {result:?}");
                assert!(result.error.contains("customer.id"), "{}", result.error);
            } else {
                assert_eq!(result.status(), pb::EventStatus::Processed, "{result:?}");
                assert!(result.stored, "batch {k} record {n}: {result:?}");
            }
        }
    }
    // Batch k and batch k + DISTINCT carry the same records: one copy of each is the event, the
    // other its duplicate, with the same id and cost.
    for k in 0..DISTINCT {
        let (first, again) = (&answers[k], &answers[k + DISTINCT]);
        for n in (0..RECORDS).filter(|n| *n != INVALID) {
            let (a, b) = (&first[n], &again[n]);
            assert_eq!(a.event_id, b.event_id, "batch {k} record {n}");
            assert_eq!(a.total_cost_usd, b.total_cost_usd);
            assert!(
                a.duplicate != b.duplicate,
                "exactly one copy of batch {k} record {n} is a duplicate: {a:?} {b:?}"
            );
        }
    }
    let valid_per_batch = RECORDS - 1;
    assert_eq!(app.count_events().await, DISTINCT * valid_per_batch);

    let mut per_run: HashMap<usize, u64> = HashMap::new();
    for n in (0..RECORDS).filter(|n| *n != INVALID) {
        *per_run.entry(n % RUNS).or_default() += DISTINCT as u64;
    }
    for (run, events) in per_run {
        let stored = app
            .runs(&app.secret_key)
            .get_run(GetRunRequest {
                run_id: format!("run-{run}"),
            })
            .await
            .expect("run started by the batches")
            .into_inner()
            .run
            .expect("run");
        assert_eq!(stored.event_count, events, "run-{run}");
        assert_eq!(stored.customer.map(|c| c.id), Some(format!("c{run}")));
    }
    app.assert_totals_match_events().await;
}

/// Batch `b` of the stream test: batch 0 starts run `stream-run`, the others continue it naming
/// only the run; batch 3 repeats batch 1.
fn stream_batch(b: usize) -> RecordEventsRequest {
    let keys = if b == 3 { 1 } else { b };
    RecordEventsRequest {
        batch_id: format!("b{b}"),
        records: (0..10)
            .map(|n| EventRecord {
                idempotency_key: format!("stream-{keys}-{n}"),
                customer: (b == 0).then(|| CustomerAttribution {
                    id: "stream-customer".to_owned(),
                    ..Default::default()
                }),
                agent_code: if b == 0 { "support_reply" } else { "" }.to_owned(),
                run_id: "stream-run".to_owned(),
                usage: Some(Usage::Service(ServiceUsage {
                    provider: "openai".to_owned(),
                    model: "gpt-4o-mini".to_owned(),
                    input_tokens: Some((100 * keys + n + 1) as u64),
                    output_tokens: Some(10),
                    ..Default::default()
                })),
                ..Default::default()
            })
            .collect(),
    }
}

async fn batches_sent_at_once_on_a_stream_are_written_in_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let answers: Vec<pb::RecordEventsResponse> = app
        .ingest(&app.secret_key)
        .record_events(tokio_stream::iter((0..6).map(stream_batch)))
        .await
        .expect("stream")
        .into_inner()
        .map(|answer| answer.expect("batch answered"))
        .collect()
        .await;
    let ids: Vec<&str> = answers.iter().map(|a| a.batch_id.as_str()).collect();
    assert_eq!(ids, ["b0", "b1", "b2", "b3", "b4", "b5"]);
    for answer in &answers {
        for result in &answer.results {
            assert!(
                result.stored,
                "{}: the run batch 0 started is known: {result:?}",
                answer.batch_id
            );
            assert_eq!(result.duplicate, answer.batch_id == "b3", "{result:?}");
        }
    }
    for (again, first) in answers[3].results.iter().zip(&answers[1].results) {
        assert_eq!(again.event_id, first.event_id);
    }
    let run = app
        .runs(&app.secret_key)
        .get_run(GetRunRequest {
            run_id: "stream-run".to_owned(),
        })
        .await
        .expect("run")
        .into_inner()
        .run
        .expect("run");
    assert_eq!(run.event_count, 50, "five distinct batches of ten");
    app.assert_totals_match_events().await;
}

crate::on_both_databases!(
    concurrent_batches_are_each_answered_as_if_alone,
    batches_sent_at_once_on_a_stream_are_written_in_order,
);
