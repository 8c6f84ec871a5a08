//! A project's own prices and mappings, and the listings of prices, mappings and unpriced models.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{
    StoreError,
    entities::{model_mappings, prices},
    sql::Params,
};
use crate::domain::pricing::{Dimension, PriceSource, Tier};

/// A project price to add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPrice {
    pub provider: String,
    pub model: String,
    pub dimension: Dimension,
    pub tier: Tier,
    pub min_input_tokens: u64,
    pub unit_price: Decimal,
    pub effective_time: DateTime<Utc>,
}

/// A stored price, of the catalog or of the project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPrice {
    pub id: Uuid,
    pub price: NewPrice,
    pub source: PriceSource,
}

/// A project's mapping of an unknown model to a known one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub from: (String, String),
    pub to: (String, String),
    pub update_time: DateTime<Utc>,
}

/// Adds a project price; a price of the same key and effective time is a conflict.
pub async fn insert_price(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    price: &NewPrice,
) -> Result<StoredPrice, StoreError> {
    let id = Uuid::now_v7();
    prices::ActiveModel {
        id: Set(id),
        project_id: Set(project_id),
        provider: Set(price.provider.clone()),
        model: Set(price.model.clone()),
        service_tier: Set(price.tier.as_str().to_owned()),
        dimension: Set(price.dimension.as_str().to_owned()),
        min_input_tokens: Set(i64::try_from(price.min_input_tokens).unwrap_or(i64::MAX)),
        unit_price_usd: Set(price.unit_price.normalize().to_string()),
        effective_time: Set(price.effective_time),
        create_time: Set(super::now()),
    }
    .insert(db)
    .await?;
    Ok(StoredPrice {
        id,
        price: price.clone(),
        source: PriceSource::Project,
    })
}

/// Records (or replaces) the project's mapping of `from`.
pub async fn upsert_mapping(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    from: &(String, String),
    to: &(String, String),
    now: DateTime<Utc>,
) -> Result<Mapping, StoreError> {
    let existing = model_mappings::Entity::find()
        .filter(model_mappings::Column::ProjectId.eq(project_id))
        .filter(model_mappings::Column::FromProvider.eq(from.0.as_str()))
        .filter(model_mappings::Column::FromModel.eq(from.1.as_str()))
        .one(db)
        .await?;
    match existing {
        Some(row) => {
            let mut row: model_mappings::ActiveModel = row.into();
            row.to_provider = Set(to.0.clone());
            row.to_model = Set(to.1.clone());
            row.update_time = Set(now);
            row.update(db).await?;
        }
        None => {
            model_mappings::ActiveModel {
                id: Set(Uuid::now_v7()),
                project_id: Set(project_id),
                from_provider: Set(from.0.clone()),
                from_model: Set(from.1.clone()),
                to_provider: Set(to.0.clone()),
                to_model: Set(to.1.clone()),
                create_time: Set(now),
                update_time: Set(now),
            }
            .insert(db)
            .await?;
        }
    }
    Ok(Mapping {
        from: from.clone(),
        to: to.clone(),
        update_time: now,
    })
}

/// The project's mapping of a provider+model, if any.
pub async fn find_mapping(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    provider: &str,
    model: &str,
) -> Result<Option<Mapping>, StoreError> {
    let row = model_mappings::Entity::find()
        .filter(model_mappings::Column::ProjectId.eq(project_id))
        .filter(model_mappings::Column::FromModel.eq(model))
        .all(db)
        .await?
        .into_iter()
        .find(|row| {
            row.from_provider == provider
                || Some(row.from_provider.as_str())
                    == crate::domain::catalog::provider_alias(provider)
        });
    Ok(row.map(mapping))
}

/// The project's mappings, by source provider and model, after `offset`.
pub async fn list_mappings(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    from_provider: Option<&str>,
    offset: u64,
    limit: u64,
) -> Result<Vec<Mapping>, StoreError> {
    let mut query =
        model_mappings::Entity::find().filter(model_mappings::Column::ProjectId.eq(project_id));
    if let Some(provider) = from_provider {
        query = query.filter(model_mappings::Column::FromProvider.eq(provider));
    }
    let rows = query
        .order_by_asc(model_mappings::Column::FromProvider)
        .order_by_asc(model_mappings::Column::FromModel)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(mapping).collect())
}

fn mapping(row: model_mappings::Model) -> Mapping {
    Mapping {
        from: (row.from_provider, row.from_model),
        to: (row.to_provider, row.to_model),
        update_time: row.update_time,
    }
}

/// Which prices to list.
#[derive(Clone, Debug, Default)]
pub struct PriceFilter {
    pub provider: Option<String>,
    pub model_prefix: Option<String>,
    pub source: Option<PriceSource>,
}

/// Catalog and project prices together, history included, ordered by provider, model, dimension,
/// tier, threshold and effective time, after `offset`.
pub async fn list_prices(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    filter: &PriceFilter,
    offset: u64,
    limit: u64,
) -> Result<Vec<StoredPrice>, StoreError> {
    let mut params = Params::new(db.get_database_backend());
    let columns = "id, provider, model, dimension, service_tier, min_input_tokens, unit_price_usd, effective_time";
    let mut conditions = Vec::new();
    if let Some(provider) = &filter.provider {
        conditions.push(format!("provider = {}", params.bind(provider.clone())));
    }
    if let Some(prefix) = &filter.model_prefix {
        // Models are lowercase and so is the prefix, so LIKE is exact on both databases once its
        // wildcards are escaped.
        let escaped = prefix
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = params.bind(format!("{escaped}%"));
        conditions.push(format!("model LIKE {pattern} ESCAPE '\\'"));
    }
    let shared = if conditions.is_empty() {
        String::new()
    } else {
        format!(" AND {}", conditions.join(" AND "))
    };
    let mut parts = Vec::new();
    if filter.source != Some(PriceSource::Project) {
        parts.push(format!(
            "SELECT {columns}, 'CATALOG' AS source FROM catalog_prices WHERE 1 = 1{shared}"
        ));
    }
    if filter.source != Some(PriceSource::Catalog) {
        let project = params.bind(project_id);
        parts.push(format!(
            "SELECT {columns}, 'PROJECT' AS source FROM prices WHERE project_id = {project}{shared}"
        ));
    }
    let limit_at = params.bind(limit as i64);
    let offset_at = params.bind(offset as i64);
    let sql = format!(
        "SELECT * FROM ({}) AS listed ORDER BY provider, model, dimension, service_tier, min_input_tokens, \
         effective_time, source, id LIMIT {limit_at} OFFSET {offset_at}",
        parts.join(" UNION ALL ")
    );
    let rows = db.query_all_raw(params.statement(sql)).await?;
    rows.iter()
        .map(|row| {
            let corrupt = |what: &str| StoreError::Other(DbErr::Type(format!("price: bad {what}")));
            let source: String = row.try_get("", "source")?;
            let dimension: String = row.try_get("", "dimension")?;
            let tier: String = row.try_get("", "service_tier")?;
            let min: i64 = row.try_get("", "min_input_tokens")?;
            let unit_price: String = row.try_get("", "unit_price_usd")?;
            Ok(StoredPrice {
                id: row.try_get("", "id")?,
                source: if source == "PROJECT" {
                    PriceSource::Project
                } else {
                    PriceSource::Catalog
                },
                price: NewPrice {
                    provider: row.try_get("", "provider")?,
                    model: row.try_get("", "model")?,
                    dimension: Dimension::parse(&dimension).ok_or_else(|| corrupt("dimension"))?,
                    tier: Tier::parse(&tier).ok_or_else(|| corrupt("service_tier"))?,
                    min_input_tokens: u64::try_from(min).unwrap_or_default(),
                    unit_price: Decimal::from_str_exact(&unit_price)
                        .map_err(|_| corrupt("unit_price_usd"))?,
                    effective_time: row.try_get("", "effective_time")?,
                },
            })
        })
        .collect()
}

/// Events parked for a provider+model with no price, grouped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnpricedModel {
    pub provider: String,
    pub model: String,
    pub events: u64,
    pub agents: Vec<(String, u64)>,
    pub customers: Vec<(String, u64)>,
    pub signals: Vec<(String, u64)>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// The unpriced provider+models of the project's parked events (in a usage-time window), most
/// events first, after `offset`; each with its agents, customers and signals, most events first.
pub async fn list_unpriced(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    window: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
    offset: u64,
    limit: u64,
) -> Result<Vec<UnpricedModel>, StoreError> {
    let mut params = Params::new(db.get_database_backend());
    let mut scope = format!(
        "l.project_id = {} AND l.status = 'NEEDS_COST_BACKFILL'",
        params.bind(project_id)
    );
    if let Some(start) = window.0 {
        scope.push_str(&format!(" AND e.usage_time >= {}", params.bind(start)));
    }
    if let Some(end) = window.1 {
        scope.push_str(&format!(" AND e.usage_time < {}", params.bind(end)));
    }
    let from = "FROM service_lines l JOIN cost_events e ON e.id = l.event_ref";
    let window_params = params.len();
    let limit_at = params.bind(limit as i64);
    let offset_at = params.bind(offset as i64);
    let sql = format!(
        "SELECT l.provider, l.model, COUNT(DISTINCT l.event_ref) AS events, MIN(e.usage_time) AS first_seen, \
         MAX(e.usage_time) AS last_seen {from} WHERE {scope} GROUP BY l.provider, l.model \
         ORDER BY events DESC, l.provider, l.model LIMIT {limit_at} OFFSET {offset_at}"
    );
    let rows = db.query_all_raw(params.statement(sql)).await?;
    let mut models = Vec::with_capacity(rows.len());
    for row in &rows {
        let events: i64 = row.try_get("", "events")?;
        models.push(UnpricedModel {
            provider: row.try_get("", "provider")?,
            model: row.try_get("", "model")?,
            events: u64::try_from(events).unwrap_or_default(),
            agents: Vec::new(),
            customers: Vec::new(),
            signals: Vec::new(),
            first_seen: row.try_get("", "first_seen")?,
            last_seen: row.try_get("", "last_seen")?,
        });
    }
    if models.is_empty() {
        return Ok(models);
    }
    // The window's own parameters, without the paging ones.
    params.truncate(window_params);
    let breakdowns = [
        ("a.agent_code", "JOIN agents a ON a.id = e.agent_ref"),
        ("c.customer_id", "JOIN customers c ON c.id = e.customer_ref"),
        ("s.signal_name", "JOIN signals s ON s.id = e.signal_ref"),
    ];
    for (position, (name, join)) in breakdowns.iter().enumerate() {
        let sql = format!(
            "SELECT l.provider, l.model, {name} AS name, COUNT(DISTINCT l.event_ref) AS events {from} {join} \
             WHERE {scope} GROUP BY l.provider, l.model, {name}"
        );
        let mut counts: HashMap<(String, String), Vec<(String, u64)>> = HashMap::new();
        for row in db.query_all_raw(params.statement(sql)).await? {
            let events: i64 = row.try_get("", "events")?;
            counts
                .entry((row.try_get("", "provider")?, row.try_get("", "model")?))
                .or_default()
                .push((
                    row.try_get("", "name")?,
                    u64::try_from(events).unwrap_or_default(),
                ));
        }
        for model in &mut models {
            let mut named = counts
                .remove(&(model.provider.clone(), model.model.clone()))
                .unwrap_or_default();
            named.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            match position {
                0 => model.agents = named,
                1 => model.customers = named,
                _ => model.signals = named,
            }
        }
    }
    Ok(models)
}
