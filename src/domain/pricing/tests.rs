//! Pricing arithmetic: hand-worked bills for each convention, and property tests against an
//! independent computation from the per-token prices.

use std::str::FromStr;

use chrono::DateTime;
use proptest::prelude::*;
use rust_decimal::{Decimal, RoundingStrategy};
use uuid::Uuid;

use super::{arithmetic::manual_item, *};
use crate::domain::money::Usd;

const OPENAI: Convention = Convention::OPENAI;
const ANTHROPIC: Convention = Convention::ANTHROPIC;

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).expect("decimal")
}

fn rate(dimension: Dimension, tier: Tier, min_input_tokens: u64, price: &str) -> RatePrice {
    RatePrice {
        dimension,
        tier,
        min_input_tokens,
        unit_price: dec(price),
        price: PriceRef {
            id: Uuid::nil(),
            source: PriceSource::Catalog,
            effective_time: DateTime::UNIX_EPOCH,
        },
    }
}

/// gpt-4o as the catalog prices it: 2.50 / 1.25 (cached) / 10.00 USD per million tokens.
fn gpt_4o() -> ModelPrices {
    ModelPrices {
        provider: "openai".into(),
        model: "gpt-4o".into(),
        rates: vec![
            rate(Dimension::Input, Tier::Standard, 0, "0.0000025"),
            rate(Dimension::CachedInput, Tier::Standard, 0, "0.00000125"),
            rate(Dimension::Output, Tier::Standard, 0, "0.00001"),
            rate(Dimension::Input, Tier::Batch, 0, "0.00000125"),
            rate(Dimension::Output, Tier::Batch, 0, "0.000005"),
        ],
    }
}

/// A Claude Sonnet as priced by Anthropic: 3 / 0.30 (cache read) / 3.75 (cache write) / 15 per
/// million, with 6 / 0.60 / 7.50 / 22.50 above 200k prompt tokens.
fn sonnet() -> ModelPrices {
    ModelPrices {
        provider: "anthropic".into(),
        model: "claude-sonnet-4".into(),
        rates: vec![
            rate(Dimension::Input, Tier::Standard, 0, "0.000003"),
            rate(Dimension::CachedInput, Tier::Standard, 0, "0.0000003"),
            rate(Dimension::CacheCreation, Tier::Standard, 0, "0.00000375"),
            rate(Dimension::Output, Tier::Standard, 0, "0.000015"),
            rate(Dimension::Input, Tier::Standard, 200_000, "0.000006"),
            rate(Dimension::CachedInput, Tier::Standard, 200_000, "0.0000006"),
            rate(
                Dimension::CacheCreation,
                Tier::Standard,
                200_000,
                "0.0000075",
            ),
            rate(Dimension::Output, Tier::Standard, 200_000, "0.0000225"),
        ],
    }
}

fn priced(line: LinePrice) -> (Vec<CostItem>, Usd) {
    match line {
        LinePrice::Priced { items, cost } => (items, cost),
        other => panic!("expected a priced line, got {other:?}"),
    }
}

fn units_of(items: &[CostItem], dimension: Dimension) -> u64 {
    items
        .iter()
        .filter(|item| item.dimension == dimension)
        .map(|item| item.units)
        .sum()
}

#[test]
fn openai_bills_cached_tokens_once_at_the_cached_rate() {
    // 1,000 prompt tokens of which 400 cached; 500 completion tokens of which 200 reasoning.
    let usage = Usage {
        input_tokens: Some(1_000),
        cached_input_tokens: Some(400),
        output_tokens: Some(500),
        reasoning_tokens: Some(200),
        ..Usage::default()
    };
    assert!(validate_counts(&usage, Convention::OPENAI).is_empty());
    let (items, cost) = priced(price_line(&usage, OPENAI, &gpt_4o()));
    // 600 × 0.0000025 + 400 × 0.00000125 + 500 × 0.00001 = 0.0015 + 0.0005 + 0.005
    assert_eq!(units_of(&items, Dimension::Input), 600);
    assert_eq!(units_of(&items, Dimension::CachedInput), 400);
    assert_eq!(
        units_of(&items, Dimension::Output),
        500,
        "reasoning billed inside output"
    );
    assert_eq!(cost.to_string(), "0.0070000000");
    assert_eq!(
        items.iter().map(|item| item.cost.e10()).sum::<i64>(),
        cost.e10()
    );
}

#[test]
fn anthropic_bills_each_count_at_its_own_rate() {
    let usage = Usage {
        input_tokens: Some(1_000),
        cached_input_tokens: Some(4_000),
        cache_creation_tokens: Some(2_000),
        output_tokens: Some(300),
        ..Usage::default()
    };
    assert!(
        validate_counts(&usage, Convention::ANTHROPIC).is_empty(),
        "cache reads may exceed input"
    );
    let (items, cost) = priced(price_line(&usage, ANTHROPIC, &sonnet()));
    // 1000 × 0.000003 + 4000 × 0.0000003 + 2000 × 0.00000375 + 300 × 0.000015
    // = 0.003 + 0.0012 + 0.0075 + 0.0045 = 0.0162
    assert_eq!(units_of(&items, Dimension::Input), 1_000);
    assert_eq!(units_of(&items, Dimension::CachedInput), 4_000);
    assert_eq!(units_of(&items, Dimension::CacheCreation), 2_000);
    assert_eq!(cost.to_string(), "0.0162000000");
    assert!(items.iter().all(|item| !item.long_context));
}

#[test]
fn a_long_prompt_bills_the_whole_call_at_the_long_context_rate() {
    // 150k input + 60k cache reads = 210k prompt tokens: past 200k.
    let usage = Usage {
        input_tokens: Some(150_000),
        cached_input_tokens: Some(60_000),
        output_tokens: Some(1_000),
        ..Usage::default()
    };
    let (items, cost) = priced(price_line(&usage, ANTHROPIC, &sonnet()));
    assert!(items.iter().all(|item| item.long_context));
    // 150000 × 0.000006 + 60000 × 0.0000006 + 1000 × 0.0000225 = 0.9 + 0.036 + 0.0225
    assert_eq!(cost.to_string(), "0.9585000000");

    let exactly_at = Usage {
        input_tokens: Some(200_000),
        output_tokens: Some(0),
        ..Usage::default()
    };
    let (items, _) = priced(price_line(&exactly_at, ANTHROPIC, &sonnet()));
    assert!(
        items.iter().all(|item| !item.long_context),
        "the threshold must be passed, not reached"
    );
}

#[test]
fn a_tier_without_its_own_price_falls_back_to_standard() {
    let usage = Usage {
        input_tokens: Some(1_000),
        cached_input_tokens: Some(1_000),
        output_tokens: Some(10),
        tier: Tier::Batch,
        ..Usage::default()
    };
    let (items, _) = priced(price_line(&usage, OPENAI, &gpt_4o()));
    let output = items
        .iter()
        .find(|item| item.dimension == Dimension::Output)
        .expect("output");
    assert_eq!(output.tier, Tier::Batch);
    assert!(!output.billed_without_tier_price(Tier::Batch));
    let cached = items
        .iter()
        .find(|item| item.dimension == Dimension::CachedInput)
        .expect("cached");
    assert_eq!(
        cached.tier,
        Tier::Standard,
        "no batch cached price: the standard one is used and shown"
    );
    assert!(cached.billed_without_tier_price(Tier::Batch));
    let manual = manual_item(Usd::parse("1").expect("usd"));
    assert!(
        !manual.billed_without_tier_price(Tier::Batch),
        "a manual cost has no tier price to miss"
    );
}

#[test]
fn counts_with_no_rate_of_their_own_join_input_or_output() {
    let mut model = gpt_4o();
    model
        .rates
        .retain(|rate| rate.dimension != Dimension::CachedInput);
    let usage = Usage {
        input_tokens: Some(100),
        cached_input_tokens: Some(50),
        output_tokens: Some(10),
        reasoning_tokens: Some(5),
        ..Usage::default()
    };
    let (items, _) = priced(price_line(&usage, Convention::APART, &model));
    assert_eq!(units_of(&items, Dimension::Input), 150);
    assert_eq!(units_of(&items, Dimension::Output), 15);
    assert_eq!(items.len(), 2);
}

#[test]
fn missing_counts_park_the_line() {
    assert_eq!(
        price_line(&Usage::default(), OPENAI, &gpt_4o()),
        LinePrice::MissingVolume
    );
    let sms = ModelPrices {
        provider: "twilio".into(),
        model: "twilio-sms".into(),
        rates: vec![rate(Dimension::Unit, Tier::Standard, 0, "0.0079")],
    };
    assert_eq!(
        price_line(&Usage::default(), OPENAI, &sms),
        LinePrice::MissingVolume
    );
    let (items, cost) = priced(price_line(
        &Usage {
            quantity: Some(3),
            ..Usage::default()
        },
        OPENAI,
        &sms,
    ));
    assert_eq!(units_of(&items, Dimension::Unit), 3);
    assert_eq!(cost.to_string(), "0.0237000000");
}

#[test]
fn a_needed_rate_that_does_not_exist_leaves_the_line_unpriced() {
    let mut model = gpt_4o();
    model
        .rates
        .retain(|rate| rate.dimension != Dimension::Output);
    let usage = Usage {
        input_tokens: Some(10),
        output_tokens: Some(10),
        ..Usage::default()
    };
    assert!(matches!(
        price_line(&usage, OPENAI, &model),
        LinePrice::Unpriced { .. }
    ));
}

#[test]
fn counts_that_exceed_what_includes_them_are_refused() {
    let usage = Usage {
        input_tokens: Some(10),
        cached_input_tokens: Some(11),
        output_tokens: Some(5),
        reasoning_tokens: Some(6),
        ..Usage::default()
    };
    let fields: Vec<String> = validate_counts(&usage, Convention::OPENAI)
        .into_iter()
        .map(|violation| violation.field)
        .collect();
    assert_eq!(fields, ["cached_input_tokens", "reasoning_tokens"]);
    let anthropic_fields = validate_counts(&usage, Convention::ANTHROPIC);
    assert_eq!(
        anthropic_fields.len(),
        1,
        "cache reads are apart from input for Anthropic"
    );
}

#[test]
fn item_costs_round_half_to_even_at_ten_places() {
    let model = ModelPrices {
        provider: "p".into(),
        model: "m".into(),
        rates: vec![
            rate(Dimension::Input, Tier::Standard, 0, "0.00000000005"),
            rate(Dimension::Output, Tier::Standard, 0, "0.00000000015"),
        ],
    };
    // 1 × 0.00000000005 = 0.5e-10 → 0 (to even); 1 × 0.00000000015 = 1.5e-10 → 2e-10 (to even).
    let usage = Usage {
        input_tokens: Some(1),
        output_tokens: Some(1),
        ..Usage::default()
    };
    let (items, cost) = priced(price_line(&usage, OPENAI, &model));
    assert_eq!(items[0].cost.e10(), 0);
    assert_eq!(items[1].cost.e10(), 2);
    assert_eq!(cost.e10(), 2);
}

#[test]
fn a_manual_cost_is_one_item_of_that_cost() {
    let cost = Usd::parse("0.0123").expect("usd");
    let item = manual_item(cost);
    assert_eq!(
        (item.dimension, item.units, item.cost),
        (Dimension::Manual, 1, cost)
    );
    assert_eq!(item.unit_price.to_string(), "0.0123");
}

/// A price of up to 1e-4 USD per token with up to 12 decimal places, as catalogs write them.
fn token_price() -> impl Strategy<Value = Decimal> {
    (1_i64..100_000_000, 9_u32..=12).prop_map(|(mantissa, scale)| Decimal::new(mantissa, scale))
}

fn round10(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(10, RoundingStrategy::MidpointNearestEven)
}

proptest! {
    /// OpenAI style, computed independently: (input − cached) at the input price, cached at the
    /// cached price, all output (reasoning included) at the output price.
    #[test]
    fn openai_pricing_matches_an_independent_computation(
        input in 0_u64..2_000_000,
        cached_share in 0_u64..=100,
        output in 0_u64..200_000,
        reasoning_share in 0_u64..=100,
        input_price in token_price(),
        cached_price in token_price(),
        output_price in token_price(),
    ) {
        let cached = input * cached_share / 100;
        let reasoning = output * reasoning_share / 100;
        let model = ModelPrices {
            provider: "openai".into(),
            model: "m".into(),
                rates: vec![
                rate(Dimension::Input, Tier::Standard, 0, &input_price.to_string()),
                rate(Dimension::CachedInput, Tier::Standard, 0, &cached_price.to_string()),
                rate(Dimension::Output, Tier::Standard, 0, &output_price.to_string()),
            ],
        };
        let usage = Usage {
            input_tokens: Some(input),
            cached_input_tokens: Some(cached),
            output_tokens: Some(output),
            reasoning_tokens: Some(reasoning),
            ..Usage::default()
        };
        prop_assert!(validate_counts(&usage, Convention::OPENAI).is_empty());
        let (items, cost) = priced(price_line(&usage, OPENAI, &model));
        let expected = round10(Decimal::from(input - cached) * input_price)
            + round10(Decimal::from(cached) * cached_price)
            + round10(Decimal::from(output) * output_price);
        prop_assert_eq!(cost.to_decimal(), expected);
        prop_assert_eq!(items.iter().map(|item| item.cost.e10()).sum::<i64>(), cost.e10());
        let exact = Decimal::from(input - cached) * input_price
            + Decimal::from(cached) * cached_price
            + Decimal::from(output) * output_price;
        // Each of at most three items is off by at most half of 1e-10.
        prop_assert!((cost.to_decimal() - exact).abs() <= Decimal::new(15, 11));
    }

    /// Anthropic style, computed independently: every count at its own rate, and past the threshold
    /// every count at the long-context rate.
    #[test]
    fn anthropic_pricing_matches_an_independent_computation(
        input in 0_u64..400_000,
        cached in 0_u64..400_000,
        creation in 0_u64..100_000,
        output in 0_u64..100_000,
    ) {
        let usage = Usage {
            input_tokens: Some(input),
            cached_input_tokens: Some(cached),
            cache_creation_tokens: Some(creation),
            output_tokens: Some(output),
            ..Usage::default()
        };
        let (items, cost) = priced(price_line(&usage, ANTHROPIC, &sonnet()));
        let long = input + cached + creation > 200_000;
        let [pi, pc, pw, po] = if long {
            ["0.000006", "0.0000006", "0.0000075", "0.0000225"]
        } else {
            ["0.000003", "0.0000003", "0.00000375", "0.000015"]
        };
        let expected = round10(Decimal::from(input) * dec(pi))
            + round10(Decimal::from(cached) * dec(pc))
            + round10(Decimal::from(creation) * dec(pw))
            + round10(Decimal::from(output) * dec(po));
        prop_assert_eq!(cost.to_decimal(), expected);
        prop_assert!(items.iter().all(|item| item.long_context == long));
        prop_assert_eq!(items.iter().map(|item| item.cost.e10()).sum::<i64>(), cost.e10());
    }
}
