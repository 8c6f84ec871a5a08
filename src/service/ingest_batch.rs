//! Writes one group of records: reads what is stored, checks and prices each record, provisions
//! customers, agents, signals, runs and plan periods (committed on their own, with the stored
//! events a back-dated period moves to its plan), then stores the events with their lines, items
//! and running totals in one transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr};
use uuid::Uuid;

use super::{
    fold::{self, Folder, StartedRun},
    ingest::RecordOutcome,
    ingest_attribution::{Attribution, attribute},
    line_pricing::price_lines,
    plan_moves::{HistoryChange, move_stored},
    price_book::PriceBook,
};
use crate::{
    domain::{
        FieldViolation,
        event::EventInput,
        ledger::{Deltas, PricedEvent, PricedLine},
        plan::{PlanPeriod, in_force, plan_at, start_plan},
        run_flags::FlagSettings,
    },
    store::{
        self, StoreError,
        fold_queue::BatchCosts,
        ingest::{self as writes, NewEvent, NewRun, RunRef, Seen},
    },
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
        let mut batch = Batch::default();

        // Reads first, outside the write transaction: what is already stored, the runs named, and
        // the prices of every line. A writer that stores the same keys or starts the same runs
        // meanwhile is caught by the unique indexes below, as inside a transaction.
        let keys: Vec<String> = records
            .iter()
            .filter_map(|r| r.input.idempotency_key.clone())
            .collect();
        let stored_keys = writes::events_by_key(db, project_id, &keys).await?;
        let run_keys: Vec<String> = records
            .iter()
            .filter_map(|r| r.input.run_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let known_runs = writes::find_runs(db, project_id, &run_keys).await?;
        let names = records
            .iter()
            .flat_map(|r| {
                r.input
                    .lines
                    .iter()
                    .map(|line| (line.provider.clone(), line.model.clone()))
            })
            .collect();
        let prices = self.prices.for_project(db, project_id, &names).await?;

        let mut seen_keys: HashMap<&str, usize> = HashMap::new();
        let mut runs_seen: HashMap<String, Attribution> = known_runs
            .iter()
            .map(|(key, run)| {
                let attribution = Attribution {
                    customer_id: run.customer_id.clone(),
                    agent_code: run.agent_code.clone(),
                    user_id: run.user_id.clone(),
                    starts_run: false,
                };
                (key.clone(), attribution)
            })
            .collect();
        for Received {
            index,
            time: received,
            input,
        } in records
        {
            if let Some(key) = input.idempotency_key.as_deref()
                && let Some(event_id) = stored_keys.get(key)
            {
                batch
                    .duplicates
                    .push((*index, Duplicate::Stored(*event_id)));
                continue;
            }
            // A run is known from before the batch, or started by an earlier record of it.
            let run = input.run_id.as_ref().and_then(|key| runs_seen.get(key));
            let attribution = match attribute(input, run) {
                Ok(attribution) => attribution,
                Err(violations) => {
                    batch
                        .outcomes
                        .push((*index, RecordOutcome::Invalid(violations)));
                    continue;
                }
            };
            let lines = match price_lines(&input.lines, &prices, input.usage_time, |index| {
                input.shape.line_path(index)
            }) {
                Ok(lines) => lines,
                Err(violations) => {
                    batch
                        .outcomes
                        .push((*index, RecordOutcome::Invalid(violations)));
                    continue;
                }
            };
            if let Some(key) = input.idempotency_key.as_deref() {
                match seen_keys.get(key) {
                    Some(first) => {
                        batch.duplicates.push((*index, Duplicate::InBatch(*first)));
                        continue;
                    }
                    None => {
                        seen_keys.insert(key, *index);
                    }
                }
            }
            if attribution.starts_run
                && let Some(key) = &input.run_id
            {
                runs_seen
                    .entry(key.clone())
                    .or_insert_with(|| attribution.clone());
            }
            batch.accepted.push(Accepted {
                index: *index,
                received: *received,
                input,
                attribution,
                lines,
            });
        }

        // Customers, agents, signals, plan periods and runs are committed on their own first: a
        // new row locks its key until commit, and concurrent batches naming it would wait for the
        // whole batch (or deadlock). They are what the records say, so a batch that fails after
        // them leaves nothing a retry would not write again.
        let directory = store::begin_write(db).await?;
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
        let outcomes = batch.finish(&txn, project_id).await?;
        txn.commit().await?;
        if queued {
            self.folder.poke(project_id);
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

impl Batch<'_> {
    /// Creates the customers, agents and signals not known yet.
    async fn provision(
        &mut self,
        txn: &DatabaseTransaction,
        project_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut customers: BTreeMap<String, Seen> = BTreeMap::new();
        let mut agents: BTreeMap<String, Seen> = BTreeMap::new();
        let mut signals: BTreeMap<String, Seen> = BTreeMap::new();
        for accepted in &self.accepted {
            let time = accepted.input.usage_time;
            let customer = customers
                .entry(accepted.attribution.customer_id.clone())
                .or_insert_with(|| Seen::at(time));
            customer.widen(time);
            if let Some(name) = accepted
                .input
                .customer
                .as_ref()
                .and_then(|c| c.name.clone())
            {
                customer.display_name = Some(name);
            }
            agents
                .entry(accepted.attribution.agent_code.clone())
                .or_insert_with(|| Seen::at(time))
                .widen(time);
            if let Some(signal) = &accepted.input.signal_name {
                signals
                    .entry(signal.clone())
                    .or_insert_with(|| Seen::at(time))
                    .widen(time);
            }
        }
        let customers = writes::upsert_customers(txn, project_id, &customers, now).await?;
        self.customers = customers.ids;
        self.new_customers = customers.created;
        self.agents =
            writes::upsert_names(txn, "agents", "agent_code", project_id, &agents, now).await?;
        self.signals =
            writes::upsert_names(txn, "signals", "signal_name", project_id, &signals, now).await?;
        Ok(())
    }

    /// Starts the runs named for the first time; a record that disagrees with its run's customer or
    /// agent (one started by an earlier record of the batch, or by another writer) is refused.
    async fn start_runs(
        &mut self,
        txn: &DatabaseTransaction,
        project_id: Uuid,
        known: &HashMap<String, RunRef>,
    ) -> Result<(), StoreError> {
        let mut new_runs: BTreeMap<String, NewRun> = BTreeMap::new();
        for accepted in &self.accepted {
            let Some(key) = &accepted.input.run_id else {
                continue;
            };
            if known.contains_key(key) {
                continue;
            }
            let time = accepted.input.usage_time;
            let run = new_runs.entry(key.clone()).or_insert_with(|| NewRun {
                run_key: key.clone(),
                customer_ref: self.customers[&accepted.attribution.customer_id],
                agent_ref: self.agents[&accepted.attribution.agent_code],
                user_id: accepted.attribution.user_id.clone(),
                metadata: None,
                start_time: time,
            });
            run.start_time = run.start_time.min(time);
        }
        let new_runs: Vec<NewRun> = new_runs.into_values().collect();
        self.created_runs = writes::insert_runs(txn, project_id, &new_runs).await?;
        let keys: Vec<String> = new_runs.iter().map(|run| run.run_key.clone()).collect();
        self.runs = known.clone();
        self.runs
            .extend(writes::find_runs(txn, project_id, &keys).await?);

        let runs = &self.runs;
        let mut refused = Vec::new();
        self.accepted.retain(|accepted| {
            let Some(key) = &accepted.input.run_id else {
                return true;
            };
            let Some(run) = runs.get(key) else {
                return true;
            };
            let mut violations = Vec::new();
            if run.customer_id != accepted.attribution.customer_id {
                violations.push(FieldViolation::new(
                    "customer.id",
                    format!(
                        "{:?} differs from the customer {:?} of run {key:?}",
                        accepted.attribution.customer_id, run.customer_id
                    ),
                ));
            }
            if run.agent_code != accepted.attribution.agent_code {
                violations.push(FieldViolation::new(
                    "agent_code",
                    format!(
                        "{:?} differs from the agent {:?} of run {key:?}",
                        accepted.attribution.agent_code, run.agent_code
                    ),
                ));
            }
            if violations.is_empty() {
                return true;
            }
            refused.push((accepted.index, RecordOutcome::Invalid(violations)));
            false
        });
        self.outcomes.extend(refused);
        Ok(())
    }

    /// Starts the plan periods records carry, in usage-time order, and notes each record's plan.
    /// A period that starts before events or runs already stored moves them to its plan, as
    /// `UpdateCustomer` with a past start does (`plan_moves`); returns what that moves in the
    /// running totals. A record whose plan is already in force (the common case), or the first
    /// plan of a customer the batch creates, reads nothing more.
    async fn apply_plans(
        &mut self,
        txn: &DatabaseTransaction,
        project_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Deltas, StoreError> {
        let customer_refs: Vec<Uuid> = self
            .accepted
            .iter()
            .map(|accepted| self.customers[&accepted.attribution.customer_id])
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        self.plans = writes::plan_periods(txn, &customer_refs).await?;
        let mut order: Vec<usize> = (0..self.accepted.len()).collect();
        order.sort_by_key(|&position| {
            (
                self.accepted[position].input.usage_time,
                self.accepted[position].index,
            )
        });
        // The histories before this batch changed them, by customer row (in id order, the order
        // their events are moved in).
        let mut before: BTreeMap<Uuid, (&str, Vec<PlanPeriod>)> = BTreeMap::new();
        let mut started = Vec::new();
        for position in order {
            let accepted = &self.accepted[position];
            let Some(plan) = accepted
                .input
                .customer
                .as_ref()
                .and_then(|customer| customer.plan.as_ref())
            else {
                continue;
            };
            let customer_id = accepted.attribution.customer_id.as_str();
            let customer_ref = self.customers[customer_id];
            let history = self.plans.entry(customer_ref).or_default();
            let time = accepted.input.usage_time;
            if in_force(history, plan, time) {
                continue;
            }
            before
                .entry(customer_ref)
                .or_insert_with(|| (customer_id, history.clone()));
            if let Some(period) = start_plan(history, plan, time) {
                started.push((customer_ref, period));
            }
        }
        writes::insert_plan_periods(txn, project_id, &started, now).await?;
        let mut moves = Deltas::default();
        for (customer_ref, (customer_id, before)) in &before {
            if self.new_customers.contains(customer_ref) {
                continue;
            }
            let change = HistoryChange {
                customer_ref: *customer_ref,
                customer_id,
                before,
                after: &self.plans[customer_ref],
            };
            // The runs this batch started are counted under the new history next.
            move_stored(txn, project_id, &change, &self.created_runs, &mut moves).await?;
        }
        Ok(moves)
    }

    /// Counts the runs this batch started, at their first record's time and attribution, and
    /// writes them with `deltas` (what its plan periods moved) to the running totals.
    async fn count_started_runs(
        &self,
        txn: &DatabaseTransaction,
        project_id: Uuid,
        mut deltas: Deltas,
    ) -> Result<(), StoreError> {
        let mut first: HashMap<&str, &Accepted> = HashMap::new();
        for accepted in &self.accepted {
            let Some(key) = accepted.input.run_id.as_deref() else {
                continue;
            };
            let created = self
                .runs
                .get(key)
                .is_some_and(|run| self.created_runs.contains(&run.id));
            if !created {
                continue;
            }
            let earliest = first.entry(key).or_insert(accepted);
            if accepted.input.usage_time < earliest.input.usage_time {
                *earliest = accepted;
            }
        }
        let mut started = Vec::with_capacity(first.len());
        for (key, accepted) in first {
            let time = accepted.input.usage_time;
            let plan = self
                .plans
                .get(&self.customers[&accepted.attribution.customer_id])
                .and_then(|history| plan_at(history, time));
            started.push(StartedRun {
                id: self.runs[key].id,
                start_time: time,
                customer_id: &accepted.attribution.customer_id,
                plan_name: plan.map(|period| period.plan.name.as_str()),
                agent_code: &accepted.attribution.agent_code,
                user_id: accepted.attribution.user_id.as_deref(),
            });
        }
        fold::count_started(txn, project_id, &started, &mut deltas).await?;
        deltas.prune();
        store::totals::apply_shared_deltas(txn, project_id, &deltas).await
    }

    /// Inserts the events; one whose idempotency key another writer stored meanwhile becomes a
    /// duplicate of that one.
    async fn store_events(
        &mut self,
        txn: &DatabaseTransaction,
        project_id: Uuid,
        flags: &FlagSettings,
    ) -> Result<(), StoreError> {
        let mut accepted = std::mem::take(&mut self.accepted);
        // Keys in a fixed order, so that two batches with common keys cannot deadlock.
        accepted.sort_by(|a, b| {
            a.input
                .idempotency_key
                .cmp(&b.input.idempotency_key)
                .then(a.index.cmp(&b.index))
        });
        for accepted in &mut accepted {
            let customer_ref = self.customers[&accepted.attribution.customer_id];
            let plan_name = self
                .plans
                .get(&customer_ref)
                .and_then(|history| plan_at(history, accepted.input.usage_time))
                .map(|period| period.plan.name.clone());
            let run = accepted
                .input
                .run_id
                .as_ref()
                .and_then(|key| self.runs.get(key))
                .map(|run| run.id);
            let event = PricedEvent {
                id: Uuid::now_v7(),
                usage_time: accepted.input.usage_time,
                customer_id: accepted.attribution.customer_id.clone(),
                plan_name,
                agent_code: accepted.attribution.agent_code.clone(),
                signal_name: accepted.input.signal_name.clone(),
                user_id: accepted.attribution.user_id.clone(),
                quantity: accepted.input.quantity,
                run,
                lines: std::mem::take(&mut accepted.lines),
            };
            self.events.push((accepted.index, event));
        }
        let rows: Vec<NewEvent> = accepted
            .iter()
            .zip(&self.events)
            .map(|(accepted, (_, event))| NewEvent {
                event,
                idempotency_key: accepted.input.idempotency_key.as_deref(),
                customer_ref: self.customers[&event.customer_id],
                agent_ref: self.agents[&event.agent_code],
                signal_ref: event.signal_name.as_ref().map(|name| self.signals[name]),
                metadata: accepted.input.metadata.as_ref(),
                receive_time: accepted.received,
            })
            .collect();
        self.inserted = writes::insert_events(txn, project_id, &rows).await?;

        let raced: Vec<String> = accepted
            .iter()
            .zip(&self.events)
            .filter(|(_, (_, event))| !self.inserted.contains(&event.id))
            .filter_map(|(accepted, _)| accepted.input.idempotency_key.clone())
            .collect();
        let first_copies = writes::events_by_key(txn, project_id, &raced).await?;
        for (accepted, (index, event)) in accepted.iter().zip(&self.events) {
            if self.inserted.contains(&event.id) {
                continue;
            }
            let key = accepted
                .input
                .idempotency_key
                .as_deref()
                .unwrap_or_default();
            let Some(first) = first_copies.get(key) else {
                // The insert skipped the row for a key it cannot see taken: try the write again.
                return Err(StoreError::Conflict(DbErr::Custom(format!(
                    "idempotency key {key:?} is taken by an event not visible yet"
                ))));
            };
            self.duplicates.push((*index, Duplicate::Stored(*first)));
        }

        let stored: Vec<&PricedEvent> = self
            .events
            .iter()
            .map(|(_, event)| event)
            .filter(|event| self.inserted.contains(&event.id))
            .collect();
        writes::insert_lines(txn, project_id, &stored).await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            // Costs that would carry a total past its limit are refused here, record by record,
            // rather than when folded.
            let mut deltas = Deltas::default();
            for event in &stored {
                deltas.add_event(event, 1)?;
            }
            if !stored.is_empty() {
                let costs = BatchCosts {
                    months: deltas
                        .spend
                        .iter()
                        .filter(|(key, _)| key.customer_id.is_empty() && key.agent_code.is_empty())
                        .map(|(key, cost)| (key.month_start, *cost))
                        .collect(),
                    runs: deltas
                        .runs
                        .iter()
                        .map(|(run, figures)| (*run, figures.cost_e10))
                        .collect(),
                    total: stored
                        .iter()
                        .filter_map(|event| event.total())
                        .fold(0_i64, |sum, cost| sum.saturating_add(cost.e10())),
                };
                let ids = stored.iter().map(|event| event.id);
                store::fold_queue::enqueue(txn, project_id, ids, &costs, store::now()).await?;
            }
        } else {
            fold::add_to_totals(txn, project_id, &stored, Deltas::default(), flags).await?;
        }
        Ok(())
    }

    /// Every outcome of the batch: stored events, refused records, and the first results of
    /// duplicates. A copy of an earlier record of the batch gets that record's outcome, whatever
    /// became of it (stored now, found stored by another writer meanwhile, or refused).
    async fn finish(
        mut self,
        txn: &DatabaseTransaction,
        project_id: Uuid,
    ) -> Result<Vec<(usize, RecordOutcome)>, StoreError> {
        let mut outcomes: HashMap<usize, RecordOutcome> =
            std::mem::take(&mut self.outcomes).into_iter().collect();
        for (index, event) in std::mem::take(&mut self.events) {
            if self.inserted.contains(&event.id) {
                let stored = RecordOutcome::Stored {
                    event,
                    duplicate: false,
                };
                outcomes.insert(index, stored);
            }
        }
        let stored_ids: Vec<Uuid> = self
            .duplicates
            .iter()
            .filter_map(|(_, duplicate)| match duplicate {
                Duplicate::Stored(id) => Some(*id),
                Duplicate::InBatch(_) => None,
            })
            .collect();
        let earlier: HashMap<Uuid, PricedEvent> = store::events::load(txn, project_id, &stored_ids)
            .await?
            .into_iter()
            .map(|stored| (stored.priced.id, stored.priced))
            .collect();
        let mut copies = Vec::new();
        for (index, duplicate) in std::mem::take(&mut self.duplicates) {
            match duplicate {
                Duplicate::Stored(id) => {
                    let Some(event) = earlier.get(&id).cloned() else {
                        // Events are never deleted: the one a key named must load.
                        tracing::error!(event_id = %id, "the first copy of a duplicate record is missing");
                        outcomes.insert(index, RecordOutcome::Failed);
                        continue;
                    };
                    let outcome = RecordOutcome::Stored {
                        event,
                        duplicate: true,
                    };
                    outcomes.insert(index, outcome);
                }
                Duplicate::InBatch(first) => copies.push((index, first)),
            }
        }
        for (index, first) in copies {
            let outcome = match outcomes.get(&first) {
                Some(RecordOutcome::Stored { event, .. }) => RecordOutcome::Stored {
                    event: event.clone(),
                    duplicate: true,
                },
                Some(other) => other.clone(),
                None => {
                    tracing::error!(index, first, "a copy's first record has no outcome");
                    RecordOutcome::Failed
                }
            };
            outcomes.insert(index, outcome);
        }
        Ok(outcomes.into_iter().collect())
    }
}
