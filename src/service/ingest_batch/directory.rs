//! The directory rows a batch needs, written in their own transaction before its events:
//! customers, agents and signals, the runs it starts, the plan periods its records carry (with the
//! stored events and runs a back-dated period moves), and the count of the runs started (queued for
//! the fold on PostgreSQL).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use super::{Accepted, Batch};
use crate::{
    domain::{
        FieldViolation,
        ledger::Deltas,
        plan::{PlanPeriod, in_force, plan_at, start_plan},
    },
    service::{
        fold::{self, StartedRun},
        ingest::RecordOutcome,
        ingest_attribution::Attribution,
        plan_moves::{HistoryChange, move_stored_of},
    },
    store::{
        self, StoreError,
        ingest::{self as writes, NewRun, RunRef, Seen},
    },
};

impl Batch<'_> {
    /// Creates the customers, agents and signals not known yet.
    pub(super) async fn provision(
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
            writes::upsert_names(txn, writes::NamedTable::Agents, project_id, &agents, now).await?;
        self.signals =
            writes::upsert_names(txn, writes::NamedTable::Signals, project_id, &signals, now)
                .await?;
        Ok(())
    }

    /// Starts the runs named for the first time; a record that disagrees with its run's customer or
    /// agent (one started by an earlier record of the batch, or by another writer) is refused.
    pub(super) async fn start_runs(
        &mut self,
        txn: &DatabaseTransaction,
        project_id: Uuid,
        known: &HashMap<String, RunRef>,
    ) -> Result<(), StoreError> {
        // Each new run, with the attribution of its first record.
        let mut new_runs: BTreeMap<String, (NewRun, &Attribution)> = BTreeMap::new();
        for accepted in &self.accepted {
            let Some(key) = &accepted.input.run_id else {
                continue;
            };
            if known.contains_key(key) {
                continue;
            }
            let time = accepted.input.usage_time;
            let (run, _) = new_runs.entry(key.clone()).or_insert_with(|| {
                let run = NewRun {
                    run_key: key.clone(),
                    customer_ref: self.customers[&accepted.attribution.customer_id],
                    agent_ref: self.agents[&accepted.attribution.agent_code],
                    user_id: accepted.attribution.user_id.clone(),
                    metadata: None,
                    start_time: time,
                };
                (run, &accepted.attribution)
            });
            run.start_time = run.start_time.min(time);
        }
        let (new_runs, firsts): (Vec<NewRun>, Vec<&Attribution>) = new_runs.into_values().unzip();
        let created = writes::insert_runs(txn, project_id, &new_runs).await?;
        self.created_runs = created.values().copied().collect();
        self.runs = known.clone();
        // A run created here is what its first record says; only the runs another writer created
        // meanwhile are read back.
        let mut raced = Vec::new();
        for (run, first) in new_runs.iter().zip(firsts) {
            let Some(&id) = created.get(&run.run_key) else {
                raced.push(run.run_key.clone());
                continue;
            };
            self.runs.insert(
                run.run_key.clone(),
                RunRef {
                    id,
                    customer_ref: run.customer_ref,
                    customer_id: first.customer_id.clone(),
                    agent_ref: run.agent_ref,
                    agent_code: first.agent_code.clone(),
                    user_id: run.user_id.clone(),
                },
            );
        }
        self.runs
            .extend(writes::find_runs(txn, project_id, &raced).await?);

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
    pub(super) async fn apply_plans(
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
        let changes: Vec<HistoryChange> = before
            .iter()
            .filter(|(customer_ref, _)| !self.new_customers.contains(*customer_ref))
            .map(|(customer_ref, (customer_id, before))| HistoryChange {
                customer_ref: *customer_ref,
                customer_id,
                before,
                after: &self.plans[customer_ref],
            })
            .collect();
        let mut moves = Deltas::default();
        // The runs this batch started are counted under the new history next.
        move_stored_of(txn, project_id, &changes, &self.created_runs, &mut moves).await?;
        Ok(moves)
    }

    /// Counts the runs this batch started, at their first record's time and attribution, and
    /// writes them with `deltas` (what its plan periods moved) to the running totals.
    pub(super) async fn count_started_runs(
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
}
