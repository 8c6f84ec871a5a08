//! `budget_holds`: amounts that `CheckBudget` set aside for a step (authorize, then capture) until
//! the step's event settles them, `ReleaseHold` releases them or they expire. A hold counts as
//! spent while `end_time` is NULL and `expire_time` is ahead: expiry needs no job, readers compare
//! it with the time of the read. A hold keeps its customer id and agent code as sent (like
//! `budgets`), so that a check matches it to budget scopes without a join, and its run by the
//! caller's key, which may name a run not started yet.
//!
//! On PostgreSQL, `tally_check_locked` runs the store's check (passed as text) after taking the
//! advisory locks of the BLOCK budgets it covers, in the order given. Each statement of a volatile
//! function takes a new snapshot, so the check sees every hold that the previous holder of a lock
//! committed: concurrent checks that hold cannot pass a limit between them, in one round trip. A
//! plain statement could not: its snapshot is taken before it waits for a lock. The check runs as
//! a statement prepared once per connection (named by the hash of its text, its values passed as
//! literals), so that it is planned once, not on every call: planning it takes about 1 ms, running
//! it about 0.3 ms. SQLite's single writer serialises the checks that hold by itself; nothing is
//! created there.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

use crate::columns::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
pub enum BudgetHolds {
    Table,
    Id,
    ProjectId,
    /// As sent, like `budgets.customer_id`.
    CustomerId,
    AgentCode,
    /// The caller's run id; NULL when the check named none.
    RunKey,
    AmountE10,
    /// The month (UTC) of the check: the monthly budgets it counts in.
    MonthStart,
    CreateTime,
    ExpireTime,
    /// NULL while open.
    EndTime,
    /// `SETTLED` (by an event) or `RELEASED` (by `ReleaseHold`); NULL while open.
    EndReason,
    /// The event that settled it.
    EventId,
    /// That event's cost; NULL when unknown or not settled.
    SettledCostE10,
}

const CHECK_LOCKED: &str = "CREATE OR REPLACE FUNCTION tally_check_locked(\
      lock_keys bigint[], reading text, p_project uuid, p_run_key text, p_customer text, \
      p_agent text, p_month timestamptz, p_now timestamptz, p_estimate bigint, p_hold uuid, \
      p_expire timestamptz) RETURNS SETOF record LANGUAGE plpgsql VOLATILE AS $$ \
    DECLARE lock_key bigint; prepared text := 'tally_check_' || md5(reading); \
    BEGIN \
      FOREACH lock_key IN ARRAY lock_keys LOOP PERFORM pg_advisory_xact_lock(lock_key); END LOOP; \
      IF NOT EXISTS (SELECT 1 FROM pg_prepared_statements WHERE name = prepared) THEN \
        EXECUTE format('PREPARE %I(uuid, text, text, text, timestamptz, timestamptz, bigint, \
          uuid, timestamptz) AS %s', prepared, reading); \
      END IF; \
      RETURN QUERY EXECUTE format('EXECUTE %I(%L, %L, %L, %L, %L, %L, %L, %L, %L)', prepared, \
        p_project, p_run_key, p_customer, p_agent, p_month, p_now, p_estimate, p_hold, p_expire); \
    END $$";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BudgetHolds::Table)
                    .if_not_exists()
                    .col(id(BudgetHolds::Id))
                    .col(uuid_ref(BudgetHolds::ProjectId))
                    .col(text(BudgetHolds::CustomerId))
                    .col(text(BudgetHolds::AgentCode))
                    .col(text_null(BudgetHolds::RunKey))
                    .col(money(BudgetHolds::AmountE10))
                    .col(time(BudgetHolds::MonthStart))
                    .col(time(BudgetHolds::CreateTime))
                    .col(time(BudgetHolds::ExpireTime))
                    .col(time_null(BudgetHolds::EndTime))
                    .col(text_null(BudgetHolds::EndReason))
                    .col(uuid_ref_null(BudgetHolds::EventId))
                    .col(money_null(BudgetHolds::SettledCostE10))
                    .foreign_key(&mut project_fk(BudgetHolds::Table, BudgetHolds::ProjectId))
                    .to_owned(),
            )
            .await?;
        // A run's holds (GetRun, a check's run window), and the open holds of a month (a check's
        // monthly windows): those are few at any moment, the settled ones many.
        create_indexes(
            manager,
            vec![index(
                "budget_holds_run_idx",
                BudgetHolds::Table,
                &[BudgetHolds::ProjectId, BudgetHolds::RunKey],
            )],
        )
        .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS budget_holds_open_idx \
             ON budget_holds (project_id, month_start) WHERE end_time IS NULL",
        )
        .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            db.execute_unprepared(CHECK_LOCKED).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared(
                    "DROP FUNCTION IF EXISTS tally_check_locked(bigint[], text, uuid, text, \
                     text, text, timestamptz, timestamptz, bigint, uuid, timestamptz)",
                )
                .await?;
        }
        manager
            .drop_table(
                Table::drop()
                    .table(BudgetHolds::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
