//! `Reports.ExportEvents`: every event of a window exactly once, in (usage time, id) order, each equal
//! to what `GetEvent` returns; messages of the asked size and under 4 MiB; a resume after part of the
//! stream continues right after the last event received; the window's bounds, an unset end fixed at
//! the call; thousands of events read slowly; violations naming their field.

use std::{collections::HashSet, time::Duration};

use prost::Message;
use prost_types::Timestamp;
use tally::pb::{
    self, CustomerAttribution, EventRecord, ExportEventsRequest, MultiServiceUsage, ServiceUsage,
    event_record::Usage,
};
use tonic::Code;

use crate::helpers::{Backend, TestApp, spawn_app, violated_fields};

/// 2026-06-01T00:00:00Z.
const BASE: i64 = 1_780_272_000;

fn at(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: BASE + seconds,
        nanos: 0,
    })
}

fn service(provider: &str, model: &str, tokens: Option<u64>) -> ServiceUsage {
    ServiceUsage {
        provider: provider.to_owned(),
        model: model.to_owned(),
        input_tokens: tokens,
        output_tokens: tokens,
        ..Default::default()
    }
}

/// The `n`-th record: three customers, priced, unpriced and missing-volume lines, one or two lines,
/// usage times in steps of 10 s with three records sharing each time (the id breaks the tie).
fn record(n: usize, metadata: Option<prost_types::Struct>) -> EventRecord {
    let lines = match n % 4 {
        0 => vec![service("openai", "gpt-4o", Some(100 + n as u64))],
        1 => vec![
            service("openai", "gpt-4o-mini", Some(n as u64)),
            service("acme", "x-1", Some(5)),
        ],
        2 => vec![service("openai", "gpt-4o", None)],
        _ => vec![
            service("openai", "gpt-4o", Some(7)),
            service("openai", "gpt-4o-mini", Some(9)),
        ],
    };
    EventRecord {
        idempotency_key: format!("k-{n}"),
        customer: Some(CustomerAttribution {
            id: format!("c{}", n % 3),
            plan: Some(pb::Plan {
                name: "pro".to_owned(),
                monthly_usd: "99".to_owned(),
            }),
            ..Default::default()
        }),
        agent_code: "writer".to_owned(),
        run_id: format!("run-{}", n % 3),
        usage_time: at(10 * (n as i64 / 3)),
        quantity: Some(1),
        metadata,
        usage: Some(Usage::Services(MultiServiceUsage { services: lines })),
        ..Default::default()
    }
}

/// Takes the whole stream (or its first `take` messages) of an export.
async fn export(
    app: &TestApp,
    request: ExportEventsRequest,
    take: Option<usize>,
) -> Vec<pb::ExportEventsResponse> {
    let mut stream = app
        .reports(&app.publishable_key)
        .export_events(request)
        .await
        .expect("export starts")
        .into_inner();
    let mut messages = Vec::new();
    while take.is_none_or(|take| messages.len() < take) {
        match stream.message().await.expect("export message") {
            Some(message) => messages.push(message),
            None => break,
        }
    }
    messages
}

fn events(messages: &[pb::ExportEventsResponse]) -> Vec<pb::CostEvent> {
    messages.iter().flat_map(|m| m.events.clone()).collect()
}

fn ids(events: &[pb::CostEvent]) -> Vec<String> {
    events.iter().map(|event| event.event_id.clone()).collect()
}

fn key(event: &pb::CostEvent) -> (i64, String) {
    let time = event.usage_time.expect("usage time");
    (time.seconds, event.event_id.clone())
}

/// Asserts (usage time, id) strictly increase: in order, nothing twice.
fn assert_in_order(events: &[pb::CostEvent]) {
    let keys: Vec<_> = events.iter().map(key).collect();
    assert!(
        keys.windows(2).all(|pair| pair[0] < pair[1]),
        "ordered by usage time, then id, each once"
    );
}

async fn every_event_is_exported_once_in_order_as_get_event_shows_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let sent = 230;
    app.record_all((0..sent).map(|n| record(n, None)).collect())
        .await;
    // Reprice a few, so that events carry repricings.
    app.pricing(&app.secret_key)
        .map_model(pb::MapModelRequest {
            from_provider: "acme".into(),
            from_model: "x-1".into(),
            to_provider: "openai".into(),
            to_model: "gpt-4o-mini".into(),
        })
        .await
        .expect("mapped");

    let messages = export(
        &app,
        ExportEventsRequest {
            events_per_message: 7,
            ..Default::default()
        },
        None,
    )
    .await;
    let sizes: Vec<usize> = messages.iter().map(|m| m.events.len()).collect();
    assert_eq!(sizes.len(), sent.div_ceil(7));
    assert!(
        sizes[..sizes.len() - 1].iter().all(|size| *size == 7),
        "{sizes:?}"
    );
    assert_eq!(sizes.iter().sum::<usize>(), sent);
    assert!(messages.iter().all(|m| !m.resume_token.is_empty()));
    let exported = events(&messages);
    assert_in_order(&exported);
    for event in &exported {
        let stored = app.event(&event.event_id).await;
        assert_eq!(event, &stored, "lines, cost and attribution as GetEvent");
    }
    assert!(exported.iter().any(|event| !event.repricings.is_empty()));
    assert!(exported.iter().any(|event| event.lines.len() == 2));

    let default_size = export(&app, ExportEventsRequest::default(), None).await;
    let sizes: Vec<usize> = default_size.iter().map(|m| m.events.len()).collect();
    assert_eq!(sizes, [100, 100, 30], "100 unless asked");
    assert_eq!(events(&default_size), exported);
    let capped = export(
        &app,
        ExportEventsRequest {
            events_per_message: 5_000,
            ..Default::default()
        },
        None,
    )
    .await;
    assert_eq!(capped.len(), 1, "one message when all fit (at most 1000)");

    // Resume after three messages: exactly the rest, nothing twice, nothing missed.
    let asked = ExportEventsRequest {
        events_per_message: 10,
        ..Default::default()
    };
    let head = export(&app, asked.clone(), Some(3)).await;
    let rest = export(
        &app,
        ExportEventsRequest {
            resume_token: head[2].resume_token.clone(),
            ..asked.clone()
        },
        None,
    )
    .await;
    let mut resumed = events(&head);
    resumed.extend(events(&rest));
    assert_eq!(ids(&resumed), ids(&exported));
    // The last message's token resumes to nothing.
    let after_end = export(
        &app,
        ExportEventsRequest {
            resume_token: rest.last().expect("rest").resume_token.clone(),
            ..asked.clone()
        },
        None,
    )
    .await;
    assert!(after_end.is_empty());

    // Bounds: start inclusive, end exclusive.
    let window = export(
        &app,
        ExportEventsRequest {
            start_time: at(100),
            end_time: at(300),
            ..Default::default()
        },
        None,
    )
    .await;
    let expected: Vec<String> = exported
        .iter()
        .filter(|event| (BASE + 100..BASE + 300).contains(&key(event).0))
        .map(|event| event.event_id.clone())
        .collect();
    assert_eq!(expected.len(), 60, "three per 10 s");
    assert_eq!(ids(&events(&window)), expected);

    // A token of another window is refused, naming the field.
    let mut reports = app.reports(&app.publishable_key);
    for token in [head[2].resume_token.clone(), "garbage".to_owned()] {
        let status = reports
            .export_events(ExportEventsRequest {
                start_time: at(100),
                resume_token: token,
                ..Default::default()
            })
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(violated_fields(&status), ["resume_token"]);
    }
}

async fn an_unset_end_is_the_time_of_the_call(backend: Backend) {
    let app = spawn_app(backend).await;
    app.record_all((0..30).map(|n| record(n, None)).collect())
        .await;
    let asked = ExportEventsRequest {
        events_per_message: 4,
        ..Default::default()
    };
    let mut stream = app
        .reports(&app.publishable_key)
        .export_events(asked.clone())
        .await
        .expect("export")
        .into_inner();
    let first = stream.message().await.expect("message").expect("first");
    // Recorded during the export, at the server's now: after the end fixed when the export began.
    app.record_one(EventRecord {
        usage_time: None,
        ..record(1_000, None)
    })
    .await;
    let mut exported = first.events.clone();
    let mut last_token = first.resume_token.clone();
    while let Some(message) = stream.message().await.expect("message") {
        exported.extend(message.events);
        last_token = message.resume_token;
    }
    assert_eq!(
        exported.len(),
        30,
        "the event recorded later is not in this export"
    );
    // Resumed, the export keeps its end.
    let resumed = export(
        &app,
        ExportEventsRequest {
            resume_token: first.resume_token,
            ..asked.clone()
        },
        None,
    )
    .await;
    assert_eq!(events(&resumed).len(), 26);
    assert!(
        export(
            &app,
            ExportEventsRequest {
                resume_token: last_token,
                ..asked.clone()
            },
            None
        )
        .await
        .is_empty()
    );
    // A new export sees it.
    assert_eq!(events(&export(&app, asked, None).await).len(), 31);
}

async fn large_events_split_messages_under_4_mib(backend: Backend) {
    let app = spawn_app(backend).await;
    // About 15 KB of metadata each: 300 of them are over 4 MiB.
    let metadata = prost_types::Struct {
        fields: [(
            "notes".to_owned(),
            prost_types::Value {
                kind: Some(prost_types::value::Kind::StringValue("x".repeat(15_000))),
            },
        )]
        .into(),
    };
    app.record_all(
        (0..300)
            .map(|n| record(n, Some(metadata.clone())))
            .collect(),
    )
    .await;
    let messages = export(
        &app,
        ExportEventsRequest {
            events_per_message: 1_000,
            ..Default::default()
        },
        None,
    )
    .await;
    assert!(messages.len() >= 2, "split by size");
    assert!(
        messages
            .iter()
            .all(|message| message.encoded_len() <= 4 * 1024 * 1024)
    );
    let exported = events(&messages);
    assert_eq!(exported.len(), 300);
    assert_in_order(&exported);
}

async fn thousands_of_events_read_slowly_are_all_exported(backend: Backend) {
    let app = spawn_app(backend).await;
    let sent = 3_000;
    app.record_all((0..sent).map(|n| record(n, None)).collect())
        .await;
    // The server reads 500 events at a time and keeps at most two messages ahead of a client
    // that reads slowly (bounded memory by construction, not measured here): the export still
    // completes, every event once, in order.
    let mut stream = app
        .reports(&app.publishable_key)
        .export_events(ExportEventsRequest {
            events_per_message: 20,
            ..Default::default()
        })
        .await
        .expect("export")
        .into_inner();
    let mut exported = Vec::new();
    while let Some(message) = stream.message().await.expect("message") {
        assert!(message.events.len() <= 20);
        exported.extend(message.events);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    assert_eq!(exported.len(), sent);
    assert_in_order(&exported);
    let distinct: HashSet<&str> = exported.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(distinct.len(), sent);
}

async fn bad_requests_name_their_fields(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut reports = app.reports(&app.publishable_key);
    let cases = [
        (
            ExportEventsRequest {
                start_time: at(60),
                end_time: at(60),
                ..Default::default()
            },
            vec!["end_time"],
        ),
        (
            ExportEventsRequest {
                events_per_message: -1,
                ..Default::default()
            },
            vec!["events_per_message"],
        ),
        (
            ExportEventsRequest {
                start_time: Some(Timestamp {
                    seconds: 0,
                    nanos: 2_000_000_000,
                }),
                ..Default::default()
            },
            vec!["start_time"],
        ),
    ];
    for (request, fields) in cases {
        let status = reports
            .export_events(request.clone())
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{request:?}");
        assert_eq!(violated_fields(&status), fields, "{request:?}");
    }
}

crate::on_both_databases!(
    every_event_is_exported_once_in_order_as_get_event_shows_it,
    an_unset_end_is_the_time_of_the_call,
    large_events_split_messages_under_4_mib,
    thousands_of_events_read_slowly_are_all_exported,
    bad_requests_name_their_fields,
);
