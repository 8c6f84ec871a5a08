//! Budgets of a project. Every query is scoped to the caller's project.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use super::{StoreError, entities::budgets, now};

mod check;
pub mod holds;
mod spend;
use crate::domain::{
    budget::{Enforcement, Limits, NewBudget, Scope, ScopeKind},
    money::Usd,
};
pub use check::{Applicable, CheckQuery, CheckReading, HoldAsk, check_and_hold, check_reading};
pub use spend::{SpendByKey, SpendQuery, monthly_spend_of};

/// A stored budget.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    pub id: Uuid,
    pub name: String,
    pub scope: Scope,
    pub limits: Limits,
    pub enforcement: Enforcement,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
}

/// Which budgets to list.
#[derive(Clone, Debug, Default)]
pub struct BudgetFilter {
    pub scope_kind: Option<ScopeKind>,
    pub customer_id: Option<String>,
    pub agent_code: Option<String>,
}

pub async fn insert(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    budget: &NewBudget,
) -> Result<Budget, StoreError> {
    let time = now();
    let row = budgets::ActiveModel {
        id: Set(Uuid::now_v7()),
        project_id: Set(project_id),
        name: Set(budget.name.clone()),
        scope_kind: Set(budget.scope.kind.as_str().to_owned()),
        customer_id: Set(budget.scope.customer_id.clone()),
        agent_code: Set(budget.scope.agent_code.clone()),
        monthly_limit_e10: Set(budget.limits.monthly.map(Usd::e10)),
        per_run_limit_e10: Set(budget.limits.per_run.map(Usd::e10)),
        enforcement: Set(budget.enforcement.as_str().to_owned()),
        create_time: Set(time),
        update_time: Set(time),
    };
    from_row(row.insert(db).await?)
}

pub async fn find(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    id: Uuid,
) -> Result<Option<Budget>, StoreError> {
    let row = budgets::Entity::find_by_id(id)
        .filter(budgets::Column::ProjectId.eq(project_id))
        .one(db)
        .await?;
    row.map(from_row).transpose()
}

/// Writes the name, limits and enforcement of an existing budget of the project; the scope never
/// changes. `None` when the project has no such budget.
pub async fn save(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    budget: &Budget,
) -> Result<Option<Budget>, StoreError> {
    let row = budgets::ActiveModel {
        name: Set(budget.name.clone()),
        monthly_limit_e10: Set(budget.limits.monthly.map(Usd::e10)),
        per_run_limit_e10: Set(budget.limits.per_run.map(Usd::e10)),
        enforcement: Set(budget.enforcement.as_str().to_owned()),
        update_time: Set(now()),
        ..Default::default()
    };
    budgets::Entity::update_many()
        .set(row)
        .filter(budgets::Column::Id.eq(budget.id))
        .filter(budgets::Column::ProjectId.eq(project_id))
        .exec(db)
        .await?;
    find(db, project_id, budget.id).await
}

/// Deletes a budget of the project; false when there was none.
pub async fn delete(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    id: Uuid,
) -> Result<bool, StoreError> {
    let result = budgets::Entity::delete_many()
        .filter(budgets::Column::Id.eq(id))
        .filter(budgets::Column::ProjectId.eq(project_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Budgets of the project in creation order (ids are UUIDv7), after `after` when given.
pub async fn list(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    filter: &BudgetFilter,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<Budget>, StoreError> {
    let mut query = budgets::Entity::find().filter(budgets::Column::ProjectId.eq(project_id));
    if let Some(kind) = filter.scope_kind {
        query = query.filter(budgets::Column::ScopeKind.eq(kind.as_str()));
    }
    if let Some(customer_id) = &filter.customer_id {
        query = query.filter(budgets::Column::CustomerId.eq(customer_id.as_str()));
    }
    if let Some(agent_code) = &filter.agent_code {
        query = query.filter(budgets::Column::AgentCode.eq(agent_code.as_str()));
    }
    if let Some(after) = after {
        query = query.filter(budgets::Column::Id.gt(after));
    }
    let rows = query
        .order_by_asc(budgets::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    rows.into_iter().map(from_row).collect()
}

fn from_row(row: budgets::Model) -> Result<Budget, StoreError> {
    let corrupt =
        |what: &str| StoreError::Other(DbErr::Type(format!("budget {}: bad {what}", row.id)));
    Ok(Budget {
        id: row.id,
        scope: Scope {
            kind: ScopeKind::parse(&row.scope_kind).ok_or_else(|| corrupt("scope_kind"))?,
            customer_id: row.customer_id.clone(),
            agent_code: row.agent_code.clone(),
        },
        limits: Limits {
            monthly: row.monthly_limit_e10.map(Usd::from_e10),
            per_run: row.per_run_limit_e10.map(Usd::from_e10),
        },
        enforcement: Enforcement::parse(&row.enforcement).ok_or_else(|| corrupt("enforcement"))?,
        name: row.name,
        create_time: row.create_time,
        update_time: row.update_time,
    })
}

/// Every budget of the project.
pub async fn all(db: &impl ConnectionTrait, project_id: Uuid) -> Result<Vec<Budget>, StoreError> {
    let rows = budgets::Entity::find()
        .filter(budgets::Column::ProjectId.eq(project_id))
        .order_by_asc(budgets::Column::Id)
        .all(db)
        .await?;
    rows.into_iter().map(from_row).collect()
}
