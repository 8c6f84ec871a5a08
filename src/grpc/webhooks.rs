//! The `tally.v1.Webhooks` service: endpoints that hear of budget alerts, and their deliveries.

use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

use super::{
    convert::{id, timestamp},
    status::tenant,
};
use crate::{
    domain::{
        DomainError, Violations,
        budget_alert::AlertKind,
        webhook::{DeliveryStatus, WebhookSecret, WebhookUrl},
    },
    pb::{self, webhooks_server::Webhooks},
    service::webhooks::{self as service, NewWebhook},
    store::webhooks::{Delivery, DeliveryFilter, Webhook},
};

/// Adapter from the `Webhooks` contract to the webhook service.
pub struct WebhooksApi {
    db: DatabaseConnection,
}

impl WebhooksApi {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[tonic::async_trait]
impl Webhooks for WebhooksApi {
    #[tracing::instrument(skip_all)]
    async fn create_webhook(
        &self,
        request: Request<pb::CreateWebhookRequest>,
    ) -> Result<Response<pb::CreateWebhookResponse>, Status> {
        let tenant = tenant(&request)?;
        let webhook = new_webhook(request.into_inner())?;
        let webhook = service::create(&self.db, tenant, webhook).await?;
        let secret = webhook.secret.expose().to_owned();
        Ok(Response::new(pb::CreateWebhookResponse {
            webhook: Some(to_proto(webhook)),
            secret,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_webhooks(
        &self,
        request: Request<pb::ListWebhooksRequest>,
    ) -> Result<Response<pb::ListWebhooksResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::ListWebhooksRequest {
            page_size,
            page_token,
        } = request.into_inner();
        let (webhooks, next_page_token) =
            service::list(&self.db, tenant, page_size, &page_token).await?;
        Ok(Response::new(pb::ListWebhooksResponse {
            webhooks: webhooks.into_iter().map(to_proto).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_webhook(
        &self,
        request: Request<pb::DeleteWebhookRequest>,
    ) -> Result<Response<pb::DeleteWebhookResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::DeleteWebhookRequest { webhook_id } = request.into_inner();
        let webhook_id =
            id(&webhook_id, "webhook_id", "webhook").map_err(|v| DomainError::Invalid(vec![v]))?;
        service::delete(&self.db, tenant, webhook_id).await?;
        Ok(Response::new(pb::DeleteWebhookResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn list_webhook_deliveries(
        &self,
        request: Request<pb::ListWebhookDeliveriesRequest>,
    ) -> Result<Response<pb::ListWebhookDeliveriesResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::ListWebhookDeliveriesRequest {
            page_size,
            page_token,
            webhook_id,
        } = request.into_inner();
        let filter = DeliveryFilter {
            webhook_id: if webhook_id.is_empty() {
                None
            } else {
                Some(
                    id(&webhook_id, "webhook_id", "webhook")
                        .map_err(|v| DomainError::Invalid(vec![v]))?,
                )
            },
        };
        let (deliveries, next_page_token) =
            service::list_deliveries(&self.db, tenant, filter, page_size, &page_token).await?;
        Ok(Response::new(pb::ListWebhookDeliveriesResponse {
            deliveries: deliveries.into_iter().map(delivery_message).collect(),
            next_page_token,
        }))
    }
}

/// Reads a webhook to create, listing every violation.
fn new_webhook(request: pb::CreateWebhookRequest) -> Result<NewWebhook, DomainError> {
    let mut violations = Violations::default();
    let pb::CreateWebhookRequest { webhook, secret } = request;
    let url = match webhook {
        Some(pb::Webhook {
            webhook_id: _,
            url,
            create_time: _,
        }) => violations.check(WebhookUrl::parse(&url, "webhook.url")),
        None => {
            violations.add("webhook", "required");
            None
        }
    };
    let secret = violations.check(WebhookSecret::parse_or_generate(&secret, "secret"));
    violations.into_result()?;
    match (url, secret) {
        (Some(url), Some(secret)) => Ok(NewWebhook { url, secret }),
        _ => Err(DomainError::Internal(
            "webhook parsed without violations but incomplete".into(),
        )),
    }
}

fn to_proto(webhook: Webhook) -> pb::Webhook {
    let Webhook {
        id,
        url,
        secret: _,
        create_time,
    } = webhook;
    pb::Webhook {
        webhook_id: id.to_string(),
        url: url.as_str().to_owned(),
        create_time: Some(timestamp(create_time)),
    }
}

fn delivery_message(delivery: Delivery) -> pb::WebhookDelivery {
    let Delivery {
        id,
        webhook_id,
        budget_id,
        month_start,
        kind,
        payload,
        status,
        attempts,
        last_http_status,
        last_error,
        next_attempt_time,
        delivered_time,
        create_time,
    } = delivery;
    pb::WebhookDelivery {
        delivery_id: id.to_string(),
        webhook_id: webhook_id.to_string(),
        event_type: match kind {
            AlertKind::Threshold(_) => pb::WebhookEventType::BudgetThresholdCrossed,
            AlertKind::Denied => pb::WebhookEventType::BudgetDenied,
        } as i32,
        budget_id: budget_id.to_string(),
        month_start_time: Some(timestamp(month_start)),
        threshold_percent: kind.threshold_percent() as i32,
        payload_json: payload,
        status: match status {
            DeliveryStatus::Pending => pb::WebhookDeliveryStatus::Pending,
            DeliveryStatus::Delivered => pb::WebhookDeliveryStatus::Delivered,
            DeliveryStatus::Failed => pb::WebhookDeliveryStatus::Failed,
        } as i32,
        attempts: i32::try_from(attempts).unwrap_or(i32::MAX),
        last_http_status: last_http_status
            .and_then(|code| i32::try_from(code).ok())
            .unwrap_or_default(),
        last_error: last_error.unwrap_or_default(),
        next_attempt_time: next_attempt_time.map(timestamp),
        delivered_time: delivered_time.map(timestamp),
        create_time: Some(timestamp(create_time)),
    }
}
