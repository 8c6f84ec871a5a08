//! Reading stored events back: one by id (`GetEvent`) and a page of them (`ListEvents`).

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::{
    domain::{DomainError, tenant::Tenant},
    store::events::{self as event_store, EventFilter, StoredEvent},
};

/// The project's event with this id.
pub async fn get(
    db: &DatabaseConnection,
    tenant: Tenant,
    event_id: Uuid,
) -> Result<StoredEvent, DomainError> {
    event_store::load(db, tenant.project_id, &[event_id])
        .await?
        .pop()
        .ok_or_else(|| DomainError::NotFound {
            what: "event",
            id: event_id.to_string(),
        })
}

/// Up to `limit` of the project's events that match `filter`, newest first (usage time, then id),
/// after `before` (the usage time and id of the last event of the previous page) when given.
pub async fn list(
    db: &DatabaseConnection,
    tenant: Tenant,
    filter: &EventFilter,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> Result<Vec<StoredEvent>, DomainError> {
    Ok(event_store::list(db, tenant.project_id, filter, before, limit).await?)
}
