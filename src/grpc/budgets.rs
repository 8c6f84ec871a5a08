//! The `tally.v1.Budgets` service: budget management and `CheckBudget`, the check an agent makes
//! before each step.

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use super::{
    convert::{duration, enum_value, id, timestamp},
    status::tenant,
};
use crate::{
    domain::{
        DomainError, FieldViolation, Violations,
        budget::{
            BudgetChanges, Enforcement, Limits, NewBudget, Scope, ScopeKind, Window, optional_limit,
        },
        error::quote,
        hold::{self, Hold, State},
        ledger::month_start,
        money::Usd,
        text,
    },
    pb::{self, budgets_server::Budgets},
    service::{
        budget_check::{self, Check, Step},
        budgets as service,
    },
    store::{
        self,
        budgets::{Budget, BudgetFilter},
    },
};

/// Adapter from the `Budgets` contract to the budget service.
pub struct BudgetsApi {
    db: DatabaseConnection,
}

impl BudgetsApi {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[tonic::async_trait]
impl Budgets for BudgetsApi {
    #[tracing::instrument(skip_all)]
    async fn create_budget(
        &self,
        request: Request<pb::CreateBudgetRequest>,
    ) -> Result<Response<pb::CreateBudgetResponse>, Status> {
        let tenant = tenant(&request)?;
        let budget = new_budget(request.into_inner())?;
        let budget = service::create(&self.db, tenant, budget).await?;
        Ok(Response::new(pb::CreateBudgetResponse {
            budget: Some(to_proto(budget)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_budget(
        &self,
        request: Request<pb::UpdateBudgetRequest>,
    ) -> Result<Response<pb::UpdateBudgetResponse>, Status> {
        let tenant = tenant(&request)?;
        let (budget_id, changes) = budget_changes(request.into_inner())?;
        let budget = service::update(&self.db, tenant, budget_id, changes).await?;
        Ok(Response::new(pb::UpdateBudgetResponse {
            budget: Some(to_proto(budget)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn delete_budget(
        &self,
        request: Request<pb::DeleteBudgetRequest>,
    ) -> Result<Response<pb::DeleteBudgetResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::DeleteBudgetRequest { budget_id } = request.into_inner();
        let budget_id =
            id(&budget_id, "budget_id", "budget").map_err(|v| DomainError::Invalid(vec![v]))?;
        service::delete(&self.db, tenant, budget_id).await?;
        Ok(Response::new(pb::DeleteBudgetResponse {}))
    }

    #[tracing::instrument(skip_all)]
    async fn check_budget(
        &self,
        request: Request<pb::CheckBudgetRequest>,
    ) -> Result<Response<pb::CheckBudgetResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::CheckBudgetRequest {
            run_id,
            customer_id,
            agent_code,
            estimated_cost_usd,
            hold,
            hold_ttl,
        } = request.into_inner();
        let mut violations = Violations::default();
        let estimate = optional_limit(&estimated_cost_usd, "estimated_cost_usd", &mut violations);
        let estimate_read = estimate.is_some();
        let estimate = estimate.flatten().unwrap_or(Usd::ZERO);
        let sent_ttl = hold_ttl.is_some();
        let ttl = hold_ttl.and_then(|ttl| violations.check(duration(&ttl, "hold_ttl")));
        let hold = if hold {
            if estimate_read && estimate == Usd::ZERO {
                violations.add("estimated_cost_usd", "required with hold: more than 0");
            }
            violations.check(hold::ttl(ttl).map_err(|why| FieldViolation::new("hold_ttl", why)))
        } else {
            if sent_ttl {
                violations.add("hold_ttl", "set only with hold");
            }
            None
        };
        let mut given =
            |value: String, field: &str| violations.check(text::filter(value, field)).flatten();
        let step = Step {
            run_id: given(run_id, "run_id"),
            customer_id: given(customer_id, "customer_id"),
            agent_code: given(agent_code, "agent_code"),
            estimate,
        };
        violations.into_result()?;
        if hold.is_some() && !tenant.key_kind.can_write() {
            return Err(Status::permission_denied(
                "a publishable key can only read; use a secret key (sk_…) to place a hold",
            ));
        }
        let now = store::now();
        let verdict =
            budget_check::check_step(&self.db, tenant.project_id, &step, hold, now).await?;
        Ok(Response::new(pb::CheckBudgetResponse {
            allowed: verdict.allowed(),
            hold: verdict.hold.map(|hold| hold_message(hold, now)),
            checks: verdict.checks.into_iter().map(check_message).collect(),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn release_hold(
        &self,
        request: Request<pb::ReleaseHoldRequest>,
    ) -> Result<Response<pb::ReleaseHoldResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::ReleaseHoldRequest { hold_id } = request.into_inner();
        let hold_id = id(&hold_id, "hold_id", "hold").map_err(|v| DomainError::Invalid(vec![v]))?;
        let now = store::now();
        let hold = service::release_hold(&self.db, tenant, hold_id, now).await?;
        Ok(Response::new(pb::ReleaseHoldResponse {
            hold: Some(hold_message(hold, now)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_budgets(
        &self,
        request: Request<pb::ListBudgetsRequest>,
    ) -> Result<Response<pb::ListBudgetsResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::ListBudgetsRequest {
            page_size,
            page_token,
            scope_kind,
            customer_id,
            agent_code,
        } = request.into_inner();
        let mut violations = Violations::default();
        let filter = BudgetFilter {
            scope_kind: violations
                .check(scope_kind_from(scope_kind, "scope_kind"))
                .flatten(),
            customer_id: violations
                .check(text::filter(customer_id, "customer_id"))
                .flatten(),
            agent_code: violations
                .check(text::filter(agent_code, "agent_code"))
                .flatten(),
        };
        violations.into_result()?;
        let (budgets, next_page_token) =
            service::list(&self.db, tenant, filter, page_size, &page_token).await?;
        let now = store::now();
        let figures =
            service::month_figures(&self.db, tenant.project_id, &budgets, month_start(now), now)
                .await
                .map_err(DomainError::from)?;
        let budgets = budgets
            .into_iter()
            .map(|budget| {
                let month = figures.get(&budget.id).copied();
                let mut message = to_proto(budget);
                if let Some((spent, held)) = month {
                    message.month_spent_usd = spent.to_string();
                    message.month_held_usd = held.to_string();
                }
                message
            })
            .collect();
        Ok(Response::new(pb::ListBudgetsResponse {
            budgets,
            next_page_token,
        }))
    }
}

/// Reads a budget to create, listing every violation.
fn new_budget(request: pb::CreateBudgetRequest) -> Result<NewBudget, DomainError> {
    let mut violations = Violations::default();
    let Some(budget) = request.budget else {
        violations.add("budget", "required");
        return Err(violations.into_result().expect_err("a violation was added"));
    };
    let pb::Budget {
        budget_id: _,
        name,
        scope,
        monthly_limit_usd,
        per_run_limit_usd,
        enforcement,
        create_time: _,
        update_time: _,
        month_spent_usd: _,
        month_held_usd: _,
    } = budget;
    let name = violations.check(text::name(&name, "budget.name"));
    let scope = match scope {
        Some(pb::BudgetScope {
            kind,
            customer_id,
            agent_code,
        }) => violations
            .check(scope_kind_from(kind, "budget.scope.kind"))
            .and_then(|kind| {
                Scope::parse(
                    kind,
                    &customer_id,
                    &agent_code,
                    "budget.scope",
                    &mut violations,
                )
            }),
        None => {
            violations.add("budget.scope", "required");
            None
        }
    };
    let limits = Limits::parse(
        &monthly_limit_usd,
        &per_run_limit_usd,
        "budget",
        &mut violations,
    );
    let enforcement = enforcement_from(enforcement, "budget.enforcement", &mut violations);
    violations.into_result()?;
    match (name, scope, limits, enforcement) {
        (Some(name), Some(scope), Some(limits), Some(enforcement)) => Ok(NewBudget {
            name,
            scope,
            limits,
            enforcement,
        }),
        _ => Err(DomainError::Internal(
            "budget parsed without violations but incomplete".into(),
        )),
    }
}

/// Paths an update may name.
const UPDATABLE: [&str; 4] = [
    "name",
    "monthly_limit_usd",
    "per_run_limit_usd",
    "enforcement",
];

/// Reads an update: the budget's id and what changes. An empty mask changes the fields set to a
/// non-empty value.
fn budget_changes(request: pb::UpdateBudgetRequest) -> Result<(Uuid, BudgetChanges), DomainError> {
    let mut violations = Violations::default();
    let pb::UpdateBudgetRequest {
        budget,
        update_mask,
    } = request;
    let Some(budget) = budget else {
        violations.add("budget", "required");
        return Err(violations.into_result().expect_err("a violation was added"));
    };
    let pb::Budget {
        budget_id,
        name,
        scope: _,
        monthly_limit_usd,
        per_run_limit_usd,
        enforcement,
        create_time: _,
        update_time: _,
        month_spent_usd: _,
        month_held_usd: _,
    } = budget;
    let budget_id = violations.check(id(&budget_id, "budget.budget_id", "budget"));
    let paths: Vec<String> = match update_mask {
        Some(mask) if !mask.paths.is_empty() => mask.paths,
        _ => {
            let set = [
                !name.is_empty(),
                !monthly_limit_usd.is_empty(),
                !per_run_limit_usd.is_empty(),
                enforcement != pb::BudgetEnforcement::Unspecified as i32,
            ];
            UPDATABLE
                .iter()
                .zip(set)
                .filter(|(_, set)| *set)
                .map(|(path, _)| (*path).to_owned())
                .collect()
        }
    };
    let mut changes = BudgetChanges::default();
    for path in &paths {
        match path.as_str() {
            "name" => changes.name = violations.check(text::name(&name, "budget.name")),
            "monthly_limit_usd" => {
                changes.monthly_limit = optional_limit(
                    &monthly_limit_usd,
                    "budget.monthly_limit_usd",
                    &mut violations,
                )
            }
            "per_run_limit_usd" => {
                changes.per_run_limit = optional_limit(
                    &per_run_limit_usd,
                    "budget.per_run_limit_usd",
                    &mut violations,
                )
            }
            "enforcement" => {
                changes.enforcement =
                    enforcement_from(enforcement, "budget.enforcement", &mut violations)
            }
            other => violations.add(
                "update_mask",
                format!(
                    "cannot update {}; updatable: {}",
                    quote(other),
                    UPDATABLE.join(", ")
                ),
            ),
        }
    }
    if paths.is_empty() {
        violations.add("update_mask", "nothing to update");
    }
    violations.into_result()?;
    let budget_id = budget_id
        .ok_or_else(|| DomainError::Internal("budget id parsed without violation".into()))?;
    Ok((budget_id, changes))
}

/// A scope kind of the wire: `None` for UNSPECIFIED; an unknown value is a violation of `field`.
fn scope_kind_from(value: i32, field: &str) -> Result<Option<ScopeKind>, FieldViolation> {
    Ok(enum_value(value, field)?.and_then(|kind| match kind {
        pb::BudgetScopeKind::Unspecified => None,
        pb::BudgetScopeKind::Project => Some(ScopeKind::Project),
        pb::BudgetScopeKind::Customer => Some(ScopeKind::Customer),
        pb::BudgetScopeKind::Agent => Some(ScopeKind::Agent),
        pb::BudgetScopeKind::CustomerAgent => Some(ScopeKind::CustomerAgent),
    }))
}

fn enforcement_from(value: i32, field: &str, violations: &mut Violations) -> Option<Enforcement> {
    match pb::BudgetEnforcement::try_from(value) {
        Ok(pb::BudgetEnforcement::Alert) => Some(Enforcement::Alert),
        Ok(pb::BudgetEnforcement::Block) => Some(Enforcement::Block),
        _ => {
            violations.add(field, "required: ALERT or BLOCK");
            None
        }
    }
}

fn check_message(check: Check) -> pb::BudgetCheck {
    let Check {
        budget,
        window_start,
        standing,
    } = check;
    pb::BudgetCheck {
        budget: Some(to_proto(budget)),
        window: match standing.window {
            Window::Month => pb::BudgetWindow::Month,
            Window::Run => pb::BudgetWindow::Run,
        } as i32,
        window_start_time: window_start.map(timestamp),
        limit_usd: standing.limit.to_string(),
        spent_usd: standing.spent.to_string(),
        held_usd: standing.held.to_string(),
        remaining_usd: standing.remaining.to_string(),
        exceeded: standing.exceeded,
        would_exceed: standing.would_exceed,
        denies: standing.denies,
    }
}

fn to_proto(budget: Budget) -> pb::Budget {
    let Budget {
        id,
        name,
        scope,
        limits,
        enforcement,
        create_time,
        update_time,
    } = budget;
    pb::Budget {
        budget_id: id.to_string(),
        name,
        scope: Some(pb::BudgetScope {
            kind: match scope.kind {
                ScopeKind::Project => pb::BudgetScopeKind::Project,
                ScopeKind::Customer => pb::BudgetScopeKind::Customer,
                ScopeKind::Agent => pb::BudgetScopeKind::Agent,
                ScopeKind::CustomerAgent => pb::BudgetScopeKind::CustomerAgent,
            } as i32,
            customer_id: scope.customer_id.unwrap_or_default(),
            agent_code: scope.agent_code.unwrap_or_default(),
        }),
        monthly_limit_usd: limits
            .monthly
            .map(|usd| usd.to_string())
            .unwrap_or_default(),
        per_run_limit_usd: limits
            .per_run
            .map(|usd| usd.to_string())
            .unwrap_or_default(),
        enforcement: match enforcement {
            Enforcement::Alert => pb::BudgetEnforcement::Alert,
            Enforcement::Block => pb::BudgetEnforcement::Block,
        } as i32,
        create_time: Some(timestamp(create_time)),
        update_time: Some(timestamp(update_time)),
        month_spent_usd: String::new(),
        month_held_usd: String::new(),
    }
}

/// A hold as the contract shows it at `now`.
pub fn hold_message(hold: Hold, now: DateTime<Utc>) -> pb::Hold {
    let state = match hold.state(now) {
        State::Open => pb::HoldState::Open,
        State::Settled => pb::HoldState::Settled,
        State::Released => pb::HoldState::Released,
        State::Expired => pb::HoldState::Expired,
    };
    let overrun = hold.overrun();
    pb::Hold {
        hold_id: hold.id.to_string(),
        run_id: hold.run_key.unwrap_or_default(),
        customer_id: hold.customer_id,
        agent_code: hold.agent_code,
        amount_usd: hold.amount.to_string(),
        state: state as i32,
        create_time: Some(timestamp(hold.create_time)),
        expire_time: Some(timestamp(hold.expire_time)),
        end_time: hold.ended.map(|(time, _)| timestamp(time)),
        event_id: hold.event_id.map(|id| id.to_string()).unwrap_or_default(),
        settled_cost_usd: hold
            .settled_cost
            .map(|cost| cost.to_string())
            .unwrap_or_default(),
        overrun_usd: overrun.map(|usd| usd.to_string()).unwrap_or_default(),
    }
}
