//! Costs that would carry a running total past what it holds (about 922 million USD): the record
//! that would is refused, naming its lines, and the records before it, the totals and later
//! records are unharmed. A parked line priced later that would carry its event's total past the
//! limit stays unpriced, never left out of a total that counts it as priced.

use tally::pb::{
    self, CustomerAttribution, EventRecord, MapModelRequest, MultiServiceUsage, ServiceUsage,
    event_record::Usage,
};

use crate::helpers::{Backend, spawn_app};

/// A record of one manual-cost call for `customer`, all in the same hour.
fn costly(key: &str, customer: &str, cost_usd: &str) -> EventRecord {
    EventRecord {
        idempotency_key: key.to_owned(),
        customer: Some(CustomerAttribution {
            id: customer.to_owned(),
            ..Default::default()
        }),
        agent_code: "support_reply".to_owned(),
        run_id: format!("run-{customer}"),
        usage: Some(Usage::Service(ServiceUsage {
            provider: "maps".to_owned(),
            model: "geocode".to_owned(),
            cost_usd: cost_usd.to_owned(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

async fn a_record_that_would_overflow_a_running_total_is_refused_alone(backend: Backend) {
    let app = spawn_app(backend).await;
    // Each fits an event; the three together pass every total they share (hour, month, run).
    let records = (0..3)
        .map(|n| costly(&format!("big-{n}"), "whale", "400000000"))
        .collect();
    let results = app.record_batch(records).await;
    let statuses: Vec<pb::EventStatus> = results.iter().map(|r| r.status()).collect();
    assert_eq!(
        statuses,
        [
            pb::EventStatus::Processed,
            pb::EventStatus::Processed,
            pb::EventStatus::ValidationError
        ],
        "{results:?}"
    );
    let refused = &results[2];
    assert!(!refused.stored && refused.event_id.is_empty());
    assert_eq!(refused.field_violations[0].field, "service", "{refused:?}");
    assert!(refused.error.contains("922337203"), "{}", refused.error);
    app.assert_totals_match_events().await;

    // Another customer's smaller costs go on being stored.
    let results = app
        .record_batch(vec![costly("small", "minnow", "1.5")])
        .await;
    assert_eq!(results[0].status(), pb::EventStatus::Processed);
    assert_eq!(results[0].total_cost_usd, "1.5000000000");
    assert_eq!(app.event(&results[0].event_id).await.error, "");
    app.assert_totals_match_events().await;
}

async fn a_parked_line_that_would_overflow_its_event_stays_unpriced(backend: Backend) {
    let app = spawn_app(backend).await;
    let manual = ServiceUsage {
        provider: "maps".to_owned(),
        model: "geocode".to_owned(),
        cost_usd: "921000000".to_owned(),
        ..Default::default()
    };
    // 10^12 input tokens of gpt-4o, once mapped: 2.5 million USD, past the 922,337,203 USD an
    // event's total holds beside the manual line.
    let parked = ServiceUsage {
        provider: "acme".to_owned(),
        model: "mystery-1".to_owned(),
        input_tokens: Some(1_000_000_000_000),
        output_tokens: Some(1),
        ..Default::default()
    };
    let record = EventRecord {
        usage: Some(Usage::Services(MultiServiceUsage {
            services: vec![manual, parked],
        })),
        ..costly("parked", "whale", "0")
    };
    let result = app.record_batch(vec![record]).await.remove(0);
    assert_eq!(
        result.status(),
        pb::EventStatus::NeedsCostBackfill,
        "{result:?}"
    );
    assert_eq!(result.total_cost_usd, "921000000.0000000000");
    let parked = app.event(&result.event_id).await;
    assert!(
        parked
            .error
            .starts_with("line 1: no price for provider \"acme\" model \"mystery-1\""),
        "the stored event says why it is parked: {}",
        parked.error
    );

    app.pricing(&app.secret_key)
        .map_model(MapModelRequest {
            from_provider: "acme".into(),
            from_model: "mystery-1".into(),
            to_provider: "openai".into(),
            to_model: "gpt-4o".into(),
        })
        .await
        .expect("mapped");
    let event = app.event(&result.event_id).await;
    assert_eq!(event.status(), pb::EventStatus::NeedsCostBackfill);
    assert!(event.error.contains("922337203"), "{}", event.error);
    assert_eq!(event.total_cost_usd, "921000000.0000000000");
    let line = &event.lines[1];
    assert_eq!(
        line.status(),
        pb::EventStatus::NeedsCostBackfill,
        "{line:?}"
    );
    assert!(
        line.cost_usd.is_empty() && line.cost_items.is_empty(),
        "{line:?}"
    );
    app.assert_totals_match_events().await;
}

crate::on_both_databases!(
    a_record_that_would_overflow_a_running_total_is_refused_alone,
    a_parked_line_that_would_overflow_its_event_stays_unpriced,
);
