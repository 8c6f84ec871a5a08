//! The synthetic generator: the same events for the same seed, and every record one that ingest
//! accepts (ids within limits, counts that fit the provider's convention).

use chrono::{TimeDelta, TimeZone, Utc};
use tally::domain::event::EventStatus;
use tally_client::pb;

use super::{
    expected::event_summary,
    models::{KNOWN_MODELS, Style, Tokens},
    synthetic::{AGENTS, Call, RUNS_PER_CUSTOMER, Workload},
};

fn workload(seed: u64) -> Workload {
    Workload {
        events: 2_000,
        customers: 50,
        models: 20,
        seed,
        tag: "t1".to_owned(),
        now: Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap(),
    }
}

#[test]
fn the_same_seed_makes_the_same_events_and_another_seed_others() {
    let (a, b, c) = (workload(7), workload(7), workload(8));
    let first: Vec<_> = (0..200).map(|n| a.event(n).record(&a)).collect();
    let again: Vec<_> = (0..200).map(|n| b.event(n).record(&b)).collect();
    let other: Vec<_> = (0..200).map(|n| c.event(n).record(&c)).collect();
    assert_eq!(first, again);
    assert_ne!(first, other);
    // Event n does not depend on the events made before it.
    assert_eq!(a.event(150), workload(7).event(150));
}

#[test]
fn every_record_is_one_ingest_accepts() {
    let w = workload(42);
    let oldest = w.now - TimeDelta::days(30);
    let mut keys = std::collections::HashSet::new();
    for number in 0..w.events {
        let event = w.event(number);
        let record = event.record(&w);
        assert!(keys.insert(record.idempotency_key.clone()), "unique keys");
        assert!(record.idempotency_key.starts_with("bench-t1-"));
        let customer = record.customer.as_ref().expect("a customer");
        assert!(customer.id.starts_with("bench_customer_") && customer.id.len() <= 256);
        assert!(!record.agent_code.is_empty());
        assert!(event.usage_time <= w.now && event.usage_time >= oldest);
        if let Some(run) = event.run {
            // A run always has the same customer and agent.
            assert_eq!(run / RUNS_PER_CUSTOMER, event.customer);
            assert_eq!(Workload::run_agent(run), event.agent);
        }
        let services = match record.usage.expect("usage") {
            pb::event_record::Usage::Service(service) => vec![service],
            pb::event_record::Usage::Services(multi) => {
                assert!((2..=4).contains(&multi.services.len()));
                multi.services
            }
        };
        for (service, line) in services.iter().zip(&event.lines) {
            assert!(!service.provider.is_empty() && !service.model.is_empty());
            if let Call::Known(model) = line.call
                && model.style != Style::Anthropic
            {
                assert!(service.cached_input_tokens <= service.input_tokens.or(Some(0)));
            }
            if let Call::Known(model) = line.call
                && model.style != Style::Gemini
            {
                assert!(
                    service.reasoning_tokens.unwrap_or(0) <= service.output_tokens.unwrap_or(0)
                );
            }
        }
    }
}

#[test]
fn the_workload_mixes_shapes_statuses_and_names() {
    let w = workload(42);
    let events: Vec<_> = (0..w.events).map(|n| w.event(n)).collect();
    let count = |status: EventStatus| {
        events
            .iter()
            .filter(|event| event_summary(&event.expected_lines()).0 == status)
            .count()
    };
    assert!(count(EventStatus::Processed) > 1_800);
    assert!(count(EventStatus::NeedsCostBackfill) > 5);
    assert!(count(EventStatus::MissingVolumeData) > 5);
    assert!(events.iter().filter(|e| e.multi).count() > 200);
    assert!(
        events
            .iter()
            .any(|e| matches!(e.lines.last().map(|l| l.call), Some(Call::Manual(..))))
    );
    assert!(events.iter().filter(|e| e.run.is_some()).count() > 1_000);
    let models: std::collections::HashSet<_> = events
        .iter()
        .flat_map(|e| e.lines.iter().map(|l| l.call.model()))
        .collect();
    assert!(models.len() >= 20, "{} models", models.len());
    let agents: std::collections::HashSet<_> = events.iter().map(|e| e.agent).collect();
    assert_eq!(agents.len(), AGENTS.len());
}

#[test]
fn bills_follow_each_providers_convention() {
    let tokens = Tokens {
        input: Some(10_000),
        output: Some(1_000),
        cached_input: Some(4_000),
        cache_creation: None,
        reasoning: Some(300),
    };
    // gpt-4o: cached inside input, reasoning inside output (no reasoning price).
    let gpt_4o = &KNOWN_MODELS[1];
    let units: std::collections::BTreeSet<_> = gpt_4o
        .bill(&tokens)
        .iter()
        .map(|bill| (bill.dimension.as_str(), bill.units))
        .collect();
    assert_eq!(
        units,
        [("CACHED_INPUT", 4_000), ("INPUT", 6_000), ("OUTPUT", 1_000)].into()
    );
    let total: i64 = gpt_4o
        .bill(&tokens)
        .iter()
        .map(|bill| bill.units as i64 * bill.unit_price_e10)
        .sum();
    // 6000 × 2.5e-6 + 4000 × 1.25e-6 + 1000 × 1e-5 = 0.03 USD.
    assert_eq!(total, 300_000_000);
    // claude-sonnet-4-5: cache reads apart from input.
    let sonnet = &KNOWN_MODELS[2];
    let input: u64 = sonnet
        .bill(&tokens)
        .iter()
        .filter(|bill| bill.dimension.as_str() == "INPUT")
        .map(|bill| bill.units)
        .sum();
    assert_eq!(input, 10_000);
}
