//! Whether the next step of a run may go ahead: every budget whose scope covers its customer and
//! agent, for the calendar month (UTC) and for the run, counting open holds as spent; and placing
//! a hold for the step when asked. Answered from the running totals, the queued tail and the open
//! holds, so it reads a handful of rows.

use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::budget_alerts;
use crate::{
    domain::{
        DomainError, Violations,
        budget::{Limits, Standing, Window, stand},
        hold::Hold,
        ledger::month_start,
        money::Usd,
    },
    store::budgets::{self, Budget, CheckQuery, CheckReading, HoldAsk},
    telemetry::metrics,
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
    /// What its open holds set aside.
    pub held: Usd,
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

/// What a check answers: every applicable limit, denying ones first, and the hold placed.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub checks: Vec<Check>,
    pub hold: Option<Hold>,
}

impl Verdict {
    pub fn allowed(&self) -> bool {
        allows(&self.checks)
    }
}

fn allows(checks: &[Check]) -> bool {
    !checks.iter().any(|check| check.standing.denies)
}

/// Every applicable limit for `step` at `now`, denying ones first, and with `hold` (its time to
/// live) the hold placed when the step is allowed. The run, the budgets, their month's spend and
/// the open holds come from one statement (see `store::budgets::check_reading`), and so does
/// placing a hold on PostgreSQL (`check_and_hold`).
pub async fn check_step(
    db: &DatabaseConnection,
    project_id: Uuid,
    step: &Step,
    hold: Option<TimeDelta>,
    now: DateTime<Utc>,
) -> Result<Verdict, DomainError> {
    let month = month_start(now);
    let query = CheckQuery {
        project_id,
        run_key: step.run_id.as_deref(),
        customer_id: step.customer_id.as_deref(),
        agent_code: step.agent_code.as_deref(),
        month_start: month,
        now,
    };
    let Some(ttl) = hold else {
        let reading = budgets::check_reading(db, &query).await?;
        let checks = evaluate_reading(&reading, step, month)?;
        metrics::budget_checked(allows(&checks), false);
        tell_denials(db, project_id, &checks, now).await;
        return Ok(Verdict { checks, hold: None });
    };
    let ask = HoldAsk {
        id: Uuid::now_v7(),
        amount: step.estimate,
        expire_time: now + ttl,
    };
    let reading = budgets::check_and_hold(db, &query, &ask, |reading| {
        evaluate_reading(reading, step, month).is_ok_and(|checks| allows(&checks))
    })
    .await?;
    let checks = evaluate_reading(&reading, step, month)?;
    let hold = reading.placed.then(|| {
        let (customer_id, agent_code) = match &reading.run {
            Some(run) => (run.customer_id.clone(), run.agent_code.clone()),
            None => (
                step.customer_id.clone().unwrap_or_default(),
                step.agent_code.clone().unwrap_or_default(),
            ),
        };
        Hold {
            id: ask.id,
            customer_id,
            agent_code,
            run_key: step.run_id.clone(),
            amount: ask.amount,
            month_start: month,
            create_time: now,
            expire_time: ask.expire_time,
            ended: None,
            event_id: None,
            settled_cost: None,
        }
    });
    metrics::budget_checked(allows(&checks), true);
    tell_denials(db, project_id, &checks, now).await;
    Ok(Verdict { checks, hold })
}

/// Records the first denial of each BLOCK budget in the month for the project's webhooks (a no-op
/// once this process has recorded it). A failure to record does not fail the check: the next
/// denial records it.
async fn tell_denials(
    db: &DatabaseConnection,
    project_id: Uuid,
    checks: &[Check],
    now: DateTime<Utc>,
) {
    let denied: Vec<(Uuid, DateTime<Utc>)> = checks
        .iter()
        .filter(|check| check.standing.denies)
        .map(|check| (check.budget.id, now))
        .collect();
    if denied.is_empty() {
        return;
    }
    if let Err(error) = budget_alerts::record_denials(db, project_id, &denied).await {
        tracing::warn!(%error, "could not record a budget's denial for its webhooks");
    }
}

/// The checks of a reading: the run's customer and agent must match the given ones, and without
/// a run both must be given.
fn evaluate_reading(
    reading: &CheckReading,
    step: &Step,
    month: DateTime<Utc>,
) -> Result<Vec<Check>, DomainError> {
    let subject = match &reading.run {
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
                    held: reading.run_held,
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
                // A run not started yet has spent nothing (it may hold already), and its window
                // has no start yet.
                run: step.run_id.is_some().then_some(RunSpend {
                    spent: Usd::ZERO,
                    held: reading.run_held,
                    start_time: None,
                }),
            }
        }
    };
    let budgets = reading
        .budgets
        .iter()
        .map(|applicable| (&applicable.budget, applicable.spent, applicable.held));
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
        (budget, spent, Usd::ZERO)
    });
    evaluate_with(with_spend, subject, estimate, month)
}

/// Where a step stands against each budget that covers it, each given with its scope's spend and
/// open holds in the month; denying entries first.
pub fn evaluate_with<'b>(
    budgets: impl IntoIterator<Item = (&'b Budget, Usd, Usd)>,
    subject: &Subject<'_>,
    estimate: Usd,
    month: DateTime<Utc>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    for (budget, month_spent, month_held) in budgets {
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
                month_held,
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
            let standing = stand(
                Window::Run,
                limit,
                run.spent,
                run.held,
                estimate,
                budget.enforcement,
            );
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
