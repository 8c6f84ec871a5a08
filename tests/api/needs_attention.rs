//! `Reports.GetNeedsAttention`: counts, unpriced models and missing-volume groups equal to what the
//! test sent (worked out here from the records), over no window, a whole-hour window (read from the
//! aggregates, the monthly and daily ones for whole months and days) and a window off the hour (read
//! from the events); `counts_only` gives the same counts and no lists; samples newest first; the counts
//! drop after `MapModel` and `FillVolume`; a bad window names its field.

use std::collections::BTreeMap;

use prost_types::Timestamp;
use tally::pb::{
    self, CustomerAttribution, EventRecord, FillVolumeRequest, GetNeedsAttentionRequest,
    ListUnpricedModelsRequest, MapModelRequest, MultiServiceUsage, ServiceUsage,
    event_record::Usage,
};
use tonic::Code;
use tonic_types::StatusExt;

use crate::helpers::{Backend, TestApp, spawn_app};

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

/// What the test sends: (agent, customer, seconds after `BASE`, lines as (provider, model, tokens)).
type Sent = (
    &'static str,
    &'static str,
    i64,
    Vec<(&'static str, &'static str, Option<u64>)>,
);

fn data_set() -> Vec<Sent> {
    let mut sent: Vec<Sent> = vec![
        // Priced: never listed.
        ("writer", "c1", 10, vec![("openai", "gpt-4o", Some(100))]),
        ("writer", "c1", 4_000, vec![("openai", "gpt-4o", Some(100))]),
        // Unknown models.
        ("writer", "c1", 20, vec![("acme", "x-1", Some(10))]),
        ("reader", "c2", 3_700, vec![("acme", "x-1", Some(10))]),
        ("reader", "c2", 7_300, vec![("acme", "x-1", Some(10))]),
        ("writer", "c1", 19_800, vec![("acme", "x-2", Some(10))]),
        // Missing volume on one line and no price on another: unpriced, not missing volume.
        (
            "summarizer",
            "c1",
            3_650,
            vec![("openai", "gpt-4o", None), ("acme", "x-2", Some(10))],
        ),
        // Missing volume, with another priced line.
        (
            "writer",
            "c2",
            1_800,
            vec![
                ("openai", "gpt-4o", Some(5)),
                ("openai", "gpt-4o-mini", None),
            ],
        ),
        ("writer", "c2", 9_000, vec![("openai", "gpt-4o-mini", None)]),
    ];
    // Seven events of one agent and model missing volume, across three hours.
    for n in 0..7 {
        sent.push((
            "summarizer",
            if n % 2 == 0 { "c1" } else { "c2" },
            60 + 1_500 * n,
            vec![("openai", "gpt-4o", None)],
        ));
    }
    sent
}

/// Records the sent events (idempotency keys `k-<n>`); their event ids.
async fn record_sent(app: &TestApp, sent: &[Sent]) -> Vec<String> {
    let records = sent
        .iter()
        .enumerate()
        .map(|(n, (agent, customer, offset, lines))| EventRecord {
            idempotency_key: format!("k-{n}"),
            customer: Some(CustomerAttribution {
                id: (*customer).to_owned(),
                ..Default::default()
            }),
            agent_code: (*agent).to_owned(),
            usage_time: at(*offset),
            usage: Some(Usage::Services(MultiServiceUsage {
                services: lines
                    .iter()
                    .map(|(provider, model, tokens)| service(provider, model, *tokens))
                    .collect(),
            })),
            ..Default::default()
        })
        .collect();
    app.record_stored(records).await
}

/// A missing-volume group as expected: (agent, provider, model) → (first, last, ids newest first).
type Groups = BTreeMap<(String, String, String), Vec<(i64, String)>>;

/// What the answer must be for the sent events in `[start, end)`, computed from the records.
struct Expected {
    unpriced_events: u64,
    unpriced_models: BTreeMap<(String, String), u64>,
    missing_volume_events: u64,
    groups: Groups,
}

fn expected(sent: &[Sent], ids: &[String], start: i64, end: i64, skip: &[usize]) -> Expected {
    let mut answer = Expected {
        unpriced_events: 0,
        unpriced_models: BTreeMap::new(),
        missing_volume_events: 0,
        groups: BTreeMap::new(),
    };
    for (n, (agent, _, offset, lines)) in sent.iter().enumerate() {
        if !(start..end).contains(offset) || skip.contains(&n) {
            continue;
        }
        let unpriced: Vec<_> = lines.iter().filter(|l| l.0 == "acme").collect();
        if !unpriced.is_empty() {
            answer.unpriced_events += 1;
            for line in unpriced {
                *answer
                    .unpriced_models
                    .entry((line.0.to_owned(), line.1.to_owned()))
                    .or_default() += 1;
            }
            continue;
        }
        let missing: Vec<_> = lines.iter().filter(|l| l.2.is_none()).collect();
        if !missing.is_empty() {
            answer.missing_volume_events += 1;
            for line in missing {
                answer
                    .groups
                    .entry((agent.to_string(), line.0.to_owned(), line.1.to_owned()))
                    .or_default()
                    .push((*offset, ids[n].clone()));
            }
        }
    }
    answer
}

async fn check(
    app: &TestApp,
    request: GetNeedsAttentionRequest,
    expected: Expected,
) -> pb::GetNeedsAttentionResponse {
    let answer = app
        .reports(&app.publishable_key)
        .get_needs_attention(request)
        .await
        .expect("needs attention")
        .into_inner();
    // Counts only: the same counts (read from the coarsest aggregates when both ends are whole
    // hours), no lists.
    let counts = app
        .reports(&app.publishable_key)
        .get_needs_attention(GetNeedsAttentionRequest {
            counts_only: true,
            ..request
        })
        .await
        .expect("counts only")
        .into_inner();
    assert_eq!(
        counts,
        pb::GetNeedsAttentionResponse {
            unpriced_event_count: expected.unpriced_events,
            missing_volume_event_count: expected.missing_volume_events,
            tier_price_missing_event_count: answer.tier_price_missing_event_count,
            ..Default::default()
        },
        "counts only, {request:?}"
    );
    assert_eq!(answer.unpriced_event_count, expected.unpriced_events);
    assert_eq!(
        answer.missing_volume_event_count,
        expected.missing_volume_events
    );
    let models: BTreeMap<(String, String), u64> = answer
        .unpriced_models
        .iter()
        .map(|m| ((m.provider.clone(), m.model.clone()), m.event_count))
        .collect();
    assert_eq!(models, expected.unpriced_models);
    let counts: Vec<u64> = answer
        .missing_volume
        .iter()
        .map(|g| g.event_count)
        .collect();
    assert!(counts.windows(2).all(|p| p[0] >= p[1]), "most events first");
    assert_eq!(answer.missing_volume.len(), expected.groups.len());
    for group in &answer.missing_volume {
        let key = (
            group.agent_code.clone(),
            group.provider.clone(),
            group.model.clone(),
        );
        let mut events = expected.groups[&key].clone();
        events.sort_by_key(|(offset, _)| std::cmp::Reverse(*offset));
        assert_eq!(group.event_count, events.len() as u64, "{key:?}");
        assert_eq!(group.last_seen_time, at(events[0].0), "{key:?}");
        assert_eq!(group.first_seen_time, at(events[events.len() - 1].0));
        let newest: Vec<String> = events.iter().take(5).map(|(_, id)| id.clone()).collect();
        assert_eq!(group.sample_event_ids, newest, "{key:?}: newest first");
    }
    answer
}

async fn what_needs_attention_matches_what_was_sent(backend: Backend) {
    let app = spawn_app(backend).await;
    let sent = data_set();
    let ids = record_sent(&app, &sent).await;
    let all = (i64::MIN, i64::MAX);

    let whole = check(
        &app,
        GetNeedsAttentionRequest::default(),
        expected(&sent, &ids, all.0, all.1, &[]),
    )
    .await;
    assert_eq!(whole.unpriced_event_count, 5);
    assert_eq!(whole.missing_volume_event_count, 9);
    assert_eq!(whole.missing_volume[0].sample_event_ids.len(), 5, "capped");
    // The same models, message for message, as Pricing.ListUnpricedModels.
    let listed = app
        .pricing(&app.publishable_key)
        .list_unpriced_models(ListUnpricedModelsRequest {
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("unpriced models")
        .into_inner()
        .unpriced_models;
    assert_eq!(whole.unpriced_models, listed);

    // Whole hours (the aggregates) and a window off the hour (the events); whole days and months
    // around the events (the daily and monthly aggregates, with hours at the edges).
    const DAY: i64 = 86_400;
    for (start, end) in [
        (3_600, 10_800),
        (0, 7_200),
        (1_800, 7_310),
        (61, 9_000),
        (0, DAY),
        (-3_600, 2 * DAY + 7_200),
        (-40 * DAY - 3_600, 45 * DAY),
    ] {
        check(
            &app,
            GetNeedsAttentionRequest {
                start_time: at(start),
                end_time: at(end),
                ..Default::default()
            },
            expected(&sent, &ids, start, end, &[]),
        )
        .await;
    }
    check(
        &app,
        GetNeedsAttentionRequest {
            start_time: at(3_600),
            end_time: None,
            ..Default::default()
        },
        expected(&sent, &ids, 3_600, all.1, &[]),
    )
    .await;

    // Priced now: x-1 by a mapping, the newest summarizer event by its counts.
    app.pricing(&app.secret_key)
        .map_model(MapModelRequest {
            from_provider: "acme".into(),
            from_model: "x-1".into(),
            to_provider: "openai".into(),
            to_model: "gpt-4o-mini".into(),
        })
        .await
        .expect("mapped");
    let newest = sent.len() - 1;
    app.ingest(&app.secret_key)
        .fill_volume(FillVolumeRequest {
            event_id: ids[newest].clone(),
            line_index: 0,
            input_tokens: Some(100),
            output_tokens: Some(10),
            ..Default::default()
        })
        .await
        .expect("filled");
    let x1 = [2, 3, 4];
    let mut skip = x1.to_vec();
    skip.push(newest);
    let after = check(
        &app,
        GetNeedsAttentionRequest::default(),
        expected(&sent, &ids, all.0, all.1, &skip),
    )
    .await;
    assert_eq!(
        (after.unpriced_event_count, after.missing_volume_event_count),
        (2, 8)
    );
    check(
        &app,
        GetNeedsAttentionRequest {
            start_time: at(3_600),
            end_time: at(10_800),
            ..Default::default()
        },
        expected(&sent, &ids, 3_600, 10_800, &skip),
    )
    .await;
}

async fn a_bad_window_names_its_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let status = app
        .reports(&app.publishable_key)
        .get_needs_attention(GetNeedsAttentionRequest {
            start_time: at(3_600),
            end_time: at(0),
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = status
        .get_error_details()
        .bad_request()
        .map(|bad| {
            bad.field_violations
                .iter()
                .map(|v| v.field.clone())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(fields, ["end_time"]);
}

crate::on_both_databases!(
    what_needs_attention_matches_what_was_sent,
    a_bad_window_names_its_field,
);
