//! The entities under short names: `use crate::store::entities::prelude::*;`.

pub use super::agents::Entity as Agents;
pub use super::api_keys::Entity as ApiKeys;
pub use super::budget_alerts::Entity as BudgetAlerts;
pub use super::budgets::Entity as Budgets;
pub use super::catalog_prices::Entity as CatalogPrices;
pub use super::cost_events::Entity as CostEvents;
pub use super::customer_plan_periods::Entity as CustomerPlanPeriods;
pub use super::customers::Entity as Customers;
pub use super::event_hourly::Entity as EventHourly;
pub use super::line_cost_items::Entity as LineCostItems;
pub use super::line_hourly::Entity as LineHourly;
pub use super::model_aliases::Entity as ModelAliases;
pub use super::model_mappings::Entity as ModelMappings;
pub use super::monthly_spend::Entity as MonthlySpend;
pub use super::outcomes::Entity as Outcomes;
pub use super::prices::Entity as Prices;
pub use super::projects::Entity as Projects;
pub use super::provider_conventions::Entity as ProviderConventions;
pub use super::repricings::Entity as Repricings;
pub use super::run_model_totals::Entity as RunModelTotals;
pub use super::runs::Entity as Runs;
pub use super::service_lines::Entity as ServiceLines;
pub use super::signal_prices::Entity as SignalPrices;
pub use super::signals::Entity as Signals;
pub use super::webhook_deliveries::Entity as WebhookDeliveries;
pub use super::webhooks::Entity as Webhooks;
