//! Budget alerts delivered to webhooks: each server process runs a watcher, which records the
//! thresholds budgets reach (`watch`), and a delivery worker, which posts recorded alerts to the
//! project's webhooks until they answer 2xx (`deliver`). `CheckBudget` records a BLOCK budget's
//! first denial of a month through [`record_denials`].
//!
//! Everything lives in the database: an alert and its deliveries are inserted in one transaction
//! (an outbox), each alert once per budget and month by a unique key, so that any number of
//! replicas may watch and deliver at once, and a restart loses nothing.

mod deliver;
mod watch;

use std::{
    collections::HashSet,
    sync::{Arc, LazyLock, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use tokio::{sync::Notify, task::JoinHandle};
use uuid::Uuid;

use crate::{
    domain::{
        DomainError,
        budget_alert::{Alert, AlertKind, AlertedBudget},
        ledger::month_start,
        money::Usd,
        webhook::RetryPolicy,
    },
    health::DatabaseReady,
    store::{
        self, StoreError,
        budgets::Budget,
        webhooks::{self as webhook_store, NewAlert, NewDelivery},
    },
};

/// How the watcher and the delivery worker run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertSettings {
    /// How often budgets are checked against their thresholds and due deliveries looked for.
    pub interval: Duration,
    /// How long one request to a webhook may take, connection included.
    pub timeout: Duration,
    /// When a delivery that got no 2xx answer is tried again, and when it is given up.
    pub retry: RetryPolicy,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
        }
    }
}

/// The watcher and the delivery worker of this process.
pub struct AlertTasks {
    db: DatabaseConnection,
    settings: AlertSettings,
    client: reqwest::Client,
    /// Told when the watcher recorded alerts, so that they go out without waiting for a poll.
    recorded: Arc<Notify>,
    running: Mutex<Vec<JoinHandle<()>>>,
}

impl AlertTasks {
    /// Prepares the tasks (and the HTTP client: a TLS setup that fails, fails here, at start).
    pub fn new(db: DatabaseConnection, settings: AlertSettings) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            client: deliver::client(&settings)?,
            db,
            settings,
            recorded: Arc::new(Notify::new()),
            running: Mutex::default(),
        }))
    }

    /// Starts watching and delivering, once the schema is in place; both pause while `ready` says
    /// the database is down, and stop when `stop` turns true (or its sender goes away). A
    /// delivery being sent then is finished and recorded.
    pub fn start(&self, stop: tokio::sync::watch::Receiver<bool>, ready: DatabaseReady) {
        let watcher = tokio::spawn(watch::run(
            self.db.clone(),
            self.settings,
            self.recorded.clone(),
            stop.clone(),
            ready.clone(),
        ));
        let worker = tokio::spawn(deliver::run(
            self.db.clone(),
            self.client.clone(),
            self.settings,
            self.recorded.clone(),
            stop,
            ready,
        ));
        lock(&self.running).extend([watcher, worker]);
    }

    /// Waits until the tasks have stopped (after `stop`), at most `grace`: the sends in flight are
    /// bounded by the request timeout, and their outcome is written before the pool closes.
    pub async fn stopped(&self, grace: Duration) {
        let running: Vec<JoinHandle<()>> = lock(&self.running).drain(..).collect();
        let all = async {
            for task in running {
                let _ = task.await;
            }
        };
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!(
                "budget alert tasks still running at shutdown; a delivery in flight will be sent again"
            );
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Records `alert` and a delivery of it to each webhook its project has now, in one transaction.
/// False when the same budget, month and kind was recorded before (by any replica): nothing is
/// written then.
async fn record(db: &DatabaseConnection, alert: &Alert) -> Result<bool, StoreError> {
    let txn = store::begin_write(db).await?;
    let new = NewAlert {
        id: alert.id,
        project_id: alert.project_id,
        budget_id: alert.budget.id,
        month_start: alert.month_start,
        kind: alert.kind,
        limit: alert.budget.limits.monthly,
        spent: alert.spent,
        create_time: alert.create_time,
    };
    if !webhook_store::insert_alert(&txn, &new).await? {
        return Ok(false);
    }
    let deliveries = webhook_store::ids_of(&txn, alert.project_id)
        .await?
        .into_iter()
        .map(|webhook_id| {
            let id = Uuid::now_v7();
            NewDelivery {
                id,
                project_id: alert.project_id,
                webhook_id,
                alert_id: alert.id,
                payload: alert.payload(id),
                create_time: alert.create_time,
            }
        })
        .collect();
    webhook_store::insert_deliveries(&txn, deliveries).await?;
    txn.commit().await?;
    tracing::info!(
        budget = %alert.budget.id,
        kind = alert.kind.event_type(),
        percent = alert.kind.threshold_percent(),
        "budget alert recorded"
    );
    Ok(true)
}

/// The alert of `kind` about `budget` in the month starting `month`, at `spent`.
fn alert_of(
    project_id: Uuid,
    budget: &Budget,
    month: DateTime<Utc>,
    kind: AlertKind,
    spent: Usd,
) -> Alert {
    Alert {
        id: Uuid::now_v7(),
        project_id,
        budget: AlertedBudget {
            id: budget.id,
            name: budget.name.clone(),
            scope: budget.scope.clone(),
            limits: budget.limits,
            enforcement: budget.enforcement,
        },
        month_start: month,
        kind,
        spent,
        create_time: store::now(),
    }
}

/// Budgets and months whose denial this process has recorded (or found recorded): a denial
/// repeated on every check writes nothing. Cleared when it grows past [`MAX_REMEMBERED_DENIALS`]
/// (the database still records each once).
static RECORDED_DENIALS: LazyLock<Mutex<HashSet<DenialKey>>> = LazyLock::new(Mutex::default);
/// A budget and the first instant of a month.
type DenialKey = (Uuid, DateTime<Utc>);
const MAX_REMEMBERED_DENIALS: usize = 100_000;

/// Records that these BLOCK budgets of the project denied a step in the months starting at the
/// given times: the first denial of each budget and month becomes a `budget.denied` alert for
/// the project's webhooks. Cheap when already recorded by this process (no database call).
pub async fn record_denials(
    db: &DatabaseConnection,
    project_id: Uuid,
    denied: &[(Uuid, DateTime<Utc>)],
) -> Result<(), DomainError> {
    let fresh: Vec<DenialKey> = {
        let recorded = lock(&RECORDED_DENIALS);
        denied
            .iter()
            .map(|(budget_id, month)| (*budget_id, month_start(*month)))
            .filter(|key| !recorded.contains(key))
            .collect()
    };
    for (budget_id, month) in fresh {
        let Some(budget) = store::budgets::find(db, project_id, budget_id).await? else {
            // Deleted since the check: nothing left to tell of.
            continue;
        };
        let spent = crate::service::budgets::month_figures(
            db,
            project_id,
            std::slice::from_ref(&budget),
            month,
            store::now(),
        )
        .await?
        .get(&budget_id)
        .map_or(Usd::ZERO, |(spent, _held)| *spent);
        let alert = alert_of(project_id, &budget, month, AlertKind::Denied, spent);
        record(db, &alert).await?;
        let mut recorded = lock(&RECORDED_DENIALS);
        if recorded.len() >= MAX_REMEMBERED_DENIALS {
            recorded.clear();
        }
        recorded.insert((budget_id, month));
    }
    Ok(())
}
