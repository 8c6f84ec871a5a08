//! The project side of pricing: its own prices, its model mappings, filling in missing volume, and
//! the read-only questions (what a model costs, what a usage would cost, what is unpriced).

use std::{collections::BTreeSet, sync::Arc};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::{
    line_pricing::{keep_total_in_range, price_lines, price_reported},
    price_book::PriceBook,
    repricing::{Reason, reprice_parked},
};
use crate::{
    domain::{
        DomainError, FieldViolation,
        event::{EventStatus, LineInput, RawCounts, check_count},
        ledger::PricedLine,
        pricing::{Convention, ModelPrices},
        tenant::Tenant,
    },
    store::{
        self, StoreError,
        events::StoredEvent,
        pricing_admin::{self, Mapping, NewPrice, PriceFilter, StoredPrice, UnpricedModel},
        repricing::Cause,
    },
};

/// Project prices, mappings and repricing.
pub struct PricingService {
    db: DatabaseConnection,
    prices: Arc<PriceBook>,
}

/// What `GetPrice` answers: the prices in force and how the name was resolved.
pub struct PriceLookup {
    pub prices: ModelPrices,
    pub mapping: Option<Mapping>,
    /// The convention an event's counts of the asked provider are read in (its own, mapped or not).
    pub counts_convention: Convention,
}

/// A line to quote, already checked.
pub type QuoteLine = LineInput;

impl PricingService {
    pub fn new(db: DatabaseConnection, prices: Arc<PriceBook>) -> Self {
        Self { db, prices }
    }

    /// Adds a project price and prices the parked events it covers, in one transaction.
    pub async fn set_price(
        &self,
        tenant: Tenant,
        price: NewPrice,
    ) -> Result<(StoredPrice, usize), DomainError> {
        let txn = store::begin_write(&self.db).await?;
        let stored = match pricing_admin::insert_price(&txn, tenant.project_id, &price).await {
            Ok(stored) => stored,
            Err(StoreError::Conflict(_)) => {
                return Err(DomainError::AlreadyExists {
                    what: "price",
                    id: format!(
                        "{}/{} {} {} from {}",
                        price.provider,
                        price.model,
                        price.dimension.as_str(),
                        price.tier.as_str(),
                        price.effective_time.to_rfc3339()
                    ),
                });
            }
            Err(error) => return Err(error.into()),
        };
        let reason = Reason {
            cause: Cause::SetPrice,
            detail: format!("project price for {}/{} set", price.provider, price.model),
            time: store::now(),
        };
        let model = (price.provider.clone(), price.model.clone());
        let from = Some(price.effective_time);
        let repriced =
            reprice_parked(&txn, tenant.project_id, &self.prices, &model, from, &reason).await?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok((stored, repriced))
    }

    /// Maps an unknown model to a known one and prices its parked events, in one transaction.
    pub async fn map_model(
        &self,
        tenant: Tenant,
        from: (String, String),
        to: (String, String),
    ) -> Result<(Mapping, usize), DomainError> {
        let now = store::now();
        let txn = store::begin_write(&self.db).await?;
        let names = BTreeSet::from([from.clone(), to.clone()]);
        let before = self
            .prices
            .for_project(&txn, tenant.project_id, &names)
            .await?;
        if before.priced_without_mapping(&from.0, &from.1, now) {
            return Err(DomainError::FailedPrecondition {
                reason: "MODEL_HAS_PRICES",
                message: format!(
                    "{}/{} has prices of its own; map only models with none",
                    from.0, from.1
                ),
            });
        }
        if !before.priced_without_mapping(&to.0, &to.1, now) {
            return Err(DomainError::FailedPrecondition {
                reason: "TARGET_HAS_NO_PRICES",
                message: format!("{}/{} has no price to map to", to.0, to.1),
            });
        }
        let mapping =
            pricing_admin::upsert_mapping(&txn, tenant.project_id, &from, &to, now).await?;
        let reason = Reason {
            cause: Cause::MapModel,
            detail: format!("mapped {}/{} to {}/{}", from.0, from.1, to.0, to.1),
            time: now,
        };
        let repriced =
            reprice_parked(&txn, tenant.project_id, &self.prices, &from, None, &reason).await?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok((mapping, repriced))
    }

    /// Gives counts to a line parked for missing volume and prices it.
    pub async fn fill_volume(
        &self,
        tenant: Tenant,
        event_id: Uuid,
        line_index: usize,
        counts: RawCounts,
    ) -> Result<StoredEvent, DomainError> {
        let txn = store::begin_write(&self.db).await?;
        let mut stored = store::events::load(&txn, tenant.project_id, &[event_id])
            .await?
            .pop()
            .ok_or_else(|| DomainError::NotFound {
                what: "event",
                id: event_id.to_string(),
            })?;
        let Some(line) = stored.priced.lines.get(line_index) else {
            return Err(DomainError::NotFound {
                what: "line",
                id: format!("{event_id} line {line_index}"),
            });
        };
        if line.status != EventStatus::MissingVolumeData {
            return Err(DomainError::FailedPrecondition {
                reason: "LINE_NOT_MISSING_VOLUME",
                message: format!(
                    "line {line_index} is {}, not MISSING_VOLUME_DATA",
                    line.status.as_str()
                ),
            });
        }
        let mut usage = line.usage;
        let fill = |target: &mut Option<u64>, value: Option<u64>| {
            if value.is_some() {
                *target = value;
            }
        };
        fill(&mut usage.input_tokens, counts.input_tokens);
        fill(&mut usage.output_tokens, counts.output_tokens);
        fill(&mut usage.cached_input_tokens, counts.cached_input_tokens);
        fill(
            &mut usage.cache_creation_tokens,
            counts.cache_creation_tokens,
        );
        fill(&mut usage.reasoning_tokens, counts.reasoning_tokens);
        fill(&mut usage.quantity, counts.quantity);
        let names = BTreeSet::from([(line.provider.clone(), line.model.clone())]);
        let prices = self
            .prices
            .for_project(&txn, tenant.project_id, &names)
            .await?;
        let resolved = prices.resolve(&line.provider, &line.model, stored.priced.usage_time);
        let mut violations = Vec::new();
        for (value, field) in [
            (counts.input_tokens, "input_tokens"),
            (counts.output_tokens, "output_tokens"),
            (counts.cached_input_tokens, "cached_input_tokens"),
            (counts.cache_creation_tokens, "cache_creation_tokens"),
            (counts.reasoning_tokens, "reasoning_tokens"),
            (counts.quantity, "quantity"),
        ] {
            check_count(value, field, &mut violations);
        }
        if counts == RawCounts::default() {
            violations.push(FieldViolation::new(
                "input_tokens",
                "give at least one count",
            ));
        }
        let mut filled = stored.priced.lines[line_index].clone();
        filled.usage = usage;
        // Price the filled line as ingest would, then write the event through the common path.
        let priced = price_reported(line_index, &filled.input(), resolved)
            .map_err(|found| violations.extend(found));
        let (Ok(priced), true) = (priced, violations.is_empty()) else {
            return Err(DomainError::Invalid(violations));
        };
        let detail = format!("line {line_index}: counts filled");
        let mut new = stored.priced.clone();
        new.lines[line_index] = priced;
        keep_total_in_range(&mut new.lines, &stored.priced.lines);
        let reason = Reason {
            cause: Cause::FillVolume,
            detail,
            time: store::now(),
        };
        store::repricing::rewrite(
            &txn,
            tenant.project_id,
            &[(stored.priced.clone(), new)],
            reason.cause,
            &reason.detail,
            reason.time,
        )
        .await?;
        stored = store::events::load(&txn, tenant.project_id, &[event_id])
            .await?
            .pop()
            .ok_or_else(|| DomainError::NotFound {
                what: "event",
                id: event_id.to_string(),
            })?;
        txn.commit().await.map_err(StoreError::from)?;
        Ok(stored)
    }

    /// The prices an event of this provider and model would be priced with at `at`.
    pub async fn get_price(
        &self,
        tenant: Tenant,
        provider: &str,
        model: &str,
        at: DateTime<Utc>,
    ) -> Result<PriceLookup, DomainError> {
        let names = BTreeSet::from([(provider.to_owned(), model.to_owned())]);
        let prices = self
            .prices
            .for_project(&self.db, tenant.project_id, &names)
            .await?;
        let mapping = match prices.mapping_of(provider, model) {
            Some(_) => {
                pricing_admin::find_mapping(&self.db, tenant.project_id, provider, model).await?
            }
            None => None,
        };
        let resolved = prices.resolve(provider, model, at);
        let prices = resolved.prices.ok_or_else(|| DomainError::NotFound {
            what: "price",
            id: format!("{provider}/{model} at {}", at.to_rfc3339()),
        })?;
        Ok(PriceLookup {
            prices,
            mapping,
            counts_convention: resolved.convention,
        })
    }

    /// What these lines would cost at `at`; nothing is stored.
    pub async fn quote(
        &self,
        tenant: Tenant,
        lines: &[QuoteLine],
        at: DateTime<Utc>,
    ) -> Result<Vec<PricedLine>, DomainError> {
        let names = lines
            .iter()
            .map(|line| (line.provider.clone(), line.model.clone()))
            .collect();
        let prices = self
            .prices
            .for_project(&self.db, tenant.project_id, &names)
            .await?;
        price_lines(lines, &prices, at, |index| format!("services[{index}]."))
            .map_err(DomainError::Invalid)
    }

    /// One page of catalog and project prices, history included, after `offset`
    /// (`pricing_admin::list_prices` gives the order).
    pub async fn list_prices(
        &self,
        tenant: Tenant,
        filter: &PriceFilter,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<StoredPrice>, DomainError> {
        Ok(pricing_admin::list_prices(&self.db, tenant.project_id, filter, offset, limit).await?)
    }

    /// One page of the project's model mappings (of one source provider when given), by source
    /// provider and model, after `offset`.
    pub async fn list_mappings(
        &self,
        tenant: Tenant,
        from_provider: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<Mapping>, DomainError> {
        Ok(
            pricing_admin::list_mappings(&self.db, tenant.project_id, from_provider, offset, limit)
                .await?,
        )
    }

    /// One page of the provider+models that parked events wait on a price for (events of `window`
    /// when given, by usage time), most events first, after `offset`.
    pub async fn list_unpriced(
        &self,
        tenant: Tenant,
        window: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
        offset: u64,
        limit: u64,
    ) -> Result<Vec<UnpricedModel>, DomainError> {
        Ok(
            pricing_admin::list_unpriced(&self.db, tenant.project_id, window, offset, limit)
                .await?,
        )
    }
}
