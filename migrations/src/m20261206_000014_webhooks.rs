//! `webhooks`, `budget_alerts` and `webhook_deliveries`: budget alerts delivered to the project's
//! endpoints.
//!
//! An alert is a budget reaching a threshold of its monthly limit (50, 80, 100 %) or a BLOCK
//! budget's first denial, in a calendar month. Its unique key (budget, month, event type,
//! threshold) records each once, however many replicas notice it at the same moment: they insert
//! with `ON CONFLICT DO NOTHING`. The alert and one delivery per webhook are inserted in one
//! transaction (an outbox): a delivery row exists exactly when its alert does, and stays until it
//! is delivered or given up, so a restart loses none. `budget_id` has no foreign key: an alert
//! and its pending deliveries outlive a deleted budget.

use sea_orm_migration::prelude::*;

use crate::columns::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// An HTTP endpoint of a project.
#[derive(DeriveIden, Clone, Copy)]
pub enum Webhooks {
    Table,
    Id,
    ProjectId,
    /// Absolute `http://` or `https://` URL, as normalised by the application.
    Url,
    /// Signs the requests (HMAC-SHA256); kept in clear because signing needs it.
    Secret,
    CreateTime,
}

/// A threshold reached or a first denial, once per budget and month.
#[derive(DeriveIden, Clone, Copy)]
pub enum BudgetAlerts {
    Table,
    Id,
    ProjectId,
    BudgetId,
    /// First instant of the calendar month (UTC).
    MonthStart,
    /// `BUDGET_THRESHOLD_CROSSED` or `BUDGET_DENIED`.
    EventType,
    /// 50, 80 or 100; 0 for a denial.
    ThresholdPercent,
    /// The monthly limit and the month's spend when recorded.
    LimitE10,
    SpentE10,
    CreateTime,
}

/// One alert sent, or to send, to one webhook.
#[derive(DeriveIden, Clone, Copy)]
pub enum WebhookDeliveries {
    Table,
    Id,
    ProjectId,
    WebhookId,
    AlertId,
    /// The JSON body, exactly as sent (the signature covers these bytes).
    Payload,
    /// `PENDING`, `DELIVERED` or `FAILED`.
    Status,
    Attempts,
    LastHttpStatus,
    LastError,
    /// When a worker may take it next (also the end of a worker's claim); NULL once settled.
    NextAttemptTime,
    DeliveredTime,
    CreateTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Webhooks::Table)
                    .if_not_exists()
                    .col(id(Webhooks::Id))
                    .col(uuid_ref(Webhooks::ProjectId))
                    .col(text(Webhooks::Url))
                    .col(text(Webhooks::Secret))
                    .col(time(Webhooks::CreateTime))
                    .foreign_key(&mut project_fk(Webhooks::Table, Webhooks::ProjectId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BudgetAlerts::Table)
                    .if_not_exists()
                    .col(id(BudgetAlerts::Id))
                    .col(uuid_ref(BudgetAlerts::ProjectId))
                    .col(uuid_ref(BudgetAlerts::BudgetId))
                    .col(time(BudgetAlerts::MonthStart))
                    .col(text(BudgetAlerts::EventType))
                    .col(number(BudgetAlerts::ThresholdPercent))
                    .col(money_null(BudgetAlerts::LimitE10))
                    .col(money(BudgetAlerts::SpentE10))
                    .col(time(BudgetAlerts::CreateTime))
                    .foreign_key(&mut project_fk(
                        BudgetAlerts::Table,
                        BudgetAlerts::ProjectId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .if_not_exists()
                    .col(id(WebhookDeliveries::Id))
                    .col(uuid_ref(WebhookDeliveries::ProjectId))
                    .col(uuid_ref(WebhookDeliveries::WebhookId))
                    .col(uuid_ref(WebhookDeliveries::AlertId))
                    .col(text(WebhookDeliveries::Payload))
                    .col(text(WebhookDeliveries::Status))
                    .col(counter(WebhookDeliveries::Attempts))
                    .col(number_null(WebhookDeliveries::LastHttpStatus))
                    .col(text_null(WebhookDeliveries::LastError))
                    .col(time_null(WebhookDeliveries::NextAttemptTime))
                    .col(time_null(WebhookDeliveries::DeliveredTime))
                    .col(time(WebhookDeliveries::CreateTime))
                    .foreign_key(&mut project_fk(
                        WebhookDeliveries::Table,
                        WebhookDeliveries::ProjectId,
                    ))
                    .foreign_key(&mut foreign_key(
                        WebhookDeliveries::Table,
                        WebhookDeliveries::WebhookId,
                        Webhooks::Table,
                        Webhooks::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        WebhookDeliveries::Table,
                        WebhookDeliveries::AlertId,
                        BudgetAlerts::Table,
                        BudgetAlerts::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![
                // A project's webhooks in creation order.
                index(
                    "webhooks_project_idx",
                    Webhooks::Table,
                    &[Webhooks::ProjectId, Webhooks::Id],
                ),
                // Each alert once, across replicas.
                unique_index(
                    "budget_alerts_key_idx",
                    BudgetAlerts::Table,
                    &[
                        BudgetAlerts::BudgetId,
                        BudgetAlerts::MonthStart,
                        BudgetAlerts::EventType,
                        BudgetAlerts::ThresholdPercent,
                    ],
                ),
                // Listing, newest first, of the project or of one webhook.
                index(
                    "webhook_deliveries_project_idx",
                    WebhookDeliveries::Table,
                    &[WebhookDeliveries::ProjectId, WebhookDeliveries::Id],
                ),
                index(
                    "webhook_deliveries_webhook_idx",
                    WebhookDeliveries::Table,
                    &[WebhookDeliveries::WebhookId, WebhookDeliveries::Id],
                ),
                // The workers' scan for what is due.
                index(
                    "webhook_deliveries_due_idx",
                    WebhookDeliveries::Table,
                    &[
                        WebhookDeliveries::Status,
                        WebhookDeliveries::NextAttemptTime,
                    ],
                ),
                // Deleting an alert (with its project) finds its deliveries.
                index(
                    "webhook_deliveries_alert_idx",
                    WebhookDeliveries::Table,
                    &[WebhookDeliveries::AlertId],
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Children before parents.
        drop_tables(manager, &[WebhookDeliveries::Table]).await?;
        drop_tables(manager, &[BudgetAlerts::Table]).await?;
        drop_tables(manager, &[Webhooks::Table]).await
    }
}
