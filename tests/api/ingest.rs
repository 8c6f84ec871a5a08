//! Ingest through the API: each status and `stored` value, both shapes and the worst-status rule,
//! costs worked out by hand for the OpenAI and Anthropic conventions, every violation listed, batch
//! limits, duplicates in one batch and across concurrent streams written once, runs started by
//! events, plan changes, reading events back, and one project never seeing another's events.

use std::collections::HashSet;

use prost_types::Timestamp;
use tally::pb::{
    self, CustomerAttribution, EventRecord, GetEventRequest, ListEventsRequest, MultiServiceUsage,
    Plan, RecordBatchRequest, RecordEventsRequest, ServiceUsage, event_record::Usage,
};
use tokio_stream::StreamExt;
use tonic::Code;

use crate::helpers::{Backend, create_key, spawn_app};

fn customer(id: &str) -> Option<CustomerAttribution> {
    Some(CustomerAttribution {
        id: id.to_owned(),
        ..Default::default()
    })
}

fn llm(provider: &str, model: &str, input: Option<u64>, output: Option<u64>) -> ServiceUsage {
    ServiceUsage {
        provider: provider.to_owned(),
        model: model.to_owned(),
        input_tokens: input,
        output_tokens: output,
        ..Default::default()
    }
}

fn record(key: &str, service: ServiceUsage) -> EventRecord {
    EventRecord {
        idempotency_key: key.to_owned(),
        customer: customer("workspace_42"),
        agent_code: "support_reply".to_owned(),
        usage: Some(Usage::Service(service)),
        ..Default::default()
    }
}

fn status(result: &pb::RecordResult) -> pb::EventStatus {
    pb::EventStatus::try_from(result.status).expect("known status")
}

async fn openai_cached_tokens_are_billed_once_at_the_cached_rate(backend: Backend) {
    let app = spawn_app(backend).await;
    // gpt-4o: 2.5e-06 input, 1.25e-06 cached, 1e-05 output per token (the shipped catalog).
    let service = ServiceUsage {
        cached_input_tokens: Some(4_000),
        reasoning_tokens: Some(300),
        ..llm("OpenAI", " GPT-4o ", Some(10_000), Some(1_000))
    };
    let result = app.record_one(record("openai-1", service)).await;
    assert_eq!(status(&result), pb::EventStatus::Processed, "{result:?}");
    assert!(result.stored && !result.duplicate && result.error.is_empty());
    // (10000 − 4000) × 0.0000025 + 4000 × 0.00000125 + 1000 × 0.00001 = 0.015 + 0.005 + 0.01
    assert_eq!(result.total_cost_usd, "0.0300000000");
    let items: HashSet<(&str, u64, &str, &str)> = result
        .cost_items
        .iter()
        .map(|item| {
            (
                item.label.as_str(),
                item.units,
                item.unit_price_usd.as_str(),
                item.cost_usd.as_str(),
            )
        })
        .collect();
    let expected: HashSet<(&str, u64, &str, &str)> = HashSet::from([
        ("gpt-4o/input", 6_000, "0.0000025", "0.0150000000"),
        ("gpt-4o/cached_input", 4_000, "0.00000125", "0.0050000000"),
        ("gpt-4o/output", 1_000, "0.00001", "0.0100000000"),
    ]);
    assert_eq!(
        items, expected,
        "reasoning tokens are inside output for OpenAI"
    );
    let by_label = |label: &str| {
        result
            .cost_items
            .iter()
            .find(|item| item.label == label)
            .expect(label)
    };
    assert_eq!(
        (
            by_label("gpt-4o/input").units,
            by_label("gpt-4o/input").cost_usd.as_str()
        ),
        (6_000, "0.0150000000")
    );
    assert_eq!(by_label("gpt-4o/cached_input").units, 4_000);
    assert_eq!(by_label("gpt-4o/cached_input").unit_price_usd, "0.00000125");
    assert_eq!(
        by_label("gpt-4o/output").units,
        1_000,
        "reasoning tokens are inside output for OpenAI"
    );
    assert!(
        result
            .cost_items
            .iter()
            .all(|item| !item.price_id.is_empty() && item.price_effective_time.is_some())
    );
    assert_eq!(result.lines.len(), 1);

    let stored = app.event(&result.event_id).await;
    assert_eq!(stored.total_cost_usd, "0.0300000000");
    assert_eq!(stored.lines[0].priced_model, "gpt-4o");
    let usage = stored.lines[0].usage.as_ref().expect("usage");
    assert_eq!(
        (usage.provider.as_str(), usage.model.as_str()),
        ("openai", "gpt-4o"),
        "names are normalized"
    );
    assert_eq!(usage.cached_input_tokens, Some(4_000));
    assert_eq!(usage.quantity, None, "absent counts stay absent");
}

async fn anthropic_counts_are_billed_each_at_its_own_rate(backend: Backend) {
    let app = spawn_app(backend).await;
    // claude-sonnet-4-5: 3e-06 input, 3e-07 cache read, 3.75e-06 cache write, 1.5e-05 output.
    let service = ServiceUsage {
        cached_input_tokens: Some(20_000),
        cache_creation_tokens: Some(1_000),
        ..llm("anthropic", "claude-sonnet-4-5", Some(2_000), Some(500))
    };
    let result = app.record_one(record("anthropic-1", service)).await;
    assert_eq!(status(&result), pb::EventStatus::Processed, "{result:?}");
    // 2000 × 0.000003 + 20000 × 0.0000003 + 1000 × 0.00000375 + 500 × 0.000015
    // = 0.006 + 0.006 + 0.00375 + 0.0075 = 0.02325
    assert_eq!(result.total_cost_usd, "0.0232500000");
    let units: HashSet<(String, u64)> = result
        .cost_items
        .iter()
        .map(|item| (item.label.clone(), item.units))
        .collect();
    let expected: HashSet<(String, u64)> = [
        ("claude-sonnet-4-5/input", 2_000),
        ("claude-sonnet-4-5/cached_input", 20_000),
        ("claude-sonnet-4-5/cache_creation", 1_000),
        ("claude-sonnet-4-5/output", 500),
    ]
    .map(|(label, units)| (label.to_owned(), units))
    .into();
    assert_eq!(units, expected);
    let total: i64 = result
        .cost_items
        .iter()
        .map(|item| item.cost_usd.replace('.', "").parse::<i64>().expect("cost"))
        .sum();
    assert_eq!(total, 232_500_000, "the total is the sum of the items");
}

async fn each_status_and_the_worst_line_rule(backend: Backend) {
    let app = spawn_app(backend).await;
    let missing = app
        .record_one(record(
            "missing-1",
            llm("openai", "gpt-4o-mini", None, None),
        ))
        .await;
    assert_eq!(status(&missing), pb::EventStatus::MissingVolumeData);
    assert!(missing.stored, "parked events are stored");
    assert_eq!(
        missing.total_cost_usd, "",
        "an unknown cost is empty, never 0"
    );
    assert!(missing.error.contains("input_tokens"), "{}", missing.error);

    let unknown = app
        .record_one(record("unknown-1", llm("acme", "x-1", Some(10), Some(10))))
        .await;
    assert_eq!(status(&unknown), pb::EventStatus::NeedsCostBackfill);
    assert!(unknown.stored && unknown.total_cost_usd.is_empty());
    assert!(
        unknown.error.contains("\"acme\"") && unknown.error.contains("\"x-1\""),
        "{}",
        unknown.error
    );

    let multi = EventRecord {
        usage: Some(Usage::Services(MultiServiceUsage {
            services: vec![
                llm("openai", "gpt-4o-mini", Some(1_000), Some(100)),
                llm("openai", "gpt-4o-mini", None, None),
                llm("acme", "x-1", Some(5), Some(5)),
                ServiceUsage {
                    cost_usd: "0.0079".to_owned(),
                    quantity: Some(1),
                    ..llm("twilio", "sms", None, None)
                },
            ],
        })),
        ..record("multi-1", ServiceUsage::default())
    };
    let result = app.record_one(multi).await;
    assert_eq!(
        status(&result),
        pb::EventStatus::NeedsCostBackfill,
        "the worst line wins"
    );
    let line_statuses: Vec<i32> = result.lines.iter().map(|line| line.status).collect();
    assert_eq!(
        line_statuses,
        [
            pb::EventStatus::Processed as i32,
            pb::EventStatus::MissingVolumeData as i32,
            pb::EventStatus::NeedsCostBackfill as i32,
            pb::EventStatus::Processed as i32
        ]
    );
    // gpt-4o-mini: 1000 × 0.00000015 + 100 × 0.0000006 = 0.00021; plus the manual 0.0079.
    assert_eq!(result.lines[0].cost_usd, "0.0002100000");
    assert_eq!(result.lines[3].cost_usd, "0.0079000000");
    assert_eq!(
        result.total_cost_usd, "0.0081100000",
        "the sum of the priced lines"
    );
    let manual = result
        .cost_items
        .iter()
        .find(|item| item.line_index == 3)
        .expect("manual item");
    assert_eq!((manual.label.as_str(), manual.units), ("sms/manual", 1));

    let only_missing_and_priced = EventRecord {
        usage: Some(Usage::Services(MultiServiceUsage {
            services: vec![
                llm("openai", "gpt-4o-mini", Some(10), Some(1)),
                llm("openai", "gpt-4o-mini", None, None),
            ],
        })),
        ..record("multi-2", ServiceUsage::default())
    };
    let result = app.record_one(only_missing_and_priced).await;
    assert_eq!(status(&result), pb::EventStatus::MissingVolumeData);
    app.assert_totals_match_events().await;
}

async fn every_violation_of_a_record_is_listed_and_spares_the_batch(backend: Backend) {
    let app = spawn_app(backend).await;
    let bad = EventRecord {
        idempotency_key: "bad-1".to_owned(),
        customer: None,
        agent_code: "a".repeat(300),
        usage_time: Some(Timestamp {
            seconds: chrono::Utc::now().timestamp() + 3_600,
            nanos: 0,
        }),
        usage: Some(Usage::Service(ServiceUsage {
            cached_input_tokens: Some(50),
            ..llm("openai", "gpt-4o", Some(10), Some(1))
        })),
        ..Default::default()
    };
    let good = record("good-1", llm("openai", "gpt-4o", Some(10), Some(1)));
    let results = app.record_batch(vec![bad, good]).await;
    assert_eq!(results.len(), 2);
    assert_eq!(status(&results[0]), pb::EventStatus::ValidationError);
    assert!(!results[0].stored && results[0].event_id.is_empty());
    let fields: HashSet<&str> = results[0]
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(
        fields,
        HashSet::from(["customer.id", "agent_code", "usage_time"]),
        "{:?}",
        results[0]
    );
    assert!(
        results[0].error.contains("agent_code") && results[0].error.contains("256"),
        "{}",
        results[0].error
    );
    assert_eq!(status(&results[1]), pb::EventStatus::Processed);
    assert!(results[1].stored);

    // Counts that break the provider's convention are caught too, with the line's path.
    let inconsistent = record(
        "bad-2",
        ServiceUsage {
            cached_input_tokens: Some(50),
            ..llm("openai", "gpt-4o", Some(10), Some(1))
        },
    );
    let result = app.record_one(inconsistent).await;
    assert_eq!(status(&result), pb::EventStatus::ValidationError);
    assert_eq!(
        result.field_violations[0].field,
        "service.cached_input_tokens"
    );
    let no_usage = EventRecord {
        usage: None,
        ..record("bad-3", ServiceUsage::default())
    };
    let result = app.record_one(no_usage).await;
    assert_eq!(result.field_violations[0].field, "usage");

    // Two manual costs that each fit but whose total does not: refused, never a total that
    // leaves one out.
    let huge = |cost: &str| ServiceUsage {
        cost_usd: cost.to_owned(),
        ..llm("maps", "geocode", None, None)
    };
    let too_much = EventRecord {
        usage: Some(Usage::Services(MultiServiceUsage {
            services: vec![huge("900000000"), huge("900000000")],
        })),
        ..record("bad-4", ServiceUsage::default())
    };
    let result = app.record_one(too_much).await;
    assert_eq!(status(&result), pb::EventStatus::ValidationError);
    assert_eq!(result.field_violations[0].field, "services.services");
    assert!(result.error.contains("922337203"), "{}", result.error);

    // Counts are at most 10^12, so that the running totals cannot overflow.
    let counts = record(
        "bad-5",
        ServiceUsage {
            quantity: Some(1_000_000_000_001),
            ..llm("openai", "gpt-4o", Some(1_000_000_000_000), Some(1))
        },
    );
    let result = app.record_one(counts).await;
    assert_eq!(status(&result), pb::EventStatus::ValidationError);
    let fields: Vec<&str> = result
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(fields, ["service.quantity"], "{result:?}");

    let listed = app
        .ingest(&app.secret_key)
        .list_events(ListEventsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.events.len(), 1, "only the good record was stored");
}

async fn batch_limits_are_enforced(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut client = app.ingest(&app.secret_key);
    let too_many: Vec<EventRecord> = (0..101)
        .map(|n| record(&format!("k{n}"), llm("openai", "gpt-4o", Some(1), Some(1))))
        .collect();
    let status = client
        .record_batch(RecordBatchRequest { records: too_many })
        .await
        .expect_err("101 records");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().contains("101"), "{status:?}");
    let status = client
        .record_batch(RecordBatchRequest { records: vec![] })
        .await
        .expect_err("no record");
    assert_eq!(status.code(), Code::InvalidArgument);
    let listed = client
        .list_events(ListEventsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(listed.events.is_empty(), "a refused batch writes nothing");

    let hundred: Vec<EventRecord> = (0..100)
        .map(|n| record(&format!("k{n}"), llm("openai", "gpt-4o", Some(1), Some(1))))
        .collect();
    let results = app.record_batch(hundred).await;
    assert_eq!(results.len(), 100);
    assert!(
        results
            .iter()
            .enumerate()
            .all(|(i, r)| r.index as usize == i && r.stored)
    );
}

async fn a_duplicate_in_one_batch_is_written_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = record("same-key", llm("openai", "gpt-4o", Some(100), Some(10)));
    let results = app.record_batch(vec![first.clone(), first.clone()]).await;
    assert!(!results[0].duplicate && results[1].duplicate);
    assert_eq!(results[0].event_id, results[1].event_id);
    assert_eq!(results[1].total_cost_usd, results[0].total_cost_usd);
    assert_eq!(results[1].index, 1);

    let again = app.record_one(first).await;
    assert!(again.duplicate && again.stored);
    assert_eq!(again.event_id, results[0].event_id);
    assert_eq!(
        again.cost_items, results[0].cost_items,
        "the first result comes back"
    );
    let listed = app
        .ingest(&app.secret_key)
        .list_events(ListEventsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.events.len(), 1);

    // A record that was not stored does not use up its key.
    let invalid = EventRecord {
        agent_code: String::new(),
        ..record("retry-key", llm("openai", "gpt-4o", Some(1), Some(1)))
    };
    assert_eq!(
        status(&app.record_one(invalid).await),
        pb::EventStatus::ValidationError
    );
    let fixed = app
        .record_one(record(
            "retry-key",
            llm("openai", "gpt-4o", Some(1), Some(1)),
        ))
        .await;
    assert!(fixed.stored && !fixed.duplicate);
}

async fn duplicates_across_concurrent_streams_are_written_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let batches: Vec<RecordEventsRequest> = (0..10)
        .map(|batch| RecordEventsRequest {
            batch_id: format!("b{batch}"),
            records: (0..20)
                .map(|n| {
                    record(
                        &format!("key-{batch}-{n}"),
                        llm("openai", "gpt-4o-mini", Some(100 + n), Some(10)),
                    )
                })
                .collect(),
        })
        .collect();
    let mut streams = Vec::new();
    for _ in 0..2 {
        let mut client = app.ingest(&app.secret_key);
        let batches = batches.clone();
        streams.push(tokio::spawn(async move {
            let responses = client
                .record_events(tokio_stream::iter(batches))
                .await
                .expect("stream")
                .into_inner();
            responses.collect::<Vec<_>>().await
        }));
    }
    let mut event_ids = Vec::new();
    let mut duplicates = 0;
    for stream in streams {
        let responses = stream.await.expect("task");
        assert_eq!(responses.len(), 10, "one answer per batch");
        for (position, response) in responses.into_iter().enumerate() {
            let response = response.expect("batch answered");
            assert_eq!(
                response.batch_id,
                format!("b{position}"),
                "answers in the order sent"
            );
            for result in response.results {
                assert!(result.stored, "{result:?}");
                duplicates += usize::from(result.duplicate);
                event_ids.push(result.event_id);
            }
        }
    }
    assert_eq!(
        duplicates, 200,
        "every record came twice; one copy of each is a duplicate"
    );
    let distinct: HashSet<&String> = event_ids.iter().collect();
    assert_eq!(distinct.len(), 200, "both copies name the same event");
    assert_eq!(app.count_events().await, 200, "nothing written twice");
    app.assert_totals_match_events().await;
}

async fn a_stream_ends_on_an_oversized_batch_after_answering_the_earlier_ones(backend: Backend) {
    let app = spawn_app(backend).await;
    let good = RecordEventsRequest {
        batch_id: "ok".to_owned(),
        records: vec![record("s-1", llm("openai", "gpt-4o", Some(1), Some(1)))],
    };
    let empty = RecordEventsRequest {
        batch_id: "empty".to_owned(),
        records: vec![],
    };
    let later = RecordEventsRequest {
        batch_id: "later".to_owned(),
        records: vec![record("s-2", llm("openai", "gpt-4o", Some(1), Some(1)))],
    };
    let mut responses = app
        .ingest(&app.secret_key)
        .record_events(tokio_stream::iter([good, empty, later]))
        .await
        .expect("stream")
        .into_inner();
    let first = responses.next().await.expect("first answer").expect("ok");
    assert_eq!(first.batch_id, "ok");
    let fatal = responses
        .next()
        .await
        .expect("an error")
        .expect_err("the empty batch ends the stream");
    assert_eq!(fatal.code(), Code::InvalidArgument);
    assert!(
        responses.next().await.is_none(),
        "later batches are not processed"
    );
}

async fn events_name_runs_and_carry_plans(backend: Backend) {
    let app = spawn_app(backend).await;
    let day = |d: i64| Timestamp {
        seconds: 1_793_491_200 + d * 86_400,
        nanos: 0,
    }; // 2026-11-01 + d days
    let with_plan = |key: &str, plan: &str, monthly: &str, at: Timestamp| EventRecord {
        customer: Some(CustomerAttribution {
            id: "org_7".to_owned(),
            name: "Northstar Agency".to_owned(),
            plan: Some(Plan {
                name: plan.to_owned(),
                monthly_usd: monthly.to_owned(),
            }),
        }),
        run_id: "run-abc".to_owned(),
        user_id: "user_17".to_owned(),
        usage_time: Some(at),
        metadata: Some(prost_types::Struct {
            fields: [(
                "template".to_owned(),
                prost_types::Value {
                    kind: Some(prost_types::value::Kind::StringValue("v2".to_owned())),
                },
            )]
            .into(),
        }),
        ..record(key, llm("openai", "gpt-4o-mini", Some(10), Some(10)))
    };
    let first = app.record_one(with_plan("p-1", "pro", "99", day(1))).await;
    assert!(first.stored, "{first:?}");
    // A later record of the same run needs neither customer nor agent.
    let follow_up = EventRecord {
        customer: None,
        agent_code: String::new(),
        run_id: "run-abc".to_owned(),
        usage_time: Some(day(3)),
        ..record("p-2", llm("openai", "gpt-4o-mini", Some(10), Some(10)))
    };
    let second = app.record_one(follow_up).await;
    assert!(second.stored, "{second:?}");
    // A record that contradicts its run is refused.
    let contradicting = EventRecord {
        run_id: "run-abc".to_owned(),
        ..record("p-3", llm("openai", "gpt-4o", Some(1), Some(1)))
    };
    let refused = app.record_one(contradicting).await;
    assert_eq!(status(&refused), pb::EventStatus::ValidationError);
    assert_eq!(refused.field_violations[0].field, "customer.id");
    // A new plan from day 10 on.
    let upgraded = app
        .record_one(with_plan("p-4", "team", "299.50", day(10)))
        .await;
    assert!(upgraded.stored);

    let stored = app.event(&second.event_id).await;
    assert_eq!(stored.run_id, "run-abc");
    assert_eq!(
        stored.agent_code, "support_reply",
        "the run supplies the agent"
    );
    assert_eq!(stored.user_id, "user_17", "and the user");
    let customer = stored.customer.expect("customer");
    assert_eq!(
        (customer.id.as_str(), customer.name.as_str()),
        ("org_7", "Northstar Agency")
    );
    let plan = customer.plan.expect("plan in force on day 3");
    assert_eq!(
        (plan.name.as_str(), plan.monthly_usd.as_str()),
        ("pro", "99.0000000000")
    );
    let later = app.event(&upgraded.event_id).await;
    assert_eq!(
        later.customer.and_then(|c| c.plan).map(|p| p.name),
        Some("team".to_owned())
    );
    let metadata = app.event(&first.event_id).await.metadata.expect("metadata");
    assert!(metadata.fields.contains_key("template"));

    let of_run = app
        .ingest(&app.publishable_key)
        .list_events(ListEventsRequest {
            run_id: "run-abc".to_owned(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(of_run.events.len(), 3);
    assert!(
        of_run
            .events
            .windows(2)
            .all(|w| w[0].usage_time.as_ref().map(|t| t.seconds)
                >= w[1].usage_time.as_ref().map(|t| t.seconds)),
        "newest first"
    );
    let in_window = app
        .ingest(&app.publishable_key)
        .list_events(ListEventsRequest {
            start_time: Some(day(2)),
            end_time: Some(day(5)),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(in_window.events.len(), 1);
    app.assert_totals_match_events().await;
}

async fn a_project_never_sees_another_projects_events(backend: Backend) {
    let app = spawn_app(backend).await;
    let stored = app
        .record_one(record("mine", llm("openai", "gpt-4o", Some(1), Some(1))))
        .await;
    let db = app.database.connect().await;
    let other = create_key(&db, "other", tally::domain::api_key::ApiKeyKind::Secret).await;
    let status = app
        .ingest(&other)
        .get_event(GetEventRequest {
            event_id: stored.event_id.clone(),
        })
        .await
        .expect_err("invisible");
    assert_eq!(status.code(), Code::NotFound);
    let listed = app
        .ingest(&other)
        .list_events(ListEventsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(listed.events.is_empty());
    // The same idempotency key in another project is another event.
    let theirs = app
        .record_one_as(
            &other,
            record("mine", llm("openai", "gpt-4o", Some(1), Some(1))),
        )
        .await;
    assert!(theirs.stored && !theirs.duplicate);
    assert_ne!(theirs.event_id, stored.event_id);
}

crate::on_both_databases!(
    openai_cached_tokens_are_billed_once_at_the_cached_rate,
    anthropic_counts_are_billed_each_at_its_own_rate,
    each_status_and_the_worst_line_rule,
    every_violation_of_a_record_is_listed_and_spares_the_batch,
    batch_limits_are_enforced,
    a_duplicate_in_one_batch_is_written_once,
    duplicates_across_concurrent_streams_are_written_once,
    a_stream_ends_on_an_oversized_batch_after_answering_the_earlier_ones,
    events_name_runs_and_carry_plans,
    a_project_never_sees_another_projects_events,
    duplicates_across_two_servers_are_written_once,
);

/// Two server processes on one database (the second started over the first's database): the same
/// records sent to both at once are written once.
async fn duplicates_across_two_servers_are_written_once(backend: Backend) {
    let first = spawn_app(backend).await;
    let second = crate::helpers::spawn_app_on(first.database.alias()).await;
    let records: Vec<EventRecord> = (0..50)
        .map(|n| {
            record(
                &format!("twin-{n}"),
                llm("openai", "gpt-4o-mini", Some(100 + n), Some(10)),
            )
        })
        .collect();
    let (from_first, from_second) = tokio::join!(
        first.record_batch(records.clone()),
        second.record_batch_as(&first.secret_key, records.clone())
    );
    let duplicates = from_first
        .iter()
        .chain(&from_second)
        .filter(|result| result.duplicate)
        .count();
    assert_eq!(
        duplicates, 50,
        "each record is a duplicate on exactly one of the two servers"
    );
    for (a, b) in from_first.iter().zip(&from_second) {
        assert!(a.stored && b.stored);
        assert_eq!(
            a.event_id, b.event_id,
            "both answers name the one stored event"
        );
        assert_eq!(a.total_cost_usd, b.total_cost_usd);
    }
    let listed = first
        .ingest(&first.secret_key)
        .list_events(ListEventsRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.events.len(), 50);
    first.assert_totals_match_events().await;
}
