//! A spending limit on a scope per month and/or per run, enforced as `ALERT` or `BLOCK`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "budgets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The owning project.
    pub project_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub name: String,
    /// `PROJECT`, `CUSTOMER`, `AGENT` or `CUSTOMER_AGENT`.
    #[sea_orm(column_type = "Text")]
    pub scope_kind: String,
    /// The caller's customer id as sent (`CUSTOMER`, `CUSTOMER_AGENT`).
    #[sea_orm(column_type = "Text")]
    pub customer_id: Option<String>,
    /// Set for `AGENT` and `CUSTOMER_AGENT`.
    #[sea_orm(column_type = "Text")]
    pub agent_code: Option<String>,
    /// Per calendar month (UTC), in 1e-10 USD.
    pub monthly_limit_e10: Option<i64>,
    /// In 1e-10 USD.
    pub per_run_limit_e10: Option<i64>,
    /// `ALERT` or `BLOCK`.
    #[sea_orm(column_type = "Text")]
    pub enforcement: String,
    pub create_time: DateTimeUtc,
    pub update_time: DateTimeUtc,
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
