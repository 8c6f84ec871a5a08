//! Budgets: spending limits per month and/or per run on a scope, enforced as `ALERT` or `BLOCK`.
//! Spend is not stored here: monthly spend is read from `monthly_spend`, a run's from `runs`.

use sea_orm_migration::prelude::*;

use crate::columns::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A spending limit on a scope.
#[derive(DeriveIden, Clone, Copy)]
pub enum Budgets {
    Table,
    Id,
    ProjectId,
    Name,
    /// `PROJECT`, `CUSTOMER`, `AGENT` or `CUSTOMER_AGENT`.
    ScopeKind,
    /// The caller's customer id as sent (set for `CUSTOMER` and `CUSTOMER_AGENT`).
    CustomerId,
    /// Set for `AGENT` and `CUSTOMER_AGENT`.
    AgentCode,
    /// Per calendar month (UTC).
    MonthlyLimitE10,
    PerRunLimitE10,
    /// `ALERT` or `BLOCK`.
    Enforcement,
    CreateTime,
    UpdateTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Budgets::Table)
                    .if_not_exists()
                    .col(id(Budgets::Id))
                    .col(uuid_ref(Budgets::ProjectId))
                    .col(text(Budgets::Name))
                    .col(text(Budgets::ScopeKind))
                    .col(text_null(Budgets::CustomerId))
                    .col(text_null(Budgets::AgentCode))
                    .col(money_null(Budgets::MonthlyLimitE10))
                    .col(money_null(Budgets::PerRunLimitE10))
                    .col(text(Budgets::Enforcement))
                    .col(time(Budgets::CreateTime))
                    .col(time(Budgets::UpdateTime))
                    .foreign_key(&mut project_fk(Budgets::Table, Budgets::ProjectId))
                    .to_owned(),
            )
            .await?;
        // Budgets of a project, and those covering one scope (CheckBudget).
        create_indexes(
            manager,
            vec![index(
                "budgets_project_scope_idx",
                Budgets::Table,
                &[
                    Budgets::ProjectId,
                    Budgets::ScopeKind,
                    Budgets::CustomerId,
                    Budgets::AgentCode,
                ],
            )],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &[Budgets::Table]).await
    }
}
