//! The `tally.v1.Runs` service: start and end runs, attach outcomes, read run summaries.

use std::sync::Arc;

use rust_decimal::Decimal;
use tonic::{Request, Response, Status};

use super::{
    budgets::hold_message,
    convert::{self, enum_value, json_to_struct, known, time, timestamp},
    ingest_convert::{customer_ref, optional},
    status::tenant,
};
use crate::{
    domain::{
        DomainError, FieldViolation, event,
        money::{SCALE, Usd},
        run::{Outcome, OutcomeValue, RunStatus},
        run_flags::{FlagKind, flags},
        text,
    },
    pb::{self, runs_server::Runs},
    service::runs::{Ending, RunsService, StartRun},
    store::{
        self,
        runs::{RunFilter, RunRecord},
    },
};

/// Outcomes per `CompleteRun`.
const MAX_OUTCOMES: usize = 100;
/// Characters of a failure reason.
const MAX_REASON_CHARS: usize = 1024;

/// Adapter from the `Runs` contract to the runs service.
pub struct RunsApi {
    service: Arc<RunsService>,
}

impl RunsApi {
    pub fn new(service: Arc<RunsService>) -> Self {
        Self { service }
    }

    fn run(&self, record: RunRecord) -> pb::Run {
        run_message(record, &self.service)
    }
}

fn invalid(violations: Vec<FieldViolation>) -> Status {
    DomainError::Invalid(violations).into()
}

fn run_key(run_id: &str) -> Result<String, Status> {
    text::identifier(run_id, "run_id").map_err(|v| invalid(vec![v]))
}

/// The end time: unset means now.
fn end_time(
    value: Option<prost_types::Timestamp>,
) -> Result<chrono::DateTime<chrono::Utc>, Status> {
    value
        .map(|t| time(&t, "end_time"))
        .transpose()
        .map_err(|v| invalid(vec![v]))
        .map(|t| t.unwrap_or_else(store::now))
}

#[tonic::async_trait]
impl Runs for RunsApi {
    #[tracing::instrument(skip_all)]
    async fn start_run(
        &self,
        request: Request<pb::StartRunRequest>,
    ) -> Result<Response<pb::StartRunResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::StartRunRequest {
            run_id,
            agent_code,
            customer,
            user_id,
            metadata,
            start_time,
        } = request.into_inner();
        let now = store::now();
        let mut violations = Vec::new();
        let run_key = optional(&run_id).and_then(|id| {
            text::identifier(id, "run_id")
                .map_err(|v| violations.push(v))
                .ok()
        });
        let agent_code = text::identifier(&agent_code, "agent_code")
            .map_err(|v| violations.push(v))
            .ok();
        let customer = match customer {
            Some(customer) => customer_ref(customer, &mut violations),
            None => {
                violations.push(FieldViolation::new("customer.id", "required"));
                None
            }
        };
        let user_id = optional(&user_id).and_then(|id| {
            text::identifier(id, "user_id")
                .map_err(|v| violations.push(v))
                .ok()
        });
        let metadata = metadata.and_then(|metadata| {
            convert::metadata(metadata, "metadata")
                .map_err(|v| violations.push(v))
                .ok()
        });
        let start_time = match start_time.map(|t| time(&t, "start_time")).transpose() {
            Ok(sent) => event::usage_time(sent, now, "start_time")
                .map_err(|v| violations.push(v))
                .ok(),
            Err(violation) => {
                violations.push(violation);
                None
            }
        };
        let (Some(agent_code), Some(customer), Some(start_time)) =
            (agent_code, customer, start_time)
        else {
            return Err(invalid(violations));
        };
        if !violations.is_empty() {
            return Err(invalid(violations));
        }
        let start = StartRun {
            run_key,
            customer,
            agent_code,
            user_id,
            metadata,
            start_time,
        };
        let (record, created) = self.service.start(tenant, start).await?;
        Ok(Response::new(pb::StartRunResponse {
            run: Some(self.run(record)),
            created,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn complete_run(
        &self,
        request: Request<pb::CompleteRunRequest>,
    ) -> Result<Response<pb::CompleteRunResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::CompleteRunRequest {
            run_id,
            outcomes,
            end_time: ended,
        } = request.into_inner();
        let run_key = run_key(&run_id)?;
        let now = store::now();
        let mut violations = Vec::new();
        if outcomes.len() > MAX_OUTCOMES {
            violations.push(FieldViolation::new(
                "outcomes",
                format!("at most {MAX_OUTCOMES}, got {}", outcomes.len()),
            ));
        }
        let outcomes: Vec<Outcome> = outcomes
            .into_iter()
            .enumerate()
            .filter_map(|(index, outcome)| {
                outcome_input(
                    outcome,
                    &format!("outcomes[{index}]."),
                    now,
                    &mut violations,
                )
            })
            .collect();
        if !violations.is_empty() {
            return Err(invalid(violations));
        }
        let record = self
            .service
            .end(
                tenant,
                &run_key,
                Ending::Completed { outcomes },
                end_time(ended)?,
            )
            .await?;
        Ok(Response::new(pb::CompleteRunResponse {
            run: Some(self.run(record)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn fail_run(
        &self,
        request: Request<pb::FailRunRequest>,
    ) -> Result<Response<pb::FailRunResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::FailRunRequest {
            run_id,
            reason,
            cancelled,
            end_time: ended,
        } = request.into_inner();
        let run_key = run_key(&run_id)?;
        let reason = text::free_text(reason.trim(), MAX_REASON_CHARS, "reason")
            .map_err(|v| invalid(vec![v]))?;
        let ending = Ending::Failed { reason, cancelled };
        let record = self
            .service
            .end(tenant, &run_key, ending, end_time(ended)?)
            .await?;
        Ok(Response::new(pb::FailRunResponse {
            run: Some(self.run(record)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn record_outcome(
        &self,
        request: Request<pb::RecordOutcomeRequest>,
    ) -> Result<Response<pb::RecordOutcomeResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::RecordOutcomeRequest { run_id, outcome } = request.into_inner();
        let run_key = run_key(&run_id)?;
        let mut violations = Vec::new();
        let outcome = match outcome {
            Some(outcome) => outcome_input(outcome, "outcome.", store::now(), &mut violations),
            None => {
                violations.push(FieldViolation::new("outcome", "required"));
                None
            }
        };
        let Some(outcome) = outcome.filter(|_| violations.is_empty()) else {
            return Err(invalid(violations));
        };
        let outcome = self
            .service
            .record_outcome(tenant, &run_key, outcome)
            .await?;
        Ok(Response::new(pb::RecordOutcomeResponse {
            outcome: Some(outcome_message(outcome)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn get_run(
        &self,
        request: Request<pb::GetRunRequest>,
    ) -> Result<Response<pb::GetRunResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::GetRunRequest { run_id } = request.into_inner();
        let run_key = run_key(&run_id)?;
        let record = self.service.get(tenant, &run_key).await?;
        let now = store::now();
        let (holds, overrun) = self.service.holds(tenant, &run_key, now).await?;
        let mut run = self.run(record);
        run.open_holds = holds
            .into_iter()
            .map(|hold| hold_message(hold, now))
            .collect();
        run.hold_overrun_usd = overrun.to_string();
        Ok(Response::new(pb::GetRunResponse { run: Some(run) }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_runs(
        &self,
        request: Request<pb::ListRunsRequest>,
    ) -> Result<Response<pb::ListRunsResponse>, Status> {
        let tenant = tenant(&request)?;
        let pb::ListRunsRequest {
            page_size,
            page_token,
            status,
            customer_id,
            agent_code,
            flag,
            start_time,
            end_time,
            order_by,
            descending,
        } = request.into_inner();
        let mut violations = Vec::new();
        let mut window = |value: Option<prost_types::Timestamp>, field: &str| {
            value.and_then(|value| time(&value, field).map_err(|v| violations.push(v)).ok())
        };
        let (start_time, end_time) = (
            window(start_time, "start_time"),
            window(end_time, "end_time"),
        );
        let status = known(enum_value(status, "status"), &mut violations);
        let flag = known(enum_value(flag, "flag"), &mut violations);
        let order_by = known(enum_value(order_by, "order_by"), &mut violations);
        let filter = RunFilter {
            status: match status {
                Some(pb::RunStatus::Running) => Some(RunStatus::Running),
                Some(pb::RunStatus::Completed) => Some(RunStatus::Completed),
                Some(pb::RunStatus::Failed) => Some(RunStatus::Failed),
                Some(pb::RunStatus::Unspecified) | None => None,
            },
            customer_id: known(text::filter(customer_id, "customer_id"), &mut violations),
            agent_code: known(text::filter(agent_code, "agent_code"), &mut violations),
            flag: match flag {
                Some(pb::RunFlag::ContextBloat) => Some(FlagKind::ContextBloat),
                Some(pb::RunFlag::RunawayLoop) => Some(FlagKind::RunawayLoop),
                Some(pb::RunFlag::BudgetExceeded) => Some(FlagKind::BudgetExceeded),
                Some(pb::RunFlag::Stale) => Some(FlagKind::Stale),
                Some(pb::RunFlag::Unspecified) | None => None,
            },
            start_time,
            end_time,
            by_cost: order_by == Some(pb::RunOrderBy::Cost),
            descending,
        };
        if !violations.is_empty() {
            return Err(invalid(violations));
        }
        let (runs, next_page_token) = self
            .service
            .list(tenant, filter, page_size, &page_token)
            .await?;
        Ok(Response::new(pb::ListRunsResponse {
            runs: runs.into_iter().map(|run| self.run(run)).collect(),
            next_page_token,
        }))
    }
}

/// Reads an outcome; `prefix` is its path in the request, ending with a dot.
fn outcome_input(
    outcome: pb::Outcome,
    prefix: &str,
    now: chrono::DateTime<chrono::Utc>,
    violations: &mut Vec<FieldViolation>,
) -> Option<Outcome> {
    let pb::Outcome {
        name,
        value,
        value_kind,
        metadata,
        record_time: _,
    } = outcome;
    let before = violations.len();
    let name = text::identifier(&name, &format!("{prefix}name"))
        .map_err(|v| violations.push(v))
        .ok();
    // `None` when the kind is unknown (already a violation).
    let kind = enum_value(value_kind, &format!("{prefix}value_kind"))
        .map_err(|v| violations.push(v))
        .ok()
        .map(|kind| kind.unwrap_or(pb::OutcomeValueKind::Unspecified));
    let value = match (value.is_empty(), kind) {
        (_, None) => None,
        (true, Some(pb::OutcomeValueKind::Unspecified)) => None,
        (true, Some(_)) => {
            violations.push(FieldViolation::new(
                format!("{prefix}value"),
                "required with a value_kind",
            ));
            None
        }
        (false, Some(pb::OutcomeValueKind::Unspecified)) => {
            violations.push(FieldViolation::new(
                format!("{prefix}value_kind"),
                "required with a value: USD or UNITS",
            ));
            None
        }
        (false, Some(kind)) => match Usd::parse(&value) {
            Ok(amount) if kind == pb::OutcomeValueKind::Usd => Some(OutcomeValue::Usd(amount)),
            Ok(amount) => Some(OutcomeValue::Units(amount.to_decimal().normalize())),
            Err(message) => {
                violations.push(FieldViolation::new(format!("{prefix}value"), message));
                None
            }
        },
    };
    let metadata = metadata.and_then(|metadata| {
        convert::metadata(metadata, &format!("{prefix}metadata"))
            .map_err(|v| violations.push(v))
            .ok()
    });
    if violations.len() > before {
        return None;
    }
    Some(Outcome {
        name: name?,
        value,
        metadata,
        record_time: now,
    })
}

fn outcome_message(outcome: Outcome) -> pb::Outcome {
    let (value, kind) = match outcome.value {
        None => (String::new(), pb::OutcomeValueKind::Unspecified),
        Some(OutcomeValue::Usd(amount)) => (amount.to_string(), pb::OutcomeValueKind::Usd),
        Some(OutcomeValue::Units(units)) => (
            {
                let mut units: Decimal = units;
                units.rescale(SCALE);
                units.to_string()
            },
            pb::OutcomeValueKind::Units,
        ),
    };
    pb::Outcome {
        name: outcome.name,
        value,
        value_kind: kind as i32,
        metadata: outcome.metadata.map(json_to_struct),
        record_time: Some(timestamp(outcome.record_time)),
    }
}

/// A run summary, with its flags as of now.
pub fn run_message(record: RunRecord, service: &RunsService) -> pb::Run {
    let raised = flags(&record.flags, service.flag_settings(), store::now());
    let duration = record
        .first_event_time
        .zip(record.last_event_time)
        .map(|(first, last)| {
            let span = last - first;
            prost_types::Duration {
                seconds: span.num_seconds(),
                nanos: span.subsec_nanos(),
            }
        });
    pb::Run {
        run_id: record.run_key,
        status: match record.status {
            RunStatus::Running => pb::RunStatus::Running,
            RunStatus::Completed => pb::RunStatus::Completed,
            RunStatus::Failed => pb::RunStatus::Failed,
        } as i32,
        agent_code: record.agent_code,
        customer: Some(pb::CustomerAttribution {
            id: record.customer_id,
            name: record.customer_name.unwrap_or_default(),
            plan: record.plan.map(|(name, monthly)| pb::Plan {
                name,
                monthly_usd: monthly.to_string(),
            }),
        }),
        user_id: record.user_id.unwrap_or_default(),
        metadata: record.metadata.map(json_to_struct),
        start_time: Some(timestamp(record.start_time)),
        end_time: record.end_time.map(timestamp),
        failure_reason: record.failure_reason.unwrap_or_default(),
        cancelled: record.cancelled,
        total_cost_usd: record.total_cost.to_string(),
        event_count: record.event_count,
        step_count: record.step_count,
        unpriced_step_count: record.unpriced_steps,
        model_costs: record
            .models
            .into_iter()
            .map(|model| pb::ModelCost {
                provider: model.provider,
                model: model.model,
                cost_usd: model.cost.to_string(),
                step_count: model.steps,
                unpriced_step_count: model.unpriced_steps,
                tokens: Some(pb::TokenUsage {
                    input_tokens: model.tokens.input.max(0) as u64,
                    output_tokens: model.tokens.output.max(0) as u64,
                    cached_input_tokens: model.tokens.cached_input.max(0) as u64,
                    cache_creation_tokens: model.tokens.cache_creation.max(0) as u64,
                    reasoning_tokens: model.tokens.reasoning.max(0) as u64,
                }),
            })
            .collect(),
        first_event_time: record.first_event_time.map(timestamp),
        last_event_time: record.last_event_time.map(timestamp),
        duration,
        outcomes: record.outcomes.into_iter().map(outcome_message).collect(),
        flags: raised
            .into_iter()
            .map(|flag| pb::RunFlagDetail {
                flag: match flag.kind {
                    FlagKind::ContextBloat => pb::RunFlag::ContextBloat,
                    FlagKind::RunawayLoop => pb::RunFlag::RunawayLoop,
                    FlagKind::BudgetExceeded => pb::RunFlag::BudgetExceeded,
                    FlagKind::Stale => pb::RunFlag::Stale,
                } as i32,
                step: flag.step,
                budget_id: flag.budget.map(|id| id.to_string()).unwrap_or_default(),
                detail: flag.detail,
            })
            .collect(),
        open_holds: Vec::new(),
        hold_overrun_usd: String::new(),
    }
}
