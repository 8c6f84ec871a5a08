//! One underlying service call of a cost event.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "service_lines")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The owning project.
    pub project_id: Uuid,
    pub event_ref: Uuid,
    /// 0-based position in the event; unique per event.
    pub line_index: i64,
    /// As reported, trimmed and lowercased.
    #[sea_orm(column_type = "Text")]
    pub provider: String,
    /// As reported, trimmed and lowercased.
    #[sea_orm(column_type = "Text")]
    pub model: String,
    /// `STANDARD`, `BATCH`, `FLEX` or `PRIORITY`.
    #[sea_orm(column_type = "Text")]
    pub service_tier: String,
    /// Token counts as the provider reported them; null when not sent.
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cached_input_tokens: Option<i64>,
    pub cache_creation_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    /// Units of a non-LLM service.
    pub quantity: Option<i64>,
    /// A cost given by the caller, in 1e-10 USD.
    pub manual_cost_e10: Option<i64>,
    pub latency_ms: Option<i64>,
    #[sea_orm(column_type = "Text")]
    pub call_status: Option<String>,
    /// `PROCESSED`, `MISSING_VOLUME_DATA` or `NEEDS_COST_BACKFILL`.
    #[sea_orm(column_type = "Text")]
    pub status: String,
    /// The provider and model whose prices were used (after mapping).
    #[sea_orm(column_type = "Text")]
    pub priced_provider: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub priced_model: Option<String>,
    /// In 1e-10 USD; null while unpriced.
    pub cost_e10: Option<i64>,
    /// Some units billed at the standard price for want of a price at the line's tier.
    pub tier_price_missing: bool,
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
        belongs_to = "super::cost_events::Entity",
        from = "Column::EventRef",
        to = "super::cost_events::Column::Id",
        on_delete = "Cascade"
    )]
    Event,
    #[sea_orm(has_many = "super::line_cost_items::Entity")]
    CostItems,
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl Related<super::cost_events::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Event.def()
    }
}

impl Related<super::line_cost_items::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CostItems.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
