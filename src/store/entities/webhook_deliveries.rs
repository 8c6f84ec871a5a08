//! One budget alert sent, or to send, to one webhook: the outbox row, inserted with its alert.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The owning project.
    pub project_id: Uuid,
    pub webhook_id: Uuid,
    pub alert_id: Uuid,
    /// The JSON body, exactly as sent.
    #[sea_orm(column_type = "Text")]
    pub payload: String,
    /// `PENDING`, `DELIVERED` or `FAILED`.
    #[sea_orm(column_type = "Text")]
    pub status: String,
    /// Requests sent so far.
    pub attempts: i64,
    /// HTTP status of the last answer.
    pub last_http_status: Option<i64>,
    /// Why the last try got no answer.
    #[sea_orm(column_type = "Text")]
    pub last_error: Option<String>,
    /// When a worker may take it next (the end of a claim while one sends it); none once settled.
    pub next_attempt_time: Option<DateTimeUtc>,
    pub delivered_time: Option<DateTimeUtc>,
    pub create_time: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::projects::Entity",
        from = "Column::ProjectId",
        to = "super::projects::Column::Id",
        on_delete = "Cascade"
    )]
    Project,
    #[sea_orm(
        belongs_to = "super::webhooks::Entity",
        from = "Column::WebhookId",
        to = "super::webhooks::Column::Id",
        on_delete = "Cascade"
    )]
    Webhook,
    #[sea_orm(
        belongs_to = "super::budget_alerts::Entity",
        from = "Column::AlertId",
        to = "super::budget_alerts::Column::Id",
        on_delete = "Cascade"
    )]
    Alert,
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl Related<super::webhooks::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Webhook.def()
    }
}

impl Related<super::budget_alerts::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Alert.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
