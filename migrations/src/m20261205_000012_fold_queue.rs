//! `fold_queue`: the events stored but not yet added to the running totals. On PostgreSQL ingest
//! writes only the events, their lines and items, and one queue row per transaction naming them;
//! a folder per project (one at a time, under an advisory lock) adds them to the totals and deletes
//! their queue row in one transaction, so each event is folded exactly once. Reads add the events
//! still queued (the tail) to the totals. SQLite, with one writer, folds in the writing
//! transaction and never queues; its table holds the ids as JSON text only so that the schema is
//! the same. `run_ids` are the runs a transaction started, whose starts the folder counts
//! (`runs_started`) at their first event's attribution. `cost_e10` is what the row's events cost in all (saturating): ingest bounds the queued
//! tail with it when it checks that a batch keeps the totals in range. The `spend_*` arrays are the
//! row's events' cost summed by month, customer, agent and run (nil for none), one element each:
//! `CheckBudget` adds the queued tail from them without reading the events.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::columns::{id, index, money, project_fk, time, uuid_ref};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
pub enum FoldQueue {
    Table,
    Id,
    ProjectId,
    EventIds,
    RunIds,
    CostE10,
    SpendMonths,
    SpendCustomers,
    SpendAgents,
    SpendRuns,
    SpendCosts,
    CreateTime,
}

const INDEX: &str = "fold_queue_project_idx";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let postgres = manager.get_database_backend() == DbBackend::Postgres;
        // Arrays on PostgreSQL; text on SQLite, which never queues.
        let array = |column: FoldQueue, element: ColumnType| {
            let mut def = ColumnDef::new(column);
            if postgres {
                def.array(element);
            } else {
                def.text();
            }
            def.not_null().take()
        };
        manager
            .create_table(
                Table::create()
                    .table(FoldQueue::Table)
                    .if_not_exists()
                    .col(id(FoldQueue::Id))
                    .col(uuid_ref(FoldQueue::ProjectId))
                    .col(array(FoldQueue::EventIds, ColumnType::Uuid))
                    .col(array(FoldQueue::RunIds, ColumnType::Uuid))
                    .col(money(FoldQueue::CostE10))
                    .col(array(
                        FoldQueue::SpendMonths,
                        ColumnType::TimestampWithTimeZone,
                    ))
                    .col(array(FoldQueue::SpendCustomers, ColumnType::Uuid))
                    .col(array(FoldQueue::SpendAgents, ColumnType::Uuid))
                    .col(array(FoldQueue::SpendRuns, ColumnType::Uuid))
                    .col(array(FoldQueue::SpendCosts, ColumnType::BigInteger))
                    .col(time(FoldQueue::CreateTime))
                    .foreign_key(&mut project_fk(FoldQueue::Table, FoldQueue::ProjectId))
                    .to_owned(),
            )
            .await?;
        // The folder takes a project's rows oldest first.
        manager
            .create_index(
                index(
                    INDEX,
                    FoldQueue::Table,
                    &[FoldQueue::ProjectId, FoldQueue::Id],
                )
                .if_not_exists()
                .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FoldQueue::Table).if_exists().to_owned())
            .await
    }
}
