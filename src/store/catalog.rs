//! The shipped price catalog in the database: catalog prices with their history, provider
//! conventions, model aliases. An import only ever adds price rows: a changed price is a new row in
//! force from the import, so that events before it keep the price they were billed at.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    IntoActiveModel, QueryOrder,
};
use uuid::Uuid;

use super::{
    StoreError, begin_write,
    entities::{catalog_prices, model_aliases, provider_conventions},
};
use crate::domain::{
    catalog::{Catalog, ModelAlias, ProviderConvention},
    pricing::{Convention, Dimension, Tier},
};

/// Rows per multi-row insert: 9 columns each, 27,000 parameters, under SQLite's limit of 32,766.
/// Few large statements: on PostgreSQL over TCP each statement costs about 60 ms here whatever its
/// size (sqlx leaves Nagle's algorithm on), so 300-row chunks made a first import take 3.7 s.
const ROWS_PER_INSERT: usize = 3000;

/// How many changed or absent prices a report names.
const EXAMPLES: usize = 5;

/// A stored catalog price.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogPriceRow {
    pub id: Uuid,
    pub provider: String,
    pub model: String,
    pub tier: Tier,
    pub dimension: Dimension,
    /// 0 for the base rate; else a long-context rate for calls whose input exceeds it.
    pub min_input_tokens: u64,
    pub unit_price: Decimal,
    /// In force from this time until the next row of the same key.
    pub effective_time: DateTime<Utc>,
}

/// The key a price is in force for; its history is the rows of one key by effective time.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PriceKey {
    pub provider: String,
    pub model: String,
    pub dimension: Dimension,
    pub tier: Tier,
    pub min_input_tokens: u64,
}

impl std::fmt::Display for PriceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.provider,
            self.model,
            self.dimension.as_str()
        )?;
        if self.tier != Tier::Standard {
            write!(f, " {}", self.tier.as_str())?;
        }
        if self.min_input_tokens > 0 {
            write!(f, " above {} tokens", self.min_input_tokens)?;
        }
        Ok(())
    }
}

/// A price the import changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceChange {
    pub key: PriceKey,
    pub old: Decimal,
    pub new: Decimal,
}

/// What an import did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportReport {
    /// Provider+model entries in the file.
    pub models: usize,
    /// Providers in the file.
    pub providers: usize,
    /// Prices new to the catalog.
    pub prices_added: usize,
    /// Prices that differ from the one in force; a new row each.
    pub prices_changed: usize,
    /// Up to five changes.
    pub changed_examples: Vec<PriceChange>,
    pub prices_unchanged: usize,
    /// Prices in the catalog that the file does not have; kept, still in force.
    pub prices_absent: usize,
    /// Up to five of them.
    pub absent_examples: Vec<PriceKey>,
    /// Entries of the file that named a provider and model already read.
    pub duplicate_keys_skipped: usize,
    /// Values of the file that could not be read as prices.
    pub values_skipped: Vec<String>,
    /// Provider conventions written (new or different).
    pub conventions_written: usize,
    /// Model aliases written (new or pointing elsewhere).
    pub aliases_written: usize,
    /// When the added and changed prices come into force: the Unix epoch on the first import (the
    /// catalog was empty), the import time after.
    pub effective_time: DateTime<Utc>,
}

impl ImportReport {
    /// Whether the import wrote any price.
    pub fn changed_anything(&self) -> bool {
        self.prices_added > 0 || self.prices_changed > 0
    }
}

/// Imports a parsed catalog in one transaction. Idempotent: a price equal to the one in force for
/// its key writes nothing; a different one adds a row in force from `now`; a key new to the catalog
/// is in force from the Unix epoch on the first import (so that back-filled events are priced) and
/// from `now` after; a price the file lacks is kept. Conventions and aliases are upserted; none is
/// ever deleted.
pub async fn import(
    db: &DatabaseConnection,
    catalog: &Catalog,
    now: DateTime<Utc>,
) -> Result<ImportReport, StoreError> {
    let txn = begin_write(db).await?;
    let existing = catalog_prices::Entity::find().all(&txn).await?;
    let first_import = existing.is_empty();
    let effective_time = if first_import {
        DateTime::<Utc>::UNIX_EPOCH
    } else {
        now
    };
    let mut in_force: HashMap<PriceKey, (DateTime<Utc>, Decimal)> = HashMap::new();
    for row in existing {
        let row = from_row(row)?;
        let latest = in_force
            .entry(key_of(&row))
            .or_insert((row.effective_time, row.unit_price));
        if row.effective_time > latest.0 {
            *latest = (row.effective_time, row.unit_price);
        }
    }

    let mut report = ImportReport {
        models: catalog.entries.len(),
        providers: catalog.conventions.len(),
        prices_added: 0,
        prices_changed: 0,
        changed_examples: Vec::new(),
        prices_unchanged: 0,
        prices_absent: 0,
        absent_examples: Vec::new(),
        duplicate_keys_skipped: catalog.duplicates.len(),
        values_skipped: catalog.problems.clone(),
        conventions_written: 0,
        aliases_written: 0,
        effective_time,
    };
    let mut new_rows = Vec::new();
    for entry in &catalog.entries {
        for price in &entry.prices {
            let key = PriceKey {
                provider: entry.provider.clone(),
                model: entry.model.clone(),
                dimension: price.dimension,
                tier: price.tier,
                min_input_tokens: price.min_input_tokens,
            };
            match in_force.remove(&key) {
                Some((_, old)) if old == price.unit_price => report.prices_unchanged += 1,
                Some((_, old)) => {
                    report.prices_changed += 1;
                    if report.changed_examples.len() < EXAMPLES {
                        report.changed_examples.push(PriceChange {
                            key: key.clone(),
                            old,
                            new: price.unit_price,
                        });
                    }
                    new_rows.push(new_row(&key, price.unit_price, now, now));
                }
                None => {
                    report.prices_added += 1;
                    new_rows.push(new_row(&key, price.unit_price, effective_time, now));
                }
            }
        }
    }
    // What is left in force was not in the file.
    let absent: BTreeSet<PriceKey> = in_force.into_keys().collect();
    report.prices_absent = absent.len();
    report.absent_examples = absent.into_iter().take(EXAMPLES).collect();

    for chunk in new_rows.chunks(ROWS_PER_INSERT) {
        catalog_prices::Entity::insert_many(chunk.iter().cloned())
            .exec_without_returning(&txn)
            .await?;
    }
    report.conventions_written = write_conventions(&txn, &catalog.conventions, now).await?;
    report.aliases_written = write_aliases(&txn, &catalog.aliases).await?;
    txn.commit().await?;
    Ok(report)
}

fn new_row(
    key: &PriceKey,
    unit_price: Decimal,
    effective_time: DateTime<Utc>,
    now: DateTime<Utc>,
) -> catalog_prices::ActiveModel {
    catalog_prices::ActiveModel {
        id: Set(Uuid::now_v7()),
        provider: Set(key.provider.clone()),
        model: Set(key.model.clone()),
        service_tier: Set(key.tier.as_str().to_owned()),
        dimension: Set(key.dimension.as_str().to_owned()),
        min_input_tokens: Set(i64::try_from(key.min_input_tokens).unwrap_or(i64::MAX)),
        unit_price_usd: Set(unit_price.normalize().to_string()),
        effective_time: Set(effective_time),
        create_time: Set(now),
    }
}

/// Writes the conventions that are new or differ; returns how many.
async fn write_conventions(
    db: &impl ConnectionTrait,
    conventions: &[ProviderConvention],
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let stored: HashMap<String, provider_conventions::Model> = provider_conventions::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.provider.clone(), row))
        .collect();
    let mut inserts = Vec::new();
    let mut written = 0;
    for item in conventions {
        let flags = &item.convention;
        match stored.get(&item.provider) {
            Some(row) if convention_of_row(row) == *flags => {}
            Some(row) => {
                let mut row = row.clone().into_active_model();
                row.cached_input_included_in_input = Set(flags.cached_input_in_input);
                row.cache_creation_included_in_input = Set(flags.cache_creation_in_input);
                row.reasoning_included_in_output = Set(flags.reasoning_in_output);
                row.update_time = Set(now);
                row.update(db).await?;
                written += 1;
            }
            None => {
                inserts.push(provider_conventions::ActiveModel {
                    provider: Set(item.provider.clone()),
                    cached_input_included_in_input: Set(flags.cached_input_in_input),
                    cache_creation_included_in_input: Set(flags.cache_creation_in_input),
                    reasoning_included_in_output: Set(flags.reasoning_in_output),
                    update_time: Set(now),
                });
                written += 1;
            }
        }
    }
    for chunk in inserts.chunks(ROWS_PER_INSERT) {
        provider_conventions::Entity::insert_many(chunk.iter().cloned())
            .exec_without_returning(db)
            .await?;
    }
    Ok(written)
}

/// Writes the aliases that are new or point to another model; returns how many.
async fn write_aliases(
    db: &impl ConnectionTrait,
    aliases: &[ModelAlias],
) -> Result<usize, StoreError> {
    let stored: HashMap<(String, String), String> = model_aliases::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|row| ((row.provider, row.alias), row.model))
        .collect();
    let mut inserts = Vec::new();
    let mut written = 0;
    for alias in aliases {
        let row = model_aliases::ActiveModel {
            provider: Set(alias.provider.clone()),
            alias: Set(alias.alias.clone()),
            model: Set(alias.model.clone()),
        };
        match stored.get(&(alias.provider.clone(), alias.alias.clone())) {
            Some(model) if *model == alias.model => {}
            Some(_) => {
                row.update(db).await?;
                written += 1;
            }
            None => {
                inserts.push(row);
                written += 1;
            }
        }
    }
    for chunk in inserts.chunks(ROWS_PER_INSERT) {
        model_aliases::Entity::insert_many(chunk.iter().cloned())
            .exec_without_returning(db)
            .await?;
    }
    Ok(written)
}

/// Every catalog price row, history included, ordered by provider, model, tier, dimension,
/// threshold and effective time.
pub async fn load(db: &impl ConnectionTrait) -> Result<Vec<CatalogPriceRow>, StoreError> {
    catalog_prices::Entity::find()
        .order_by_asc(catalog_prices::Column::Provider)
        .order_by_asc(catalog_prices::Column::Model)
        .order_by_asc(catalog_prices::Column::ServiceTier)
        .order_by_asc(catalog_prices::Column::Dimension)
        .order_by_asc(catalog_prices::Column::MinInputTokens)
        .order_by_asc(catalog_prices::Column::EffectiveTime)
        .all(db)
        .await?
        .into_iter()
        .map(from_row)
        .collect()
}

/// Every provider's convention, ordered by provider.
pub async fn load_conventions(
    db: &impl ConnectionTrait,
) -> Result<Vec<ProviderConvention>, StoreError> {
    Ok(provider_conventions::Entity::find()
        .order_by_asc(provider_conventions::Column::Provider)
        .all(db)
        .await?
        .into_iter()
        .map(|row| ProviderConvention {
            convention: convention_of_row(&row),
            provider: row.provider,
        })
        .collect())
}

/// Every model alias, ordered by provider and alias.
pub async fn load_aliases(db: &impl ConnectionTrait) -> Result<Vec<ModelAlias>, StoreError> {
    Ok(model_aliases::Entity::find()
        .order_by_asc(model_aliases::Column::Provider)
        .order_by_asc(model_aliases::Column::Alias)
        .all(db)
        .await?
        .into_iter()
        .map(|row| ModelAlias {
            provider: row.provider,
            alias: row.alias,
            model: row.model,
        })
        .collect())
}

/// Whether the catalog has no price at all (a new database).
pub async fn is_empty(db: &impl ConnectionTrait) -> Result<bool, StoreError> {
    Ok(catalog_prices::Entity::find().one(db).await?.is_none())
}

fn convention_of_row(row: &provider_conventions::Model) -> Convention {
    Convention {
        cached_input_in_input: row.cached_input_included_in_input,
        cache_creation_in_input: row.cache_creation_included_in_input,
        reasoning_in_output: row.reasoning_included_in_output,
    }
}

fn key_of(row: &CatalogPriceRow) -> PriceKey {
    PriceKey {
        provider: row.provider.clone(),
        model: row.model.clone(),
        dimension: row.dimension,
        tier: row.tier,
        min_input_tokens: row.min_input_tokens,
    }
}

pub(super) fn from_row(row: catalog_prices::Model) -> Result<CatalogPriceRow, StoreError> {
    let corrupt =
        |what: &str| StoreError::Other(DbErr::Type(format!("price {}: bad {what}", row.id)));
    Ok(CatalogPriceRow {
        id: row.id,
        tier: Tier::parse(&row.service_tier).ok_or_else(|| corrupt("service_tier"))?,
        dimension: Dimension::parse(&row.dimension).ok_or_else(|| corrupt("dimension"))?,
        min_input_tokens: u64::try_from(row.min_input_tokens)
            .map_err(|_| corrupt("min_input_tokens"))?,
        unit_price: Decimal::from_str_exact(&row.unit_price_usd)
            .map_err(|_| corrupt("unit_price_usd"))?,
        effective_time: row.effective_time,
        provider: row.provider,
        model: row.model,
    })
}
