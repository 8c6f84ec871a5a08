//! Runs (one execution of a workflow), their per-model totals and their outcomes. Run totals and
//! the counters behind the waste flags are kept current at ingest, in the event's transaction.

use sea_orm_migration::prelude::*;

use crate::columns::*;
use crate::m20261129_000002_directory::{Agents, Customers};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One execution of a workflow: `RUNNING` then `COMPLETED` or `FAILED`.
#[derive(DeriveIden, Clone, Copy)]
pub enum Runs {
    Table,
    Id,
    ProjectId,
    /// The caller's run id, or the text form of `id` when the caller gave none.
    RunKey,
    CustomerRef,
    AgentRef,
    UserId,
    /// `RUNNING`, `COMPLETED` or `FAILED`.
    Status,
    StartTime,
    EndTime,
    FailureReason,
    Cancelled,
    Metadata,
    /// Sum of the priced lines' costs.
    TotalCostE10,
    /// Cost events of the run.
    EventCount,
    /// Service lines of the run (steps).
    StepCount,
    /// Lines whose cost is still unknown.
    UnpricedLines,
    InputTokens,
    OutputTokens,
    CachedInputTokens,
    CacheCreationTokens,
    ReasoningTokens,
    FirstEventTime,
    LastEventTime,
    BudgetExceeded,
    /// Context bloat: the first `baseline_steps` steps (up to the configured number) and the sum of
    /// their input tokens give the baseline average.
    BaselineSteps,
    BaselineInputTokens,
    /// Largest input token count of one step so far.
    MaxStepInputTokens,
    /// 1-based step at which input tokens first passed the bloat threshold; null while not bloated.
    BloatStep,
    /// Runaway loop: signature of the last call (provider, model and token counts) and how many
    /// identical calls in a row ended with it; the longest such streak of the run.
    LastCallSignature,
    RepeatStreak,
    /// 1-based step where the current streak of identical calls began.
    RepeatStartStep,
    MaxRepeatStreak,
    /// 1-based step where the first streak that reached the loop threshold began; null while none.
    LoopStep,
    /// The budget whose limit the run passed first; null while none (see `budget_exceeded`).
    ExceededBudgetRef,
}

/// Steps, cost and tokens of one run for one provider+model (as reported, normalized).
#[derive(DeriveIden, Clone, Copy)]
pub enum RunModelTotals {
    Table,
    ProjectId,
    RunRef,
    Provider,
    Model,
    Steps,
    UnpricedSteps,
    CostE10,
    InputTokens,
    OutputTokens,
    CachedInputTokens,
    CacheCreationTokens,
    ReasoningTokens,
}

/// What a run produced or the value it created.
#[derive(DeriveIden, Clone, Copy)]
pub enum Outcomes {
    Table,
    Id,
    ProjectId,
    RunRef,
    Name,
    /// `NONE`, `USD` (value in `value_e10`) or `UNITS` (value in `value_units`).
    ValueKind,
    ValueE10,
    /// Decimal text.
    ValueUnits,
    Metadata,
    RecordTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Runs::Table)
                    .if_not_exists()
                    .col(id(Runs::Id))
                    .col(uuid_ref(Runs::ProjectId))
                    .col(text(Runs::RunKey))
                    .col(uuid_ref(Runs::CustomerRef))
                    .col(uuid_ref(Runs::AgentRef))
                    .col(text_null(Runs::UserId))
                    .col(text(Runs::Status))
                    .col(time(Runs::StartTime))
                    .col(time_null(Runs::EndTime))
                    .col(text_null(Runs::FailureReason))
                    .col(flag(Runs::Cancelled))
                    .col(json_null(Runs::Metadata))
                    .col(counter(Runs::TotalCostE10))
                    .col(counter(Runs::EventCount))
                    .col(counter(Runs::StepCount))
                    .col(counter(Runs::UnpricedLines))
                    .col(counter(Runs::InputTokens))
                    .col(counter(Runs::OutputTokens))
                    .col(counter(Runs::CachedInputTokens))
                    .col(counter(Runs::CacheCreationTokens))
                    .col(counter(Runs::ReasoningTokens))
                    .col(time_null(Runs::FirstEventTime))
                    .col(time_null(Runs::LastEventTime))
                    .col(flag(Runs::BudgetExceeded))
                    .col(counter(Runs::BaselineSteps))
                    .col(counter(Runs::BaselineInputTokens))
                    .col(counter(Runs::MaxStepInputTokens))
                    .col(number_null(Runs::BloatStep))
                    .col(text_null(Runs::LastCallSignature))
                    .col(counter(Runs::RepeatStreak))
                    .col(counter(Runs::RepeatStartStep))
                    .col(counter(Runs::MaxRepeatStreak))
                    .col(number_null(Runs::LoopStep))
                    .col(uuid_ref_null(Runs::ExceededBudgetRef))
                    .foreign_key(&mut project_fk(Runs::Table, Runs::ProjectId))
                    .foreign_key(&mut foreign_key(
                        Runs::Table,
                        Runs::CustomerRef,
                        Customers::Table,
                        Customers::Id,
                        ForeignKeyAction::NoAction,
                    ))
                    .foreign_key(&mut foreign_key(
                        Runs::Table,
                        Runs::AgentRef,
                        Agents::Table,
                        Agents::Id,
                        ForeignKeyAction::NoAction,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RunModelTotals::Table)
                    .if_not_exists()
                    .col(uuid_ref(RunModelTotals::ProjectId))
                    .col(uuid_ref(RunModelTotals::RunRef))
                    .col(text(RunModelTotals::Provider))
                    .col(text(RunModelTotals::Model))
                    .col(counter(RunModelTotals::Steps))
                    .col(counter(RunModelTotals::UnpricedSteps))
                    .col(counter(RunModelTotals::CostE10))
                    .col(counter(RunModelTotals::InputTokens))
                    .col(counter(RunModelTotals::OutputTokens))
                    .col(counter(RunModelTotals::CachedInputTokens))
                    .col(counter(RunModelTotals::CacheCreationTokens))
                    .col(counter(RunModelTotals::ReasoningTokens))
                    .primary_key(&mut primary_key(&[
                        RunModelTotals::RunRef,
                        RunModelTotals::Provider,
                        RunModelTotals::Model,
                    ]))
                    .foreign_key(&mut project_fk(
                        RunModelTotals::Table,
                        RunModelTotals::ProjectId,
                    ))
                    .foreign_key(&mut foreign_key(
                        RunModelTotals::Table,
                        RunModelTotals::RunRef,
                        Runs::Table,
                        Runs::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Outcomes::Table)
                    .if_not_exists()
                    .col(id(Outcomes::Id))
                    .col(uuid_ref(Outcomes::ProjectId))
                    .col(uuid_ref(Outcomes::RunRef))
                    .col(text(Outcomes::Name))
                    .col(text(Outcomes::ValueKind))
                    .col(money_null(Outcomes::ValueE10))
                    .col(text_null(Outcomes::ValueUnits))
                    .col(json_null(Outcomes::Metadata))
                    .col(time(Outcomes::RecordTime))
                    .foreign_key(&mut project_fk(Outcomes::Table, Outcomes::ProjectId))
                    .foreign_key(&mut foreign_key(
                        Outcomes::Table,
                        Outcomes::RunRef,
                        Runs::Table,
                        Runs::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        // Cost and waste counters are left out of every index on purpose: PostgreSQL can then
        // update a run's totals in place (HOT) on every ingested event.
        create_indexes(
            manager,
            vec![
                unique_index(
                    "runs_project_run_key_key",
                    Runs::Table,
                    &[Runs::ProjectId, Runs::RunKey],
                ),
                index(
                    "runs_project_start_idx",
                    Runs::Table,
                    &[Runs::ProjectId, Runs::StartTime],
                ),
                index(
                    "runs_project_status_start_idx",
                    Runs::Table,
                    &[Runs::ProjectId, Runs::Status, Runs::StartTime],
                ),
                index(
                    "runs_project_customer_start_idx",
                    Runs::Table,
                    &[Runs::ProjectId, Runs::CustomerRef, Runs::StartTime],
                ),
                index(
                    "runs_project_agent_start_idx",
                    Runs::Table,
                    &[Runs::ProjectId, Runs::AgentRef, Runs::StartTime],
                ),
                index(
                    "outcomes_run_idx",
                    Outcomes::Table,
                    &[Outcomes::RunRef, Outcomes::RecordTime],
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &[Outcomes::Table]).await?;
        drop_tables(manager, &[RunModelTotals::Table]).await?;
        drop_tables(manager, &[Runs::Table]).await
    }
}
