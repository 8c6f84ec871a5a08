//! Coarser aggregates beside the hourly ones, so that a report over whole days or months reads a
//! few thousand rows instead of about one per event (hour × customer × user is nearly one event).
//!
//! - `customer_monthly`: event-level figures per calendar month (UTC), customer and plan: margin by
//!   customer or plan over whole months reads one row per customer.
//! - `event_monthly`: the same per agent and signal too; no user. Serves reports of customers
//!   with agents or signals, and usage revenue by customer, over whole months.
//! - `event_daily`: the same per UTC day, without customer: series and reports of plans, agents and
//!   signals.
//! - `line_daily`: line-level figures per UTC day, plan, agent, signal, provider and model, without
//!   customer: reports of providers and models.
//!
//! Every event table, `event_hourly` included (its columns are added here), also sums the tokens of
//! the events' lines, so that a report reads event figures and tokens in one pass. Keys follow `event_hourly`'s rules (NOT NULL, `''` for an absent dimension; provider
//! and model as reported). Ingest, repricing and plan changes write them with the hourly rows, in
//! the same transaction. `up` fills them from the hourly tables once, when they are empty (and the
//! tokens of `event_hourly` from `line_hourly` when it adds the columns), so a database that
//! already holds events reports the same figures from either table.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

use crate::columns::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const EVENT_FIGURES: [&str; 6] = [
    "events",
    "quantity",
    "cost_e10",
    "unpriced_events",
    "missing_volume_events",
    "runs_started",
];

const LINE_FIGURES: [&str; 5] = [
    "lines",
    "events",
    "cost_e10",
    "unpriced_lines",
    "missing_volume_lines",
];

const TOKENS: [&str; 5] = [
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
];

/// One rollup table: its name, time column and grain, key dimensions and figures.
struct Rollup {
    name: &'static str,
    time_column: &'static str,
    /// `day` or `month`, as PostgreSQL's `date_trunc` names it.
    grain: &'static str,
    dimensions: &'static [&'static str],
    /// Event-level (sums of `event_hourly` plus the tokens of `line_hourly`) or line-level.
    line_level: bool,
}

const ROLLUPS: [Rollup; 4] = [
    Rollup {
        name: "customer_monthly",
        time_column: "month_start",
        grain: "month",
        dimensions: &["customer_id", "plan_name"],
        line_level: false,
    },
    Rollup {
        name: "event_monthly",
        time_column: "month_start",
        grain: "month",
        dimensions: &["customer_id", "plan_name", "agent_code", "signal_name"],
        line_level: false,
    },
    Rollup {
        name: "event_daily",
        time_column: "day_start",
        grain: "day",
        dimensions: &["plan_name", "agent_code", "signal_name"],
        line_level: false,
    },
    Rollup {
        name: "line_daily",
        time_column: "day_start",
        grain: "day",
        dimensions: &[
            "plan_name",
            "agent_code",
            "signal_name",
            "provider",
            "model",
        ],
        line_level: true,
    },
];

impl Rollup {
    fn figures(&self) -> Vec<&'static str> {
        let base: &[&str] = if self.line_level {
            &LINE_FIGURES
        } else {
            &EVENT_FIGURES
        };
        base.iter().chain(TOKENS.iter()).copied().collect()
    }

    fn create(&self) -> TableCreateStatement {
        let mut table = Table::create();
        table
            .table(Alias::new(self.name))
            .if_not_exists()
            .col(uuid_ref(Alias::new("project_id")))
            .col(time(Alias::new(self.time_column)));
        for dimension in self.dimensions {
            table.col(text(Alias::new(*dimension)));
        }
        for figure in self.figures() {
            table.col(counter(Alias::new(figure)));
        }
        let mut key = Index::create();
        key.col(Alias::new("project_id"))
            .col(Alias::new(self.time_column));
        for dimension in self.dimensions {
            key.col(Alias::new(*dimension));
        }
        table
            .primary_key(&mut key)
            .foreign_key(
                ForeignKey::create()
                    .from(Alias::new(self.name), Alias::new("project_id"))
                    .to(Alias::new("projects"), Alias::new("id"))
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .to_owned()
    }

    /// `INSERT … SELECT` of the sums of the hourly rows per key, when the table is empty.
    fn fill(&self, backend: DbBackend) -> String {
        let period = match backend {
            DbBackend::Postgres => format!("date_trunc('{}', hour_start, 'UTC')", self.grain),
            // RFC 3339 text as sqlx writes it (`2026-11-29T12:00:00+00:00`): cut and re-pad.
            _ if self.grain == "day" => "substr(hour_start, 1, 10) || 'T00:00:00+00:00'".into(),
            _ => "substr(hour_start, 1, 7) || '-01T00:00:00+00:00'".into(),
        };
        let dims = self.dimensions.join(", ");
        let figures = self.figures();
        let sums: Vec<String> = figures.iter().map(|f| format!("SUM({f})")).collect();
        let source = if self.line_level {
            "line_hourly"
        } else {
            "event_hourly"
        };
        format!(
            "INSERT INTO {name} (project_id, {time}, {dims}, {figures}) \
             SELECT project_id, {period}, {dims}, {sums} FROM {source} h \
             WHERE NOT EXISTS (SELECT 1 FROM {name}) \
             GROUP BY project_id, {period}, {dims}",
            name = self.name,
            time = self.time_column,
            figures = figures.join(", "),
            sums = sums.join(", "),
        )
    }
}

/// Adds the token columns to `event_hourly` (unless there) and fills them from `line_hourly`.
async fn add_hourly_tokens(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    if manager.has_column("event_hourly", TOKENS[0]).await? {
        return Ok(());
    }
    for column in TOKENS {
        manager
            .alter_table(
                Table::alter()
                    .table(Alias::new("event_hourly"))
                    .add_column(counter(Alias::new(column)))
                    .to_owned(),
            )
            .await?;
    }
    let keys = [
        "project_id",
        "hour_start",
        "customer_id",
        "plan_name",
        "agent_code",
        "signal_name",
        "user_id",
    ];
    let sets: Vec<String> = TOKENS.iter().map(|t| format!("{t} = l.{t}")).collect();
    let sums: Vec<String> = TOKENS.iter().map(|t| format!("SUM({t}) AS {t}")).collect();
    let matches: Vec<String> = keys
        .iter()
        .map(|k| format!("event_hourly.{k} = l.{k}"))
        .collect();
    manager
        .get_connection()
        .execute_unprepared(&format!(
            "UPDATE event_hourly SET {} FROM (SELECT {keys}, {} FROM line_hourly GROUP BY {keys}) l \
             WHERE {}",
            sets.join(", "),
            sums.join(", "),
            matches.join(" AND "),
            keys = keys.join(", "),
        ))
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        add_hourly_tokens(manager).await?;
        for rollup in &ROLLUPS {
            manager.create_table(rollup.create()).await?;
            manager
                .get_connection()
                .execute_unprepared(&rollup.fill(backend))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.has_column("event_hourly", TOKENS[0]).await? {
            for column in TOKENS {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Alias::new("event_hourly"))
                            .drop_column(Alias::new(column))
                            .to_owned(),
                    )
                    .await?;
            }
        }
        for rollup in ROLLUPS.iter().rev() {
            manager
                .drop_table(
                    Table::drop()
                        .table(Alias::new(rollup.name))
                        .if_exists()
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
