//! A project's own price (negotiated rate, private model); wins over the catalog.
//!
//! Catalog and project prices are two tables because NULLs are distinct in unique indexes
//! on both databases: a nullable `project_id` could not key an idempotent catalog import.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "prices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The owning project.
    pub project_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub provider: String,
    #[sea_orm(column_type = "Text")]
    pub model: String,
    /// `STANDARD`, `BATCH`, `FLEX` or `PRIORITY`.
    #[sea_orm(column_type = "Text")]
    pub service_tier: String,
    /// `INPUT`, `OUTPUT`, `CACHED_INPUT`, `CACHE_CREATION`, `REASONING` or `UNIT`.
    #[sea_orm(column_type = "Text")]
    pub dimension: String,
    /// Long-context tier: applies when the call's input tokens exceed this (0: always).
    pub min_input_tokens: i64,
    /// Decimal text, e.g. `0.000000125`.
    #[sea_orm(column_type = "Text")]
    pub unit_price_usd: String,
    /// In force from this time until the next price of the same key.
    pub effective_time: DateTimeUtc,
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
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
