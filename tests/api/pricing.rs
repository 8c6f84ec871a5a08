//! Pricing through the API: an unknown model parked, listed, mapped and priced (old and new events),
//! missing volume filled, price history (an event before and after a price change), a project price
//! over the catalog's, quotes that store nothing, price lookups and listings; the running totals
//! stay equal to the events throughout.

use prost_types::Timestamp;
use tally::pb::{
    self, EventRecord, FillVolumeRequest, GetPriceRequest, ListEventsRequest,
    ListModelMappingsRequest, ListPricesRequest, ListUnpricedModelsRequest, MapModelRequest,
    QuoteCostRequest, ServiceUsage, SetPriceRequest, event_record::Usage,
};
use tonic::Code;

use crate::helpers::{Backend, TestApp, spawn_app};

/// 2026-11-01T00:00:00Z plus `days`.
pub fn day(days: i64) -> Timestamp {
    Timestamp {
        seconds: 1_793_491_200 + days * 86_400,
        nanos: 0,
    }
}

pub fn usage(provider: &str, model: &str, input: Option<u64>, output: Option<u64>) -> ServiceUsage {
    ServiceUsage {
        provider: provider.to_owned(),
        model: model.to_owned(),
        input_tokens: input,
        output_tokens: output,
        ..Default::default()
    }
}

/// Records one single-service event of customer `acme` and agent `summarizer` at `at`, in run
/// `run-<key up to its first dash>`.
pub async fn record(
    app: &TestApp,
    key: &str,
    service: ServiceUsage,
    at: Timestamp,
) -> pb::RecordResult {
    let record = EventRecord {
        idempotency_key: key.to_owned(),
        customer: Some(pb::CustomerAttribution {
            id: "acme".to_owned(),
            ..Default::default()
        }),
        agent_code: "summarizer".to_owned(),
        run_id: format!("run-{}", key.split('-').next().unwrap_or_default()),
        usage_time: Some(at),
        usage: Some(Usage::Service(service)),
        ..Default::default()
    };
    app.record_one(record).await
}

async fn an_unknown_model_is_parked_listed_mapped_and_priced(backend: Backend) {
    let app = spawn_app(backend).await;
    let parked = [
        record(
            &app,
            "a-1",
            usage("Acme", "X-1", Some(1_000), Some(100)),
            day(1),
        )
        .await,
        record(
            &app,
            "a-2",
            usage("acme", "x-1", Some(2_000), Some(200)),
            day(2),
        )
        .await,
    ];
    for result in &parked {
        assert_eq!(result.status, pb::EventStatus::NeedsCostBackfill as i32);
    }
    let unpriced = app
        .pricing(&app.publishable_key)
        .list_unpriced_models(ListUnpricedModelsRequest::default())
        .await
        .expect("list")
        .into_inner()
        .unpriced_models;
    assert_eq!(unpriced.len(), 1);
    let model = &unpriced[0];
    assert_eq!(
        (
            model.provider.as_str(),
            model.model.as_str(),
            model.event_count
        ),
        ("acme", "x-1", 2)
    );
    assert_eq!(
        (model.agent_codes.clone(), model.customer_ids.clone()),
        (vec!["summarizer".to_owned()], vec!["acme".to_owned()])
    );
    assert_eq!(model.first_seen_time, Some(day(1)));
    assert_eq!(model.last_seen_time, Some(day(2)));

    let mut pricing = app.pricing(&app.secret_key);
    let refused = pricing
        .map_model(MapModelRequest {
            from_provider: "acme".into(),
            from_model: "x-1".into(),
            to_provider: "acme".into(),
            to_model: "x-2".into(),
        })
        .await
        .expect_err("the target has no price");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let refused = pricing
        .map_model(MapModelRequest {
            from_provider: "openai".into(),
            from_model: "gpt-4o".into(),
            to_provider: "openai".into(),
            to_model: "gpt-4o-mini".into(),
        })
        .await
        .expect_err("the source has prices");
    assert_eq!(refused.code(), Code::FailedPrecondition);

    let mapped = pricing
        .map_model(MapModelRequest {
            from_provider: " ACME ".into(),
            from_model: "X-1".into(),
            to_provider: "openai".into(),
            to_model: "gpt-4o-mini".into(),
        })
        .await
        .expect("mapped")
        .into_inner();
    assert_eq!(mapped.repriced_event_count, 2);
    let mapping = mapped.mapping.expect("mapping");
    assert_eq!(
        (mapping.from_provider.as_str(), mapping.from_model.as_str()),
        ("acme", "x-1")
    );

    // gpt-4o-mini: 1.5e-07 input, 6e-07 output. 1000 × 0.00000015 + 100 × 0.0000006 = 0.00021
    let first = app.event(&parked[0].event_id).await;
    assert_eq!(first.status, pb::EventStatus::Processed as i32);
    assert_eq!(first.total_cost_usd, "0.0002100000");
    assert_eq!(
        (
            first.lines[0].priced_provider.as_str(),
            first.lines[0].priced_model.as_str()
        ),
        ("openai", "gpt-4o-mini")
    );
    assert_eq!(first.lines[0].cost_items[0].label, "gpt-4o-mini/input");
    let repricing = &first.repricings[0];
    assert_eq!(repricing.cause, pb::RepricingCause::MapModel as i32);
    assert_eq!(
        repricing.previous_status,
        pb::EventStatus::NeedsCostBackfill as i32
    );
    assert_eq!(
        (
            repricing.previous_total_cost_usd.as_str(),
            repricing.total_cost_usd.as_str()
        ),
        ("", "0.0002100000")
    );
    assert!(
        repricing.detail.contains("acme/x-1"),
        "{}",
        repricing.detail
    );
    assert_eq!(
        app.event(&parked[1].event_id).await.total_cost_usd,
        "0.0004200000"
    );

    // A later event of the mapped model is priced on arrival.
    let later = record(
        &app,
        "a-3",
        usage("acme", "x-1", Some(10_000), Some(0)),
        day(3),
    )
    .await;
    assert_eq!(later.status, pb::EventStatus::Processed as i32);
    assert_eq!(later.total_cost_usd, "0.0015000000");
    let unpriced = pricing
        .list_unpriced_models(ListUnpricedModelsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(unpriced.unpriced_models.is_empty());
    let mappings = pricing
        .list_model_mappings(ListModelMappingsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(mappings.mappings.len(), 1);
    let price = pricing
        .get_price(GetPriceRequest {
            provider: "acme".into(),
            model: "x-1".into(),
            usage_time: None,
        })
        .await
        .expect("mapped model has prices")
        .into_inner();
    assert_eq!(
        (price.priced_provider.as_str(), price.priced_model.as_str()),
        ("openai", "gpt-4o-mini")
    );
    assert!(price.mapping.is_some());
    app.assert_totals_match_events().await;
}

async fn missing_volume_is_filled_and_priced(backend: Backend) {
    let app = spawn_app(backend).await;
    let parked = record(&app, "f-1", usage("openai", "gpt-4o", None, None), day(5)).await;
    assert_eq!(parked.status, pb::EventStatus::MissingVolumeData as i32);
    let mut ingest = app.ingest(&app.secret_key);

    let refused = ingest
        .fill_volume(FillVolumeRequest {
            event_id: parked.event_id.clone(),
            input_tokens: Some(10),
            cached_input_tokens: Some(20),
            ..Default::default()
        })
        .await
        .expect_err("cached input exceeds input for OpenAI");
    assert_eq!(refused.code(), Code::InvalidArgument);
    let missing = ingest
        .fill_volume(FillVolumeRequest {
            event_id: uuid::Uuid::now_v7().to_string(),
            input_tokens: Some(1),
            ..Default::default()
        })
        .await
        .expect_err("no such event");
    assert_eq!(missing.code(), Code::NotFound);

    let filled = ingest
        .fill_volume(FillVolumeRequest {
            event_id: parked.event_id.clone(),
            input_tokens: Some(1_000),
            output_tokens: Some(200),
            ..Default::default()
        })
        .await
        .expect("filled")
        .into_inner()
        .event
        .expect("event");
    // 1000 × 0.0000025 + 200 × 0.00001 = 0.0025 + 0.002
    assert_eq!(filled.status, pb::EventStatus::Processed as i32);
    assert_eq!(filled.total_cost_usd, "0.0045000000");
    assert_eq!(
        filled.lines[0].usage.as_ref().and_then(|u| u.input_tokens),
        Some(1_000)
    );
    assert_eq!(
        filled.repricings[0].cause,
        pb::RepricingCause::FillVolume as i32
    );

    let again = ingest
        .fill_volume(FillVolumeRequest {
            event_id: parked.event_id,
            input_tokens: Some(1),
            ..Default::default()
        })
        .await
        .expect_err("the line is priced now");
    assert_eq!(again.code(), Code::FailedPrecondition);
    app.assert_totals_match_events().await;
}

async fn a_project_price_overrides_the_catalog_from_its_time_on(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = record(
        &app,
        "h-1",
        usage("openai", "gpt-4o", Some(1_000_000), Some(0)),
        day(5),
    )
    .await;
    assert_eq!(
        before.total_cost_usd, "2.5000000000",
        "catalog: 2.50 per million input tokens"
    );

    let mut pricing = app.pricing(&app.secret_key);
    let set = pricing
        .set_price(SetPriceRequest {
            price: Some(pb::Price {
                provider: "OpenAI".into(),
                model: "gpt-4o".into(),
                dimension: pb::CostDimension::Input as i32,
                unit_price_usd: "0.000002".into(),
                effective_time: Some(day(10)),
                ..Default::default()
            }),
        })
        .await
        .expect("price set")
        .into_inner();
    let stored = set.price.expect("price");
    assert_eq!(stored.source, pb::PriceSource::Project as i32);
    assert_eq!(
        (stored.provider.as_str(), stored.unit_price_usd.as_str()),
        ("openai", "0.000002")
    );
    assert_eq!(set.repriced_event_count, 0, "priced events keep their cost");

    let after = record(
        &app,
        "h-2",
        usage("openai", "gpt-4o", Some(1_000_000), Some(0)),
        day(11),
    )
    .await;
    assert_eq!(
        after.total_cost_usd, "2.0000000000",
        "the project's negotiated rate"
    );
    assert_eq!(after.cost_items[0].price_id, stored.price_id);
    let backfilled = record(
        &app,
        "h-3",
        usage("openai", "gpt-4o", Some(1_000_000), Some(0)),
        day(9),
    )
    .await;
    assert_eq!(
        backfilled.total_cost_usd, "2.5000000000",
        "an event before the change keeps the old price"
    );
    assert_eq!(
        app.event(&before.event_id).await.total_cost_usd,
        "2.5000000000"
    );

    let in_force = pricing
        .get_price(GetPriceRequest {
            provider: "openai".into(),
            model: "gpt-4o".into(),
            usage_time: Some(day(12)),
        })
        .await
        .expect("prices")
        .into_inner();
    let input = in_force
        .prices
        .iter()
        .find(|p| {
            p.dimension == pb::CostDimension::Input as i32
                && p.service_tier == pb::ServiceTier::Standard as i32
        })
        .expect("input price");
    assert_eq!(
        (input.unit_price_usd.as_str(), input.source),
        ("0.000002", pb::PriceSource::Project as i32)
    );
    let earlier = pricing
        .get_price(GetPriceRequest {
            provider: "openai".into(),
            model: "gpt-4o".into(),
            usage_time: Some(day(9)),
        })
        .await
        .expect("prices")
        .into_inner();
    assert!(earlier.prices.iter().any(|p| p.unit_price_usd == "0.0000025" && p.source == pb::PriceSource::Catalog as i32));

    let duplicate = pricing
        .set_price(SetPriceRequest {
            price: Some(pb::Price {
                provider: "openai".into(),
                model: "gpt-4o".into(),
                dimension: pb::CostDimension::Input as i32,
                unit_price_usd: "0.000001".into(),
                effective_time: Some(day(10)),
                ..Default::default()
            }),
        })
        .await
        .expect_err("same key and time");
    assert_eq!(duplicate.code(), Code::AlreadyExists);
    app.assert_totals_match_events().await;
}

async fn a_price_for_a_private_model_prices_its_parked_events(backend: Backend) {
    let app = spawn_app(backend).await;
    let parked = record(
        &app,
        "p-1",
        usage("inhouse", "llama-ft", Some(500), Some(500)),
        day(3),
    )
    .await;
    let too_early = record(
        &app,
        "p-2",
        usage("inhouse", "llama-ft", Some(500), Some(500)),
        day(1),
    )
    .await;
    assert_eq!(parked.status, pb::EventStatus::NeedsCostBackfill as i32);
    let mut pricing = app.pricing(&app.secret_key);
    let mut repriced = 0;
    for (dimension, price) in [
        (pb::CostDimension::Input, "0.000001"),
        (pb::CostDimension::Output, "0.000003"),
    ] {
        let set = pricing
            .set_price(SetPriceRequest {
                price: Some(pb::Price {
                    provider: "inhouse".into(),
                    model: "llama-ft".into(),
                    dimension: dimension as i32,
                    unit_price_usd: price.into(),
                    effective_time: Some(day(2)),
                    ..Default::default()
                }),
            })
            .await
            .expect("price set")
            .into_inner();
        repriced += set.repriced_event_count;
    }
    assert_eq!(
        repriced, 1,
        "the first price leaves the line unpriced (no output price yet); the second prices it"
    );
    let priced = app.event(&parked.event_id).await;
    // 500 × 0.000001 + 500 × 0.000003 = 0.002
    assert_eq!(
        (priced.status, priced.total_cost_usd.as_str()),
        (pb::EventStatus::Processed as i32, "0.0020000000")
    );
    assert_eq!(
        priced.repricings[0].cause,
        pb::RepricingCause::SetPrice as i32
    );
    let untouched = app.event(&too_early.event_id).await;
    assert_eq!(
        untouched.status,
        pb::EventStatus::NeedsCostBackfill as i32,
        "the price is not in force at its time"
    );
    app.assert_totals_match_events().await;
}

async fn quotes_price_without_storing(backend: Backend) {
    let app = spawn_app(backend).await;
    let quote = app
        .pricing(&app.publishable_key)
        .quote_cost(QuoteCostRequest {
            services: vec![
                ServiceUsage {
                    cached_input_tokens: Some(400),
                    ..usage("openai", "gpt-4o", Some(1_000), Some(500))
                },
                usage("acme", "x-9", Some(1), Some(1)),
            ],
            usage_time: None,
        })
        .await
        .expect("quote")
        .into_inner();
    // 600 × 0.0000025 + 400 × 0.00000125 + 500 × 0.00001 = 0.0015 + 0.0005 + 0.005
    assert_eq!(quote.total_cost_usd, "0.0070000000");
    assert_eq!(quote.status, pb::EventStatus::NeedsCostBackfill as i32);
    assert_eq!(quote.lines.len(), 2);
    assert!(quote.lines[1].error.contains("x-9"));
    let invalid = app
        .pricing(&app.publishable_key)
        .quote_cost(QuoteCostRequest {
            services: vec![],
            usage_time: None,
        })
        .await
        .expect_err("no line");
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let listed = app
        .ingest(&app.secret_key)
        .list_events(ListEventsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(listed.events.is_empty(), "a quote stores nothing");
}

async fn prices_are_listed_with_filters_and_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut pricing = app.pricing(&app.publishable_key);
    let gpt4o = pricing
        .list_prices(ListPricesRequest {
            provider: "openai".into(),
            model_prefix: "gpt-4o".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert!(
        gpt4o
            .prices
            .iter()
            .all(|p| p.provider == "openai" && p.model.starts_with("gpt-4o"))
    );
    assert!(
        gpt4o
            .prices
            .iter()
            .any(|p| p.model == "gpt-4o" && p.unit_price_usd == "0.0000025")
    );
    let convention = gpt4o.prices[0].token_convention.expect("convention");
    assert!(convention.input_includes_cached_input && convention.output_includes_reasoning);

    let mut seen = 0;
    let mut token = String::new();
    for _ in 0..3 {
        let page = pricing
            .list_prices(ListPricesRequest {
                page_size: 5,
                page_token: token.clone(),
                provider: "anthropic".into(),
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        assert_eq!(page.prices.len(), 5);
        seen += page.prices.len();
        token = page.next_page_token;
    }
    assert_eq!(seen, 15);
    let project_only = pricing
        .list_prices(ListPricesRequest {
            source: pb::PriceSource::Project as i32,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert!(project_only.prices.is_empty());
    let write = pricing
        .set_price(SetPriceRequest {
            price: Some(pb::Price::default()),
        })
        .await
        .expect_err("publishable keys cannot write");
    assert_eq!(write.code(), Code::PermissionDenied);
}

crate::on_both_databases!(
    an_unknown_model_is_parked_listed_mapped_and_priced,
    missing_volume_is_filled_and_priced,
    a_project_price_overrides_the_catalog_from_its_time_on,
    a_price_for_a_private_model_prices_its_parked_events,
    quotes_price_without_storing,
    prices_are_listed_with_filters_and_pages,
);
