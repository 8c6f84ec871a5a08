//! What a change of a customer's plan history moves: the customer's stored events and started
//! runs of every span that the change puts under another plan. One code path for each way a
//! period starts: `UpdateCustomer` with a past start, a record or a run carrying a plan dated
//! before events already stored.

use std::collections::HashSet;

use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::{
    domain::{
        ledger::Deltas,
        plan::{PlanPeriod, moved_spans, plan_at},
    },
    store::{
        self, StoreError,
        customer_writes::{self, Span},
        fold_queue,
    },
};

/// Events loaded and moved per statement.
const MOVE_CHUNK: usize = 500;

/// A customer whose plan history changed, before and after the change (oldest first).
pub(super) struct HistoryChange<'a> {
    pub customer_ref: Uuid,
    pub customer_id: &'a str,
    pub before: &'a [PlanPeriod],
    pub after: &'a [PlanPeriod],
}

/// [`move_stored`] for many customers, looking first (in one statement) which have anything
/// stored in their moved spans: only those move.
pub(super) async fn move_stored_of(
    txn: &impl ConnectionTrait,
    project_id: Uuid,
    changes: &[HistoryChange<'_>],
    counted_later: &HashSet<Uuid>,
    deltas: &mut Deltas,
) -> Result<(), StoreError> {
    let spans: Vec<(Uuid, Span)> = changes
        .iter()
        .flat_map(|change| {
            moved_spans(change.before, change.after)
                .into_iter()
                .map(|moved| {
                    let span = Span {
                        from: moved.from,
                        until: moved.until,
                    };
                    (change.customer_ref, span)
                })
        })
        .collect();
    let moving = customer_writes::customers_with_stored_in(txn, project_id, &spans).await?;
    for change in changes {
        if moving.contains(&change.customer_ref) {
            move_stored(txn, project_id, change, counted_later, deltas).await?;
        }
    }
    Ok(())
}

/// Stores the customer's events of each moved span under its new plan, and adds to `deltas` what
/// the running totals by plan change by: each moved event taken out under its old plan and added
/// under the new, and each run started in the span (but those in `counted_later`, which the
/// caller counts under the new history) likewise. A plan is no part of a run's totals or of
/// budget spend, so only the totals by plan move. A span with nothing stored in it costs two
/// index probes (its events, its runs).
pub(super) async fn move_stored(
    txn: &impl ConnectionTrait,
    project_id: Uuid,
    change: &HistoryChange<'_>,
    counted_later: &HashSet<Uuid>,
    deltas: &mut Deltas,
) -> Result<(), StoreError> {
    // Events and starts still queued are not in the totals yet: only their rows move, and the fold
    // counts them under the new plan. The fold lock keeps the queue as read until the transaction
    // ends; it is taken only when something stored moves (a back-dated plan usually moves nothing,
    // and waiting for a fold on every one serialised ingest).
    let mut locked = false;
    let mut lock = async |txn| -> Result<(), StoreError> {
        if !locked {
            fold_queue::lock(txn, project_id).await?;
            locked = true;
        }
        Ok(())
    };
    for moved in moved_spans(change.before, change.after) {
        let span = Span {
            from: moved.from,
            until: moved.until,
        };
        let new_plan = moved.plan_name.as_str();
        let ids =
            customer_writes::events_to_move(txn, project_id, change.customer_ref, span, new_plan)
                .await?;
        for chunk in ids.chunks(MOVE_CHUNK) {
            lock(txn).await?;
            let queued = fold_queue::still_queued(txn, project_id, chunk).await?;
            for stored in store::events::load(txn, project_id, chunk).await? {
                if queued.contains(&stored.priced.id) {
                    continue;
                }
                // Without its run, so that only the totals by plan move.
                let mut old = stored.priced;
                old.run = None;
                let mut new = old.clone();
                new.plan_name = Some(new_plan.to_owned());
                deltas.add_event(&old, -1)?;
                deltas.add_event(&new, 1)?;
            }
            customer_writes::set_events_plan(txn, project_id, chunk, new_plan).await?;
        }
        let runs: Vec<_> =
            customer_writes::runs_started_in(txn, project_id, change.customer_ref, span)
                .await?
                .into_iter()
                .filter(|run| !counted_later.contains(&run.id))
                .collect();
        if runs.is_empty() {
            continue;
        }
        lock(txn).await?;
        let ids: Vec<Uuid> = runs.iter().map(|run| run.id).collect();
        // A start still queued is counted by the fold, under the history as it is then.
        let queued = fold_queue::runs_still_queued(txn, project_id, &ids).await?;
        for run in runs {
            if queued.contains(&run.id) {
                continue;
            }
            let old_plan = plan_at(change.before, run.start_time).map(|p| p.plan.name.as_str());
            for (plan, sign) in [(old_plan, -1), (Some(new_plan), 1)] {
                deltas.add_started_run_signed(
                    run.start_time,
                    change.customer_id,
                    plan,
                    &run.agent_code,
                    run.user_id.as_deref(),
                    sign,
                );
            }
        }
    }
    Ok(())
}
