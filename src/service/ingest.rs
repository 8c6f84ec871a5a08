//! Records cost events: one code path for `RecordEvent`, `RecordBatch` and every batch of a
//! `RecordEvents` stream. A batch is written in one transaction (events, lines, items, and the
//! running totals with them) and committed before any result is returned. A record never harms the
//! others: each gets its own result, and a batch that fails as a whole is retried record by record.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, HashSet},
    sync::Arc,
};

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use uuid::Uuid;

use super::{
    budget_check::{self, RunSpend, Subject},
    price_book::{PriceBook, ProjectPrices},
};
use crate::{
    domain::{
        DomainError, FieldViolation,
        event::{EventInput, EventStatus, LineInput},
        ledger::{Deltas, PricedEvent, PricedLine, month_start},
        money::Usd,
        plan::{PlanPeriod, plan_at, start_plan},
        pricing::{LinePrice, ModelPrices, manual_item, price_line, validate_counts},
        run_flags::{FlagCounters, FlagSettings, Step},
        tenant::Tenant,
    },
    store::{
        self, StoreError,
        budgets::{SpendByKey, SpendQuery},
        ingest::{self as writes, NewEvent, NewRun, RunRef, Seen},
    },
};

/// What became of one record.
#[derive(Clone, Debug, PartialEq)]
pub enum RecordOutcome {
    /// Committed now, or earlier under the same idempotency key (`duplicate`).
    Stored { event: PricedEvent, duplicate: bool },
    /// Not stored: every violation, with its path in the record.
    Invalid(Vec<FieldViolation>),
    /// Not stored: the server failed on this record; safe to send again.
    Failed,
}

/// How often a batch is tried again after a deadlock or serialization failure.
const CONFLICT_RETRIES: usize = 3;

/// Records events for projects.
pub struct IngestService {
    db: DatabaseConnection,
    prices: Arc<PriceBook>,
    flags: FlagSettings,
}

impl IngestService {
    pub fn new(db: DatabaseConnection, prices: Arc<PriceBook>, flags: FlagSettings) -> Self {
        Self { db, prices, flags }
    }

    /// Stores a batch and answers each record in order. `Err` only when the database cannot be
    /// reached (then nothing was stored and the whole batch may be sent again).
    pub async fn record(
        &self,
        tenant: Tenant,
        records: Vec<Result<EventInput, Vec<FieldViolation>>>,
    ) -> Result<Vec<RecordOutcome>, DomainError> {
        let receive_time = store::now();
        let mut outcomes: Vec<Option<RecordOutcome>> = vec![None; records.len()];
        let mut valid = Vec::new();
        for (index, record) in records.into_iter().enumerate() {
            match record {
                Ok(input) => valid.push((index, input)),
                Err(violations) => outcomes[index] = Some(RecordOutcome::Invalid(violations)),
            }
        }
        for (index, outcome) in self
            .write_with_fallback(tenant, &valid, receive_time)
            .await?
        {
            outcomes[index] = Some(outcome);
        }
        Ok(outcomes
            .into_iter()
            .map(|outcome| outcome.unwrap_or(RecordOutcome::Failed))
            .collect())
    }

    async fn write_with_fallback(
        &self,
        tenant: Tenant,
        records: &[(usize, EventInput)],
        receive_time: DateTime<Utc>,
    ) -> Result<Vec<(usize, RecordOutcome)>, DomainError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let error = match self.write_retrying(tenant, records, receive_time).await {
            Ok(outcomes) => return Ok(outcomes),
            Err(StoreError::Unavailable(error)) => {
                return Err(StoreError::Unavailable(error).into());
            }
            Err(error) => error,
        };
        if records.len() == 1 {
            tracing::error!(%error, "record failed");
            return Ok(vec![(records[0].0, RecordOutcome::Failed)]);
        }
        // Find the record at fault: each alone, so that the others are still stored.
        tracing::warn!(%error, records = records.len(), "batch failed; storing its records one by one");
        let mut outcomes = Vec::with_capacity(records.len());
        for record in records {
            match self
                .write_retrying(tenant, std::slice::from_ref(record), receive_time)
                .await
            {
                Ok(mut outcome) => outcomes.append(&mut outcome),
                Err(StoreError::Unavailable(error)) => {
                    return Err(StoreError::Unavailable(error).into());
                }
                Err(error) => {
                    tracing::error!(%error, index = record.0, "record failed");
                    outcomes.push((record.0, RecordOutcome::Failed));
                }
            }
        }
        Ok(outcomes)
    }

    async fn write_retrying(
        &self,
        tenant: Tenant,
        records: &[(usize, EventInput)],
        receive_time: DateTime<Utc>,
    ) -> Result<Vec<(usize, RecordOutcome)>, StoreError> {
        let mut attempt = 0;
        loop {
            match self.write(tenant, records, receive_time).await {
                Err(error) if error.is_transient_conflict() && attempt < CONFLICT_RETRIES => {
                    attempt += 1;
                    tracing::debug!(%error, attempt, "batch conflicted with another; trying again");
                }
                result => return result,
            }
        }
    }

    async fn write(
        &self,
        tenant: Tenant,
        records: &[(usize, EventInput)],
        receive_time: DateTime<Utc>,
    ) -> Result<Vec<(usize, RecordOutcome)>, StoreError> {
        let project_id = tenant.project_id;
        let db = &self.db;
        let mut batch = Batch::default();

        // Reads first, outside the write transaction: what is already stored, the runs named, and
        // the prices of every line. A writer that stores the same keys or starts the same runs
        // meanwhile is caught by the unique indexes below, as inside a transaction.
        let keys: Vec<String> = records
            .iter()
            .filter_map(|(_, r)| r.idempotency_key.clone())
            .collect();
        let stored_keys = writes::events_by_key(db, project_id, &keys).await?;
        let run_keys: Vec<String> = records
            .iter()
            .filter_map(|(_, r)| r.run_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let known_runs = writes::find_runs(db, project_id, &run_keys).await?;
        let names = records
            .iter()
            .flat_map(|(_, r)| {
                r.lines
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
        for (index, input) in records {
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
        batch
            .apply_plans(&directory, project_id, receive_time)
            .await?;
        batch.count_started_runs(&directory, project_id).await?;
        directory.commit().await?;

        let txn = store::begin_write(db).await?;
        batch
            .store_events(&txn, project_id, receive_time, &self.flags)
            .await?;
        let outcomes = batch.finish(&txn, project_id).await?;
        txn.commit().await?;
        Ok(outcomes)
    }
}

/// Who a record is for, once its run (if any) has been taken into account.
#[derive(Clone, Debug)]
struct Attribution {
    customer_id: String,
    agent_code: String,
    user_id: Option<String>,
    /// The record names a run not started before it: it starts the run.
    starts_run: bool,
}

/// Resolves the customer and agent of a record: from the record, checked against its run when the
/// run exists; a record naming a run not started yet must name both itself.
fn attribute(
    input: &EventInput,
    run: Option<&Attribution>,
) -> Result<Attribution, Vec<FieldViolation>> {
    let mut violations = Vec::new();
    let sent_customer = input.customer.as_ref().map(|customer| customer.id.clone());
    match run {
        Some(run) => {
            if let Some(sent) = &sent_customer
                && *sent != run.customer_id
            {
                violations.push(FieldViolation::new(
                    "customer.id",
                    format!(
                        "{sent:?} differs from the customer {:?} of run {:?}",
                        run.customer_id,
                        input.run_id.as_deref().unwrap_or_default()
                    ),
                ));
            }
            if let Some(sent) = &input.agent_code
                && *sent != run.agent_code
            {
                violations.push(FieldViolation::new(
                    "agent_code",
                    format!(
                        "{sent:?} differs from the agent {:?} of run {:?}",
                        run.agent_code,
                        input.run_id.as_deref().unwrap_or_default()
                    ),
                ));
            }
            if !violations.is_empty() {
                return Err(violations);
            }
            Ok(Attribution {
                customer_id: run.customer_id.clone(),
                agent_code: run.agent_code.clone(),
                user_id: input.user_id.clone().or_else(|| run.user_id.clone()),
                starts_run: false,
            })
        }
        None => {
            let started = "required: the run is not started yet, so this record starts it";
            if sent_customer.is_none() {
                violations.push(FieldViolation::new("customer.id", started));
            }
            if input.agent_code.is_none() {
                violations.push(FieldViolation::new("agent_code", started));
            }
            match (sent_customer, &input.agent_code) {
                (Some(customer_id), Some(agent_code)) if violations.is_empty() => Ok(Attribution {
                    customer_id,
                    agent_code: agent_code.clone(),
                    user_id: input.user_id.clone(),
                    starts_run: input.run_id.is_some(),
                }),
                _ => Err(violations),
            }
        }
    }
}

/// Prices every line; `Err` lists counts that break the provider's convention, each named with
/// `path(index)` (the line's path in the request, ending with a dot).
pub fn price_lines(
    lines: &[LineInput],
    prices: &ProjectPrices,
    usage_time: DateTime<Utc>,
    path: impl Fn(usize) -> String,
) -> Result<Vec<PricedLine>, Vec<FieldViolation>> {
    let mut violations = Vec::new();
    let mut priced = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        let resolved = prices.resolve(&line.provider, &line.model, usage_time);
        for violation in validate_counts(&line.usage, resolved.convention) {
            violations.push(FieldViolation::new(
                format!("{}{}", path(index), violation.field),
                violation.description,
            ));
        }
        priced.push(price_one(index, line, resolved.prices));
    }
    if violations.is_empty() {
        Ok(priced)
    } else {
        Err(violations)
    }
}

/// Prices one line: a manual cost as given, else from the resolved prices.
pub fn price_one(index: usize, line: &LineInput, prices: Option<ModelPrices>) -> PricedLine {
    let mut priced = PricedLine {
        provider: line.provider.clone(),
        model: line.model.clone(),
        usage: line.usage,
        manual_cost: line.manual_cost,
        latency_ms: line.latency_ms,
        call_status: line.call_status.clone(),
        status: EventStatus::Processed,
        cost: None,
        items: Vec::new(),
        priced_as: None,
        error: None,
    };
    if let Some(cost) = line.manual_cost {
        priced.cost = Some(cost);
        priced.items = vec![manual_item(cost)];
        return priced;
    }
    let Some(prices) = prices else {
        priced.status = EventStatus::NeedsCostBackfill;
        priced.error = Some(line_error(index, &priced));
        return priced;
    };
    match price_line(&line.usage, &prices) {
        LinePrice::Priced { items, cost } => {
            priced.cost = Some(cost);
            priced.items = items;
            priced.priced_as = Some((prices.provider, prices.model));
        }
        LinePrice::MissingVolume => {
            priced.status = EventStatus::MissingVolumeData;
            priced.priced_as = Some((prices.provider, prices.model));
            priced.error = Some(line_error(index, &priced));
        }
        LinePrice::Unpriced { reason } => {
            priced.status = EventStatus::NeedsCostBackfill;
            priced.error = Some(format!(
                "line {index}: {reason} for provider {:?} model {:?}",
                line.provider, line.model
            ));
        }
    }
    priced
}

/// Why a line has no cost, from what is stored about it.
pub fn line_error(index: usize, line: &PricedLine) -> String {
    match line.status {
        EventStatus::Processed => String::new(),
        EventStatus::MissingVolumeData => format!(
            "line {index}: the price of provider {:?} model {:?} needs input_tokens or output_tokens (or quantity \
             for a per-unit service); send them with FillVolume",
            line.provider, line.model
        ),
        EventStatus::NeedsCostBackfill => format!(
            "line {index}: no price for provider {:?} model {:?} at the usage time; give one with MapModel or SetPrice",
            line.provider, line.model
        ),
    }
}

/// A record that passed every check, waiting to be written.
struct Accepted<'a> {
    index: usize,
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
        self.customers = writes::upsert_customers(txn, project_id, &customers, now).await?;
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
    async fn apply_plans(
        &mut self,
        txn: &DatabaseTransaction,
        project_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
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
            let customer_ref = self.customers[&accepted.attribution.customer_id];
            let history = self.plans.entry(customer_ref).or_default();
            if let Some(period) = start_plan(history, plan, accepted.input.usage_time) {
                started.push((customer_ref, period));
            }
        }
        writes::insert_plan_periods(txn, project_id, &started, now).await
    }

    /// Counts the runs this batch started, at their first record's time and attribution.
    async fn count_started_runs(
        &self,
        txn: &DatabaseTransaction,
        project_id: Uuid,
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
        let mut deltas = Deltas::default();
        for accepted in first.into_values() {
            let time = accepted.input.usage_time;
            let plan = self
                .plans
                .get(&self.customers[&accepted.attribution.customer_id])
                .and_then(|history| plan_at(history, time));
            deltas.add_started_run(
                time,
                &accepted.attribution.customer_id,
                plan.map(|period| period.plan.name.as_str()),
                &accepted.attribution.agent_code,
                accepted.attribution.user_id.as_deref(),
            );
        }
        store::totals::apply_shared_deltas(txn, project_id, &deltas).await
    }

    /// Inserts the events; one whose idempotency key another writer stored meanwhile becomes a
    /// duplicate of that one.
    async fn store_events(
        &mut self,
        txn: &DatabaseTransaction,
        project_id: Uuid,
        receive_time: DateTime<Utc>,
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
                receive_time,
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
            match accepted
                .input
                .idempotency_key
                .as_ref()
                .and_then(|key| first_copies.get(key))
            {
                Some(first) => self.duplicates.push((*index, Duplicate::Stored(*first))),
                None => self.outcomes.push((*index, RecordOutcome::Failed)),
            }
        }

        let stored: Vec<&PricedEvent> = self
            .events
            .iter()
            .map(|(_, event)| event)
            .filter(|event| self.inserted.contains(&event.id))
            .collect();
        writes::insert_lines(txn, project_id, &stored).await?;
        let mut deltas = Deltas::default();
        for event in &stored {
            deltas.add_event(event, 1);
        }
        let flagging = BudgetFlagging::read(txn, project_id, &stored, &deltas).await?;
        store::totals::apply_hourly_deltas(txn, project_id, &deltas).await?;
        // The runs' rows are locked from here until commit, always in id order so that batches
        // of one run take their turn and never deadlock; late, so that they are held briefly.
        let runs: Vec<Uuid> = stored
            .iter()
            .filter_map(|event| event.run)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut counters = store::runs::lock_counters(txn, &runs).await?;
        observe_steps(&mut counters, &stored, flags);
        // Runs' totals and counters, then the shared rows (the hourly ones are written): one
        // statement on PostgreSQL, so the hot rows are held for as few round trips as can be.
        store::totals::apply_batch_deltas(txn, project_id, &deltas, &counters).await?;
        if let Some(flagging) = flagging {
            flagging.flag(txn).await?;
        }
        Ok(())
    }

    /// Every outcome of the batch: stored events, refused records, and the first results of
    /// duplicates.
    async fn finish(
        mut self,
        txn: &DatabaseTransaction,
        project_id: Uuid,
    ) -> Result<Vec<(usize, RecordOutcome)>, StoreError> {
        let mut by_index: HashMap<usize, PricedEvent> = HashMap::new();
        for (index, event) in std::mem::take(&mut self.events) {
            if self.inserted.contains(&event.id) {
                by_index.insert(index, event);
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
        let mut outcomes = std::mem::take(&mut self.outcomes);
        for (index, duplicate) in &self.duplicates {
            let first = match duplicate {
                Duplicate::Stored(id) => earlier.get(id).cloned(),
                Duplicate::InBatch(first) => by_index.get(first).cloned(),
            };
            outcomes.push((
                *index,
                first.map_or(RecordOutcome::Failed, |event| RecordOutcome::Stored {
                    event,
                    duplicate: true,
                }),
            ));
        }
        outcomes.extend(by_index.into_iter().map(|(index, event)| {
            (
                index,
                RecordOutcome::Stored {
                    event,
                    duplicate: false,
                },
            )
        }));
        Ok(outcomes)
    }
}

/// Feeds the stored events' steps, in usage-time order, to their runs' flag counters.
fn observe_steps(
    counters: &mut HashMap<Uuid, FlagCounters>,
    stored: &[&PricedEvent],
    flags: &FlagSettings,
) {
    let mut in_order: Vec<&PricedEvent> = stored
        .iter()
        .copied()
        .filter(|event| event.run.is_some())
        .collect();
    in_order.sort_by_key(|event| (event.usage_time, event.id));
    for event in in_order {
        let Some(run_counters) = event.run.and_then(|run| counters.get_mut(&run)) else {
            continue;
        };
        for line in &event.lines {
            run_counters.observe(
                &Step {
                    provider: &line.provider,
                    model: &line.model,
                    usage: &line.usage,
                },
                flags,
            );
        }
    }
}

/// What flagging the runs of a batch that pass a budget needs, read before the runs are locked:
/// the budgets, and the monthly spend of the runs' customers and agents with this batch's own spend
/// (not written yet: see `apply_shared_deltas`) added.
struct BudgetFlagging<'a> {
    budgets: Vec<store::budgets::Budget>,
    /// Each run's customer, agent and latest event time in the batch.
    runs: BTreeMap<Uuid, (&'a str, &'a str, DateTime<Utc>)>,
    spend: HashMap<(DateTime<Utc>, String, String), Usd>,
}

impl<'a> BudgetFlagging<'a> {
    /// `None` when no event is in a run or the project has no budget: nothing to flag.
    async fn read(
        txn: &DatabaseTransaction,
        project_id: Uuid,
        stored: &[&'a PricedEvent],
        deltas: &Deltas,
    ) -> Result<Option<Self>, StoreError> {
        let mut runs: BTreeMap<Uuid, (&str, &str, DateTime<Utc>)> = BTreeMap::new();
        for event in stored {
            let Some(run) = event.run else { continue };
            let entry = runs.entry(run).or_insert((
                &event.customer_id,
                &event.agent_code,
                event.usage_time,
            ));
            entry.2 = entry.2.max(event.usage_time);
        }
        if runs.is_empty() {
            return Ok(None);
        }
        let budgets = store::budgets::all(txn, project_id).await?;
        if budgets.is_empty() {
            return Ok(None);
        }
        let wanted = SpendQuery {
            months: runs
                .values()
                .map(|(_, _, latest)| month_start(*latest))
                .collect(),
            customers: runs
                .values()
                .map(|(customer, _, _)| (*customer).to_owned())
                .collect(),
            agents: runs
                .values()
                .map(|(_, agent, _)| (*agent).to_owned())
                .collect(),
        };
        let mut spend = store::budgets::monthly_spend_of(txn, project_id, &wanted).await?;
        for (key, cost) in &deltas.spend {
            let entry = spend
                .entry((
                    key.month_start,
                    key.customer_id.clone(),
                    key.agent_code.clone(),
                ))
                .or_insert(Usd::ZERO);
            *entry = Usd::from_e10(entry.e10().saturating_add(*cost));
        }
        Ok(Some(Self {
            budgets,
            runs,
            spend,
        }))
    }

    /// Flags the runs whose spend now passes a limit: their own (per run, read after this batch's
    /// totals were added) or their customer's and agent's for the month of their latest event here.
    async fn flag(self, txn: &DatabaseTransaction) -> Result<(), StoreError> {
        let ids: Vec<Uuid> = self.runs.keys().copied().collect();
        let totals = store::runs::totals(txn, &ids).await?;
        for (run, (customer_id, agent_code, latest)) in self.runs {
            let month = month_start(latest);
            let monthly: SpendByKey = [
                (customer_id, agent_code),
                (customer_id, ""),
                ("", agent_code),
                ("", ""),
            ]
            .into_iter()
            .filter_map(|(customer, agent)| {
                let key = (month, customer.to_owned(), agent.to_owned());
                self.spend.get(&key).map(|cost| ((key.1, key.2), *cost))
            })
            .collect();
            let subject = Subject {
                customer_id,
                agent_code,
                run: Some(RunSpend {
                    spent: totals.get(&run).copied().unwrap_or(Usd::ZERO),
                    start_time: latest,
                }),
            };
            let checks =
                budget_check::evaluate(&self.budgets, &monthly, &subject, Usd::ZERO, month);
            if let Some(passed) = checks.iter().find(|check| check.standing.exceeded) {
                store::runs::mark_exceeded(txn, run, passed.budget.id).await?;
            }
        }
        Ok(())
    }
}

impl StoreError {
    /// A deadlock or serialization failure: the batch may simply be tried again.
    pub fn is_transient_conflict(&self) -> bool {
        let StoreError::Other(error) = self else {
            return false;
        };
        let text = error.to_string();
        text.contains("40P01") || text.contains("40001") || text.contains("deadlock detected")
    }
}
