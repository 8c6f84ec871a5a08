//! Cost events, their service lines, the priced items of each line, and the record of repricings.
//! Nothing here is ever deleted once stored (except with its project).

use sea_orm_migration::prelude::*;

use crate::columns::*;
use crate::m20261129_000002_directory::{Agents, Customers, Signals};
use crate::m20261129_000003_runs::Runs;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One ingested record. Only stored records have a row: `VALIDATION_ERROR` and `INTERNAL_ERROR`
/// results are never written.
#[derive(DeriveIden, Clone, Copy)]
pub enum CostEvents {
    Table,
    Id,
    ProjectId,
    /// Null when the caller sent none; NULLs are distinct in the unique index, so any number of
    /// events may have none.
    IdempotencyKey,
    CustomerRef,
    AgentRef,
    SignalRef,
    UserId,
    RunRef,
    /// The customer's plan in force at `usage_time`.
    PlanName,
    Quantity,
    UsageTime,
    ReceiveTime,
    /// `PROCESSED`, `MISSING_VOLUME_DATA` or `NEEDS_COST_BACKFILL`: the worst of its lines.
    Status,
    /// Sum of the priced lines; null when no line is priced (unknown, never 0).
    TotalCostE10,
    Metadata,
    /// Readable explanation of a non-`PROCESSED` status.
    Error,
}

/// One underlying service call of a cost event.
#[derive(DeriveIden, Clone, Copy)]
pub enum ServiceLines {
    Table,
    Id,
    ProjectId,
    EventRef,
    /// 0-based position of the line in its event.
    LineIndex,
    /// Provider and model as reported, trimmed and lowercased.
    Provider,
    Model,
    /// `STANDARD`, `BATCH`, `FLEX` or `PRIORITY`.
    ServiceTier,
    InputTokens,
    OutputTokens,
    CachedInputTokens,
    CacheCreationTokens,
    ReasoningTokens,
    Quantity,
    ManualCostE10,
    LatencyMs,
    CallStatus,
    /// `PROCESSED`, `MISSING_VOLUME_DATA` or `NEEDS_COST_BACKFILL`.
    Status,
    /// The provider and model whose prices were used (after a model mapping); null while unpriced.
    PricedProvider,
    PricedModel,
    CostE10,
}

/// The units billed at one rate of a priced line: the bill's explanation.
#[derive(DeriveIden, Clone, Copy)]
pub enum LineCostItems {
    Table,
    Id,
    ProjectId,
    LineRef,
    /// `INPUT`, `OUTPUT`, `CACHED_INPUT`, `CACHE_CREATION`, `REASONING`, `UNIT` or `MANUAL`.
    Dimension,
    /// Tier of the price used (`STANDARD` when the asked tier had none).
    ServiceTier,
    /// The long-context rate applied (the call's input passed the price's threshold).
    LongContext,
    Units,
    /// Decimal text, e.g. `0.000000125`.
    UnitPriceUsd,
    CostE10,
    /// `CATALOG` (`price_ref` is a `catalog_prices.id`), `PROJECT` (a `prices.id`) or `MANUAL`
    /// (the line's own cost; no `price_ref`).
    PriceSource,
    PriceRef,
    PriceEffectiveTime,
}

/// When and why an event's cost was recomputed.
#[derive(DeriveIden, Clone, Copy)]
pub enum Repricings {
    Table,
    Id,
    ProjectId,
    EventRef,
    RepriceTime,
    /// `MAP_MODEL` or `FILL_VOLUME`.
    Reason,
    /// Readable detail, e.g. the mapping applied.
    Detail,
    OldStatus,
    NewStatus,
    OldCostE10,
    NewCostE10,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CostEvents::Table)
                    .if_not_exists()
                    .col(id(CostEvents::Id))
                    .col(uuid_ref(CostEvents::ProjectId))
                    .col(text_null(CostEvents::IdempotencyKey))
                    .col(uuid_ref(CostEvents::CustomerRef))
                    .col(uuid_ref(CostEvents::AgentRef))
                    .col(uuid_ref_null(CostEvents::SignalRef))
                    .col(text_null(CostEvents::UserId))
                    .col(uuid_ref_null(CostEvents::RunRef))
                    .col(text_null(CostEvents::PlanName))
                    .col(number(CostEvents::Quantity))
                    .col(time(CostEvents::UsageTime))
                    .col(time(CostEvents::ReceiveTime))
                    .col(text(CostEvents::Status))
                    .col(money_null(CostEvents::TotalCostE10))
                    .col(json_null(CostEvents::Metadata))
                    .col(text_null(CostEvents::Error))
                    .foreign_key(&mut project_fk(CostEvents::Table, CostEvents::ProjectId))
                    .foreign_key(&mut foreign_key(
                        CostEvents::Table,
                        CostEvents::CustomerRef,
                        Customers::Table,
                        Customers::Id,
                        ForeignKeyAction::NoAction,
                    ))
                    .foreign_key(&mut foreign_key(
                        CostEvents::Table,
                        CostEvents::AgentRef,
                        Agents::Table,
                        Agents::Id,
                        ForeignKeyAction::NoAction,
                    ))
                    .foreign_key(&mut foreign_key(
                        CostEvents::Table,
                        CostEvents::SignalRef,
                        Signals::Table,
                        Signals::Id,
                        ForeignKeyAction::NoAction,
                    ))
                    .foreign_key(&mut foreign_key(
                        CostEvents::Table,
                        CostEvents::RunRef,
                        Runs::Table,
                        Runs::Id,
                        ForeignKeyAction::NoAction,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ServiceLines::Table)
                    .if_not_exists()
                    .col(id(ServiceLines::Id))
                    .col(uuid_ref(ServiceLines::ProjectId))
                    .col(uuid_ref(ServiceLines::EventRef))
                    .col(number(ServiceLines::LineIndex))
                    .col(text(ServiceLines::Provider))
                    .col(text(ServiceLines::Model))
                    .col(text(ServiceLines::ServiceTier))
                    .col(number_null(ServiceLines::InputTokens))
                    .col(number_null(ServiceLines::OutputTokens))
                    .col(number_null(ServiceLines::CachedInputTokens))
                    .col(number_null(ServiceLines::CacheCreationTokens))
                    .col(number_null(ServiceLines::ReasoningTokens))
                    .col(number_null(ServiceLines::Quantity))
                    .col(money_null(ServiceLines::ManualCostE10))
                    .col(number_null(ServiceLines::LatencyMs))
                    .col(text_null(ServiceLines::CallStatus))
                    .col(text(ServiceLines::Status))
                    .col(text_null(ServiceLines::PricedProvider))
                    .col(text_null(ServiceLines::PricedModel))
                    .col(money_null(ServiceLines::CostE10))
                    .foreign_key(&mut project_fk(
                        ServiceLines::Table,
                        ServiceLines::ProjectId,
                    ))
                    .foreign_key(&mut foreign_key(
                        ServiceLines::Table,
                        ServiceLines::EventRef,
                        CostEvents::Table,
                        CostEvents::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LineCostItems::Table)
                    .if_not_exists()
                    .col(id(LineCostItems::Id))
                    .col(uuid_ref(LineCostItems::ProjectId))
                    .col(uuid_ref(LineCostItems::LineRef))
                    .col(text(LineCostItems::Dimension))
                    .col(text(LineCostItems::ServiceTier))
                    .col(flag(LineCostItems::LongContext))
                    .col(number(LineCostItems::Units))
                    .col(text(LineCostItems::UnitPriceUsd))
                    .col(money(LineCostItems::CostE10))
                    .col(text(LineCostItems::PriceSource))
                    .col(uuid_ref_null(LineCostItems::PriceRef))
                    .col(time_null(LineCostItems::PriceEffectiveTime))
                    .foreign_key(&mut project_fk(
                        LineCostItems::Table,
                        LineCostItems::ProjectId,
                    ))
                    .foreign_key(&mut foreign_key(
                        LineCostItems::Table,
                        LineCostItems::LineRef,
                        ServiceLines::Table,
                        ServiceLines::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Repricings::Table)
                    .if_not_exists()
                    .col(id(Repricings::Id))
                    .col(uuid_ref(Repricings::ProjectId))
                    .col(uuid_ref(Repricings::EventRef))
                    .col(time(Repricings::RepriceTime))
                    .col(text(Repricings::Reason))
                    .col(text_null(Repricings::Detail))
                    .col(text(Repricings::OldStatus))
                    .col(text(Repricings::NewStatus))
                    .col(money_null(Repricings::OldCostE10))
                    .col(money_null(Repricings::NewCostE10))
                    .foreign_key(&mut project_fk(Repricings::Table, Repricings::ProjectId))
                    .foreign_key(&mut foreign_key(
                        Repricings::Table,
                        Repricings::EventRef,
                        CostEvents::Table,
                        CostEvents::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![
                // Idempotency under races: the second insert of a key fails, on any replica.
                unique_index(
                    "cost_events_project_idempotency_key_key",
                    CostEvents::Table,
                    &[CostEvents::ProjectId, CostEvents::IdempotencyKey],
                ),
                // Time windows, ListEvents and ExportEvents in (usage_time, id) order.
                index(
                    "cost_events_project_usage_idx",
                    CostEvents::Table,
                    &[CostEvents::ProjectId, CostEvents::UsageTime, CostEvents::Id],
                ),
                index(
                    "cost_events_project_customer_usage_idx",
                    CostEvents::Table,
                    &[
                        CostEvents::ProjectId,
                        CostEvents::CustomerRef,
                        CostEvents::UsageTime,
                    ],
                ),
                index(
                    "cost_events_project_run_usage_idx",
                    CostEvents::Table,
                    &[
                        CostEvents::ProjectId,
                        CostEvents::RunRef,
                        CostEvents::UsageTime,
                    ],
                ),
                // Events missing volume or cost, in time order.
                index(
                    "cost_events_project_status_usage_idx",
                    CostEvents::Table,
                    &[
                        CostEvents::ProjectId,
                        CostEvents::Status,
                        CostEvents::UsageTime,
                    ],
                ),
                unique_index(
                    "service_lines_event_line_key",
                    ServiceLines::Table,
                    &[ServiceLines::EventRef, ServiceLines::LineIndex],
                ),
                // Parked lines of one model (MapModel) and unpriced models by provider+model.
                index(
                    "service_lines_project_status_model_idx",
                    ServiceLines::Table,
                    &[
                        ServiceLines::ProjectId,
                        ServiceLines::Status,
                        ServiceLines::Provider,
                        ServiceLines::Model,
                    ],
                ),
                index(
                    "line_cost_items_line_idx",
                    LineCostItems::Table,
                    &[LineCostItems::LineRef],
                ),
                index(
                    "repricings_event_idx",
                    Repricings::Table,
                    &[Repricings::EventRef, Repricings::RepriceTime],
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &[Repricings::Table]).await?;
        drop_tables(manager, &[LineCostItems::Table]).await?;
        drop_tables(manager, &[ServiceLines::Table]).await?;
        drop_tables(manager, &[CostEvents::Table]).await
    }
}
