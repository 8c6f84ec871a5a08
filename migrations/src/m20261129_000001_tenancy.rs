//! Projects (tenants) and their API keys.

use sea_orm_migration::prelude::*;

use crate::columns::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A tenant. Every other tenant-owned row carries its `project_id`.
#[derive(DeriveIden, Clone, Copy)]
pub enum Projects {
    Table,
    Id,
    Name,
    CreateTime,
}

/// An API key of a project, stored only as a hash.
#[derive(DeriveIden, Clone, Copy)]
pub enum ApiKeys {
    Table,
    Id,
    ProjectId,
    /// `SECRET` (`sk_…`, reads and writes) or `PUBLISHABLE` (`pk_…`, reads only).
    Kind,
    Name,
    /// The first characters of the key (e.g. 12), shown in listings so a user can tell keys apart.
    Prefix,
    /// Lowercase hex SHA-256 of the whole key.
    KeyHash,
    CreateTime,
    RevokeTime,
    LastUsedTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Projects::Table)
                    .if_not_exists()
                    .col(id(Projects::Id))
                    .col(text(Projects::Name))
                    .col(time(Projects::CreateTime))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .if_not_exists()
                    .col(id(ApiKeys::Id))
                    .col(uuid_ref(ApiKeys::ProjectId))
                    .col(text(ApiKeys::Kind))
                    .col(text_null(ApiKeys::Name))
                    .col(text(ApiKeys::Prefix))
                    .col(text(ApiKeys::KeyHash))
                    .col(time(ApiKeys::CreateTime))
                    .col(time_null(ApiKeys::RevokeTime))
                    .col(time_null(ApiKeys::LastUsedTime))
                    .foreign_key(&mut project_fk(ApiKeys::Table, ApiKeys::ProjectId))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![
                unique_index("projects_name_key", Projects::Table, &[Projects::Name]),
                unique_index("api_keys_key_hash_key", ApiKeys::Table, &[ApiKeys::KeyHash]),
                // Authentication finds the candidates by the key's clear prefix, then compares
                // hashes in constant time.
                index("api_keys_prefix_idx", ApiKeys::Table, &[ApiKeys::Prefix]),
                index(
                    "api_keys_project_idx",
                    ApiKeys::Table,
                    &[ApiKeys::ProjectId, ApiKeys::CreateTime],
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &[ApiKeys::Table]).await?;
        drop_tables(manager, &[Projects::Table]).await
    }
}
