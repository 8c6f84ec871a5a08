//! Creating, changing, deleting and listing budgets.

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::{
    domain::{
        DomainError, Violations,
        budget::{BudgetChanges, NewBudget},
        page_token::{self, PageLimits},
        tenant::Tenant,
    },
    store::{
        StoreError,
        budgets::{self as budget_store, Budget, BudgetFilter},
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

fn not_found(id: Uuid) -> DomainError {
    DomainError::NotFound {
        what: "budget",
        id: id.to_string(),
    }
}
