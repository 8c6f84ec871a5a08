//! The units of a priced line billed at one rate: the bill's explanation.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "line_cost_items")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The owning project.
    pub project_id: Uuid,
    pub line_ref: Uuid,
    /// `INPUT`, `OUTPUT`, `CACHED_INPUT`, `CACHE_CREATION`, `REASONING`, `UNIT` or `MANUAL`.
    #[sea_orm(column_type = "Text")]
    pub dimension: String,
    /// Tier of the price used.
    #[sea_orm(column_type = "Text")]
    pub service_tier: String,
    /// The long-context rate applied.
    pub long_context: bool,
    pub units: i64,
    /// Decimal text, e.g. `0.000000125`.
    #[sea_orm(column_type = "Text")]
    pub unit_price_usd: String,
    /// In 1e-10 USD.
    pub cost_e10: i64,
    /// `CATALOG` (`price_ref` is a `catalog_prices.id`), `PROJECT` (a `prices.id`)
    /// or `MANUAL` (the line's own cost, no `price_ref`).
    #[sea_orm(column_type = "Text")]
    pub price_source: String,
    pub price_ref: Option<Uuid>,
    /// Effective time of the price used.
    pub price_effective_time: Option<DateTimeUtc>,
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
        belongs_to = "super::service_lines::Entity",
        from = "Column::LineRef",
        to = "super::service_lines::Column::Id",
        on_delete = "Cascade"
    )]
    Line,
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl Related<super::service_lines::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Line.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
