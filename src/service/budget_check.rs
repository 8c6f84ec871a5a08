//! Whether the next step of a run may go ahead: every budget whose scope covers its customer and
//! agent, for the calendar month (UTC) and for the run. Answered from the running totals that ingest
//! keeps in the same transaction as each event, so it reads a handful of rows.

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::{
    domain::{
        DomainError, Violations,
        budget::{Limits, Standing, Window, stand},
        ledger::month_start,
        money::Usd,
    },
    store::budgets::{self, Budget, CheckReading},
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
    /// `None` for a run not started yet.
    pub start_time: Option<DateTime<Utc>>,
}

/// One limit of one budget, and where the step stands against it.
#[derive(Clone, Debug)]
pub struct Check {
    pub budget: Budget,
    /// The month's first instant, or the run's start (`None` while the run is not started).
    pub window_start: Option<DateTime<Utc>>,
    pub standing: Standing,
}

/// A step to check, as the caller names it.
#[derive(Clone, Debug)]
pub struct Step {
    pub run_id: Option<String>,
    pub customer_id: Option<String>,
    pub agent_code: Option<String>,
    /// Estimated cost of the step.
    pub estimate: Usd,
}

/// Every applicable limit for `step` at `now`, denying ones first. The run, the budgets and their
/// month's spend come from one statement (see `check_reading`).
pub async fn check_step(
    db: &DatabaseConnection,
    project_id: Uuid,
    step: &Step,
    now: DateTime<Utc>,
) -> Result<Vec<Check>, DomainError> {
    let month = month_start(now);
    let CheckReading { run, budgets } = budgets::check_reading(
        db,
        project_id,
        step.run_id.as_deref(),
        step.customer_id.as_deref(),
        step.agent_code.as_deref(),
        month,
    )
    .await?;
    let subject = match &run {
        Some(brief) => {
            let mut violations = Violations::default();
            if step
                .customer_id
                .as_ref()
                .is_some_and(|id| *id != brief.customer_id)
            {
                violations.add(
                    "customer_id",
                    format!("differs from the run's customer {:?}", brief.customer_id),
                );
            }
            if step
                .agent_code
                .as_ref()
                .is_some_and(|code| *code != brief.agent_code)
            {
                violations.add(
                    "agent_code",
                    format!("differs from the run's agent {:?}", brief.agent_code),
                );
            }
            violations.into_result()?;
            Subject {
                customer_id: &brief.customer_id,
                agent_code: &brief.agent_code,
                run: Some(RunSpend {
                    spent: brief.total_cost,
                    start_time: Some(brief.start_time),
                }),
            }
        }
        None => {
            let (Some(customer_id), Some(agent_code)) = (&step.customer_id, &step.agent_code)
            else {
                return Err(missing_subject(step));
            };
            Subject {
                customer_id,
                agent_code,
                // A run not started yet has spent nothing, and its window has no start yet.
                run: step.run_id.is_some().then_some(RunSpend {
                    spent: Usd::ZERO,
                    start_time: None,
                }),
            }
        }
    };
    let budgets = budgets.iter().map(|(budget, spent)| (budget, *spent));
    Ok(evaluate_with(budgets, &subject, step.estimate, month))
}

/// The error of a step whose customer and agent are unknown: an unknown run without them, or
/// nothing named at all.
fn missing_subject(step: &Step) -> DomainError {
    match &step.run_id {
        Some(run_id) => DomainError::NotFound {
            what: "run",
            id: format!(
                "{run_id} (give customer_id and agent_code to check a run not started yet)"
            ),
        },
        None => {
            let mut violations = Violations::default();
            violations.add(
                "run_id",
                "give a run_id, or a customer_id and an agent_code",
            );
            violations.into_result().expect_err("a violation")
        }
    }
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
    let with_spend = budgets.iter().map(|budget| {
        let (customer, agent) = budget.scope.spend_key();
        let spent = monthly
            .get(&(customer.to_owned(), agent.to_owned()))
            .copied()
            .unwrap_or(Usd::ZERO);
        (budget, spent)
    });
    evaluate_with(with_spend, subject, estimate, month)
}

/// Where a step stands against each budget that covers it, each given with its scope's spend in
/// the month; denying entries first.
pub fn evaluate_with<'b>(
    budgets: impl IntoIterator<Item = (&'b Budget, Usd)>,
    subject: &Subject<'_>,
    estimate: Usd,
    month: DateTime<Utc>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    for (budget, month_spent) in budgets {
        if !budget.scope.covers(subject.customer_id, subject.agent_code) {
            continue;
        }
        let Limits {
            monthly: monthly_limit,
            per_run,
        } = budget.limits;
        if let Some(limit) = monthly_limit {
            let standing = stand(
                Window::Month,
                limit,
                month_spent,
                estimate,
                budget.enforcement,
            );
            checks.push(Check {
                budget: budget.clone(),
                window_start: Some(month),
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
