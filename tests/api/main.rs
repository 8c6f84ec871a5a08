//! The behaviour suite of the gRPC API, run against a real server on SQLite and on PostgreSQL.

mod auth;
mod bench;
mod budget_checks;
mod budgets;
mod catalog;
mod cli;
mod cost_series;
mod directory;
mod export;
mod health;
mod helpers;
mod ingest;
mod margin;
mod migrations;
mod needs_attention;
mod pricing;
mod recorder;
mod reflection;
mod report_data;
mod risky_accounts;
mod runs;
mod shutdown;
mod signal_prices;
mod telemetry;
mod tls;
mod top_runs;
