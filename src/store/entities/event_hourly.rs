//! Event-level figures per hour and attribution (every dimension but provider and model).
//!
//! Kept current at ingest with `INSERT … ON CONFLICT (key) DO UPDATE SET x = x + excluded.x`;
//! every key column is NOT NULL and an absent text dimension is `''`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "event_hourly")]
pub struct Model {
    /// The owning project.
    #[sea_orm(primary_key, auto_increment = false)]
    pub project_id: Uuid,
    /// First instant of the hour, UTC.
    #[sea_orm(primary_key, auto_increment = false)]
    pub hour_start: DateTimeUtc,
    /// Dimensions: `''` when absent, never NULL.
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub customer_id: String,
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub plan_name: String,
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub agent_code: String,
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub signal_name: String,
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub user_id: String,
    pub events: i64,
    pub quantity: i64,
    /// Sum of the events' known costs, in 1e-10 USD.
    pub cost_e10: i64,
    /// Events whose cost is (partly) unknown: `NEEDS_COST_BACKFILL`.
    pub unpriced_events: i64,
    pub missing_volume_events: i64,
    /// Runs whose start falls in the hour.
    pub runs_started: i64,
    /// Tokens of the events' lines (migration 000008).
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_input_tokens: i64,
    pub cache_creation_tokens: i64,
    pub reasoning_tokens: i64,
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
