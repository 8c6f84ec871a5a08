//! The price book: the catalog held in memory (it is read for every line and changes only on
//! import), and per batch the project's own prices and mappings for the names the batch uses.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use uuid::Uuid;

use crate::{
    domain::{
        catalog::{convention_of, provider_alias},
        pricing::{Convention, Dimension, ModelPrices, PriceRef, PriceSource, RatePrice, Tier},
    },
    store::{
        StoreError,
        catalog::{self, CatalogPriceRow},
        prices::{self, ServiceName},
    },
};

/// How often a server looks for a catalog imported by another process (`tally prices import`).
const RELOAD_CHECK: Duration = Duration::from_secs(10);

/// The catalog, indexed by provider and model.
#[derive(Default)]
pub struct CatalogIndex {
    rates: HashMap<ServiceName, Vec<CatalogPriceRow>>,
    conventions: HashMap<String, Convention>,
    aliases: HashMap<ServiceName, String>,
    providers: BTreeSet<String>,
    rows: usize,
}

impl CatalogIndex {
    async fn load(db: &impl ConnectionTrait) -> Result<Self, StoreError> {
        let mut index = Self::default();
        for row in catalog::load(db).await? {
            index.providers.insert(row.provider.clone());
            index.rows += 1;
            index
                .rates
                .entry((row.provider.clone(), row.model.clone()))
                .or_default()
                .push(row);
        }
        for convention in catalog::load_conventions(db).await? {
            index
                .conventions
                .insert(convention.provider, convention.convention);
        }
        for alias in catalog::load_aliases(db).await? {
            index
                .aliases
                .insert((alias.provider, alias.alias), alias.model);
        }
        Ok(index)
    }

    /// The catalog provider a caller's provider name means (`google` → `gemini`).
    fn provider(&self, sent: &str) -> String {
        if self.providers.contains(sent) {
            return sent.to_owned();
        }
        provider_alias(sent).map_or_else(|| sent.to_owned(), str::to_owned)
    }

    /// The provider's convention; a provider the catalog does not know reports every count apart.
    fn convention(&self, provider: &str) -> Convention {
        if !self.providers.contains(provider) {
            return Convention::APART;
        }
        self.conventions
            .get(provider)
            .copied()
            .unwrap_or_else(|| convention_of(provider))
    }
}

/// The catalog in memory, reloaded when another process imports prices.
pub struct PriceBook {
    index: RwLock<Arc<CatalogIndex>>,
    last_check: RwLock<Instant>,
    /// Whether the catalog was read at all: until then (while the server starts and imports it)
    /// nothing may be priced, or every line would be parked as an unknown model.
    loaded: AtomicBool,
}

impl PriceBook {
    /// Loads the catalog.
    pub async fn load(db: &DatabaseConnection) -> Result<Self, StoreError> {
        Ok(Self {
            index: RwLock::new(Arc::new(CatalogIndex::load(db).await?)),
            last_check: RwLock::new(Instant::now()),
            loaded: AtomicBool::new(true),
        })
    }

    /// An empty book, before the database answers.
    pub fn empty() -> Self {
        Self {
            index: RwLock::new(Arc::new(CatalogIndex::default())),
            last_check: RwLock::new(Instant::now()),
            loaded: AtomicBool::new(false),
        }
    }

    /// Reloads the catalog now.
    pub async fn reload(&self, db: &impl ConnectionTrait) -> Result<(), StoreError> {
        let index = Arc::new(CatalogIndex::load(db).await?);
        *self
            .index
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = index;
        *self
            .last_check
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Instant::now();
        self.loaded.store(true, Ordering::Release);
        Ok(())
    }

    /// Reloads the catalog when its row count changed, checking at most every few seconds.
    pub async fn refresh(&self, db: &impl ConnectionTrait) -> Result<(), StoreError> {
        let due = self
            .last_check
            .read()
            .map(|last| last.elapsed() >= RELOAD_CHECK)
            .unwrap_or(true);
        if !due {
            return Ok(());
        }
        *self
            .last_check
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Instant::now();
        if prices::catalog_rows(db).await? != self.current().rows {
            self.reload(db).await?;
        }
        Ok(())
    }

    /// The token convention of a provider, as the catalog records it.
    pub fn convention(&self, provider: &str) -> Convention {
        self.current().convention(provider)
    }

    fn current(&self) -> Arc<CatalogIndex> {
        self.index
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The prices a project sees for these names: the catalog, its own prices, its mappings.
    pub async fn for_project(
        &self,
        db: &impl ConnectionTrait,
        project_id: Uuid,
        sent: &BTreeSet<ServiceName>,
    ) -> Result<ProjectPrices, StoreError> {
        if !self.loaded.load(Ordering::Acquire) {
            return Err(StoreError::Unavailable(DbErr::Custom(
                "the price catalog is not loaded yet (the server is starting)".to_owned(),
            )));
        }
        self.refresh(db).await?;
        let catalog = self.current();
        let mut names = sent.clone();
        names.extend(
            sent.iter()
                .map(|(provider, model)| (catalog.provider(provider), model.clone())),
        );
        let mappings = prices::mappings(db, project_id, &names).await?;
        names.extend(mappings.values().cloned());
        let project_rates = prices::project_rates(db, project_id, &names).await?;
        Ok(ProjectPrices {
            catalog,
            project_rates,
            mappings,
        })
    }
}

/// What one project's lines are priced with, for one batch.
pub struct ProjectPrices {
    catalog: Arc<CatalogIndex>,
    project_rates: HashMap<ServiceName, Vec<CatalogPriceRow>>,
    mappings: HashMap<ServiceName, ServiceName>,
}

/// A provider+model resolved for one usage time.
pub struct Resolved {
    /// The prices in force, or `None` when nothing prices the model.
    pub prices: Option<ModelPrices>,
    /// The token convention of the provider as sent, the one that reported the counts (known even
    /// when the model is not). A mapping to another provider's model does not change it: counts
    /// mean what their provider meant.
    pub convention: Convention,
}

impl ProjectPrices {
    /// Resolves a provider+model as sent (normalized) at `at`: the project's mapping first, then
    /// the project's prices over the catalog's, then the catalog's alias of the model.
    pub fn resolve(&self, provider: &str, model: &str, at: DateTime<Utc>) -> Resolved {
        let reporting = self.catalog.provider(provider);
        let convention = self.catalog.convention(&reporting);
        let mapped = self.mapping_of(provider, model).cloned();
        let (provider, model) = mapped.unwrap_or_else(|| (reporting, model.to_owned()));
        let mut rates = self.rates_at(&provider, &model, at);
        let mut priced_model = model.clone();
        if rates.is_empty()
            && let Some(base) = self.catalog.aliases.get(&(provider.clone(), model.clone()))
        {
            rates = self.rates_at(&provider, base, at);
            priced_model = base.clone();
        }
        let prices = (!rates.is_empty()).then_some(ModelPrices {
            provider,
            model: priced_model,
            rates,
        });
        Resolved { prices, convention }
    }

    /// The mapping the project has for a provider+model as sent, if any.
    pub fn mapping_of(&self, provider: &str, model: &str) -> Option<&ServiceName> {
        let catalog_provider = self.catalog.provider(provider);
        self.mappings
            .get(&(provider.to_owned(), model.to_owned()))
            .or_else(|| self.mappings.get(&(catalog_provider, model.to_owned())))
    }

    /// Whether the provider+model has prices at `at` without any mapping: its own, the project's,
    /// or its catalog base model's.
    pub fn priced_without_mapping(&self, provider: &str, model: &str, at: DateTime<Utc>) -> bool {
        let provider = self.catalog.provider(provider);
        !self.rates_at(&provider, model, at).is_empty()
            || self
                .catalog
                .aliases
                .get(&(provider.clone(), model.to_owned()))
                .is_some_and(|base| !self.rates_at(&provider, base, at).is_empty())
    }

    /// The rates in force at `at`: for each dimension, tier and threshold the latest row that started
    /// by then, the project's row winning over the catalog's.
    fn rates_at(&self, provider: &str, model: &str, at: DateTime<Utc>) -> Vec<RatePrice> {
        let name = (provider.to_owned(), model.to_owned());
        let mut in_force: HashMap<(Dimension, Tier, u64), RatePrice> = HashMap::new();
        let sources = [
            (self.catalog.rates.get(&name), PriceSource::Catalog),
            (self.project_rates.get(&name), PriceSource::Project),
        ];
        for (rows, source) in sources {
            let mut latest: HashMap<(Dimension, Tier, u64), &CatalogPriceRow> = HashMap::new();
            for row in rows
                .into_iter()
                .flatten()
                .filter(|row| row.effective_time <= at)
            {
                let key = (row.dimension, row.tier, row.min_input_tokens);
                if latest
                    .get(&key)
                    .is_none_or(|current| current.effective_time <= row.effective_time)
                {
                    latest.insert(key, row);
                }
            }
            for (key, row) in latest {
                in_force.insert(
                    key,
                    RatePrice {
                        dimension: row.dimension,
                        tier: row.tier,
                        min_input_tokens: row.min_input_tokens,
                        unit_price: row.unit_price,
                        price: PriceRef {
                            id: row.id,
                            source,
                            effective_time: row.effective_time,
                        },
                    },
                );
            }
        }
        let mut rates: Vec<RatePrice> = in_force.into_values().collect();
        rates.sort_by_key(|rate| (rate.dimension, rate.tier, rate.min_input_tokens));
        rates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nothing_is_priced_before_the_catalog_is_read() {
        let db = sea_orm::Database::connect("sqlite::memory:").await.unwrap();
        let book = PriceBook::empty();
        let names = BTreeSet::from([("openai".to_owned(), "gpt-4o-mini".to_owned())]);
        let refused = book.for_project(&db, Uuid::nil(), &names).await;
        assert!(matches!(refused, Err(StoreError::Unavailable(_))));
    }
}
