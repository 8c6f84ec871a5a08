//! Pricing: what one service line costs, from the unit prices in force at its usage time and its
//! provider's token convention. Pure arithmetic in `rust_decimal`; no I/O, no floats.

mod arithmetic;
#[cfg(test)]
mod conversion_tests;
#[cfg(test)]
mod tests;
mod types;

pub use arithmetic::{LinePrice, manual_item, price_line, validate_counts};
pub use types::{
    Convention, CostItem, Dimension, ModelPrices, PriceRef, PriceSource, RatePrice, Tier, Usage,
    normalize_name,
};
