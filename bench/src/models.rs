//! The models the synthetic events call: real models of the shipped catalog with their standard
//! per-token prices (copied from `catalog/litellm_prices.json`, in 1e-10 USD), and a few models the
//! catalog does not know, which ingest parks as `NEEDS_COST_BACKFILL`.
//!
//! The prices let the raw baseline write the cost items ingest would write without pricing anything
//! at run time; ingest itself prices from its own catalog and never sees these numbers.

use tally::domain::pricing::Dimension;

/// Who reports which counts inside which (see `src/domain/catalog/providers.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Cached input inside input, reasoning inside output.
    OpenAi,
    /// Cache reads and writes apart from input, reasoning inside output.
    Anthropic,
    /// Cached input inside input, reasoning apart from output.
    Gemini,
}

/// A model the load generator calls, with its catalog prices in 1e-10 USD per token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BenchModel {
    pub provider: &'static str,
    pub model: &'static str,
    pub style: Style,
    pub input: i64,
    /// None for an embedding model, which bills input only.
    pub output: Option<i64>,
    pub cached_input: Option<i64>,
    pub cache_creation: Option<i64>,
    /// A reasoning price of its own; without one reasoning tokens bill at the output rate.
    pub reasoning: Option<i64>,
    /// Whether calls of the model report reasoning tokens.
    pub thinks: bool,
}

const fn model(
    provider: &'static str,
    model: &'static str,
    style: Style,
    [input, cached, output]: [i64; 3],
    thinks: bool,
) -> BenchModel {
    BenchModel {
        provider,
        model,
        style,
        input,
        output: Some(output),
        cached_input: Some(cached),
        cache_creation: None,
        reasoning: None,
        thinks,
    }
}

const fn anthropic(name: &'static str, [input, read, write, output]: [i64; 4]) -> BenchModel {
    BenchModel {
        cache_creation: Some(write),
        ..model(
            "anthropic",
            name,
            Style::Anthropic,
            [input, read, output],
            false,
        )
    }
}

const fn gemini(name: &'static str, prices: [i64; 3], reasoning: Option<i64>) -> BenchModel {
    BenchModel {
        reasoning,
        ..model("gemini", name, Style::Gemini, prices, true)
    }
}

/// Known models, most used first: `--models N` takes the first N.
pub const KNOWN_MODELS: [BenchModel; 21] = [
    model(
        "openai",
        "gpt-4o-mini",
        Style::OpenAi,
        [1_500, 750, 6_000],
        false,
    ),
    model(
        "openai",
        "gpt-4o",
        Style::OpenAi,
        [25_000, 12_500, 100_000],
        false,
    ),
    anthropic("claude-sonnet-4-5", [30_000, 3_000, 37_500, 150_000]),
    model(
        "openai",
        "gpt-5",
        Style::OpenAi,
        [12_500, 1_250, 100_000],
        true,
    ),
    gemini("gemini-2.5-pro", [12_500, 1_250, 100_000], None),
    gemini("gemini-2.5-flash", [3_000, 300, 25_000], Some(25_000)),
    model(
        "openai",
        "gpt-5-mini",
        Style::OpenAi,
        [2_500, 250, 20_000],
        true,
    ),
    anthropic("claude-haiku-4-5", [10_000, 1_000, 12_500, 50_000]),
    model(
        "openai",
        "gpt-4.1",
        Style::OpenAi,
        [20_000, 5_000, 80_000],
        false,
    ),
    model(
        "openai",
        "gpt-4.1-mini",
        Style::OpenAi,
        [4_000, 1_000, 16_000],
        false,
    ),
    BenchModel {
        output: None,
        cached_input: None,
        ..model(
            "openai",
            "text-embedding-3-small",
            Style::OpenAi,
            [200, 0, 0],
            false,
        )
    },
    model(
        "openai",
        "o4-mini",
        Style::OpenAi,
        [11_000, 2_750, 44_000],
        true,
    ),
    anthropic("claude-opus-4-5", [50_000, 5_000, 62_500, 250_000]),
    model("openai", "o3", Style::OpenAi, [20_000, 5_000, 80_000], true),
    model(
        "openai",
        "gpt-5-nano",
        Style::OpenAi,
        [500, 50, 4_000],
        true,
    ),
    model(
        "openai",
        "gpt-4.1-nano",
        Style::OpenAi,
        [1_000, 250, 4_000],
        false,
    ),
    gemini("gemini-2.5-flash-lite", [1_000, 100, 4_000], Some(4_000)),
    model(
        "mistral",
        "mistral-large-latest",
        Style::OpenAi,
        [5_000, 500, 15_000],
        false,
    ),
    model(
        "mistral",
        "mistral-small-latest",
        Style::OpenAi,
        [1_500, 150, 6_000],
        false,
    ),
    model(
        "deepseek",
        "deepseek-chat",
        Style::OpenAi,
        [2_800, 280, 4_200],
        false,
    ),
    model(
        "deepseek",
        "deepseek-reasoner",
        Style::OpenAi,
        [2_800, 280, 4_200],
        true,
    ),
];

/// Models no catalog has: their events are stored as `NEEDS_COST_BACKFILL`.
pub const UNKNOWN_MODELS: [(&str, &str); 3] = [
    ("acme", "acme-llm-1"),
    ("internal", "router-v2"),
    ("openai", "gpt-9-preview"),
];

/// Token counts of one call, as a provider would report them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tokens {
    pub input: Option<u64>,
    pub output: Option<u64>,
    pub cached_input: Option<u64>,
    pub cache_creation: Option<u64>,
    pub reasoning: Option<u64>,
}

/// One rate a priced call bills: the dimension, the units and the price in 1e-10 USD per unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bill {
    pub dimension: Dimension,
    pub units: u64,
    pub unit_price_e10: i64,
}

impl BenchModel {
    /// What a call bills at each rate, as ingest itemizes it: counts with a rate of their own apart,
    /// the others with the count they belong to; no item for zero units. Sorted by dimension.
    pub fn bill(&self, tokens: &Tokens) -> Vec<Bill> {
        let reported_input = tokens.input.unwrap_or(0);
        let cached = tokens.cached_input.unwrap_or(0);
        let creation = tokens.cache_creation.unwrap_or(0);
        let reported_output = tokens.output.unwrap_or(0);
        let reasoning = tokens.reasoning.unwrap_or(0);
        let mut input = match self.style {
            Style::OpenAi | Style::Gemini => reported_input.saturating_sub(cached),
            Style::Anthropic => reported_input,
        };
        let mut output = match self.style {
            Style::OpenAi | Style::Anthropic => reported_output.saturating_sub(reasoning),
            Style::Gemini => reported_output,
        };
        let mut bills = Vec::new();
        let mut own_rate =
            |dimension, units: u64, rate: Option<i64>, fallback: &mut u64| match (units, rate) {
                (0, _) => {}
                (units, Some(unit_price_e10)) => bills.push(Bill {
                    dimension,
                    units,
                    unit_price_e10,
                }),
                (units, None) => *fallback = fallback.saturating_add(units),
            };
        own_rate(
            Dimension::CachedInput,
            cached,
            self.cached_input,
            &mut input,
        );
        own_rate(
            Dimension::CacheCreation,
            creation,
            self.cache_creation,
            &mut input,
        );
        own_rate(Dimension::Reasoning, reasoning, self.reasoning, &mut output);
        for (dimension, units, rate) in [
            (Dimension::Input, input, Some(self.input)),
            (Dimension::Output, output, self.output),
        ] {
            if let (true, Some(unit_price_e10)) = (units > 0, rate) {
                bills.push(Bill {
                    dimension,
                    units,
                    unit_price_e10,
                });
            }
        }
        bills.sort_by_key(|bill| bill.dimension);
        bills
    }
}
