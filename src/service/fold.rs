//! Folding: stored events added to the running totals (runs' totals and flag counters, the hourly,
//! daily and monthly aggregates, monthly spend, runs flagged past a budget). SQLite, with one
//! writer, folds each batch in the transaction that stores it. On PostgreSQL ingest only stores the
//! events and queues them (`store::fold_queue`), so that concurrent batches of a project share no
//! row; a folder per project (one at a time across replicas, under an advisory lock) takes the
//! queue in large folds, each in one transaction with the deletion of its queue rows: every event is
//! folded exactly once, and a crash folds nothing twice. `CheckBudget` reads the totals and the
//! queued tail in one statement; the other reads of totals first fold what is queued
//! ([`Folder::catch_up`]), so that each sees every event already answered.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::Duration,
};

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend};
use uuid::Uuid;

use super::ingest_flags::{BudgetFlagging, observe_steps};
use crate::{
    domain::{
        ledger::{Deltas, PricedEvent},
        plan::plan_at,
        run_flags::FlagSettings,
    },
    store::{self, StoreError, fold_queue},
    telemetry::metrics,
};

/// The most events one fold adds (whole queue rows: a fold holds at least one).
pub const MAX_FOLD_EVENTS: usize = 5_000;

/// How long a folder waits after a write before it folds, so that the batches arriving meanwhile
/// are folded together: a fold's statements cost about as much for one batch as for fifty, and on
/// a small machine a fold per lone batch took more CPU than storing the batch (500 ms against 200:
/// ingest at 4 streams +11 %, a lone batch −11 %, measured in pairs). Reads do not wait for it
/// (`CheckBudget` reads the queue, the others fold first).
pub const FOLD_LINGER: Duration = Duration::from_millis(500);

/// The most events a project's writers of one replica leave queued: past it, a writer folds before
/// it answers (back-pressure), so that the queued tail `CheckBudget` adds up stays short and the
/// totals never fall further behind than this when ingest outruns the folder.
pub const MAX_LAG_EVENTS: usize = 2_000;

/// The lag past which a writer waits for a fold in progress rather than going on: below it, one
/// writer folds while the others store.
pub const HARD_LAG_EVENTS: usize = 2 * MAX_LAG_EVENTS;

/// How often the queue is swept for projects whose folding no writer of this process started
/// (queued by another replica that stopped, or left by a crash).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Adds stored events, with `deltas` (runs started), to every running total in `txn`. The runs'
/// rows are locked from their counters' read until commit, in id order.
pub(super) async fn add_to_totals(
    txn: &DatabaseTransaction,
    project_id: Uuid,
    stored: &[&PricedEvent],
    mut deltas: Deltas,
    flags: &FlagSettings,
) -> Result<(), StoreError> {
    for event in stored {
        deltas.add_event(event, 1)?;
    }
    let flagging = BudgetFlagging::read(txn, project_id, stored, &deltas).await?;
    store::totals::apply_hourly_deltas(txn, project_id, &deltas).await?;
    let runs: Vec<Uuid> = stored
        .iter()
        .filter_map(|event| event.run)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut counters = store::runs::lock_counters(txn, &runs).await?;
    observe_steps(&mut counters, stored, flags);
    store::totals::apply_batch_deltas(txn, project_id, &deltas, &counters).await?;
    if let Some(flagging) = flagging {
        flagging.flag(txn).await?;
    }
    Ok(())
}

/// A run just started, to count in `runs_started` at its start and attribution.
pub(super) struct StartedRun<'a> {
    pub id: Uuid,
    pub start_time: chrono::DateTime<chrono::Utc>,
    pub customer_id: &'a str,
    pub plan_name: Option<&'a str>,
    pub agent_code: &'a str,
    pub user_id: Option<&'a str>,
}

/// Counts runs just started in `txn`: on SQLite at once (added to `deltas`, which the caller
/// writes), on PostgreSQL through the queue, so that starting a run writes no shared row (the fold
/// counts it under the plan in force at its start).
pub(super) async fn count_started(
    txn: &DatabaseTransaction,
    project_id: Uuid,
    runs: &[StartedRun<'_>],
    deltas: &mut Deltas,
) -> Result<(), StoreError> {
    if runs.is_empty() {
        return Ok(());
    }
    if txn.get_database_backend() == DbBackend::Postgres {
        let ids = runs.iter().map(|run| run.id);
        return fold_queue::enqueue_runs(txn, project_id, ids, store::now()).await;
    }
    for run in runs {
        deltas.add_started_run(
            run.start_time,
            run.customer_id,
            run.plan_name,
            run.agent_code,
            run.user_id,
        );
    }
    Ok(())
}

/// Whether a project's folding task is running, and whether it was asked again meanwhile.
#[derive(Default)]
struct Folding {
    again: bool,
}

/// Folds the projects' queued events, in the background and on demand.
pub struct Folder {
    db: DatabaseConnection,
    flags: FlagSettings,
    /// Whether writes start folding at once (tests pause it to read the queued tail).
    background: bool,
    running: Mutex<HashMap<Uuid, Folding>>,
    /// Events this replica queued and no fold of it has taken yet, by project (an estimate: other
    /// replicas fold them too).
    lag: Mutex<HashMap<Uuid, usize>>,
    /// Told whenever a fold of this process commits.
    fold_ended: tokio::sync::Notify,
}

impl Folder {
    pub fn new(db: DatabaseConnection, flags: FlagSettings, background: bool) -> Arc<Self> {
        Arc::new(Self {
            db,
            flags,
            background,
            running: Mutex::default(),
            lag: Mutex::default(),
            fold_ended: tokio::sync::Notify::new(),
        })
    }

    /// Whether this database queues events (PostgreSQL) rather than folding them as it stores them.
    pub fn queues(&self) -> bool {
        self.db.get_database_backend() == DbBackend::Postgres
    }

    /// Starts the sweep that folds every project with queued events, every [`SWEEP_INTERVAL`].
    pub fn start_sweep(self: &Arc<Self>) {
        if !self.queues() || !self.background {
            return;
        }
        let folder = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(folder) = folder.upgrade() else {
                    return;
                };
                match fold_queue::projects(&folder.db).await {
                    Ok(projects) => {
                        for project_id in projects {
                            folder.poke(project_id);
                        }
                    }
                    Err(error) => tracing::warn!(%error, "reading the fold queue failed"),
                }
            }
        });
    }

    /// Notes events just queued and folds them soon; when the project's lag passes
    /// [`MAX_LAG_EVENTS`], folds unless a fold is in progress, and past [`HARD_LAG_EVENTS`] waits
    /// for folds until it is under the limit again.
    pub async fn written(
        self: &Arc<Self>,
        project_id: Uuid,
        events: usize,
    ) -> Result<(), StoreError> {
        if !self.queues() {
            return Ok(());
        }
        let lag = {
            let mut lags = lock(&self.lag);
            let lag = lags.entry(project_id).or_default();
            *lag += events;
            *lag
        };
        self.poke(project_id);
        if lag <= MAX_LAG_EVENTS || !self.background {
            return Ok(());
        }
        loop {
            // While another transaction folds the project, writers go on storing (their CPU
            // would idle waiting for it) until the lag passes the hard limit; then they wait for
            // a fold to end, here rather than on the lock in PostgreSQL (a backend per waiting
            // writer), and fold themselves only if the lag is still over the limit.
            if self.lag_of(project_id) <= MAX_LAG_EVENTS {
                return Ok(());
            }
            let folds_ended = self.fold_ended.notified();
            match self.fold_once(project_id, false).await? {
                None if self.lag_of(project_id) > HARD_LAG_EVENTS => {
                    // This process's folds say when they end; another replica's, after a while.
                    let _ = tokio::time::timeout(FOLD_LINGER, folds_ended).await;
                }
                None => return Ok(()),
                Some((0, _)) => {
                    lock(&self.lag).remove(&project_id);
                    return Ok(());
                }
                Some(_) => {}
            }
        }
    }

    /// Events this replica queued that no fold has taken yet, over every project.
    pub fn lag(&self) -> usize {
        lock(&self.lag).values().sum()
    }

    fn lag_of(&self, project_id: Uuid) -> usize {
        lock(&self.lag)
            .get(&project_id)
            .copied()
            .unwrap_or_default()
    }

    /// Takes folded events off the project's lag.
    fn folded(&self, project_id: Uuid, count: usize) {
        if let Some(lag) = lock(&self.lag).get_mut(&project_id) {
            *lag = lag.saturating_sub(count);
        }
    }

    /// Folds the project's queued events soon (after a write queued some).
    pub fn poke(self: &Arc<Self>, project_id: Uuid) {
        if !self.queues() || !self.background {
            return;
        }
        {
            let mut running = self.lock();
            if let Some(folding) = running.get_mut(&project_id) {
                folding.again = true;
                return;
            }
            running.insert(project_id, Folding::default());
        }
        let folder = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(FOLD_LINGER).await;
                if let Err(error) = folder.fold(project_id, false).await {
                    tracing::warn!(%error, %project_id, "folding failed; the next sweep tries again");
                }
                let mut running = folder.lock();
                let again = running
                    .get_mut(&project_id)
                    .is_some_and(|folding| std::mem::take(&mut folding.again));
                if !again {
                    running.remove(&project_id);
                    return;
                }
            }
        });
    }

    /// Folds every event of the project queued before the call, waiting for a fold running
    /// elsewhere: a read of the totals after it sees every event already answered.
    pub async fn catch_up(&self, project_id: Uuid) -> Result<(), StoreError> {
        if !self.queues() || !fold_queue::has_queued(&self.db, project_id).await? {
            return Ok(());
        }
        self.fold(project_id, true).await.map(|_| ())
    }

    /// Folds the project's queue until a fold finds it drained; `wait`: for the lock, else give up
    /// when another transaction holds it. Returns the events folded.
    async fn fold(&self, project_id: Uuid, wait: bool) -> Result<usize, StoreError> {
        let mut folded = 0;
        while let Some((count, more)) = self.fold_once(project_id, wait).await? {
            folded += count;
            if !more {
                break;
            }
        }
        Ok(folded)
    }

    /// One fold in its own transaction, taken off the lag: the events it folded and whether more
    /// are queued; `None` when not `wait`ing and another transaction holds the lock.
    #[tracing::instrument(name = "fold", skip(self), fields(tally.project = %project_id))]
    async fn fold_once(
        &self,
        project_id: Uuid,
        wait: bool,
    ) -> Result<Option<(usize, bool)>, StoreError> {
        let started = std::time::Instant::now();
        // A fold lost in a crash takes its queue rows' deletion with it: they are folded again.
        let txn = store::begin_unflushed(&self.db).await?;
        if wait {
            fold_queue::lock(&txn, project_id).await?;
        } else if !fold_queue::try_lock(&txn, project_id).await? {
            return Ok(None);
        }
        let (count, more) = fold_in(&txn, project_id, &self.flags).await?;
        txn.commit().await?;
        let instruments = metrics::instruments();
        instruments
            .fold_duration
            .record(started.elapsed().as_secs_f64(), &[]);
        instruments
            .folded_events
            .add(u64::try_from(count).unwrap_or(u64::MAX), &[]);
        self.folded(project_id, count);
        self.fold_ended.notify_waiters();
        Ok(Some((count, more)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Folding>> {
        lock(&self.running)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The starts of queued runs, counted at their start and attribution under the plan in force then.
async fn runs_started(
    txn: &DatabaseTransaction,
    project_id: Uuid,
    ids: &[Uuid],
) -> Result<Deltas, StoreError> {
    let mut deltas = Deltas::default();
    let runs = store::customer_writes::started_runs(txn, project_id, ids).await?;
    let customers: Vec<Uuid> = runs
        .iter()
        .map(|(customer_ref, _, _)| *customer_ref)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let plans = store::ingest::plan_periods(txn, &customers).await?;
    for (customer_ref, customer_id, run) in &runs {
        let plan = plans
            .get(customer_ref)
            .and_then(|history| plan_at(history, run.start_time));
        deltas.add_started_run(
            run.start_time,
            customer_id,
            plan.map(|period| period.plan.name.as_str()),
            &run.agent_code,
            run.user_id.as_deref(),
        );
    }
    Ok(deltas)
}

/// One fold in `txn`, which holds the project's fold lock: the oldest queued events (up to
/// [`MAX_FOLD_EVENTS`]) added to the totals and their queue rows deleted. Returns how many events
/// it folded and whether more are queued.
pub(super) async fn fold_in(
    txn: &DatabaseTransaction,
    project_id: Uuid,
    flags: &FlagSettings,
) -> Result<(usize, bool), StoreError> {
    let taken = fold_queue::take(txn, project_id, MAX_FOLD_EVENTS).await?;
    if taken.rows.is_empty() {
        return Ok((0, false));
    }
    let started = runs_started(txn, project_id, &taken.runs).await?;
    let events = store::events::load_priced(txn, project_id, &taken.events).await?;
    let priced: Vec<&PricedEvent> = events.iter().collect();
    add_to_totals(txn, project_id, &priced, started, flags).await?;
    fold_queue::remove(txn, &taken.rows).await?;
    Ok((priced.len(), taken.more))
}
