//! Pure types and rules: parsing, money, pricing arithmetic, budgets. No I/O.

pub mod api_key;
pub mod budget;
pub mod budget_alert;
pub mod catalog;
pub mod customer;
pub mod error;
pub mod event;
pub mod exact;
pub mod grain;
pub mod hold;
pub mod ledger;
pub mod money;
pub mod page_token;
pub mod plan;
pub mod pricing;
pub mod report;
pub mod revenue;
pub mod run;
pub mod run_flags;
pub mod tenant;
pub mod text;
pub mod webhook;

pub use error::{DomainError, FieldViolation, Violations};
