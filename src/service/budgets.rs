//! Creating, changing, deleting and listing budgets.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::{
    domain::{
        DomainError, Violations,
        budget::{BudgetChanges, NewBudget},
        hold::Hold,
        money::Usd,
        page_token::{self, PageLimits},
        tenant::Tenant,
    },
    store::{
        StoreError,
        budgets::{self as budget_store, Budget, BudgetFilter, CheckQuery},
    },
};

/// Budgets per page: 50 unless asked, at most 100.
pub const PAGE_LIMITS: PageLimits = PageLimits {
    default: 50,
    max: 100,
};

pub async fn create(
    db: &DatabaseConnection,
    tenant: Tenant,
    budget: NewBudget,
) -> Result<Budget, DomainError> {
    Ok(budget_store::insert(db, tenant.project_id, &budget).await?)
}

/// Applies the changes in one transaction, so that two concurrent updates cannot together leave a
/// budget with no limit.
pub async fn update(
    db: &DatabaseConnection,
    tenant: Tenant,
    id: Uuid,
    changes: BudgetChanges,
) -> Result<Budget, DomainError> {
    let txn = crate::store::begin_write(db).await?;
    let mut budget = budget_store::find(&txn, tenant.project_id, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let mut violations = Violations::default();
    let limits = changes
        .apply_to(budget.limits)
        .check("budget", &mut violations);
    violations.into_result()?;
    if let Some(limits) = limits {
        budget.limits = limits;
    }
    if let Some(name) = changes.name {
        budget.name = name;
    }
    if let Some(enforcement) = changes.enforcement {
        budget.enforcement = enforcement;
    }
    let budget = budget_store::save(&txn, tenant.project_id, &budget)
        .await?
        .ok_or_else(|| not_found(id))?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(budget)
}

pub async fn delete(db: &DatabaseConnection, tenant: Tenant, id: Uuid) -> Result<(), DomainError> {
    if budget_store::delete(db, tenant.project_id, id).await? {
        Ok(())
    } else {
        Err(not_found(id))
    }
}

/// One page of budgets and the token of the next (empty at the end).
pub async fn list(
    db: &DatabaseConnection,
    tenant: Tenant,
    filter: BudgetFilter,
    page_size: i32,
    page_token: &str,
) -> Result<(Vec<Budget>, String), DomainError> {
    let fingerprint = format!(
        "{:?}|{:?}|{:?}",
        filter.scope_kind, filter.customer_id, filter.agent_code
    );
    let after = page_token::decode(page_token, &fingerprint)
        .and_then(|cursor| {
            cursor
                .map(|cursor| Uuid::parse_str(&cursor))
                .transpose()
                .map_err(|_| {
                    crate::domain::FieldViolation::new(
                        "page_token",
                        "not a page token of this list",
                    )
                })
        })
        .map_err(|violation| DomainError::Invalid(vec![violation]))?;
    let size = PAGE_LIMITS.size(page_size);
    // One more than the page tells whether another page follows.
    let mut budgets = budget_store::list(db, tenant.project_id, &filter, after, size + 1).await?;
    let next = if budgets.len() as u64 > size {
        budgets.truncate(size as usize);
        budgets
            .last()
            .map(|last| page_token::encode(&last.id.to_string(), &fingerprint))
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok((budgets, next))
}

/// The spend and open holds in the month starting `month` of each budget of `wanted` with a
/// monthly limit (holds open at `now`), by id, as
/// `CheckBudget` counts them: one check reading per scope, each returning every budget that covers
/// the scope with its figures. Asked most specific first (a customer's agent's reading also
/// returns the customer's, the agent's and the project's budgets), a scope already answered is
/// not read again.
pub async fn month_figures(
    db: &DatabaseConnection,
    project_id: Uuid,
    wanted: &[Budget],
    month: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<HashMap<Uuid, (Usd, Usd)>, StoreError> {
    let monthly: Vec<&Budget> = wanted
        .iter()
        .filter(|budget| budget.limits.monthly.is_some())
        .collect();
    let mut scopes: Vec<(Option<&str>, Option<&str>)> = monthly
        .iter()
        .map(|budget| scope_of(budget))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    scopes.sort_by_key(|(customer, agent)| {
        std::cmp::Reverse(customer.is_some() as u8 + agent.is_some() as u8)
    });
    let mut figures = HashMap::with_capacity(monthly.len());
    for (customer_id, agent_code) in scopes {
        let answered = monthly
            .iter()
            .filter(|budget| scope_of(budget) == (customer_id, agent_code))
            .all(|budget| figures.contains_key(&budget.id));
        if answered {
            continue;
        }
        let query = CheckQuery {
            project_id,
            run_key: None,
            customer_id,
            agent_code,
            month_start: month,
            now,
        };
        for applicable in budget_store::check_reading(db, &query).await?.budgets {
            figures.insert(applicable.budget.id, (applicable.spent, applicable.held));
        }
    }
    figures.retain(|id, _| monthly.iter().any(|budget| budget.id == *id));
    Ok(figures)
}

fn scope_of(budget: &Budget) -> (Option<&str>, Option<&str>) {
    (
        budget.scope.customer_id.as_deref(),
        budget.scope.agent_code.as_deref(),
    )
}

fn not_found(id: Uuid) -> DomainError {
    DomainError::NotFound {
        what: "budget",
        id: id.to_string(),
    }
}

/// Releases a hold (see `store::budgets::holds::release`); `NOT_FOUND` for one the project does
/// not have.
pub async fn release_hold(
    db: &DatabaseConnection,
    tenant: Tenant,
    hold_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Hold, DomainError> {
    budget_store::holds::release(db, tenant.project_id, hold_id, now)
        .await?
        .ok_or_else(|| DomainError::NotFound {
            what: "hold",
            id: hold_id.to_string(),
        })
}
