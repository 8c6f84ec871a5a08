//! An API key of a project, stored only as a hash; shown in clear once, at creation.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The owning project.
    pub project_id: Uuid,
    /// `SECRET` (`sk_…`, reads and writes) or `PUBLISHABLE` (`pk_…`, reads only).
    #[sea_orm(column_type = "Text")]
    pub kind: String,
    /// Optional label.
    #[sea_orm(column_type = "Text")]
    pub name: Option<String>,
    /// The key's first characters, shown in listings and used to find candidates.
    #[sea_orm(column_type = "Text")]
    pub prefix: String,
    /// Lowercase hex SHA-256 of the whole key. Unique.
    #[sea_orm(column_type = "Text")]
    pub key_hash: String,
    pub create_time: DateTimeUtc,
    pub revoke_time: Option<DateTimeUtc>,
    pub last_used_time: Option<DateTimeUtc>,
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
