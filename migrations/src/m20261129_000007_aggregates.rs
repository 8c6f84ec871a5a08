//! Aggregates kept current at ingest, in the event's transaction, and read by budgets and reports
//! instead of scanning events.
//!
//! Each is written with an upsert on its primary key
//! (`INSERT … ON CONFLICT (key) DO UPDATE SET x = x + excluded.x`), so every key column is NOT
//! NULL: an absent text dimension is stored as `''`, never NULL, or the key would not match on
//! PostgreSQL. Times in keys are truncated to the month or hour in UTC. Provider and model are
//! as reported (trimmed, lowercased), not as mapped, so that `MapModel` moves cost but not rows.
//!
//! `event_hourly` holds event-level figures grouped by every non-model dimension and
//! `line_hourly` line-level figures by provider and model as well: one table would count a
//! multi-model event once per model in a report not grouped by model.

use sea_orm_migration::prelude::*;

use crate::columns::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Priced cost per calendar month (UTC), customer and agent: what `CheckBudget` sums for project,
/// customer and agent scopes.
#[derive(DeriveIden, Clone, Copy)]
pub enum MonthlySpend {
    Table,
    ProjectId,
    MonthStart,
    CustomerId,
    AgentCode,
    CostE10,
}

/// Event-level figures per hour and attribution.
#[derive(DeriveIden, Clone, Copy)]
pub enum EventHourly {
    Table,
    ProjectId,
    HourStart,
    CustomerId,
    /// Plan in force at the event's (or run's) time.
    PlanName,
    AgentCode,
    SignalName,
    UserId,
    Events,
    Quantity,
    /// Sum of the events' known costs.
    CostE10,
    /// Events with status `NEEDS_COST_BACKFILL` (cost unknown or partly unknown).
    UnpricedEvents,
    MissingVolumeEvents,
    /// Runs whose start falls in the hour (signal_name `''`).
    RunsStarted,
}

/// Line-level figures per hour, attribution, provider and model.
#[derive(DeriveIden, Clone, Copy)]
pub enum LineHourly {
    Table,
    ProjectId,
    HourStart,
    CustomerId,
    PlanName,
    AgentCode,
    SignalName,
    UserId,
    Provider,
    Model,
    Lines,
    /// Events with at least one line of this provider+model.
    Events,
    CostE10,
    UnpricedLines,
    MissingVolumeLines,
    InputTokens,
    OutputTokens,
    CachedInputTokens,
    CacheCreationTokens,
    ReasoningTokens,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MonthlySpend::Table)
                    .if_not_exists()
                    .col(uuid_ref(MonthlySpend::ProjectId))
                    .col(time(MonthlySpend::MonthStart))
                    .col(text(MonthlySpend::CustomerId))
                    .col(text(MonthlySpend::AgentCode))
                    .col(counter(MonthlySpend::CostE10))
                    .primary_key(&mut primary_key(&[
                        MonthlySpend::ProjectId,
                        MonthlySpend::MonthStart,
                        MonthlySpend::CustomerId,
                        MonthlySpend::AgentCode,
                    ]))
                    .foreign_key(&mut project_fk(
                        MonthlySpend::Table,
                        MonthlySpend::ProjectId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(EventHourly::Table)
                    .if_not_exists()
                    .col(uuid_ref(EventHourly::ProjectId))
                    .col(time(EventHourly::HourStart))
                    .col(text(EventHourly::CustomerId))
                    .col(text(EventHourly::PlanName))
                    .col(text(EventHourly::AgentCode))
                    .col(text(EventHourly::SignalName))
                    .col(text(EventHourly::UserId))
                    .col(counter(EventHourly::Events))
                    .col(counter(EventHourly::Quantity))
                    .col(counter(EventHourly::CostE10))
                    .col(counter(EventHourly::UnpricedEvents))
                    .col(counter(EventHourly::MissingVolumeEvents))
                    .col(counter(EventHourly::RunsStarted))
                    .primary_key(&mut primary_key(&[
                        EventHourly::ProjectId,
                        EventHourly::HourStart,
                        EventHourly::CustomerId,
                        EventHourly::PlanName,
                        EventHourly::AgentCode,
                        EventHourly::SignalName,
                        EventHourly::UserId,
                    ]))
                    .foreign_key(&mut project_fk(EventHourly::Table, EventHourly::ProjectId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LineHourly::Table)
                    .if_not_exists()
                    .col(uuid_ref(LineHourly::ProjectId))
                    .col(time(LineHourly::HourStart))
                    .col(text(LineHourly::CustomerId))
                    .col(text(LineHourly::PlanName))
                    .col(text(LineHourly::AgentCode))
                    .col(text(LineHourly::SignalName))
                    .col(text(LineHourly::UserId))
                    .col(text(LineHourly::Provider))
                    .col(text(LineHourly::Model))
                    .col(counter(LineHourly::Lines))
                    .col(counter(LineHourly::Events))
                    .col(counter(LineHourly::CostE10))
                    .col(counter(LineHourly::UnpricedLines))
                    .col(counter(LineHourly::MissingVolumeLines))
                    .col(counter(LineHourly::InputTokens))
                    .col(counter(LineHourly::OutputTokens))
                    .col(counter(LineHourly::CachedInputTokens))
                    .col(counter(LineHourly::CacheCreationTokens))
                    .col(counter(LineHourly::ReasoningTokens))
                    .primary_key(&mut primary_key(&[
                        LineHourly::ProjectId,
                        LineHourly::HourStart,
                        LineHourly::CustomerId,
                        LineHourly::PlanName,
                        LineHourly::AgentCode,
                        LineHourly::SignalName,
                        LineHourly::UserId,
                        LineHourly::Provider,
                        LineHourly::Model,
                    ]))
                    .foreign_key(&mut project_fk(LineHourly::Table, LineHourly::ProjectId))
                    .to_owned(),
            )
            .await?;
        // The primary keys serve project + month (project and customer scopes) and
        // project + hour range; the agent scope of a budget needs its own index.
        create_indexes(
            manager,
            vec![index(
                "monthly_spend_project_month_agent_idx",
                MonthlySpend::Table,
                &[
                    MonthlySpend::ProjectId,
                    MonthlySpend::MonthStart,
                    MonthlySpend::AgentCode,
                ],
            )],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &[LineHourly::Table]).await?;
        drop_tables(manager, &[EventHourly::Table]).await?;
        drop_tables(manager, &[MonthlySpend::Table]).await
    }
}
