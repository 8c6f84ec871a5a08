//! What one service line costs. Each rate's units are counted in the provider's convention, each item
//! is `units × unit price` rounded half to even to 10 decimal places, and the line is the sum of its
//! items, so that a bill can be checked by hand.

use rust_decimal::{Decimal, RoundingStrategy};

use super::types::{Convention, CostItem, Dimension, ModelPrices, RatePrice, Tier, Usage};
use crate::domain::{
    FieldViolation,
    money::{SCALE, Usd},
};

/// The outcome of pricing one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinePrice {
    /// Every unit had a price: the items and their sum.
    Priced { items: Vec<CostItem>, cost: Usd },
    /// The model is priced by counts the line does not carry (tokens, or a quantity).
    MissingVolume,
    /// Some billed units have no price in force (the catalog lacks a rate the call needs).
    Unpriced { reason: String },
}

/// Checks the counts against the provider's convention: a count that is part of another can not
/// exceed it. Field names are relative to the line (`cached_input_tokens`).
pub fn validate_counts(usage: &Usage, convention: Convention) -> Vec<FieldViolation> {
    let mut violations = Vec::new();
    let input = usage.input_tokens.unwrap_or(0);
    let cached = usage.cached_input_tokens.unwrap_or(0);
    let creation = usage.cache_creation_tokens.unwrap_or(0);
    let mut included_in_input = 0_u64;
    if convention.cached_input_in_input {
        included_in_input = included_in_input.saturating_add(cached);
        if cached > input {
            violations.push(FieldViolation::new(
                "cached_input_tokens",
                format!(
                    "{cached} cached input tokens exceed the {input} input tokens that include them \
                     for this provider"
                ),
            ));
        }
    }
    if convention.cache_creation_in_input {
        included_in_input = included_in_input.saturating_add(creation);
        if included_in_input > input && creation > 0 {
            violations.push(FieldViolation::new(
                "cache_creation_tokens",
                format!(
                    "cache creation and cached input tokens ({included_in_input}) exceed the {input} \
                     input tokens that include them for this provider"
                ),
            ));
        }
    }
    let output = usage.output_tokens.unwrap_or(0);
    let reasoning = usage.reasoning_tokens.unwrap_or(0);
    if convention.reasoning_in_output && reasoning > output {
        violations.push(FieldViolation::new(
            "reasoning_tokens",
            format!(
                "{reasoning} reasoning tokens exceed the {output} output tokens that include them \
                 for this provider"
            ),
        ));
    }
    violations
}

/// One manual item for a line whose cost the caller stated.
pub fn manual_item(cost: Usd) -> CostItem {
    CostItem {
        dimension: Dimension::Manual,
        tier: Tier::Standard,
        long_context: false,
        units: 1,
        unit_price: cost.to_decimal().normalize(),
        cost,
        price: None,
    }
}

/// Prices a line from the model's rates. `convention` is that of the provider that reported the
/// counts, whatever model's rates price them (a model mapping prices one provider's counts with
/// another's rates): it turns the counts into the units billed at each rate. Counts must have passed
/// [`validate_counts`] with the same convention.
pub fn price_line(usage: &Usage, convention: Convention, prices: &ModelPrices) -> LinePrice {
    let has = |dimension: Dimension| prices.rates.iter().any(|rate| rate.dimension == dimension);
    let token_priced = has(Dimension::Input) || has(Dimension::Output);
    let unit_priced = has(Dimension::Unit);
    if !token_priced && !unit_priced {
        return LinePrice::Unpriced {
            reason: "the model has no input, output or unit price".to_owned(),
        };
    }
    let has_tokens = usage.input_tokens.is_some() || usage.output_tokens.is_some();
    let has_quantity = usage.quantity.is_some();
    let priceable_tokens = token_priced && has_tokens;
    let priceable_units = unit_priced && has_quantity;
    if !priceable_tokens && !priceable_units {
        return LinePrice::MissingVolume;
    }

    let counts = BilledCounts::new(usage, convention);
    let book = RateBook {
        rates: &prices.rates,
        tier: usage.tier,
        prompt_tokens: counts.prompt_tokens,
    };
    let mut items = Vec::new();
    if priceable_tokens {
        let mut input_units = counts.input;
        let mut output_units = counts.output;
        // A count with no rate of its own is billed with the count it belongs to.
        for (dimension, units) in [
            (Dimension::CachedInput, counts.cached_input),
            (Dimension::CacheCreation, counts.cache_creation),
        ] {
            match (units, book.rate(dimension)) {
                (0, _) => {}
                (units, Some(rate)) => items.push(item(rate, units)),
                (units, None) => input_units = input_units.saturating_add(units),
            }
        }
        match (counts.reasoning, book.rate(Dimension::Reasoning)) {
            (0, _) => {}
            (units, Some(rate)) => items.push(item(rate, units)),
            (units, None) => output_units = output_units.saturating_add(units),
        }
        for (dimension, units) in [
            (Dimension::Input, input_units),
            (Dimension::Output, output_units),
        ] {
            if units == 0 {
                continue;
            }
            match book.rate(dimension) {
                Some(rate) => items.push(item(rate, units)),
                None => {
                    return LinePrice::Unpriced {
                        reason: format!("the model has no {} price", dimension.label()),
                    };
                }
            }
        }
    }
    if priceable_units
        && let Some(quantity) = usage.quantity.filter(|quantity| *quantity > 0)
        && let Some(rate) = book.rate(Dimension::Unit)
    {
        items.push(item(rate, quantity));
    }
    items.sort_by_key(|item| item.dimension);
    let too_large = || LinePrice::Unpriced {
        reason: "the cost is too large to store".to_owned(),
    };
    if items.iter().any(|item| item.cost == OVERFLOW) {
        return too_large();
    }
    let mut total = Usd::ZERO;
    for item in &items {
        match total.checked_add(item.cost) {
            Some(sum) => total = sum,
            None => return too_large(),
        }
    }
    LinePrice::Priced { items, cost: total }
}

/// Marks an item whose cost does not fit (more than about 920 million USD).
const OVERFLOW: Usd = Usd::from_e10(i64::MIN);

/// The units billed at each rate, after the convention says what includes what.
struct BilledCounts {
    input: u64,
    cached_input: u64,
    cache_creation: u64,
    output: u64,
    reasoning: u64,
    /// The size of the prompt, for long-context rates: every input token, however reported.
    prompt_tokens: u64,
}

impl BilledCounts {
    fn new(usage: &Usage, convention: Convention) -> Self {
        let reported_input = usage.input_tokens.unwrap_or(0);
        let cached_input = usage.cached_input_tokens.unwrap_or(0);
        let cache_creation = usage.cache_creation_tokens.unwrap_or(0);
        let reported_output = usage.output_tokens.unwrap_or(0);
        let reasoning = usage.reasoning_tokens.unwrap_or(0);
        let mut input = reported_input;
        let mut prompt_tokens = reported_input;
        if convention.cached_input_in_input {
            input = input.saturating_sub(cached_input);
        } else {
            prompt_tokens = prompt_tokens.saturating_add(cached_input);
        }
        if convention.cache_creation_in_input {
            input = input.saturating_sub(cache_creation);
        } else {
            prompt_tokens = prompt_tokens.saturating_add(cache_creation);
        }
        let output = if convention.reasoning_in_output {
            reported_output.saturating_sub(reasoning)
        } else {
            reported_output
        };
        Self {
            input,
            cached_input,
            cache_creation,
            output,
            reasoning,
            prompt_tokens,
        }
    }
}

/// Chooses the rate of a dimension for one call: the asked tier (standard when the model has no
/// price at that tier), and among those the long-context rate with the highest threshold the prompt
/// passes.
struct RateBook<'a> {
    rates: &'a [RatePrice],
    tier: Tier,
    prompt_tokens: u64,
}

impl RateBook<'_> {
    fn rate(&self, dimension: Dimension) -> Option<&RatePrice> {
        self.rate_at(dimension, self.tier)
            .or_else(|| self.rate_at(dimension, Tier::Standard))
    }

    fn rate_at(&self, dimension: Dimension, tier: Tier) -> Option<&RatePrice> {
        self.rates
            .iter()
            .filter(|rate| rate.dimension == dimension && rate.tier == tier)
            .filter(|rate| rate.min_input_tokens == 0 || self.prompt_tokens > rate.min_input_tokens)
            .max_by_key(|rate| rate.min_input_tokens)
    }
}

fn item(rate: &RatePrice, units: u64) -> CostItem {
    let exact = Decimal::from(units).checked_mul(rate.unit_price);
    let cost = exact
        .map(|exact| exact.round_dp_with_strategy(SCALE, RoundingStrategy::MidpointNearestEven))
        .and_then(Usd::from_decimal)
        .unwrap_or(OVERFLOW);
    CostItem {
        dimension: rate.dimension,
        tier: rate.tier,
        long_context: rate.min_input_tokens > 0,
        units,
        unit_price: rate.unit_price,
        cost,
        price: Some(rate.price),
    }
}
