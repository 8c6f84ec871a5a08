//! An amount `CheckBudget` set aside for a step until its event settles it, it is released or it
//! expires (migration 000013).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "budget_holds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The owning project.
    pub project_id: Uuid,
    /// The caller's customer id as sent.
    #[sea_orm(column_type = "Text")]
    pub customer_id: String,
    #[sea_orm(column_type = "Text")]
    pub agent_code: String,
    /// The caller's run id; `None` when the check named none.
    #[sea_orm(column_type = "Text")]
    pub run_key: Option<String>,
    /// In 1e-10 USD.
    pub amount_e10: i64,
    /// The month (UTC) of the check.
    pub month_start: DateTimeUtc,
    pub create_time: DateTimeUtc,
    pub expire_time: DateTimeUtc,
    /// `None` while open.
    pub end_time: Option<DateTimeUtc>,
    /// `SETTLED` or `RELEASED`; `None` while open.
    #[sea_orm(column_type = "Text")]
    pub end_reason: Option<String>,
    pub event_id: Option<Uuid>,
    /// In 1e-10 USD; `None` when unknown or not settled.
    pub settled_cost_e10: Option<i64>,
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
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
