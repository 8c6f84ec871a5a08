//! When and why an event's cost was recomputed.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "repricings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The owning project.
    pub project_id: Uuid,
    pub event_ref: Uuid,
    pub reprice_time: DateTimeUtc,
    /// `MAP_MODEL` or `FILL_VOLUME`.
    #[sea_orm(column_type = "Text")]
    pub reason: String,
    /// Readable detail, e.g. the mapping applied.
    #[sea_orm(column_type = "Text")]
    pub detail: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub old_status: String,
    #[sea_orm(column_type = "Text")]
    pub new_status: String,
    pub old_cost_e10: Option<i64>,
    pub new_cost_e10: Option<i64>,
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

impl ActiveModelBehavior for ActiveModel {}
