//! Schema migrations of Tally, for SQLite and PostgreSQL, written with the SeaQuery schema builder.
//!
//! Conventions shared by every table:
//! - Row ids are UUIDv7 made by the application (`uuid`, no database default). On SQLite sqlx
//!   stores a `Uuid` as a 16-byte BLOB (the declared type `uuid_text` is only a name).
//! - Every tenant-owned row carries `project_id`, a foreign key to `projects` (cascading delete).
//! - Money that gets summed is a `BIGINT` of 1e-10 USD, in columns named `*_e10`; unit prices,
//!   never summed, are decimal text (`unit_price_usd`). No float or `DECIMAL` column anywhere:
//!   SQLite would store it as `REAL`.
//! - Times are `timestamptz` on PostgreSQL and RFC 3339 text (`2026-11-29T12:00:00.123+00:00`,
//!   written by sqlx from `DateTime<Utc>`) on SQLite, named `*_time` (or `*_start` for the bucket of
//!   an aggregate). The application writes every time: text compares in time order only while all
//!   values have that one shape.
//! - Enum-like values are short text holding the proto enum value name without its prefix
//!   (`PROCESSED`, `RUNNING`, `BLOCK`, `CACHED_INPUT`).
//! - Every migration creates with `IF NOT EXISTS` and has a `down` that drops what it created.

pub use sea_orm_migration::prelude::*;

mod columns;
mod m20261129_000001_tenancy;
mod m20261129_000002_directory;
mod m20261129_000003_runs;
mod m20261129_000004_events;
mod m20261129_000005_pricing;
mod m20261129_000006_budgets;
mod m20261129_000007_aggregates;
mod m20261129_000008_rollups;
mod m20261129_000009_sum_aggregate;
mod m20261129_000010_customer_spend;
mod m20261204_000011_tier_price_missing;
mod m20261205_000012_fold_queue;
mod m20261206_000013_budget_holds;
mod m20261206_000014_webhooks;

/// Applies and rolls back Tally's schema (`Migrator::up(&db, None)` applies what is pending).
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261129_000001_tenancy::Migration),
            Box::new(m20261129_000002_directory::Migration),
            Box::new(m20261129_000003_runs::Migration),
            Box::new(m20261129_000004_events::Migration),
            Box::new(m20261129_000005_pricing::Migration),
            Box::new(m20261129_000006_budgets::Migration),
            Box::new(m20261129_000007_aggregates::Migration),
            Box::new(m20261129_000008_rollups::Migration),
            Box::new(m20261129_000009_sum_aggregate::Migration),
            Box::new(m20261129_000010_customer_spend::Migration),
            Box::new(m20261204_000011_tier_price_missing::Migration),
            Box::new(m20261205_000012_fold_queue::Migration),
            Box::new(m20261206_000013_budget_holds::Migration),
            Box::new(m20261206_000014_webhooks::Migration),
        ]
    }
}
