//! A project's own prices and model mappings, read for the names a batch uses.

use std::collections::{BTreeSet, HashMap};

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::{
    StoreError,
    catalog::CatalogPriceRow,
    entities::{model_mappings, prices},
};

/// A provider and model, normalized.
pub type ServiceName = (String, String);

/// The project's price rows (history included) for these provider+model names, keyed by name.
pub async fn project_rates(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    names: &BTreeSet<ServiceName>,
) -> Result<HashMap<ServiceName, Vec<CatalogPriceRow>>, StoreError> {
    let mut rates: HashMap<ServiceName, Vec<CatalogPriceRow>> = HashMap::new();
    if names.is_empty() {
        return Ok(rates);
    }
    let models: BTreeSet<&str> = names.iter().map(|(_, model)| model.as_str()).collect();
    let rows = prices::Entity::find()
        .filter(prices::Column::ProjectId.eq(project_id))
        .filter(prices::Column::Model.is_in(models))
        .order_by_asc(prices::Column::EffectiveTime)
        .all(db)
        .await?;
    for row in rows {
        let name = (row.provider.clone(), row.model.clone());
        if names.contains(&name) {
            rates.entry(name).or_default().push(rate_row(row)?);
        }
    }
    Ok(rates)
}

/// The project's mappings from these provider+model names.
pub async fn mappings(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    names: &BTreeSet<ServiceName>,
) -> Result<HashMap<ServiceName, ServiceName>, StoreError> {
    let mut found = HashMap::new();
    if names.is_empty() {
        return Ok(found);
    }
    let models: BTreeSet<&str> = names.iter().map(|(_, model)| model.as_str()).collect();
    let rows = model_mappings::Entity::find()
        .filter(model_mappings::Column::ProjectId.eq(project_id))
        .filter(model_mappings::Column::FromModel.is_in(models))
        .all(db)
        .await?;
    for row in rows {
        let from = (row.from_provider, row.from_model);
        if names.contains(&from) {
            found.insert(from, (row.to_provider, row.to_model));
        }
    }
    Ok(found)
}

/// A project price row read like a catalog one (same columns but the project).
fn rate_row(row: prices::Model) -> Result<CatalogPriceRow, StoreError> {
    super::catalog::from_row(super::entities::catalog_prices::Model {
        id: row.id,
        provider: row.provider,
        model: row.model,
        service_tier: row.service_tier,
        dimension: row.dimension,
        min_input_tokens: row.min_input_tokens,
        unit_price_usd: row.unit_price_usd,
        effective_time: row.effective_time,
        create_time: row.create_time,
    })
}

/// How many catalog price rows there are: a cheap sign that another process imported prices.
pub async fn catalog_rows(db: &impl ConnectionTrait) -> Result<usize, StoreError> {
    use sea_orm::PaginatorTrait;
    let count = super::entities::catalog_prices::Entity::find()
        .count(db)
        .await?;
    Ok(usize::try_from(count).unwrap_or(usize::MAX))
}
