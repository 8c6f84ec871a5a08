//! Usage revenue: the USD price of one unit of a signal under a plan, from a time on.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signal_prices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The owning project.
    pub project_id: Uuid,
    #[sea_orm(column_type = "Text")]
    pub plan_name: String,
    pub signal_ref: Uuid,
    /// Decimal text.
    #[sea_orm(column_type = "Text")]
    pub unit_price_usd: String,
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
    #[sea_orm(
        belongs_to = "super::signals::Entity",
        from = "Column::SignalRef",
        to = "super::signals::Column::Id",
        on_delete = "Cascade"
    )]
    Signal,
}

impl Related<super::projects::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Project.def()
    }
}

impl Related<super::signals::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Signal.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
