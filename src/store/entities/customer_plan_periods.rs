//! A plan in force for a customer from `start_time` until the next period's start.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_plan_periods")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The owning project.
    pub project_id: Uuid,
    /// The customer (`customers.id`).
    pub customer_ref: Uuid,
    #[sea_orm(column_type = "Text")]
    pub plan_name: String,
    /// Monthly amount in 1e-10 USD.
    pub monthly_usd_e10: i64,
    /// Unique per customer.
    pub start_time: DateTimeUtc,
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
        belongs_to = "super::customers::Entity",
        from = "Column::CustomerRef",
        to = "super::customers::Column::Id",
        on_delete = "Cascade"
    )]
    Customer,
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

impl ActiveModelBehavior for ActiveModel {}
