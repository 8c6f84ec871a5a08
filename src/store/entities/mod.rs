//! sea-orm entities, one module per table (see the `migrations` crate for the schema and its
//! conventions: UUIDv7 ids made by the application, money as `i64` of 1e-10 USD in `*_e10` fields,
//! unit prices as decimal text, times as `DateTimeUtc`, enum-like values as UPPER_SNAKE text).

pub mod prelude;

pub mod agents;
pub mod api_keys;
pub mod budget_alerts;
pub mod budget_holds;
pub mod budgets;
pub mod catalog_prices;
pub mod cost_events;
pub mod customer_plan_periods;
pub mod customers;
pub mod event_hourly;
pub mod line_cost_items;
pub mod line_hourly;
pub mod model_aliases;
pub mod model_mappings;
pub mod monthly_spend;
pub mod outcomes;
pub mod prices;
pub mod projects;
pub mod provider_conventions;
pub mod repricings;
pub mod run_model_totals;
pub mod runs;
pub mod service_lines;
pub mod signal_prices;
pub mod signals;
pub mod webhook_deliveries;
pub mod webhooks;
