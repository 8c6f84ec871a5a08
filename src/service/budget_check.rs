//! Whether the next step of a run may go ahead: every budget whose scope covers its customer and
//! agent, for the calendar month (UTC) and for the run. Answered from the running totals that ingest
//! keeps in the same transaction as each event, so it reads a handful of rows.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::{
    domain::{
        budget::{Limits, Standing, Window, stand},
        ledger::month_start,
        money::Usd,
    },
    store::{
        StoreError,
        budgets::{self, Budget},
    },
};

/// What is being checked: the customer and agent of the step, and its run when it has one.
#[derive(Clone, Debug)]
pub struct Subject<'a> {
    pub customer_id: &'a str,
    pub agent_code: &'a str,
    /// The run's spend so far and its start; `None` checks no per-run limit.
    pub run: Option<RunSpend>,
}

/// A run's spend so far.
#[derive(Clone, Copy, Debug)]
pub struct RunSpend {
    pub spent: Usd,
    pub start_time: DateTime<Utc>,
}

/// One limit of one budget, and where the step stands against it.
#[derive(Clone, Debug)]
pub struct Check {
    pub budget: Budget,
    pub window_start: DateTime<Utc>,
    pub standing: Standing,
}

/// Every applicable limit for a step of `estimate` at `now`, denying ones first.
pub async fn check(
    db: &impl ConnectionTrait,
    project_id: Uuid,
    subject: &Subject<'_>,
    estimate: Usd,
    now: DateTime<Utc>,
) -> Result<Vec<Check>, StoreError> {
    let budgets =
        budgets::applicable(db, project_id, subject.customer_id, subject.agent_code).await?;
    if budgets.is_empty() {
        return Ok(Vec::new());
    }
    let month = month_start(now);
    let monthly = if budgets.iter().any(|budget| budget.limits.monthly.is_some()) {
        budgets::monthly_spend(
            db,
            project_id,
            month,
            subject.customer_id,
            subject.agent_code,
        )
        .await?
    } else {
        HashMap::new()
    };
    Ok(evaluate(&budgets, &monthly, subject, estimate, month))
}

/// Where a step stands against each budget that covers it, given the month's spend by key
/// (`monthly_spend`'s keys, `''` for all); denying entries first.
pub fn evaluate(
    budgets: &[Budget],
    monthly: &budgets::SpendByKey,
    subject: &Subject<'_>,
    estimate: Usd,
    month: DateTime<Utc>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    for budget in budgets
        .iter()
        .filter(|budget| budget.scope.covers(subject.customer_id, subject.agent_code))
    {
        let Limits {
            monthly: monthly_limit,
            per_run,
        } = budget.limits;
        if let Some(limit) = monthly_limit {
            let (customer, agent) = budget.scope.spend_key();
            let spent = monthly
                .get(&(customer.to_owned(), agent.to_owned()))
                .copied()
                .unwrap_or(Usd::ZERO);
            let standing = stand(Window::Month, limit, spent, estimate, budget.enforcement);
            checks.push(Check {
                budget: budget.clone(),
                window_start: month,
                standing,
            });
        }
        if let (Some(limit), Some(run)) = (per_run, subject.run) {
            let standing = stand(Window::Run, limit, run.spent, estimate, budget.enforcement);
            checks.push(Check {
                budget: budget.clone(),
                window_start: run.start_time,
                standing,
            });
        }
    }
    checks.sort_by_key(|check| !check.standing.denies);
    checks
}
