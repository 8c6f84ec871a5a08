//! Priced cost per calendar month (UTC), customer and agent: what `CheckBudget` sums.
//!
//! Kept current at ingest with `INSERT … ON CONFLICT (key) DO UPDATE SET x = x + excluded.x`;
//! every key column is NOT NULL and an absent text dimension is `''`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "monthly_spend")]
pub struct Model {
    /// The owning project.
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: Uuid,
    /// First instant of the month, UTC.
    #[sea_orm(primary_key, auto_increment = false)]
    pub month_start: DateTimeUtc,
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub customer_id: String,
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub agent_code: String,
    /// In 1e-10 USD.
    pub cost_e10: i64,
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
