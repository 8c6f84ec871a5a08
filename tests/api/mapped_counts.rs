//! Token counts keep the convention of the provider that reported them, whatever model's prices
//! apply: an OpenAI line mapped to an Anthropic model bills its cached tokens once, the counts of a
//! provider the catalog does not know (reported apart) are billed whole, and counts that break the
//! convention of a provider the catalog learnt after they were stored stay parked with the reason
//! instead of being priced in part. Ingest, quotes and repricing agree throughout.

use tally::{
    admin,
    pb::{self, GetPriceRequest, MapModelRequest, QuoteCostRequest, ServiceUsage},
};

use crate::{
    helpers::{Backend, TestApp, spawn_app, spawn_app_on},
    pricing::{day, record},
};

/// A line with input, cached input, output and reasoning counts as a provider reports them.
fn counts(
    provider: &str,
    model: &str,
    input: u64,
    cached: u64,
    output: u64,
    reasoning: Option<u64>,
) -> ServiceUsage {
    ServiceUsage {
        provider: provider.to_owned(),
        model: model.to_owned(),
        input_tokens: Some(input),
        cached_input_tokens: Some(cached),
        output_tokens: Some(output),
        reasoning_tokens: reasoning,
        ..Default::default()
    }
}

async fn map(app: &TestApp, from: (&str, &str), to: (&str, &str)) -> u64 {
    app.pricing(&app.secret_key)
        .map_model(MapModelRequest {
            from_provider: from.0.into(),
            from_model: from.1.into(),
            to_provider: to.0.into(),
            to_model: to.1.into(),
        })
        .await
        .expect("mapped")
        .into_inner()
        .repriced_event_count
}

/// Units billed per dimension, in item order.
fn units(items: &[pb::CostItem]) -> Vec<(pb::CostDimension, u64)> {
    items
        .iter()
        .map(|item| {
            (
                pb::CostDimension::try_from(item.dimension).expect("dimension"),
                item.units,
            )
        })
        .collect()
}

async fn quote_total(app: &TestApp, service: ServiceUsage) -> String {
    app.pricing(&app.publishable_key)
        .quote_cost(QuoteCostRequest {
            services: vec![service],
            usage_time: Some(day(3)),
        })
        .await
        .expect("quoted")
        .into_inner()
        .total_cost_usd
}

async fn openai_counts_mapped_to_an_anthropic_model_bill_cached_tokens_once(backend: Backend) {
    let app = spawn_app(backend).await;
    // OpenAI style: the 400 cached tokens are part of the 1000 input tokens.
    let sent = counts("openai", "gpt-in-house", 1_000, 400, 10, None);
    let parked = record(&app, "c-1", sent.clone(), day(1)).await;
    assert_eq!(parked.status, pb::EventStatus::NeedsCostBackfill as i32);

    let repriced = map(
        &app,
        ("openai", "gpt-in-house"),
        ("anthropic", "claude-haiku-4-5"),
    )
    .await;
    assert_eq!(repriced, 1);
    // anthropic/claude-haiku-4-5 in catalog/litellm_prices.json: input 1e-06, cache read 1e-07,
    // output 5e-06 USD per token. 600 × 0.000001 + 400 × 0.0000001 + 10 × 0.000005
    // = 0.0006 + 0.00004 + 0.00005.
    let expected = "0.0006900000";
    let event = app.event(&parked.event_id).await;
    assert_eq!(event.status, pb::EventStatus::Processed as i32);
    assert_eq!(event.total_cost_usd, expected);
    assert_eq!(
        units(&event.lines[0].cost_items),
        [
            (pb::CostDimension::Input, 600),
            (pb::CostDimension::Output, 10),
            (pb::CostDimension::CachedInput, 400),
        ]
    );

    // A later event of the mapped model, priced on arrival, and a quote agree with the repricing.
    let later = record(&app, "c-2", sent.clone(), day(2)).await;
    assert_eq!(later.status, pb::EventStatus::Processed as i32);
    assert_eq!(later.total_cost_usd, expected);
    assert_eq!(quote_total(&app, sent).await, expected);

    // Counts that break OpenAI's convention are refused for the mapped model as for any OpenAI one.
    let broken = record(
        &app,
        "c-3",
        counts("openai", "gpt-in-house", 100, 400, 10, None),
        day(2),
    )
    .await;
    assert_eq!(broken.status, pb::EventStatus::ValidationError as i32);
    assert_eq!(
        broken
            .field_violations
            .iter()
            .map(|violation| violation.field.as_str())
            .collect::<Vec<_>>(),
        ["service.cached_input_tokens"]
    );

    // The prices are Anthropic's; the counts are read the OpenAI way.
    let price = app
        .pricing(&app.publishable_key)
        .get_price(GetPriceRequest {
            provider: "openai".into(),
            model: "gpt-in-house".into(),
            usage_time: None,
        })
        .await
        .expect("mapped model has prices")
        .into_inner();
    let counts_read = price.token_convention.expect("convention of the counts");
    assert!(counts_read.input_includes_cached_input && counts_read.output_includes_reasoning);
    let priced_with = price.prices[0].token_convention.expect("convention");
    assert!(!priced_with.input_includes_cached_input);
    app.assert_totals_match_events().await;
}

async fn counts_of_an_unknown_provider_mapped_to_openai_are_billed_whole(backend: Backend) {
    let app = spawn_app(backend).await;
    // A provider the catalog does not know reports every count apart: 100 input tokens besides 400
    // cached, 10 output tokens besides 50 reasoning. Valid, and parked for want of a price.
    let sent = counts("acme-llm", "x-1", 100, 400, 10, Some(50));
    let parked = record(&app, "u-1", sent.clone(), day(1)).await;
    assert_eq!(parked.status, pb::EventStatus::NeedsCostBackfill as i32);

    assert_eq!(
        map(&app, ("acme-llm", "x-1"), ("openai", "gpt-4o")).await,
        1
    );
    // openai/gpt-4o in catalog/litellm_prices.json: input 2.5e-06, cache read 1.25e-06, output
    // 1e-05 USD per token, no reasoning price (reasoning is billed as output).
    // 100 × 0.0000025 + 400 × 0.00000125 + (10 + 50) × 0.00001 = 0.00025 + 0.0005 + 0.0006.
    let expected = "0.0013500000";
    let event = app.event(&parked.event_id).await;
    assert_eq!(event.status, pb::EventStatus::Processed as i32);
    assert_eq!(event.total_cost_usd, expected);
    assert_eq!(
        units(&event.lines[0].cost_items),
        [
            (pb::CostDimension::Input, 100),
            (pb::CostDimension::Output, 60),
            (pb::CostDimension::CachedInput, 400),
        ]
    );

    // The same counts sent after the mapping are valid too, and cost the same.
    let fresh = record(&app, "u-2", sent.clone(), day(2)).await;
    assert_eq!(
        (fresh.status, fresh.total_cost_usd.as_str()),
        (pb::EventStatus::Processed as i32, expected),
        "{}",
        fresh.error
    );
    assert_eq!(quote_total(&app, sent).await, expected);
    app.assert_totals_match_events().await;
}

/// A price list that makes `acme-llm` a provider the catalog knows; it names no convention for it,
/// so its counts are read OpenAI style (cached input inside input).
const ACME_KNOWN: &str = r#"{
  "acme-llm/acme-mini": {"litellm_provider": "acme-llm", "mode": "chat",
                         "input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06}
}"#;

async fn counts_that_break_a_convention_learnt_later_stay_parked_with_the_reason(backend: Backend) {
    let first = spawn_app(backend).await;
    // Stored while acme-llm was unknown (counts apart): 400 cached besides 100 input.
    let parked = record(
        &first,
        "l-1",
        counts("acme-llm", "x-1", 100, 400, 10, None),
        day(1),
    )
    .await;
    assert_eq!(parked.status, pb::EventStatus::NeedsCostBackfill as i32);
    let valid = record(
        &first,
        "l-2",
        counts("acme-llm", "x-1", 1_000, 400, 10, None),
        day(1),
    )
    .await;
    assert_eq!(valid.status, pb::EventStatus::NeedsCostBackfill as i32);

    // The catalog learns acme-llm, OpenAI style; a server started now reads it.
    let db = first.database.connect().await;
    admin::import_prices(&db, ACME_KNOWN)
        .await
        .expect("imported");
    db.close().await.ok();
    let app = spawn_app_on(first.database.alias()).await;

    assert_eq!(
        map(&app, ("acme-llm", "x-1"), ("openai", "gpt-4o")).await,
        1,
        "only the event whose counts fit the convention is priced"
    );
    // 400 cached tokens can not be inside 100 input tokens: nothing of that line is billed.
    let event = app.event(&parked.event_id).await;
    assert_eq!(event.status, pb::EventStatus::NeedsCostBackfill as i32);
    assert_eq!(event.total_cost_usd, "");
    assert!(event.lines[0].cost_items.is_empty());
    assert!(
        event.error.contains("token convention") && event.error.contains("cached_input_tokens"),
        "{}",
        event.error
    );
    // The other one is read OpenAI style now. openai/gpt-4o (catalog): 600 × 0.0000025 + 400 ×
    // 0.00000125 + 10 × 0.00001 = 0.0015 + 0.0005 + 0.0001.
    let priced = app.event(&valid.event_id).await;
    assert_eq!(
        (priced.status, priced.total_cost_usd.as_str()),
        (pb::EventStatus::Processed as i32, "0.0021000000")
    );
    // Sent now, the same counts are refused, as ingest refuses any that break a known convention.
    let fresh = record(
        &app,
        "l-3",
        counts("acme-llm", "x-1", 100, 400, 10, None),
        day(2),
    )
    .await;
    assert_eq!(fresh.status, pb::EventStatus::ValidationError as i32);
    app.assert_totals_match_events().await;
}

crate::on_both_databases!(
    openai_counts_mapped_to_an_anthropic_model_bill_cached_tokens_once,
    counts_of_an_unknown_provider_mapped_to_openai_are_billed_whole,
    counts_that_break_a_convention_learnt_later_stay_parked_with_the_reason
);
