//! Steps, cost and tokens of one run for one provider+model (as reported, normalized).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "run_model_totals")]
pub struct Model {
    /// The owning project.
    pub project_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub run_ref: Uuid,
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub provider: String,
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub model: String,
    pub steps: i64,
    pub unpriced_steps: i64,
    /// In 1e-10 USD.
    pub cost_e10: i64,
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
