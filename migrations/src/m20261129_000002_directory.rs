//! The directory of a project: customers and their plan history, agents (workflows) and signals
//! (billable units). All are auto-provisioned by ingest on first sight.

use sea_orm_migration::prelude::*;

use crate::columns::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A paying account of the caller.
#[derive(DeriveIden, Clone, Copy)]
pub enum Customers {
    Table,
    Id,
    ProjectId,
    /// The caller's own id, stored exactly as sent (never trimmed or lowercased).
    CustomerId,
    DisplayName,
    /// JSON array of other names of the customer.
    Aliases,
    /// Unused (always null): the plan in force is read from `customer_plan_periods`. Keeping a copy
    /// here made ingest update a hot customer's row in every batch, and that lock serialized
    /// concurrent batches. Left in place rather than dropped by a later migration.
    PlanName,
    PlanMonthlyUsdE10,
    CreateTime,
    FirstSeenTime,
    LastSeenTime,
}

/// A plan `{name, monthly_usd}` in force for a customer from `start_time` until the next period's.
#[derive(DeriveIden, Clone, Copy)]
pub enum CustomerPlanPeriods {
    Table,
    Id,
    ProjectId,
    CustomerRef,
    PlanName,
    MonthlyUsdE10,
    StartTime,
    CreateTime,
}

/// A workflow or product that does work (`agent_code`).
#[derive(DeriveIden, Clone, Copy)]
pub enum Agents {
    Table,
    Id,
    ProjectId,
    AgentCode,
    CreateTime,
    FirstSeenTime,
    LastSeenTime,
}

/// A billable unit of usage events (`signal_name`).
#[derive(DeriveIden, Clone, Copy)]
pub enum Signals {
    Table,
    Id,
    ProjectId,
    SignalName,
    CreateTime,
    FirstSeenTime,
    LastSeenTime,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Customers::Table)
                    .if_not_exists()
                    .col(id(Customers::Id))
                    .col(uuid_ref(Customers::ProjectId))
                    .col(text(Customers::CustomerId))
                    .col(text_null(Customers::DisplayName))
                    .col(json(Customers::Aliases))
                    .col(text_null(Customers::PlanName))
                    .col(money_null(Customers::PlanMonthlyUsdE10))
                    .col(time(Customers::CreateTime))
                    .col(time(Customers::FirstSeenTime))
                    .col(time(Customers::LastSeenTime))
                    .foreign_key(&mut project_fk(Customers::Table, Customers::ProjectId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CustomerPlanPeriods::Table)
                    .if_not_exists()
                    .col(id(CustomerPlanPeriods::Id))
                    .col(uuid_ref(CustomerPlanPeriods::ProjectId))
                    .col(uuid_ref(CustomerPlanPeriods::CustomerRef))
                    .col(text(CustomerPlanPeriods::PlanName))
                    .col(money(CustomerPlanPeriods::MonthlyUsdE10))
                    .col(time(CustomerPlanPeriods::StartTime))
                    .col(time(CustomerPlanPeriods::CreateTime))
                    .foreign_key(&mut project_fk(
                        CustomerPlanPeriods::Table,
                        CustomerPlanPeriods::ProjectId,
                    ))
                    .foreign_key(&mut foreign_key(
                        CustomerPlanPeriods::Table,
                        CustomerPlanPeriods::CustomerRef,
                        Customers::Table,
                        Customers::Id,
                        ForeignKeyAction::Cascade,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Agents::Table)
                    .if_not_exists()
                    .col(id(Agents::Id))
                    .col(uuid_ref(Agents::ProjectId))
                    .col(text(Agents::AgentCode))
                    .col(time(Agents::CreateTime))
                    .col(time(Agents::FirstSeenTime))
                    .col(time(Agents::LastSeenTime))
                    .foreign_key(&mut project_fk(Agents::Table, Agents::ProjectId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Signals::Table)
                    .if_not_exists()
                    .col(id(Signals::Id))
                    .col(uuid_ref(Signals::ProjectId))
                    .col(text(Signals::SignalName))
                    .col(time(Signals::CreateTime))
                    .col(time(Signals::FirstSeenTime))
                    .col(time(Signals::LastSeenTime))
                    .foreign_key(&mut project_fk(Signals::Table, Signals::ProjectId))
                    .to_owned(),
            )
            .await?;
        create_indexes(
            manager,
            vec![
                unique_index(
                    "customers_project_customer_id_key",
                    Customers::Table,
                    &[Customers::ProjectId, Customers::CustomerId],
                ),
                index(
                    "customers_project_plan_idx",
                    Customers::Table,
                    &[Customers::ProjectId, Customers::PlanName],
                ),
                // The plan in force for a customer at time t: the last period with start_time <= t.
                unique_index(
                    "customer_plan_periods_customer_start_key",
                    CustomerPlanPeriods::Table,
                    &[
                        CustomerPlanPeriods::CustomerRef,
                        CustomerPlanPeriods::StartTime,
                    ],
                ),
                // Every period of a project that touches a report window (revenue by plan).
                index(
                    "customer_plan_periods_project_start_idx",
                    CustomerPlanPeriods::Table,
                    &[
                        CustomerPlanPeriods::ProjectId,
                        CustomerPlanPeriods::StartTime,
                    ],
                ),
                unique_index(
                    "agents_project_agent_code_key",
                    Agents::Table,
                    &[Agents::ProjectId, Agents::AgentCode],
                ),
                unique_index(
                    "signals_project_signal_name_key",
                    Signals::Table,
                    &[Signals::ProjectId, Signals::SignalName],
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &[CustomerPlanPeriods::Table]).await?;
        drop_tables(manager, &[Customers::Table]).await?;
        drop_tables(manager, &[Agents::Table]).await?;
        drop_tables(manager, &[Signals::Table]).await
    }
}
