//! Registering, listing and deleting a project's webhooks, and listing their deliveries.

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::{
    domain::{
        DomainError, FieldViolation,
        page_token::{self, PageLimits},
        tenant::Tenant,
        webhook::{WebhookSecret, WebhookUrl},
    },
    store::{
        self,
        webhooks::{self as webhook_store, Delivery, DeliveryFilter, Webhook},
    },
};

/// Webhooks or deliveries per page: 50 unless asked, at most 100.
pub const PAGE_LIMITS: PageLimits = PageLimits {
    default: 50,
    max: 100,
};

/// A webhook to register.
#[derive(Clone, Debug)]
pub struct NewWebhook {
    pub url: WebhookUrl,
    pub secret: WebhookSecret,
}

/// Registers a webhook; the answer holds its secret, shown this once.
pub async fn create(
    db: &DatabaseConnection,
    tenant: Tenant,
    webhook: NewWebhook,
) -> Result<Webhook, DomainError> {
    Ok(webhook_store::insert(
        db,
        tenant.project_id,
        &webhook.url,
        &webhook.secret,
        store::now(),
    )
    .await?)
}

pub async fn delete(db: &DatabaseConnection, tenant: Tenant, id: Uuid) -> Result<(), DomainError> {
    if webhook_store::delete(db, tenant.project_id, id).await? {
        Ok(())
    } else {
        Err(DomainError::NotFound {
            what: "webhook",
            id: id.to_string(),
        })
    }
}

/// One page of webhooks, oldest first, and the token of the next (empty at the end).
pub async fn list(
    db: &DatabaseConnection,
    tenant: Tenant,
    page_size: i32,
    page_token: &str,
) -> Result<(Vec<Webhook>, String), DomainError> {
    const FILTERS: &str = "webhooks";
    let after = cursor(page_token, FILTERS)?;
    let size = PAGE_LIMITS.size(page_size);
    // One more than the page tells whether another page follows.
    let webhooks = webhook_store::list(db, tenant.project_id, after, size + 1).await?;
    Ok(page(webhooks, size, FILTERS, |webhook| webhook.id))
}

/// One page of deliveries, newest first, and the token of the next (empty at the end).
pub async fn list_deliveries(
    db: &DatabaseConnection,
    tenant: Tenant,
    filter: DeliveryFilter,
    page_size: i32,
    page_token: &str,
) -> Result<(Vec<Delivery>, String), DomainError> {
    let filters = format!("deliveries|{:?}", filter.webhook_id);
    let before = cursor(page_token, &filters)?;
    let size = PAGE_LIMITS.size(page_size);
    let deliveries =
        webhook_store::list_deliveries(db, tenant.project_id, filter, before, size + 1).await?;
    Ok(page(deliveries, size, &filters, |delivery| delivery.id))
}

/// The id a page token continues from.
fn cursor(page_token: &str, filters: &str) -> Result<Option<Uuid>, DomainError> {
    page_token::decode(page_token, filters)
        .and_then(|cursor| {
            cursor
                .map(|cursor| Uuid::parse_str(&cursor))
                .transpose()
                .map_err(|_| FieldViolation::new("page_token", "not a page token of this list"))
        })
        .map_err(|violation| DomainError::Invalid(vec![violation]))
}

/// `size` items of `items` (read one past the page) and the token after the last.
fn page<T>(
    mut items: Vec<T>,
    size: u64,
    filters: &str,
    id: impl Fn(&T) -> Uuid,
) -> (Vec<T>, String) {
    if items.len() as u64 <= size {
        return (items, String::new());
    }
    items.truncate(size as usize);
    let next = items
        .last()
        .map(|last| page_token::encode(&id(last).to_string(), filters))
        .unwrap_or_default();
    (items, next)
}
