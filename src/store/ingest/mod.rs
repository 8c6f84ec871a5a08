//! The writes of ingest, in the caller's transaction: customers, agents and signals (`names`),
//! plan periods (`plans`) and runs (`runs`) on the spot; then events, lines and cost items
//! (`events`). Rows are written in key order so that concurrent batches take locks in the same
//! order.

mod events;
mod names;
mod plans;
mod runs;

use std::collections::HashSet;

use sea_orm::QueryResult;
use uuid::Uuid;

use super::StoreError;

pub use super::runs::NewRun;
pub(super) use events::item_row;
pub use events::{
    COST_EVENTS, LINE_COST_ITEMS, NewEvent, SERVICE_LINES, events_by_key, insert_events,
    insert_lines,
};
pub use names::{CustomerRows, NamedTable, Seen, upsert_customers, upsert_names};
pub use plans::{insert_plan_periods, plan_periods};
pub use runs::{RunRef, find_runs, insert_runs};

/// The ids an `INSERT … RETURNING id` returned.
fn returned_ids(rows: Vec<QueryResult>) -> Result<HashSet<Uuid>, StoreError> {
    rows.iter()
        .map(|row| Ok(row.try_get::<Uuid>("", "id")?))
        .collect()
}
