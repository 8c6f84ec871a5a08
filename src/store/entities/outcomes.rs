//! What a run produced or the value it created.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outcomes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The owning project.
    pub project_id: Uuid,
    pub run_ref: Uuid,
    #[sea_orm(column_type = "Text")]
    pub name: String,
    /// `NONE`, `USD` (value in `value_e10`) or `UNITS` (value in `value_units`).
    #[sea_orm(column_type = "Text")]
    pub value_kind: String,
    /// Value in 1e-10 USD.
    pub value_e10: Option<i64>,
    /// Value in units, as decimal text.
    #[sea_orm(column_type = "Text")]
    pub value_units: Option<String>,
    pub metadata: Option<Json>,
    pub record_time: DateTimeUtc,
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
        belongs_to = "super::runs::Entity",
        from = "Column::RunRef",
        to = "super::runs::Column::Id",
        on_delete = "Cascade"
    )]
    Run,
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl Related<super::runs::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Run.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
