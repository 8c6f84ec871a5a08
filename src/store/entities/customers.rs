//! A paying account of the caller, keyed by the caller's own `customer_id`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The owning project.
    pub project_id: Uuid,
    /// The caller's id, exactly as sent. Unique per project.
    #[sea_orm(column_type = "Text")]
    pub customer_id: String,
    #[sea_orm(column_type = "Text")]
    pub display_name: Option<String>,
    /// JSON array of other names of the customer.
    pub aliases: Json,
    pub create_time: DateTimeUtc,
    pub first_seen_time: DateTimeUtc,
    pub last_seen_time: DateTimeUtc,
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
    #[sea_orm(has_many = "super::customer_plan_periods::Entity")]
    PlanPeriods,
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl Related<super::customer_plan_periods::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::PlanPeriods.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
