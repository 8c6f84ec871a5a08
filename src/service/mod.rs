//! Application services: each takes a validated domain command and the caller's project, applies the
//! domain rules, and reads and writes through the store (in one transaction where it matters).

pub mod budget_alerts;
pub mod budget_check;
pub mod budgets;
pub mod cost_series;
pub mod directory;
pub mod events;
pub mod export;
pub mod fold;
pub mod ingest;
mod ingest_attribution;
mod ingest_batch;
mod ingest_flags;
mod ingest_groups;
pub mod line_pricing;
pub mod margin;
pub mod needs_attention;
mod plan_moves;
pub mod price_book;
pub mod pricing;
pub mod report_groups;
pub mod report_revenue;
pub mod repricing;
pub mod risky_accounts;
pub mod runs;
pub mod signal_prices;
pub mod top_runs;
pub mod webhooks;
