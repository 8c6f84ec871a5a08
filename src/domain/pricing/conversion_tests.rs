//! Counts priced with another provider's rates (a model mapping): the counts are read in the
//! convention of the provider that reported them, so every reported token is billed exactly once,
//! whichever rates the target model has.

use chrono::DateTime;
use proptest::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::*;

fn rate(dimension: Dimension, price: &str) -> RatePrice {
    RatePrice {
        dimension,
        tier: Tier::Standard,
        min_input_tokens: 0,
        unit_price: Decimal::from_str_exact(price).expect("decimal"),
        price: PriceRef {
            id: Uuid::nil(),
            source: PriceSource::Catalog,
            effective_time: DateTime::UNIX_EPOCH,
        },
    }
}

fn units(line: LinePrice) -> Vec<(Dimension, u64)> {
    match line {
        LinePrice::Priced { items, .. } => items
            .into_iter()
            .map(|item| (item.dimension, item.units))
            .collect(),
        other => panic!("expected a priced line, got {other:?}"),
    }
}

#[test]
fn openai_counts_with_anthropic_rates_bill_cached_tokens_once() {
    // claude-haiku-4-5 as the catalog prices it: 1 / 0.10 (cache read) / 5 USD per million.
    let haiku = ModelPrices {
        provider: "anthropic".into(),
        model: "claude-haiku-4-5".into(),
        rates: vec![
            rate(Dimension::Input, "0.000001"),
            rate(Dimension::CachedInput, "0.0000001"),
            rate(Dimension::Output, "0.000005"),
        ],
    };
    let usage = Usage {
        input_tokens: Some(1_000),
        cached_input_tokens: Some(400),
        output_tokens: Some(10),
        ..Usage::default()
    };
    let line = price_line(&usage, Convention::OPENAI, &haiku);
    assert_eq!(
        units(line.clone()),
        [
            (Dimension::Input, 600),
            (Dimension::Output, 10),
            (Dimension::CachedInput, 400)
        ]
    );
    let LinePrice::Priced { cost, .. } = line else {
        unreachable!()
    };
    // 600 × 0.000001 + 400 × 0.0000001 + 10 × 0.000005
    assert_eq!(cost.to_string(), "0.0006900000");
}

const GEMINI_STYLE: Convention = Convention {
    cached_input_in_input: true,
    cache_creation_in_input: false,
    reasoning_in_output: false,
};

fn convention() -> impl Strategy<Value = Convention> {
    prop_oneof![
        Just(Convention::OPENAI),
        Just(Convention::ANTHROPIC),
        Just(Convention::APART),
        Just(GEMINI_STYLE),
        Just(Convention {
            cache_creation_in_input: true,
            ..Convention::OPENAI
        }),
    ]
}

proptest! {
    /// Whatever the reporting convention and whichever of the optional rates the pricing model
    /// has, the units billed add up to the tokens the counts stand for: no token billed twice,
    /// none left out.
    #[test]
    fn every_reported_token_is_billed_once(
        convention in convention(),
        input in 0_u64..1_000_000,
        cached_share in 0_u64..=100,
        creation_share in 0_u64..=100,
        output in 0_u64..100_000,
        reasoning_share in 0_u64..=100,
        rate_flags in 0_u8..8,
    ) {
        // Counts that fit the convention: a part is at most what includes it.
        let cached = input * cached_share / 100;
        let creation = if convention.cache_creation_in_input {
            (input - if convention.cached_input_in_input { cached } else { 0 }) * creation_share / 100
        } else {
            input * creation_share / 100
        };
        let reasoning = output * reasoning_share / 100;
        let usage = Usage {
            input_tokens: Some(input),
            cached_input_tokens: Some(cached),
            cache_creation_tokens: Some(creation),
            output_tokens: Some(output),
            reasoning_tokens: Some(reasoning),
            ..Usage::default()
        };
        prop_assert!(validate_counts(&usage, convention).is_empty());
        let mut rates = vec![
            rate(Dimension::Input, "0.000002"),
            rate(Dimension::Output, "0.000008"),
        ];
        for (bit, dimension) in [
            (1, Dimension::CachedInput),
            (2, Dimension::CacheCreation),
            (4, Dimension::Reasoning),
        ] {
            if rate_flags & bit != 0 {
                rates.push(rate(dimension, "0.0000005"));
            }
        }
        let model = ModelPrices { provider: "p".into(), model: "m".into(), rates };
        let billed: u64 = units(price_line(&usage, convention, &model))
            .iter()
            .map(|(_, units)| units)
            .sum();
        let apart = |count: u64, inside: bool| if inside { 0 } else { count };
        let stood_for = input
            + apart(cached, convention.cached_input_in_input)
            + apart(creation, convention.cache_creation_in_input)
            + output
            + apart(reasoning, convention.reasoning_in_output);
        prop_assert_eq!(billed, stood_for);
    }
}
