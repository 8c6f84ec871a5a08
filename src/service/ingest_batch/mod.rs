//! Writes one group of records: reads what is stored, checks and prices each record (`screen`),
//! provisions customers, agents, signals, runs and plan periods (`directory`: committed on their
//! own, with the stored events a back-dated period moves to its plan), then stores the events with
//! their lines and items, and their costs for the running totals (`events`), and answers every
//! record (`outcomes`), in one transaction. This file holds the writer, the order of those stages,
//! and the state they share.

mod directory;
mod events;
mod outcomes;
mod screen;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::{
    fold::Folder, ingest::RecordOutcome, ingest_attribution::Attribution, price_book::PriceBook,
};
use crate::{
    domain::{
        event::EventInput,
        ledger::{PricedEvent, PricedLine},
        plan::PlanPeriod,
        run_flags::FlagSettings,
    },
    store::{self, StoreError, ingest::RunRef},
};

/// A record to write: its index in the answer, when the server received it, and what it says.
pub(super) struct Received {
    pub index: usize,
    pub time: DateTime<Utc>,
    pub input: EventInput,
}

/// Writes groups of records into one database.
pub(super) struct BatchWriter {
    pub db: DatabaseConnection,
    pub prices: std::sync::Arc<PriceBook>,
    pub flags: FlagSettings,
    pub folder: std::sync::Arc<Folder>,
}

impl BatchWriter {
    /// Writes `records` (of one batch, or of several written together) in one transaction and
    /// answers each by its index.
    pub(super) async fn write(
        &self,
        project_id: Uuid,
        records: &[Received],
    ) -> Result<Vec<(usize, RecordOutcome)>, StoreError> {
        let db = &self.db;
        // When rows of the directory (customers, plan periods) are written: the latest receipt.
        let receive_time = records
            .iter()
            .map(|record| record.time)
            .max()
            .unwrap_or_else(store::now);
        let (mut batch, known_runs) = self.screen(project_id, records).await?;

        // Customers, agents, signals, plan periods and runs are committed on their own first: a
        // new row locks its key until commit, and concurrent batches naming it would wait for the
        // whole batch (or deadlock). They are what the records say, so a batch that fails after
        // them leaves nothing a retry would not write again. When the batch stores events, the
        // events' synchronous commit flushes these rows too, so theirs need not wait for the disk.
        let directory = if batch.accepted.is_empty() {
            store::begin_write(db).await?
        } else {
            store::begin_unflushed(db).await?
        };
        batch
            .provision(&directory, project_id, receive_time)
            .await?;
        batch
            .start_runs(&directory, project_id, &known_runs)
            .await?;
        let moved = batch
            .apply_plans(&directory, project_id, receive_time)
            .await?;
        batch
            .count_started_runs(&directory, project_id, moved)
            .await?;
        directory.commit().await?;

        let txn = store::begin_write(db).await?;
        batch.store_events(&txn, project_id, &self.flags).await?;
        let queued = !batch.inserted.is_empty() || !batch.created_runs.is_empty();
        let stored = batch.inserted.len();
        let outcomes = batch.finish(&txn, project_id).await?;
        txn.commit().await?;
        if queued {
            // Committed: a failed fold here is the folder's to retry, not this batch's.
            if let Err(error) = self.folder.written(project_id, stored).await {
                tracing::warn!(%error, %project_id, "folding behind ingest failed; the sweep retries");
            }
        }
        Ok(outcomes)
    }
}

/// A record that passed every check, waiting to be written.
struct Accepted<'a> {
    index: usize,
    received: DateTime<Utc>,
    input: &'a EventInput,
    attribution: Attribution,
    lines: Vec<PricedLine>,
}

/// Where the first copy of a duplicate is.
enum Duplicate {
    /// Stored before this batch.
    Stored(Uuid),
    /// Earlier in this batch (the record's index).
    InBatch(usize),
}

/// The state of one batch as it is written.
#[derive(Default)]
struct Batch<'a> {
    accepted: Vec<Accepted<'a>>,
    duplicates: Vec<(usize, Duplicate)>,
    outcomes: Vec<(usize, RecordOutcome)>,
    customers: HashMap<String, Uuid>,
    /// The customers this batch created: nothing is stored for them yet.
    new_customers: HashSet<Uuid>,
    agents: HashMap<String, Uuid>,
    signals: HashMap<String, Uuid>,
    runs: HashMap<String, RunRef>,
    created_runs: HashSet<Uuid>,
    plans: HashMap<Uuid, Vec<PlanPeriod>>,
    events: Vec<(usize, PricedEvent)>,
    inserted: HashSet<Uuid>,
}
