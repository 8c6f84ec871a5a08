//! `tally_sum(bigint)` on PostgreSQL: the sum of 64-bit integers kept as a `bigint`, `0` over no
//! rows. PostgreSQL's own `SUM(bigint)` accumulates in 128 bits and returns `numeric`, which the
//! reports then cast back: over the thousand groups of a margin report by customer that
//! conversion was half of the statement's time. The sum raises an error on overflow, as the cast
//! did. SQLite's `SUM` of integers is already an integer; nothing is created there.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(
                "DO $$ BEGIN \
                 IF NOT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
                 WHERE p.proname = 'tally_sum' AND n.nspname = current_schema()) THEN \
                 CREATE AGGREGATE tally_sum(bigint) (SFUNC = int8pl, STYPE = bigint, INITCOND = '0'); \
                 END IF; END $$",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("DROP AGGREGATE IF EXISTS tally_sum(bigint)")
                .await?;
        }
        Ok(())
    }
}
