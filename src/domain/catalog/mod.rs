//! The price catalog: litellm's price list read into exact decimal prices per provider and model,
//! with each provider's token convention and the model aliases the list itself states. Pure: text
//! in, values out. The shipped catalog (`catalog/litellm_prices.json`, see `catalog/README.md`) is
//! compiled into the binary.

mod derive;
mod fields;
mod providers;
mod source;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;

use crate::domain::pricing::{Convention, Dimension, Tier, normalize_name};

pub use derive::{Derived, derive};
pub use fields::{TOKEN_MODES, TokenField, UNIT_FIELDS, ValueError, parse_decimal, token_field};
pub use providers::{
    GEMINI_STYLE, PROVIDER_ALIASES, PROVIDER_RULES, ProviderRule, convention_of, model_of,
    provider_alias,
};

/// The shipped catalog, derived from litellm's price list (see `catalog/README.md`).
pub const EMBEDDED: &str = include_str!("../../../catalog/litellm_prices.json");

/// litellm's documentation entry, not a model.
const SAMPLE_SPEC: &str = "sample_spec";

/// One unit price of a catalog model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogPrice {
    pub dimension: Dimension,
    pub tier: Tier,
    /// 0 for the base rate; else the rate replaces the base rate for the whole call when the call's
    /// input passes this many tokens.
    pub min_input_tokens: u64,
    /// USD per token, or per unit for [`Dimension::Unit`].
    pub unit_price: Decimal,
}

/// The prices of one provider and model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogEntry {
    /// Trimmed and lowercased litellm provider (`openai`, `vertex_ai-anthropic_models`).
    pub provider: String,
    /// Trimmed and lowercased model, without a prefix naming the provider.
    pub model: String,
    /// The litellm key the prices come from, as written.
    pub key: String,
    /// What a UNIT price counts (`page`, `query`, `image`, `second`, `character`); not stored.
    pub unit: Option<&'static str>,
    /// Sorted by dimension, tier and threshold; never empty.
    pub prices: Vec<CatalogPrice>,
}

/// What a provider's reported token counts include.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderConvention {
    pub provider: String,
    pub convention: Convention,
}

/// A name the catalog gives a model besides its own: the key with its provider prefix
/// (`gemini/gemini-2.5-pro` for `gemini-2.5-pro` of `gemini`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ModelAlias {
    pub provider: String,
    pub alias: String,
    pub model: String,
}

/// Two keys that name the same provider and model; the first is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DuplicateKey {
    pub kept: String,
    pub skipped: String,
    /// Whether the skipped entry's prices differ from the kept one's.
    pub prices_differ: bool,
}

/// A parsed price list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    /// Sorted by provider and model, one per provider and model.
    pub entries: Vec<CatalogEntry>,
    /// One per provider of `entries`, sorted.
    pub conventions: Vec<ProviderConvention>,
    /// Sorted; never an alias that is itself a model of the provider.
    pub aliases: Vec<ModelAlias>,
    pub duplicates: Vec<DuplicateKey>,
    /// Values that could not be read as prices (`key: field: reason`); the rest of the entry is kept.
    pub problems: Vec<String>,
}

impl Catalog {
    /// Number of prices over all entries.
    pub fn price_count(&self) -> usize {
        self.entries.iter().map(|entry| entry.prices.len()).sum()
    }
}

/// Why a price list could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("not a litellm price file: the top level is not a JSON object")]
    NotAnObject,
}

/// A candidate entry before duplicates are resolved.
struct Candidate {
    key: String,
    prefixed: bool,
    unit: Option<&'static str>,
    prices: Vec<CatalogPrice>,
}

/// Parses a litellm-format price file (litellm's own or the shipped subset).
///
/// Entries whose key and provider normalize to the same provider and model are duplicates: the one
/// whose key carries the provider prefix is kept (litellm looks up `provider/model` first when the
/// provider is known), then the smallest key; the others are reported in `duplicates`.
pub fn parse(text: &str) -> Result<Catalog, CatalogError> {
    let members = source::Members::parse(text).ok_or(CatalogError::NotAnObject)?;
    let mut catalog = Catalog::default();
    let mut candidates: BTreeMap<(String, String), Vec<Candidate>> = BTreeMap::new();
    for (key, value) in &members.0 {
        if key == SAMPLE_SPEC {
            continue;
        }
        let Some(entry) = source::Members::parse(value.get()) else {
            catalog.problems.push(format!("{key}: not a JSON object"));
            continue;
        };
        let Some(litellm_provider) = entry.string("litellm_provider") else {
            continue;
        };
        let read = source::read_prices(key, &entry);
        catalog.problems.extend(read.problems);
        if read.prices.is_empty() {
            continue;
        }
        let (model, prefixed) = model_of(key, &litellm_provider);
        let (provider, model) = (normalize_name(&litellm_provider), normalize_name(model));
        if provider.is_empty() || model.is_empty() {
            catalog
                .problems
                .push(format!("{key}: empty provider or model"));
            continue;
        }
        candidates
            .entry((provider, model))
            .or_default()
            .push(Candidate {
                key: key.clone(),
                prefixed,
                unit: read.unit,
                prices: read.prices,
            });
    }

    let mut aliases = BTreeSet::new();
    for ((provider, model), mut group) in candidates {
        group.sort_by(|a, b| b.prefixed.cmp(&a.prefixed).then_with(|| a.key.cmp(&b.key)));
        for candidate in group.iter().filter(|candidate| candidate.prefixed) {
            aliases.insert(ModelAlias {
                provider: provider.clone(),
                alias: normalize_name(&candidate.key),
                model: model.clone(),
            });
        }
        let mut group = group.into_iter();
        let Some(kept) = group.next() else {
            continue;
        };
        for skipped in group {
            catalog.duplicates.push(DuplicateKey {
                kept: kept.key.clone(),
                skipped: skipped.key,
                prices_differ: skipped.prices != kept.prices,
            });
        }
        catalog.entries.push(CatalogEntry {
            provider,
            model,
            key: kept.key,
            unit: kept.unit,
            prices: kept.prices,
        });
    }

    let models: BTreeSet<(&str, &str)> = catalog
        .entries
        .iter()
        .map(|entry| (entry.provider.as_str(), entry.model.as_str()))
        .collect();
    catalog.aliases = aliases
        .into_iter()
        .filter(|alias| !models.contains(&(alias.provider.as_str(), alias.alias.as_str())))
        .collect();
    let providers: BTreeSet<&str> = catalog
        .entries
        .iter()
        .map(|entry| entry.provider.as_str())
        .collect();
    catalog.conventions = providers
        .into_iter()
        .map(|provider| ProviderConvention {
            provider: provider.to_owned(),
            convention: convention_of(provider),
        })
        .collect();
    Ok(catalog)
}
