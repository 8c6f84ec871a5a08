//! One stored ingest record (validation and internal errors are never stored).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "cost_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The owning project.
    pub project_id: Uuid,
    /// Unique per project when set.
    #[sea_orm(column_type = "Text")]
    pub idempotency_key: Option<String>,
    pub customer_ref: Uuid,
    pub agent_ref: Uuid,
    pub signal_ref: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub user_id: Option<String>,
    pub run_ref: Option<Uuid>,
    /// The customer's plan in force at `usage_time`.
    #[sea_orm(column_type = "Text")]
    pub plan_name: Option<String>,
    pub quantity: i64,
    pub usage_time: DateTimeUtc,
    pub receive_time: DateTimeUtc,
    /// `PROCESSED`, `MISSING_VOLUME_DATA` or `NEEDS_COST_BACKFILL`: the worst of its lines.
    #[sea_orm(column_type = "Text")]
    pub status: String,
    /// Sum of the priced lines in 1e-10 USD; null when none is priced (unknown).
    pub total_cost_e10: Option<i64>,
    pub metadata: Option<Json>,
    /// Readable explanation of a status other than `PROCESSED`.
    #[sea_orm(column_type = "Text")]
    pub error: Option<String>,
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
        belongs_to = "super::customers::Entity",
        from = "Column::CustomerRef",
        to = "super::customers::Column::Id",
        on_delete = "NoAction"
    )]
    Customer,
    #[sea_orm(
        belongs_to = "super::agents::Entity",
        from = "Column::AgentRef",
        to = "super::agents::Column::Id",
        on_delete = "NoAction"
    )]
    Agent,
    #[sea_orm(
        belongs_to = "super::signals::Entity",
        from = "Column::SignalRef",
        to = "super::signals::Column::Id",
        on_delete = "NoAction"
    )]
    Signal,
    #[sea_orm(
        belongs_to = "super::runs::Entity",
        from = "Column::RunRef",
        to = "super::runs::Column::Id",
        on_delete = "NoAction"
    )]
    Run,
    #[sea_orm(has_many = "super::service_lines::Entity")]
    Lines,
    #[sea_orm(has_many = "super::repricings::Entity")]
    Repricings,
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl Related<super::customers::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Customer.def()
    }
}

impl Related<super::agents::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Agent.def()
    }
}

impl Related<super::signals::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Signal.def()
    }
}

impl Related<super::runs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Run.def()
    }
}

impl Related<super::service_lines::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Lines.def()
    }
}

impl Related<super::repricings::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Repricings.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
