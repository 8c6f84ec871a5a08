//! Costs that would carry a running total past what it holds (about 922 million USD): the record
//! that would is refused, naming its lines, and the records before it, the totals and later
//! records are unharmed.

use tally::pb::{
    self, CustomerAttribution, EventRecord, RecordBatchRequest, ServiceUsage, event_record::Usage,
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
    let mut client = app.ingest(&app.secret_key);
    // Each fits an event; the three together pass every total they share (hour, month, run).
    let records = (0..3)
        .map(|n| costly(&format!("big-{n}"), "whale", "400000000"))
        .collect();
    let results = client
        .record_batch(RecordBatchRequest { records })
        .await
        .expect("the batch is answered")
        .into_inner()
        .results;
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
    let results = client
        .record_batch(RecordBatchRequest {
            records: vec![costly("small", "minnow", "1.5")],
        })
        .await
        .expect("the batch is answered")
        .into_inner()
        .results;
    assert_eq!(results[0].status(), pb::EventStatus::Processed);
    assert_eq!(results[0].total_cost_usd, "1.5000000000");
    app.assert_totals_match_events().await;
}

crate::on_both_databases!(a_record_that_would_overflow_a_running_total_is_refused_alone);
