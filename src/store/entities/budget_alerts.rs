//! A budget reaching a threshold of its monthly limit, or a BLOCK budget's first denial, once per
//! budget and calendar month (a unique key over budget, month, event type and threshold).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "budget_alerts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The owning project.
    pub project_id: Uuid,
    /// The budget (no foreign key: the alert outlives a deleted budget).
    pub budget_id: Uuid,
    /// First instant of the calendar month (UTC).
    pub month_start: DateTimeUtc,
    /// `BUDGET_THRESHOLD_CROSSED` or `BUDGET_DENIED`.
    #[sea_orm(column_type = "Text")]
    pub event_type: String,
    /// 50, 80 or 100; 0 for a denial.
    pub threshold_percent: i64,
    /// The monthly limit when recorded, in 1e-10 USD (none for a budget without one).
    pub limit_e10: Option<i64>,
    /// The month's spend when recorded, in 1e-10 USD.
    pub spent_e10: i64,
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
    #[sea_orm(has_many = "super::webhook_deliveries::Entity")]
    Deliveries,
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl Related<super::webhook_deliveries::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Deliveries.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
