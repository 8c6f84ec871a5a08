//! Prices: the shipped catalog (provider conventions, catalog prices, model aliases) and each
//! project's own prices, model mappings and signal prices. Unit prices are decimal text, never
//! summed, so they keep every digit of the source.
//!
//! Catalog prices and project prices live in two tables rather than one with a nullable
//! `project_id`: NULLs are distinct in unique indexes on both databases, so a unique key over a
//! nullable `project_id` would not make catalog imports idempotent (nor back an upsert), and a
//! sentinel nil-uuid project would need a fake row in `projects` for the foreign key. With two
//! tables every key column is NOT NULL, `prices.project_id` keeps its foreign key, and the price
//! lookup reads the project's table first, then the catalog's.

use sea_orm_migration::prelude::*;

use crate::columns::*;
use crate::m20261129_000002_directory::Signals;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// What a provider's reported token counts include (catalog, one row per provider).
#[derive(DeriveIden, Clone, Copy)]
pub enum ProviderConventions {
    Table,
    Provider,
    /// OpenAI style: prompt tokens include cached tokens (billed once, at the cached rate).
    CachedInputIncludedInInput,
    /// Cache-creation tokens are part of the reported input tokens.
    CacheCreationIncludedInInput,
    /// OpenAI style: completion tokens include reasoning tokens.
    ReasoningIncludedInOutput,
    UpdateTime,
}

/// Shipped catalog price of one dimension of one provider+model+tier, from `effective_time` on.
#[derive(DeriveIden, Clone, Copy)]
pub enum CatalogPrices {
    Table,
    Id,
    Provider,
    Model,
    /// `STANDARD`, `BATCH`, `FLEX` or `PRIORITY`.
    ServiceTier,
    /// `INPUT`, `OUTPUT`, `CACHED_INPUT`, `CACHE_CREATION`, `REASONING` or `UNIT`.
    Dimension,
    /// Long-context tier: the price applies when the call's input tokens exceed this (0: always).
    MinInputTokens,
    UnitPriceUsd,
    EffectiveTime,
    CreateTime,
}

/// A project's own price (negotiated rate, private model); wins over the catalog.
#[derive(DeriveIden, Clone, Copy)]
pub enum Prices {
    Table,
    Id,
    ProjectId,
    Provider,
    Model,
    ServiceTier,
    Dimension,
    MinInputTokens,
    UnitPriceUsd,
    EffectiveTime,
    CreateTime,
}

/// Catalog rule: a dated or versioned model name that falls back to a base model.
#[derive(DeriveIden, Clone, Copy)]
pub enum ModelAliases {
    Table,
    Provider,
    Alias,
    Model,
}

/// A project's rule pricing an unknown provider+model as a known one.
#[derive(DeriveIden, Clone, Copy)]
pub enum ModelMappings {
    Table,
    Id,
    ProjectId,
    /// Trimmed and lowercased.
    FromProvider,
    FromModel,
    ToProvider,
    ToModel,
    CreateTime,
    UpdateTime,
}

/// Usage revenue: the USD price of one unit of a signal under a plan, from `effective_time` on.
#[derive(DeriveIden, Clone, Copy)]
pub enum SignalPrices {
    Table,
    Id,
    ProjectId,
    PlanName,
    SignalRef,
    UnitPriceUsd,
    EffectiveTime,
    CreateTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ProviderConventions::Table)
                    .if_not_exists()
                    .col(text(ProviderConventions::Provider).primary_key())
                    .col(flag(ProviderConventions::CachedInputIncludedInInput))
                    .col(flag(ProviderConventions::CacheCreationIncludedInInput))
                    .col(flag(ProviderConventions::ReasoningIncludedInOutput))
                    .col(time(ProviderConventions::UpdateTime))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CatalogPrices::Table)
                    .if_not_exists()
                    .col(id(CatalogPrices::Id))
                    .col(text(CatalogPrices::Provider))
                    .col(text(CatalogPrices::Model))
                    .col(text(CatalogPrices::ServiceTier))
                    .col(text(CatalogPrices::Dimension))
                    .col(counter(CatalogPrices::MinInputTokens))
                    .col(text(CatalogPrices::UnitPriceUsd))
                    .col(time(CatalogPrices::EffectiveTime))
                    .col(time(CatalogPrices::CreateTime))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Prices::Table)
                    .if_not_exists()
                    .col(id(Prices::Id))
                    .col(uuid_ref(Prices::ProjectId))
                    .col(text(Prices::Provider))
                    .col(text(Prices::Model))
                    .col(text(Prices::ServiceTier))
                    .col(text(Prices::Dimension))
                    .col(counter(Prices::MinInputTokens))
                    .col(text(Prices::UnitPriceUsd))
                    .col(time(Prices::EffectiveTime))
                    .col(time(Prices::CreateTime))
                    .foreign_key(&mut project_fk(Prices::Table, Prices::ProjectId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ModelAliases::Table)
                    .if_not_exists()
                    .col(text(ModelAliases::Provider))
                    .col(text(ModelAliases::Alias))
                    .col(text(ModelAliases::Model))
                    .primary_key(&mut primary_key(&[
                        ModelAliases::Provider,
                        ModelAliases::Alias,
                    ]))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ModelMappings::Table)
                    .if_not_exists()
                    .col(id(ModelMappings::Id))
                    .col(uuid_ref(ModelMappings::ProjectId))
                    .col(text(ModelMappings::FromProvider))
                    .col(text(ModelMappings::FromModel))
                    .col(text(ModelMappings::ToProvider))
                    .col(text(ModelMappings::ToModel))
                    .col(time(ModelMappings::CreateTime))
                    .col(time(ModelMappings::UpdateTime))
                    .foreign_key(&mut project_fk(
                        ModelMappings::Table,
                        ModelMappings::ProjectId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SignalPrices::Table)
                    .if_not_exists()
                    .col(id(SignalPrices::Id))
                    .col(uuid_ref(SignalPrices::ProjectId))
                    .col(text(SignalPrices::PlanName))
                    .col(uuid_ref(SignalPrices::SignalRef))
                    .col(text(SignalPrices::UnitPriceUsd))
                    .col(time(SignalPrices::EffectiveTime))
                    .col(time(SignalPrices::CreateTime))
                    .foreign_key(&mut project_fk(
                        SignalPrices::Table,
                        SignalPrices::ProjectId,
                    ))
                    .foreign_key(&mut foreign_key(
                        SignalPrices::Table,
                        SignalPrices::SignalRef,
                        Signals::Table,
                        Signals::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![
                // Idempotent catalog import (upsert key) and the lookup of the price in force:
                // equality on everything but effective_time, then the latest effective_time <= t.
                unique_index(
                    "catalog_prices_key",
                    CatalogPrices::Table,
                    &[
                        CatalogPrices::Provider,
                        CatalogPrices::Model,
                        CatalogPrices::ServiceTier,
                        CatalogPrices::Dimension,
                        CatalogPrices::MinInputTokens,
                        CatalogPrices::EffectiveTime,
                    ],
                ),
                unique_index(
                    "prices_key",
                    Prices::Table,
                    &[
                        Prices::ProjectId,
                        Prices::Provider,
                        Prices::Model,
                        Prices::ServiceTier,
                        Prices::Dimension,
                        Prices::MinInputTokens,
                        Prices::EffectiveTime,
                    ],
                ),
                unique_index(
                    "model_mappings_project_from_key",
                    ModelMappings::Table,
                    &[
                        ModelMappings::ProjectId,
                        ModelMappings::FromProvider,
                        ModelMappings::FromModel,
                    ],
                ),
                unique_index(
                    "signal_prices_key",
                    SignalPrices::Table,
                    &[
                        SignalPrices::ProjectId,
                        SignalPrices::PlanName,
                        SignalPrices::SignalRef,
                        SignalPrices::EffectiveTime,
                    ],
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &[SignalPrices::Table]).await?;
        drop_tables(manager, &[ModelMappings::Table]).await?;
        drop_tables(manager, &[ModelAliases::Table]).await?;
        drop_tables(manager, &[Prices::Table]).await?;
        drop_tables(manager, &[CatalogPrices::Table]).await?;
        drop_tables(manager, &[ProviderConventions::Table]).await
    }
}
