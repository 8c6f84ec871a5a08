//! Webhooks of a project, the budget alerts recorded for them, and the deliveries of those alerts
//! (the outbox the delivery workers take from).

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{StoreError, entities::webhooks};
use crate::domain::webhook::{WebhookSecret, WebhookUrl};

mod alerts;
mod deliveries;
pub use alerts::{NewAlert, insert_alert};
pub use deliveries::{
    Attempted, Delivery, DeliveryFilter, DueDelivery, NewDelivery, claim_due, insert_deliveries,
    list_deliveries, record_attempt,
};

/// A stored webhook.
#[derive(Clone, Debug)]
pub struct Webhook {
    pub id: Uuid,
    pub url: WebhookUrl,
    pub secret: WebhookSecret,
    pub create_time: DateTime<Utc>,
}

pub async fn insert(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    url: &WebhookUrl,
    secret: &WebhookSecret,
    now: DateTime<Utc>,
) -> Result<Webhook, StoreError> {
    let row = webhooks::ActiveModel {
        id: Set(Uuid::now_v7()),
        project_id: Set(project_id),
        url: Set(url.as_str().to_owned()),
        secret: Set(secret.expose().to_owned()),
        create_time: Set(now),
    };
    Ok(from_row(row.insert(db).await?))
}

/// Webhooks of the project in creation order (ids are UUIDv7), after `after` when given.
pub async fn list(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Webhook>, StoreError> {
    let mut query = webhooks::Entity::find().filter(webhooks::Column::ProjectId.eq(project_id));
    if let Some(after) = after {
        query = query.filter(webhooks::Column::Id.gt(after));
    }
    let rows = query
        .order_by_asc(webhooks::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// Deletes a webhook of the project and, by cascade, its deliveries; false when there was none.
pub async fn delete(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    id: Uuid,
) -> Result<bool, StoreError> {
    let result = webhooks::Entity::delete_many()
        .filter(webhooks::Column::Id.eq(id))
        .filter(webhooks::Column::ProjectId.eq(project_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// The projects that have at least one webhook: those whose budgets are watched.
pub async fn projects_with_webhooks(db: &impl ConnectionTrait) -> Result<Vec<Uuid>, StoreError> {
    Ok(webhooks::Entity::find()
        .select_only()
        .column(webhooks::Column::ProjectId)
        .distinct()
        .into_tuple()
        .all(db)
        .await?)
}

/// The ids of the project's webhooks: who hears of an alert recorded now.
pub async fn ids_of(db: &impl ConnectionTrait, project_id: Uuid) -> Result<Vec<Uuid>, StoreError> {
    Ok(webhooks::Entity::find()
        .select_only()
        .column(webhooks::Column::Id)
        .filter(webhooks::Column::ProjectId.eq(project_id))
        .order_by_asc(webhooks::Column::Id)
        .into_tuple()
        .all(db)
        .await?)
}

fn from_row(row: webhooks::Model) -> Webhook {
    Webhook {
        id: row.id,
        url: WebhookUrl::from_stored(row.url),
        secret: WebhookSecret::from_stored(row.secret),
        create_time: row.create_time,
    }
}
