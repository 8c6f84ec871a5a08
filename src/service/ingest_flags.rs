//! Run flags at ingest: the steps of a batch's events fed to their runs' flag counters, and the
//! runs whose spend passes a budget flagged in the batch's transaction.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseTransaction;
use uuid::Uuid;

use super::budget_check::{self, RunSpend, Subject};
use crate::{
    domain::{
        ledger::{Deltas, PricedEvent, month_start},
        money::Usd,
        run_flags::{FlagCounters, FlagSettings, Step},
    },
    store::{
        self, StoreError,
        budgets::{SpendByKey, SpendQuery},
    },
};

/// Feeds the stored events' steps, in usage-time order, to their runs' flag counters.
pub(super) fn observe_steps(
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
pub(super) struct BudgetFlagging<'a> {
    budgets: Vec<store::budgets::Budget>,
    /// Each run's customer, agent and latest event time in the batch.
    runs: BTreeMap<Uuid, (&'a str, &'a str, DateTime<Utc>)>,
    spend: HashMap<(DateTime<Utc>, String, String), Usd>,
}

impl<'a> BudgetFlagging<'a> {
    /// `None` when no event is in a run or the project has no budget: nothing to flag.
    pub(super) async fn read(
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
        for (key, cost) in deltas.spend.iter().chain(&deltas.customer_spend()) {
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
    pub(super) async fn flag(self, txn: &DatabaseTransaction) -> Result<(), StoreError> {
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
                    held: Usd::ZERO,
                    start_time: Some(latest),
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
