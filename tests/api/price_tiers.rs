//! Service tiers and long-context rates through the API: a batch call on a model with no batch
//! price is billed at the standard price and marked so (its cost items, GetEvent, GetNeedsAttention)
//! until `SetPrice` gives the batch price; a long-context rate applies only above its threshold.

use tally::pb::{self, GetNeedsAttentionRequest, QuoteCostRequest, ServiceUsage, SetPriceRequest};

use crate::{
    helpers::{Backend, TestApp, spawn_app},
    pricing::{day, record, usage},
};

fn batch(input: u64, output: u64) -> ServiceUsage {
    ServiceUsage {
        service_tier: pb::ServiceTier::Batch as i32,
        ..usage("openai", "gpt-4-turbo", Some(input), Some(output))
    }
}

/// Each item's dimension, the tier of the price it used and whether that tier's price was missing.
fn marks(items: &[pb::CostItem]) -> Vec<(pb::CostDimension, pb::ServiceTier, bool)> {
    items
        .iter()
        .map(|item| {
            (
                pb::CostDimension::try_from(item.dimension).expect("dimension"),
                pb::ServiceTier::try_from(item.service_tier).expect("tier"),
                item.tier_price_missing,
            )
        })
        .collect()
}

async fn set_batch_price(app: &TestApp, dimension: pb::CostDimension, unit_price: &str) -> u64 {
    app.pricing(&app.secret_key)
        .set_price(SetPriceRequest {
            price: Some(pb::Price {
                provider: "openai".into(),
                model: "gpt-4-turbo".into(),
                dimension: dimension as i32,
                service_tier: pb::ServiceTier::Batch as i32,
                unit_price_usd: unit_price.into(),
                effective_time: Some(day(2)),
                ..Default::default()
            }),
        })
        .await
        .expect("batch price set")
        .into_inner()
        .repriced_event_count
}

async fn needs_attention(app: &TestApp, from_day: Option<i64>) -> pb::GetNeedsAttentionResponse {
    app.reports(&app.publishable_key)
        .get_needs_attention(GetNeedsAttentionRequest {
            start_time: from_day.map(day),
            end_time: None,
            ..Default::default()
        })
        .await
        .expect("needs attention")
        .into_inner()
}

async fn a_tier_without_its_price_is_marked_until_set_price_gives_it(backend: Backend) {
    use pb::{CostDimension::*, ServiceTier::*};
    let app = spawn_app(backend).await;
    // openai/gpt-4-turbo in catalog/litellm_prices.json: input 1e-05 and output 3e-05 USD per
    // token, and no batch price. 1000 × 0.00001 + 100 × 0.00003 = 0.01 + 0.003.
    let first = record(&app, "t-1", batch(1_000, 100), day(1)).await;
    assert_eq!(
        (first.status, first.total_cost_usd.as_str()),
        (pb::EventStatus::Processed as i32, "0.0130000000")
    );
    let standard_for_batch = [(Input, Standard, true), (Output, Standard, true)];
    assert_eq!(marks(&first.cost_items), standard_for_batch);
    let stored = app.event(&first.event_id).await;
    assert_eq!(marks(&stored.lines[0].cost_items), standard_for_batch);
    // A standard call is billed at the standard price and not marked.
    let standard = record(
        &app,
        "s-1",
        usage("openai", "gpt-4-turbo", Some(1_000), Some(100)),
        day(1),
    )
    .await;
    assert_eq!(
        marks(&standard.cost_items),
        [(Input, Standard, false), (Output, Standard, false)]
    );

    let listed = needs_attention(&app, None).await;
    assert_eq!(listed.tier_price_missing_event_count, 1);
    let group = &listed.tier_price_missing[0];
    assert_eq!(
        (
            group.provider.as_str(),
            group.model.as_str(),
            group.service_tier,
            group.dimensions.clone(),
            group.event_count,
        ),
        (
            "openai",
            "gpt-4-turbo",
            Batch as i32,
            vec![Input as i32, Output as i32],
            1
        )
    );
    assert_eq!(
        group.sample_event_ids,
        std::slice::from_ref(&first.event_id)
    );
    assert_eq!(
        (group.first_seen_time, group.last_seen_time),
        (Some(day(1)), Some(day(1)))
    );

    // A batch input price from day 2: later calls bill input at it; output still lacks one.
    assert_eq!(set_batch_price(&app, Input, "0.000005").await, 0);
    // 1000 × 0.000005 (batch) + 100 × 0.00003 (standard) = 0.005 + 0.003.
    let second = record(&app, "t-2", batch(1_000, 100), day(3)).await;
    assert_eq!(second.total_cost_usd, "0.0080000000");
    assert_eq!(
        marks(&second.cost_items),
        [(Input, Batch, false), (Output, Standard, true)]
    );
    assert_eq!(set_batch_price(&app, Output, "0.000015").await, 0);
    // 1000 × 0.000005 + 100 × 0.000015 = 0.005 + 0.0015.
    let third = record(&app, "t-3", batch(1_000, 100), day(4)).await;
    assert_eq!(third.total_cost_usd, "0.0065000000");
    assert_eq!(
        marks(&third.cost_items),
        [(Input, Batch, false), (Output, Batch, false)]
    );
    assert_eq!(
        app.event(&first.event_id).await.total_cost_usd,
        "0.0130000000",
        "priced events keep their cost"
    );

    let listed = needs_attention(&app, None).await;
    assert_eq!(listed.tier_price_missing_event_count, 2);
    let group = &listed.tier_price_missing[0];
    assert_eq!(
        (group.dimensions.clone(), group.event_count),
        (vec![Input as i32, Output as i32], 2)
    );
    assert_eq!(
        group.sample_event_ids,
        [second.event_id.clone(), first.event_id.clone()],
        "newest first"
    );
    let from_day_two = needs_attention(&app, Some(2)).await;
    assert_eq!(from_day_two.tier_price_missing_event_count, 1);
    assert_eq!(
        from_day_two.tier_price_missing[0].dimensions,
        [Output as i32]
    );
    app.assert_totals_match_events().await;
}

async fn a_long_context_rate_applies_only_above_its_threshold(backend: Backend) {
    let app = spawn_app(backend).await;
    let quote = |input: u64| {
        let mut pricing = app.pricing(&app.publishable_key);
        async move {
            pricing
                .quote_cost(QuoteCostRequest {
                    services: vec![usage(
                        "gemini",
                        "gemini-2.5-computer-use-preview-10-2025",
                        Some(input),
                        Some(10),
                    )],
                    usage_time: None,
                })
                .await
                .expect("quoted")
                .into_inner()
        }
    };
    // gemini/gemini-2.5-computer-use-preview-10-2025 in catalog/litellm_prices.json: input
    // 1.25e-06 and output 1e-05 USD per token; `_above_200k_tokens` 2.5e-06 and 1.5e-05.
    // Exactly 200,000 input tokens: 200000 × 0.00000125 + 10 × 0.00001 = 0.25 + 0.0001.
    let at = quote(200_000).await;
    assert_eq!(at.total_cost_usd, "0.2501000000");
    assert!(at.cost_items.iter().all(|item| !item.long_context));
    // One more: 200001 × 0.0000025 + 10 × 0.000015 = 0.5000025 + 0.00015.
    let above = quote(200_001).await;
    assert_eq!(above.total_cost_usd, "0.5001525000");
    assert!(above.cost_items.iter().all(|item| item.long_context));
}

crate::on_both_databases!(
    a_tier_without_its_price_is_marked_until_set_price_gives_it,
    a_long_context_rate_applies_only_above_its_threshold
);
