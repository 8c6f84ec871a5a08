//! Drops the copy of the current plan on `customers` (`plan_name`, `plan_monthly_usd_e10` and their
//! index). Keeping it current made ingest update a hot customer's row in every batch, and that row
//! lock serialized concurrent batches; the plan in force is read from `customer_plan_periods`.

use sea_orm_migration::prelude::*;

use crate::m20261129_000002_directory::Customers;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("customers_project_plan_idx")
                    .table(Customers::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite alters one thing at a time.
        for column in [Customers::PlanName, Customers::PlanMonthlyUsdE10] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Customers::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Customers::Table)
                    .add_column(ColumnDef::new(Customers::PlanName).text().null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Customers::Table)
                    .add_column(
                        ColumnDef::new(Customers::PlanMonthlyUsdE10)
                            .big_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("customers_project_plan_idx")
                    .table(Customers::Table)
                    .col(Customers::ProjectId)
                    .col(Customers::PlanName)
                    .to_owned(),
            )
            .await
    }
}
