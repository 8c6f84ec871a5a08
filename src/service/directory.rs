//! The directory of a project: reading customers, agents and signals, and changing a customer's
//! names or plan. A plan started at a past time moves the customer's events and runs of the span
//! it covers to the new plan, totals included, in one transaction (`plan_moves`, shared with
//! ingest and `StartRun`).

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use uuid::Uuid;

use super::plan_moves::{HistoryChange, move_stored};
use crate::{
    domain::{
        DomainError,
        customer::{CustomerChanges, name_matches},
        ledger::Deltas,
        page_token::{self, PageLimits},
        plan::{PlanPeriod, plan_at, start_plan},
        tenant::Tenant,
    },
    store::{
        self, StoreError, customer_writes,
        directory::{self as directory_store, AgentRecord, CustomerRow, Seen, SignalRecord},
        ingest as writes,
        totals::apply_deltas,
    },
};

/// Customers, agents and signals per page: 50 unless asked, at most 100.
pub const PAGE_LIMITS: PageLimits = PageLimits {
    default: 50,
    max: 100,
};

/// Customers read per query while a name filter skips rows.
const SCAN_CHUNK: u64 = 500;

/// A customer as the directory shows it, read at `now`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerView {
    pub row: CustomerRow,
    /// Oldest first.
    pub history: Vec<PlanPeriod>,
    pub seen: Seen,
    pub now: DateTime<Utc>,
}

impl CustomerView {
    /// The plan period in force at the time of reading.
    pub fn current(&self) -> Option<&PlanPeriod> {
        plan_at(&self.history, self.now)
    }
}

/// Which customers to list.
#[derive(Clone, Debug, Default)]
pub struct CustomerFilter {
    pub plan_name: Option<String>,
    pub name_prefix: Option<String>,
}

impl CustomerFilter {
    fn fingerprint(&self) -> String {
        format!("{:?}|{:?}", self.plan_name, self.name_prefix)
    }

    fn matches(&self, row: &CustomerRow) -> bool {
        let Some(prefix) = &self.name_prefix else {
            return true;
        };
        row.display_name
            .iter()
            .chain(&row.aliases)
            .any(|name| name_matches(name, prefix))
    }
}

async fn views(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    rows: Vec<CustomerRow>,
    now: DateTime<Utc>,
) -> Result<Vec<CustomerView>, StoreError> {
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    let mut histories = writes::plan_periods(db, &ids).await?;
    let seen = directory_store::customers_seen(db, project_id, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| CustomerView {
            history: shown_history(histories.remove(&row.id).unwrap_or_default()),
            seen: seen.get(&row.id).copied().unwrap_or_default(),
            row,
            now,
        })
        .collect())
}

/// A plan history as shown: a period that repeats the plan before it changes nothing and is left
/// out. Writers delete such repeats, but two writers starting the same plan at once can leave one,
/// as can databases written before they did.
fn shown_history(mut history: Vec<PlanPeriod>) -> Vec<PlanPeriod> {
    history.dedup_by(|later, earlier| later.plan == earlier.plan);
    history
}

fn not_found(customer_id: &str) -> DomainError {
    DomainError::NotFound {
        what: "customer",
        id: customer_id.to_owned(),
    }
}

pub async fn get(
    db: &DatabaseConnection,
    tenant: Tenant,
    customer_id: &str,
) -> Result<CustomerView, DomainError> {
    let row = directory_store::find_customer(db, tenant.project_id, customer_id)
        .await?
        .ok_or_else(|| not_found(customer_id))?;
    let mut views = views(db, tenant.project_id, vec![row], store::now()).await?;
    views.pop().ok_or_else(|| not_found(customer_id))
}

fn cursor(page_token: &str, fingerprint: &str) -> Result<Option<String>, DomainError> {
    page_token::decode(page_token, fingerprint)
        .map_err(|violation| DomainError::Invalid(vec![violation]))
}

/// The page of `items` (one more than `size` was read) and the token after its last one.
fn page<T>(
    mut items: Vec<T>,
    size: u64,
    fingerprint: &str,
    key: impl Fn(&T) -> &str,
) -> (Vec<T>, String) {
    if items.len() as u64 > size {
        items.truncate(size as usize);
        let next = items
            .last()
            .map(|last| page_token::encode(key(last), fingerprint))
            .unwrap_or_default();
        (items, next)
    } else {
        (items, String::new())
    }
}

/// One page of customers in customer id order and the token of the next (empty at the end).
pub async fn list(
    db: &DatabaseConnection,
    tenant: Tenant,
    filter: CustomerFilter,
    page_size: i32,
    page_token: &str,
) -> Result<(Vec<CustomerView>, String), DomainError> {
    let fingerprint = filter.fingerprint();
    let mut after = cursor(page_token, &fingerprint)?;
    let size = PAGE_LIMITS.size(page_size);
    let now = store::now();
    // The name filter is applied here (Unicode case folding, the same on both databases), over
    // chunks read in order until the page and one more are found.
    let chunk_size = match filter.name_prefix {
        Some(_) => SCAN_CHUNK.max(size + 1),
        None => size + 1,
    };
    let mut rows = Vec::new();
    loop {
        let chunk = directory_store::customers_after(
            db,
            tenant.project_id,
            filter.plan_name.as_deref(),
            now,
            after.as_deref(),
            chunk_size,
        )
        .await?;
        let exhausted = (chunk.len() as u64) < chunk_size;
        after = chunk.last().map(|row| row.customer_id.clone());
        rows.extend(chunk.into_iter().filter(|row| filter.matches(row)));
        if exhausted || rows.len() as u64 > size {
            break;
        }
    }
    rows.truncate(size as usize + 1);
    let (rows, next) = page(rows, size, &fingerprint, |row| row.customer_id.as_str());
    Ok((views(db, tenant.project_id, rows, now).await?, next))
}

pub async fn list_agents(
    db: &DatabaseConnection,
    tenant: Tenant,
    page_size: i32,
    page_token: &str,
) -> Result<(Vec<AgentRecord>, String), DomainError> {
    let after = cursor(page_token, "agents")?;
    let size = PAGE_LIMITS.size(page_size);
    let agents =
        directory_store::agents_after(db, tenant.project_id, after.as_deref(), size + 1).await?;
    Ok(page(agents, size, "agents", |agent| {
        agent.agent_code.as_str()
    }))
}

pub async fn list_signals(
    db: &DatabaseConnection,
    tenant: Tenant,
    page_size: i32,
    page_token: &str,
) -> Result<(Vec<SignalRecord>, String), DomainError> {
    let after = cursor(page_token, "signals")?;
    let size = PAGE_LIMITS.size(page_size);
    let signals =
        directory_store::signals_after(db, tenant.project_id, after.as_deref(), size + 1).await?;
    Ok(page(signals, size, "signals", |signal| {
        signal.signal_name.as_str()
    }))
}

/// Changes a customer's names and plan in one transaction; a new plan re-attributes the events and
/// runs of the span it covers (`plan_moves`, as a record carrying a back-dated plan does).
pub async fn update(
    db: &DatabaseConnection,
    tenant: Tenant,
    changes: CustomerChanges,
) -> Result<CustomerView, DomainError> {
    let project_id = tenant.project_id;
    let now = store::now();
    let txn = store::begin_write(db).await?;
    let customer_ref =
        match directory_store::find_customer(&txn, project_id, &changes.customer_id).await? {
            Some(row) => row.id,
            None if changes.allow_missing => {
                let seen = BTreeMap::from([(
                    changes.customer_id.clone(),
                    writes::Seen {
                        display_name: changes.display_name.clone().flatten(),
                        ..writes::Seen::at(now)
                    },
                )]);
                let ids = writes::upsert_customers(&txn, project_id, &seen, now)
                    .await?
                    .ids;
                ids.get(&changes.customer_id)
                    .copied()
                    .ok_or_else(|| not_found(&changes.customer_id))?
            }
            None => return Err(not_found(&changes.customer_id)),
        };
    customer_writes::update_names(
        &txn,
        project_id,
        customer_ref,
        changes.display_name.clone(),
        changes.aliases.as_deref(),
    )
    .await?;
    if let Some(plan) = &changes.plan {
        let before = writes::plan_periods(&txn, &[customer_ref])
            .await?
            .remove(&customer_ref)
            .unwrap_or_default();
        let at = changes.plan_start_time.unwrap_or(now);
        let mut after = before.clone();
        if let Some(period) = start_plan(&mut after, plan, at) {
            let change = HistoryChange {
                customer_ref,
                customer_id: &changes.customer_id,
                before: &before,
                after: &after,
            };
            let mut deltas = Deltas::default();
            move_stored(&txn, project_id, &change, &HashSet::new(), &mut deltas).await?;
            deltas.prune();
            apply_deltas(&txn, project_id, &deltas).await?;
            writes::insert_plan_periods(&txn, project_id, &[(customer_ref, period)], now).await?;
        }
    }
    let row = directory_store::find_customer(&txn, project_id, &changes.customer_id)
        .await?
        .ok_or_else(|| not_found(&changes.customer_id))?;
    let view = views(&txn, project_id, vec![row], now).await?.pop();
    txn.commit().await.map_err(StoreError::from)?;
    view.ok_or_else(|| not_found(&changes.customer_id))
}
