//! The watcher: every interval, the month's spend of each budget with a monthly limit, in the
//! projects that have a webhook, against the thresholds; each threshold reached is recorded as an
//! alert with its deliveries. Replicas watching at once record each alert once (the unique key).

use std::{collections::HashSet, sync::Arc};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use tokio::sync::{Notify, watch};
use uuid::Uuid;

use super::{AlertSettings, alert_of, record};
use crate::{
    domain::{
        budget_alert::{AlertKind, THRESHOLD_PERCENTS, thresholds_reached},
        ledger::month_start,
    },
    health::DatabaseReady,
    store::{self, StoreError},
};

/// Watches until `stop`, while the database answers (`ready`); tells `recorded` after a pass
/// that recorded alerts.
pub(super) async fn run(
    db: DatabaseConnection,
    settings: AlertSettings,
    recorded: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
    ready: DatabaseReady,
) {
    let mut seen = Seen::default();
    loop {
        tokio::select! {
            () = tokio::time::sleep(settings.interval) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        if !ready.get() {
            continue;
        }
        match watch_once(&db, &mut seen, store::now()).await {
            Ok(0) => {}
            Ok(_) => recorded.notify_one(),
            Err(error) => tracing::warn!(%error, "watching budget thresholds failed"),
        }
    }
}

/// The alerts of the current month this process knows are recorded (by it or another replica),
/// so that a budget past all its thresholds costs no reading.
#[derive(Default)]
struct Seen {
    month: Option<DateTime<Utc>>,
    alerts: HashSet<(Uuid, AlertKind)>,
}

impl Seen {
    fn start_month(&mut self, month: DateTime<Utc>) {
        if self.month != Some(month) {
            self.month = Some(month);
            self.alerts.clear();
        }
    }

    fn all_reached(&self, budget_id: Uuid) -> bool {
        THRESHOLD_PERCENTS.iter().all(|percent| {
            self.alerts
                .contains(&(budget_id, AlertKind::Threshold(*percent)))
        })
    }
}

/// One pass over every watched budget; returns how many alerts it recorded.
async fn watch_once(
    db: &DatabaseConnection,
    seen: &mut Seen,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let month = month_start(now);
    seen.start_month(month);
    let mut recorded = 0;
    for project_id in store::webhooks::projects_with_webhooks(db).await? {
        let budgets: Vec<_> = store::budgets::all(db, project_id)
            .await?
            .into_iter()
            .filter(|budget| budget.limits.monthly.is_some() && !seen.all_reached(budget.id))
            .collect();
        if budgets.is_empty() {
            continue;
        }
        let figures =
            crate::service::budgets::month_figures(db, project_id, &budgets, month, now).await?;
        for budget in &budgets {
            let (Some(limit), Some((spent, _held))) =
                (budget.limits.monthly, figures.get(&budget.id))
            else {
                continue;
            };
            for percent in thresholds_reached(limit, *spent) {
                let kind = AlertKind::Threshold(percent);
                if seen.alerts.contains(&(budget.id, kind)) {
                    continue;
                }
                let alert = alert_of(project_id, budget, month, kind, *spent);
                if record(db, &alert).await? {
                    recorded += 1;
                }
                seen.alerts.insert((budget.id, kind));
            }
        }
    }
    Ok(recorded)
}
