//! The vocabulary of pricing: dimensions, tiers, conventions, rates and cost items.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::domain::money::Usd;

/// What a unit price is charged for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dimension {
    Input,
    Output,
    CachedInput,
    CacheCreation,
    Reasoning,
    /// One unit of a non-LLM service (an SMS, a page, an image, a second of audio).
    Unit,
    /// A cost the caller stated for the line (`cost_usd`); no catalog price involved.
    Manual,
}

impl Dimension {
    pub const ALL: [Dimension; 7] = [
        Self::Input,
        Self::Output,
        Self::CachedInput,
        Self::CacheCreation,
        Self::Reasoning,
        Self::Unit,
        Self::Manual,
    ];

    /// The stored and proto name without prefix: `CACHED_INPUT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Input => "INPUT",
            Self::Output => "OUTPUT",
            Self::CachedInput => "CACHED_INPUT",
            Self::CacheCreation => "CACHE_CREATION",
            Self::Reasoning => "REASONING",
            Self::Unit => "UNIT",
            Self::Manual => "MANUAL",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|dimension| dimension.as_str() == stored)
    }

    /// The lowercase name used in cost item labels: `gpt-4o/cached_input`.
    pub fn label(self) -> String {
        self.as_str().to_ascii_lowercase()
    }

    /// Whether the dimension counts tokens.
    pub fn is_token(self) -> bool {
        !matches!(self, Self::Unit | Self::Manual)
    }
}

/// The service tier a call ran at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    #[default]
    Standard,
    Batch,
    Flex,
    Priority,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Self::Standard, Self::Batch, Self::Flex, Self::Priority];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "STANDARD",
            Self::Batch => "BATCH",
            Self::Flex => "FLEX",
            Self::Priority => "PRIORITY",
        }
    }

    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|tier| tier.as_str() == stored)
    }
}

/// What a provider's reported token counts include. OpenAI reports prompt tokens that include the
/// cached ones and completion tokens that include reasoning; Anthropic reports cache reads and cache
/// writes apart from input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Convention {
    pub cached_input_in_input: bool,
    pub cache_creation_in_input: bool,
    pub reasoning_in_output: bool,
}

impl Convention {
    /// OpenAI style: cached input inside input, reasoning inside output.
    pub const OPENAI: Convention = Convention {
        cached_input_in_input: true,
        cache_creation_in_input: false,
        reasoning_in_output: true,
    };
    /// Every count reported apart: the convention of a provider the catalog does not know, so that
    /// no count is refused for overlapping another.
    pub const APART: Convention = Convention {
        cached_input_in_input: false,
        cache_creation_in_input: false,
        reasoning_in_output: false,
    };
    /// Anthropic style: cache reads and writes reported apart from input; thinking inside output.
    pub const ANTHROPIC: Convention = Convention {
        cached_input_in_input: false,
        cache_creation_in_input: false,
        reasoning_in_output: true,
    };
}

/// Where a price comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PriceSource {
    /// The shipped (or imported) catalog.
    Catalog,
    /// The project's own price (`SetPrice`).
    Project,
}

impl PriceSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Catalog => "CATALOG",
            Self::Project => "PROJECT",
        }
    }
}

/// Which stored price row a cost item used, so that a bill can be explained later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriceRef {
    pub id: Uuid,
    pub source: PriceSource,
    pub effective_time: DateTime<Utc>,
}

/// One unit price in force: a dimension of one model at one tier, above an input size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RatePrice {
    pub dimension: Dimension,
    pub tier: Tier,
    /// Long-context rate: applies to the whole call when its input exceeds this many tokens (0: always).
    pub min_input_tokens: u64,
    /// USD per token or per unit.
    pub unit_price: Decimal,
    pub price: PriceRef,
}

/// Every price of one provider+model in force at one time. The convention the counts are read in is
/// not here: it belongs to the provider that reported them, not to the model that prices them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelPrices {
    /// The provider and model the prices belong to (after any mapping or alias).
    pub provider: String,
    pub model: String,
    pub rates: Vec<RatePrice>,
}

/// The counts of one service line, as the provider reported them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cached_input_tokens: Option<u64>,
    pub cache_creation_tokens: Option<u64>,
    pub reasoning_tokens: Option<u64>,
    pub quantity: Option<u64>,
    pub tier: Tier,
}

/// The units of one line billed at one rate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CostItem {
    pub dimension: Dimension,
    /// The tier of the price used (standard when the asked tier has no price).
    pub tier: Tier,
    /// The long-context rate applied.
    pub long_context: bool,
    pub units: u64,
    pub unit_price: Decimal,
    /// `units × unit_price`, rounded half to even to 10 decimal places.
    pub cost: Usd,
    /// `None` for a manual cost.
    pub price: Option<PriceRef>,
}

impl CostItem {
    /// Whether these units were billed at the standard price because the model has no price of
    /// this dimension at the tier the call ran at (`call_tier`). Providers price batch and flex
    /// calls lower and priority calls higher, so such an item may be off.
    pub fn billed_without_tier_price(&self, call_tier: Tier) -> bool {
        self.price.is_some() && self.tier != call_tier
    }
}

/// Provider and model names are matched after trimming and lowercasing.
pub fn normalize_name(name: &str) -> String {
    name.trim().to_lowercase()
}
