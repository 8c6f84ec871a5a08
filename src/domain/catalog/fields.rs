//! Which litellm fields Tally reads, what each one prices, and how a price is read from its JSON
//! text. The field name spells the dimension, the service tier and the long-context threshold:
//! `input_cost_per_token_above_272k_tokens_priority` is the INPUT price at the PRIORITY tier for calls
//! whose input passes 272,000 tokens.

use rust_decimal::Decimal;

use crate::domain::pricing::{Dimension, Tier};

/// Modes whose entries are priced per token. Other modes (ocr, search, image_generation,
/// audio_transcription, audio_speech, rerank, realtime, …) and entries without a mode get one
/// per-unit price at most. `realtime` is not here: its audio tokens, which Tally has no dimension
/// for, are most of its cost, and pricing the text tokens alone would understate every call.
pub const TOKEN_MODES: [&str; 8] = [
    "chat",
    "completion",
    "embedding",
    "responses",
    "moderation",
    "evaluation",
    "decisions",
    "extraction",
];

/// The per-token price fields, by dimension.
const TOKEN_BASES: [(&str, Dimension); 5] = [
    ("input_cost_per_token", Dimension::Input),
    ("output_cost_per_token", Dimension::Output),
    ("cache_read_input_token_cost", Dimension::CachedInput),
    ("cache_creation_input_token_cost", Dimension::CacheCreation),
    ("output_cost_per_reasoning_token", Dimension::Reasoning),
];

/// Service tier suffixes. Others in litellm (`_ultrafast`, `_balanced`, `_decisions`) name tiers
/// Tally does not have, so those fields are not read.
const TIER_SUFFIXES: [(&str, Tier); 3] = [
    ("_batches", Tier::Batch),
    ("_flex", Tier::Flex),
    ("_priority", Tier::Priority),
];

/// The per-unit price fields of non-token services, in the order one is picked, with the unit a
/// quantity counts. Per-image output comes before per-second so that an image model with a video
/// option is priced per image; per-image input comes last because on video models it prices a
/// reference image, not the output.
pub const UNIT_FIELDS: [(&str, &str); 9] = [
    ("ocr_cost_per_page", "page"),
    ("input_cost_per_query", "query"),
    ("output_cost_per_image", "image"),
    ("input_cost_per_second", "second"),
    ("output_cost_per_second", "second"),
    ("cost_per_second", "second"),
    ("output_cost_per_video_per_second", "second"),
    ("input_cost_per_character", "character"),
    ("input_cost_per_image", "image"),
];

/// What one per-token price field prices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenField {
    pub dimension: Dimension,
    pub tier: Tier,
    /// 0 for the base rate; N×1000 for `_above_<N>k_tokens`.
    pub min_input_tokens: u64,
}

/// Reads a field name as `<base>[_above_<N>k_tokens][_batches|_flex|_priority]`. Anything else is
/// not a token price Tally uses: audio, image and video token prices, cache prices by duration
/// (`_above_1hr`, `_above_12hr`), `input_cost_per_token_cache_hit` (always equal to
/// `cache_read_input_token_cost` where both exist).
pub fn token_field(name: &str) -> Option<TokenField> {
    let (rest, dimension) = TOKEN_BASES
        .iter()
        .find_map(|(base, dimension)| name.strip_prefix(base).map(|rest| (rest, *dimension)))?;
    let (rest, tier) = TIER_SUFFIXES
        .iter()
        .find_map(|(suffix, tier)| rest.strip_suffix(suffix).map(|rest| (rest, *tier)))
        .unwrap_or((rest, Tier::Standard));
    let min_input_tokens = if rest.is_empty() { 0 } else { threshold(rest)? };
    Some(TokenField {
        dimension,
        tier,
        min_input_tokens,
    })
}

/// `_above_272k_tokens` → 272000.
fn threshold(suffix: &str) -> Option<u64> {
    let thousands = suffix.strip_prefix("_above_")?.strip_suffix("k_tokens")?;
    if thousands.is_empty() || !thousands.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    thousands.parse::<u64>().ok()?.checked_mul(1000)
}

/// Why a price field's value was not used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("not a number: {0}")]
    NotANumber(String),
    #[error("negative: {0}")]
    Negative(String),
    #[error("not representable exactly as a decimal: {0}")]
    Unrepresentable(String),
}

/// Reads a JSON number from its text into an exact decimal, never through a binary float:
/// `1.25e-07` is 0.000000125 exactly. A value that needs more than 28 decimal places or 96 bits of
/// mantissa is refused rather than rounded.
pub fn parse_decimal(json: &str) -> Result<Decimal, ValueError> {
    let text = json.trim();
    let numeric = text
        .bytes()
        .all(|byte| byte.is_ascii_digit() || matches!(byte, b'.' | b'-' | b'+' | b'e' | b'E'));
    if text.is_empty() || !numeric {
        return Err(ValueError::NotANumber(text.to_owned()));
    }
    let unrepresentable = || ValueError::Unrepresentable(text.to_owned());
    let value = match text.split_once(['e', 'E']) {
        None => Decimal::from_str_exact(text).map_err(|_| unrepresentable())?,
        Some((mantissa, _)) => {
            // `from_scientific` rounds a mantissa with too many digits; check it exactly first.
            Decimal::from_str_exact(mantissa).map_err(|_| unrepresentable())?;
            Decimal::from_scientific(text).map_err(|_| unrepresentable())?
        }
    };
    if value.is_sign_negative() && !value.is_zero() {
        return Err(ValueError::Negative(text.to_owned()));
    }
    Ok(value)
}

/// A whole number of tokens from a JSON number's text (`256000.0` is 256000).
pub fn parse_token_count(json: &str) -> Result<u64, ValueError> {
    let value = parse_decimal(json)?;
    if !value.fract().is_zero() {
        return Err(ValueError::NotANumber(json.trim().to_owned()));
    }
    u64::try_from(value.trunc()).map_err(|_| ValueError::Unrepresentable(json.trim().to_owned()))
}
