//! The events of a batch, in the write transaction: their rows, lines and cost items, the records
//! whose key another writer stored meanwhile, their costs (queued for the folder on PostgreSQL,
//! added to the running totals at once on SQLite), and the holds they settle.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, DbErr};
use uuid::Uuid;

use super::{Batch, Duplicate};
use crate::{
    domain::{
        ledger::{Deltas, PricedEvent, TotalOverflow, month_start},
        money::Usd,
        plan::plan_at,
        run_flags::FlagSettings,
    },
    service::fold,
    store::{
        self, StoreError,
        budgets::holds::Settlement,
        fold_queue::{BatchCosts, SpendKey},
        ingest::{self as writes, NewEvent},
    },
};

impl Batch<'_> {
    /// Inserts the events; one whose idempotency key another writer stored meanwhile becomes a
    /// duplicate of that one.
    pub(super) async fn store_events(
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
        let settlements: Vec<Settlement> = accepted
            .iter()
            .zip(&self.events)
            .filter(|(_, (_, event))| self.inserted.contains(&event.id))
            .filter_map(|(accepted, (_, event))| {
                Some(Settlement {
                    hold_id: accepted.input.hold_id?,
                    event_id: event.id,
                    cost: event.total(),
                })
            })
            .collect();
        store::budgets::holds::settle(txn, project_id, &settlements, store::now()).await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            // Costs that would carry a total past its limit are refused here, record by record,
            // rather than when folded.
            let costs = self.batch_costs(&stored)?;
            if !stored.is_empty() {
                let ids = stored.iter().map(|event| event.id);
                store::fold_queue::enqueue(txn, project_id, ids, &costs, store::now()).await?;
            }
        } else {
            fold::add_to_totals(txn, project_id, &stored, Deltas::default(), flags).await?;
        }
        Ok(())
    }

    /// What the stored events cost by month (the project's spend) and by run, the two totals every
    /// other one is part of (so checking that these sums fit checks them all), in all, and by
    /// month, customer row, agent row and run (nil for none) as `CheckBudget` reads the queue.
    fn batch_costs(&self, stored: &[&PricedEvent]) -> Result<BatchCosts, TotalOverflow> {
        let add = |sum: &mut i64, cost: i64| -> Result<(), TotalOverflow> {
            *sum = sum.checked_add(cost).ok_or(TotalOverflow)?;
            Ok(())
        };
        let mut months: BTreeMap<DateTime<Utc>, i64> = BTreeMap::new();
        let mut runs: BTreeMap<Uuid, i64> = BTreeMap::new();
        let mut spend: BTreeMap<SpendKey, i64> = BTreeMap::new();
        let mut total = 0_i64;
        for event in stored {
            let Some(cost) = event.total().map(Usd::e10) else {
                continue;
            };
            let month = month_start(event.usage_time);
            add(months.entry(month).or_default(), cost)?;
            if let Some(run) = event.run {
                add(runs.entry(run).or_default(), cost)?;
            }
            let key = (
                month,
                self.customers[&event.customer_id],
                self.agents[&event.agent_code],
                event.run.unwrap_or_else(Uuid::nil),
            );
            // Part of its month's sum, which fits.
            add(spend.entry(key).or_default(), cost)?;
            total = total.saturating_add(cost);
        }
        Ok(BatchCosts {
            months: months.into_iter().collect(),
            runs: runs.into_iter().collect(),
            total,
            spend: spend.into_iter().collect(),
        })
    }
}
