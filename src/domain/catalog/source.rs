//! Reading litellm's JSON: objects in file order with every value kept as its raw JSON text, and the
//! prices of one entry. Numbers stay text until [`parse_decimal`] makes exact decimals of them.

use std::fmt;

use serde::{
    Deserialize, Deserializer,
    de::{MapAccess, Visitor},
};
use serde_json::value::RawValue;

use super::{
    CatalogPrice,
    fields::{TOKEN_MODES, UNIT_FIELDS, parse_decimal, parse_token_count, token_field},
};
use crate::domain::pricing::{Dimension, Tier};

/// The members of a JSON object in file order, values as raw JSON text. File order makes the
/// derived catalog diff cleanly against litellm's file; a repeated key is kept twice, not merged.
pub struct Members<'a>(pub Vec<(String, &'a RawValue)>);

impl<'a> Members<'a> {
    /// Parses `json` as an object; `None` when it is anything else.
    pub fn parse(json: &'a str) -> Option<Self> {
        serde_json::from_str(json).ok()
    }

    pub fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| *value)
    }

    /// The member's value when it is a JSON string.
    pub fn string(&self, name: &str) -> Option<String> {
        serde_json::from_str(self.get(name)?.get()).ok()
    }
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some((key, value)) = map.next_entry::<String, &'de RawValue>()? {
                    members.push((key, value));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

/// The prices read from one entry, with the fields they came from (the derived file keeps only
/// those) and the values that could not be used.
#[derive(Debug, Default)]
pub struct EntryPrices {
    pub prices: Vec<CatalogPrice>,
    /// The unit a UNIT price counts (`page`, `query`, `image`, `second`, `character`).
    pub unit: Option<&'static str>,
    /// Top-level price fields used, in file order (`tiered_pricing` included when used).
    pub used_fields: Vec<String>,
    pub problems: Vec<String>,
}

/// Reads the prices of one entry: per-token prices for token modes, one per-unit price otherwise.
pub fn read_prices(key: &str, entry: &Members<'_>) -> EntryPrices {
    let mut read = EntryPrices::default();
    let mode = entry.string("mode");
    if mode
        .as_deref()
        .is_some_and(|mode| TOKEN_MODES.contains(&mode))
    {
        read_token_prices(key, entry, &mut read);
    } else {
        read_unit_price(key, entry, &mut read);
    }
    read.prices
        .sort_by_key(|price| (price.dimension, price.tier, price.min_input_tokens));
    read
}

fn read_token_prices(key: &str, entry: &Members<'_>, read: &mut EntryPrices) {
    for (name, value) in &entry.0 {
        let Some(field) = token_field(name) else {
            continue;
        };
        if value.get() == "null" {
            continue;
        }
        match parse_decimal(value.get()) {
            Ok(unit_price) => {
                if add_price(
                    read,
                    field.dimension,
                    field.tier,
                    field.min_input_tokens,
                    unit_price,
                ) {
                    read.used_fields.push(name.clone());
                }
            }
            Err(error) => read.problems.push(format!("{key}: {name}: {error}")),
        }
    }
    if let Some(tiers) = entry.get("tiered_pricing")
        && read_tiered_pricing(key, tiers, read)
    {
        read.used_fields.push("tiered_pricing".to_owned());
    }
}

/// Reads `tiered_pricing`, a list of `{"range": [from, to], "<price field>": …}` by input size
/// (DashScope, Volcengine): the whole call is billed at the tier its input falls in, which is a
/// long-context rate for calls whose input exceeds `from` tokens. Lists by another measure
/// (`max_results_range` of search APIs) are not input sizes and are ignored. A rate the flat fields already give wins.
fn read_tiered_pricing(key: &str, tiers: &RawValue, read: &mut EntryPrices) -> bool {
    let Ok(tiers) = serde_json::from_str::<Vec<&RawValue>>(tiers.get()) else {
        return false;
    };
    let mut used = false;
    for tier in tiers {
        let Some(tier) = Members::parse(tier.get()) else {
            continue;
        };
        let Some(range) = tier.get("range") else {
            continue;
        };
        let from = serde_json::from_str::<Vec<&RawValue>>(range.get())
            .ok()
            .filter(|bounds| bounds.len() == 2)
            .map(|bounds| parse_token_count(bounds[0].get()));
        let from = match from {
            Some(Ok(from)) => from,
            _ => {
                read.problems
                    .push(format!("{key}: tiered_pricing: bad range {}", range.get()));
                continue;
            }
        };
        for (name, value) in &tier.0 {
            let Some(field) = token_field(name).filter(|field| field.min_input_tokens == 0) else {
                continue;
            };
            match parse_decimal(value.get()) {
                Ok(unit_price) => {
                    used |= add_price(read, field.dimension, field.tier, from, unit_price);
                }
                Err(error) => read
                    .problems
                    .push(format!("{key}: tiered_pricing: {name}: {error}")),
            }
        }
    }
    used
}

/// Picks the first field of [`UNIT_FIELDS`] with a price above zero; failing that, the first with
/// a price at all (a free service).
fn read_unit_price(key: &str, entry: &Members<'_>, read: &mut EntryPrices) {
    let mut chosen = None;
    for (name, unit) in UNIT_FIELDS {
        let Some(value) = entry.get(name) else {
            continue;
        };
        if value.get() == "null" {
            continue;
        }
        match parse_decimal(value.get()) {
            Ok(price) if price.is_zero() => {
                chosen.get_or_insert((name, unit, price));
            }
            Ok(price) => {
                chosen = Some((name, unit, price));
                break;
            }
            Err(error) => read.problems.push(format!("{key}: {name}: {error}")),
        }
    }
    if let Some((name, unit, price)) = chosen {
        add_price(read, Dimension::Unit, Tier::Standard, 0, price);
        read.unit = Some(unit);
        read.used_fields.push(name.to_owned());
    }
}

/// Adds a price unless the entry already has one for that dimension, tier and threshold.
fn add_price(
    read: &mut EntryPrices,
    dimension: Dimension,
    tier: Tier,
    min_input_tokens: u64,
    unit_price: rust_decimal::Decimal,
) -> bool {
    let taken = read.prices.iter().any(|price| {
        (price.dimension, price.tier, price.min_input_tokens) == (dimension, tier, min_input_tokens)
    });
    if !taken {
        read.prices.push(CatalogPrice {
            dimension,
            tier,
            min_input_tokens,
            unit_price,
        });
    }
    !taken
}
