//! What a provider's reported token counts include (catalog, one row per provider).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "provider_conventions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false, column_type = "Text")]
    pub provider: String,
    /// OpenAI style: input tokens include cached tokens.
    pub cached_input_included_in_input: bool,
    /// Input tokens include cache-creation tokens.
    pub cache_creation_included_in_input: bool,
    /// OpenAI style: output tokens include reasoning tokens.
    pub reasoning_included_in_output: bool,
    pub update_time: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
