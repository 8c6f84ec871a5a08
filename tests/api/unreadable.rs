//! Requests that cannot be read: a stream ends with the right error after answering what came before
//! (never OK with the rest silently dropped), and a body that is not a message, or whose metadata
//! nests too deep, is `INVALID_ARGUMENT` (never `INTERNAL`) on every method.

use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use prost_types::{Struct, Value, value::Kind};
use tally::pb::{
    self, CompleteRunRequest, EventRecord, Outcome, RecordBatchRequest, RecordEventRequest,
    RecordEventsRequest, RecordEventsResponse, RecordOutcomeRequest, StartRunRequest,
};
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_types::StatusExt;

use crate::{
    bad_input::{record, start_run},
    helpers::{Backend, TestApp, spawn_app, violated_fields},
    raw_grpc::{self, frame, frame_with, framed},
};

fn batch(id: &str, records: Vec<EventRecord>) -> RecordEventsRequest {
    RecordEventsRequest {
        batch_id: id.to_owned(),
        records,
    }
}

/// Metadata of `levels` objects, each inside the one before: `{"a": {"a": … {}}}`.
fn nested(levels: usize) -> Struct {
    (1..levels).fold(Struct::default(), |inner, _| Struct {
        fields: [(
            "a".to_owned(),
            Value {
                kind: Some(Kind::StructValue(inner)),
            },
        )]
        .into(),
    })
}

fn with_metadata(key: &str, metadata: Struct) -> EventRecord {
    EventRecord {
        metadata: Some(metadata),
        ..record(key)
    }
}

/// The idempotency keys of the stored events, read back with `ListEvents`.
async fn stored_keys(app: &TestApp) -> Vec<String> {
    let page = app
        .ingest(&app.secret_key)
        .list_events(pb::ListEventsRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("list events")
        .into_inner();
    let mut keys: Vec<String> = page.events.into_iter().map(|e| e.idempotency_key).collect();
    keys.sort();
    keys
}

/// Sends batch 1 (two records), `bad`, then batch 3 on one typed stream; checks that batch 1 is
/// answered, then the stream ends with `code`, and only batch 1 is stored.
async fn typed_stream_ends_after_batch_one(
    app: &TestApp,
    case: &str,
    bad: RecordEventsRequest,
    code: Code,
) {
    let first = batch(
        "1",
        vec![record(&format!("{case}-1a")), record(&format!("{case}-1b"))],
    );
    let third = batch("3", vec![record(&format!("{case}-3"))]);
    let mut answers = app
        .ingest(&app.secret_key)
        .record_events(tokio_stream::iter([first, bad, third]))
        .await
        .expect("stream opens")
        .into_inner();
    let answer = answers
        .next()
        .await
        .expect("an answer to batch 1")
        .unwrap_or_else(|status| panic!("{case}: batch 1 refused: {status:?}"));
    assert_eq!(answer.batch_id, "1", "{case}");
    assert!(
        answer.results.iter().all(|r| r.stored),
        "{case}: {answer:?}"
    );
    let status = answers
        .next()
        .await
        .unwrap_or_else(|| panic!("{case}: the stream ended OK after an unreadable message"))
        .expect_err("the unreadable message ends the stream");
    assert_eq!(status.code(), code, "{case}: {status:?}");
    assert!(
        answers.next().await.is_none(),
        "{case}: nothing after the error"
    );
}

async fn a_stream_ends_with_the_error_of_an_unreadable_message(backend: Backend) {
    let app = spawn_app(backend).await;

    // 4.8 MiB: over the 4 MiB a message may have.
    let blob = Struct {
        fields: [(
            "blob".to_owned(),
            Value {
                kind: Some(Kind::StringValue("x".repeat(4_800 * 1024))),
            },
        )]
        .into(),
    };
    let oversized = batch("2", vec![with_metadata("big-2", blob)]);
    typed_stream_ends_after_batch_one(&app, "big", oversized, Code::ResourceExhausted).await;

    // Metadata 64 objects deep: too deep for the protobuf decoder to read at all.
    let deep = batch("2", vec![with_metadata("deep-2", nested(64))]);
    typed_stream_ends_after_batch_one(&app, "deep", deep, Code::InvalidArgument).await;

    // 3 garbage bytes as batch 2, and a batch 2 whose frame announces more bytes than the body
    // holds: sent as raw frames, as a broken client would.
    for (case, bad) in [
        ("garbage", frame(&[0xff, 0xff, 0xff])),
        (
            "cut",
            frame_with(0, 1_000, &batch("2", vec![record("cut-2")]).encode_to_vec()),
        ),
    ] {
        let chunks: Vec<Bytes> = vec![
            framed(&batch(
                "1",
                vec![record(&format!("{case}-1a")), record(&format!("{case}-1b"))],
            )),
            bad,
        ];
        // Batch 3 after the garbage (the cut frame swallows whatever follows it).
        let chunks = if case == "garbage" {
            [chunks, vec![framed(&batch("3", vec![record("garbage-3")]))]].concat()
        } else {
            chunks
        };
        let answer = raw_grpc::call(
            &app,
            "/tally.v1.Ingest/RecordEvents",
            &app.secret_key,
            chunks,
            Duration::from_secs(30),
        )
        .await
        .unwrap_or_else(|error| panic!("{case}: no answer: {error:?}"));
        assert_eq!(answer.code(), Code::InvalidArgument, "{case}: {answer:?}");
        assert_eq!(
            answer.messages.len(),
            1,
            "{case}: batch 1 answered, nothing more"
        );
        let first = RecordEventsResponse::decode(answer.messages[0].clone()).expect("a response");
        assert_eq!(first.batch_id, "1");
        assert_eq!(first.results.len(), 2);
        assert!(first.results.iter().all(|r| r.stored), "{case}: {first:?}");
    }

    let mut expected: Vec<String> = ["big", "deep", "garbage", "cut"]
        .iter()
        .flat_map(|case| [format!("{case}-1a"), format!("{case}-1b")])
        .collect();
    expected.sort();
    assert_eq!(
        stored_keys(&app).await,
        expected,
        "batch 1 of each stream stored, nothing of batches 2 and 3"
    );
    app.assert_totals_match_events().await;
}

async fn bodies_that_are_not_messages_are_invalid_arguments(backend: Backend) {
    let app = spawn_app(backend).await;
    let valid = RecordEventRequest {
        record: Some(record("never-stored")),
    }
    .encode_to_vec();
    let mut oversized = vec![0_u8];
    oversized.extend((4 * 1024 * 1024 + 1_u32).to_be_bytes());
    let cases: Vec<(&str, Vec<Bytes>, Code)> = vec![
        (
            "3 garbage bytes",
            vec![frame(&[0xff, 0xff, 0xff])],
            Code::InvalidArgument,
        ),
        (
            "a cut message",
            vec![frame(&valid[..valid.len() / 2])],
            Code::InvalidArgument,
        ),
        (
            "a body cut short",
            vec![frame_with(0, 500, &valid)],
            Code::InvalidArgument,
        ),
        (
            "a cut header",
            vec![Bytes::from_static(&[0, 0, 0])],
            Code::InvalidArgument,
        ),
        ("no message", vec![], Code::InvalidArgument),
        (
            "two messages",
            vec![frame(&valid), frame(&valid)],
            Code::InvalidArgument,
        ),
        (
            "compressed without encoding",
            vec![frame_with(1, valid.len() as u32, &valid)],
            Code::InvalidArgument,
        ),
        (
            "flag 9",
            vec![frame_with(9, valid.len() as u32, &valid)],
            Code::InvalidArgument,
        ),
        (
            "over 4 MiB",
            vec![Bytes::from(oversized)],
            Code::ResourceExhausted,
        ),
    ];
    for path in [
        "/tally.v1.Ingest/RecordEvent",
        "/tally.v1.Runs/GetRun",
        "/tally.v1.Budgets/CreateBudget",
        "/tally.v1.Reports/ExportEvents",
    ] {
        for (case, chunks, code) in &cases {
            let answer = raw_grpc::call(
                &app,
                path,
                &app.secret_key,
                chunks.clone(),
                Duration::from_secs(30),
            )
            .await
            .unwrap_or_else(|error| panic!("{path} {case}: no answer: {error:?}"));
            assert_eq!(answer.code(), *code, "{path} {case}: {:?}", answer.status);
            let reason = answer
                .status
                .get_error_details()
                .error_info()
                .map(|info| info.reason.clone());
            assert!(
                matches!(
                    reason.as_deref(),
                    Some("MALFORMED_MESSAGE" | "MESSAGE_TOO_LARGE")
                ),
                "{path} {case}: {reason:?}"
            );
        }
    }
    assert_eq!(app.count_events().await, 0);
}

async fn metadata_nested_too_deep_is_refused_on_every_method(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut ingest = app.ingest(&app.secret_key);
    start_run(&app, "run-1").await;
    let mut runs = app.runs(&app.secret_key);
    let outcome = |metadata: Struct| Outcome {
        name: "reply_generated".to_owned(),
        metadata: Some(metadata),
        ..Default::default()
    };

    // 64 levels (under 1 KiB): past what protobuf decoding reads, so the whole call is refused.
    let unreadable = |status: tonic::Status| {
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains("could not be decoded"),
            "{status:?}"
        );
    };
    let deep = nested(64);
    assert!(deep.encoded_len() < 1024);
    unreadable(
        ingest
            .record_event(RecordEventRequest {
                record: Some(with_metadata("deep-1", deep.clone())),
            })
            .await
            .expect_err("refused"),
    );
    unreadable(
        ingest
            .record_batch(RecordBatchRequest {
                records: vec![with_metadata("deep-2", deep.clone())],
            })
            .await
            .expect_err("refused"),
    );
    unreadable(
        runs.start_run(StartRunRequest {
            run_id: "run-deep".to_owned(),
            agent_code: "support_reply".to_owned(),
            customer: record("x").customer,
            metadata: Some(deep.clone()),
            ..Default::default()
        })
        .await
        .expect_err("refused"),
    );
    unreadable(
        runs.complete_run(CompleteRunRequest {
            run_id: "run-1".to_owned(),
            outcomes: vec![outcome(deep.clone())],
            ..Default::default()
        })
        .await
        .expect_err("refused"),
    );
    unreadable(
        runs.record_outcome(RecordOutcomeRequest {
            run_id: "run-1".to_owned(),
            outcome: Some(outcome(deep)),
        })
        .await
        .expect_err("refused"),
    );

    // 21 levels: readable, one past the contract's 20, refused as a violation of the field.
    let result = app.record_one(with_metadata("deep-21", nested(21))).await;
    assert_eq!(
        result.status,
        pb::EventStatus::ValidationError as i32,
        "{result:?}"
    );
    assert!(!result.stored);
    assert_eq!(result.field_violations[0].field, "metadata", "{result:?}");
    let status = runs
        .start_run(StartRunRequest {
            run_id: "run-21".to_owned(),
            agent_code: "support_reply".to_owned(),
            customer: record("x").customer,
            metadata: Some(nested(21)),
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(violated_fields(&status), ["metadata"], "{status:?}");
    let status = runs
        .record_outcome(RecordOutcomeRequest {
            run_id: "run-1".to_owned(),
            outcome: Some(outcome(nested(21))),
        })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        violated_fields(&status)[0].ends_with("metadata"),
        "{status:?}"
    );

    // 20 levels: accepted, and returned as sent.
    let result = app.record_one(with_metadata("deep-20", nested(20))).await;
    assert!(result.stored, "{result:?}");
    assert_eq!(app.event(&result.event_id).await.metadata, Some(nested(20)));
    assert_eq!(stored_keys(&app).await, ["deep-20"]);
}

crate::on_both_databases!(
    a_stream_ends_with_the_error_of_an_unreadable_message,
    bodies_that_are_not_messages_are_invalid_arguments,
    metadata_nested_too_deep_is_refused_on_every_method,
);
