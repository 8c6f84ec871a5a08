//! The `tally.v1.Directory` service: customers, agents and signals of the caller's project.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

use super::{
    caught_up,
    convert::{time, timestamp},
    status::tenant,
};
use crate::{
    domain::{
        DomainError, Violations,
        customer::{self, CustomerChanges},
        error::quote,
        event::Plan,
        money::Usd,
        text,
    },
    pb::{self, directory_server::Directory},
    service::{
        directory::{self as service, CustomerFilter, CustomerView},
        fold::Folder,
    },
    store::directory::{AgentRecord, SignalRecord},
};

/// Adapter from the `Directory` contract to the directory service.
pub struct DirectoryApi {
    db: DatabaseConnection,
    /// The customers', agents' and signals' totals are read after queued events are folded.
    folder: Arc<Folder>,
}

impl DirectoryApi {
    pub fn new(db: DatabaseConnection, folder: Arc<Folder>) -> Self {
        Self { db, folder }
    }
}

#[tonic::async_trait]
impl Directory for DirectoryApi {
    #[tracing::instrument(skip_all)]
    async fn get_customer(
        &self,
        request: Request<pb::GetCustomerRequest>,
    ) -> Result<Response<pb::GetCustomerResponse>, Status> {
        let tenant = tenant(&request)?;
        caught_up(&self.folder, &request).await?;
        let pb::GetCustomerRequest { customer_id } = request.into_inner();
        let customer_id = text::identifier(&customer_id, "customer_id")
            .map_err(|violation| DomainError::Invalid(vec![violation]))?;
        let customer = service::get(&self.db, tenant, &customer_id).await?;
        Ok(Response::new(pb::GetCustomerResponse {
            customer: Some(customer_message(customer)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_customers(
        &self,
        request: Request<pb::ListCustomersRequest>,
    ) -> Result<Response<pb::ListCustomersResponse>, Status> {
        let tenant = tenant(&request)?;
        caught_up(&self.folder, &request).await?;
        let pb::ListCustomersRequest {
            page_size,
            page_token,
            plan_name,
            name_prefix,
        } = request.into_inner();
        let mut violations = Violations::default();
        let filter = CustomerFilter {
            plan_name: violations
                .check(text::filter(plan_name, "plan_name"))
                .flatten(),
            name_prefix: violations
                .check(text::filter(name_prefix, "name_prefix"))
                .flatten(),
        };
        violations.into_result()?;
        let (customers, next_page_token) =
            service::list(&self.db, tenant, filter, page_size, &page_token).await?;
        Ok(Response::new(pb::ListCustomersResponse {
            customers: customers.into_iter().map(customer_message).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn update_customer(
        &self,
        request: Request<pb::UpdateCustomerRequest>,
    ) -> Result<Response<pb::UpdateCustomerResponse>, Status> {
        let tenant = tenant(&request)?;
        caught_up(&self.folder, &request).await?;
        let changes = customer_changes(request.into_inner())?;
        let customer = service::update(&self.db, tenant, changes).await?;
        Ok(Response::new(pb::UpdateCustomerResponse {
            customer: Some(customer_message(customer)),
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_agents(
        &self,
        request: Request<pb::ListAgentsRequest>,
    ) -> Result<Response<pb::ListAgentsResponse>, Status> {
        let tenant = tenant(&request)?;
        caught_up(&self.folder, &request).await?;
        let pb::ListAgentsRequest {
            page_size,
            page_token,
        } = request.into_inner();
        let (agents, next_page_token) =
            service::list_agents(&self.db, tenant, page_size, &page_token).await?;
        Ok(Response::new(pb::ListAgentsResponse {
            agents: agents.into_iter().map(agent_message).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all)]
    async fn list_signals(
        &self,
        request: Request<pb::ListSignalsRequest>,
    ) -> Result<Response<pb::ListSignalsResponse>, Status> {
        let tenant = tenant(&request)?;
        caught_up(&self.folder, &request).await?;
        let pb::ListSignalsRequest {
            page_size,
            page_token,
        } = request.into_inner();
        let (signals, next_page_token) =
            service::list_signals(&self.db, tenant, page_size, &page_token).await?;
        Ok(Response::new(pb::ListSignalsResponse {
            signals: signals.into_iter().map(signal_message).collect(),
            next_page_token,
        }))
    }
}

/// Paths an update may name.
const UPDATABLE: [&str; 3] = ["display_name", "aliases", "plan"];

/// Reads an update, listing every violation. An empty mask changes the fields set to a non-empty
/// value.
fn customer_changes(request: pb::UpdateCustomerRequest) -> Result<CustomerChanges, DomainError> {
    let mut violations = Violations::default();
    let pb::UpdateCustomerRequest {
        customer,
        update_mask,
        plan_start_time,
        allow_missing,
    } = request;
    let Some(customer) = customer else {
        violations.add("customer", "required");
        return Err(violations.into_result().expect_err("a violation was added"));
    };
    let pb::Customer {
        customer_id,
        display_name,
        aliases,
        plan,
        plan_history: _,
        create_time: _,
        first_seen_time: _,
        last_seen_time: _,
    } = customer;
    let customer_id = violations.check(text::identifier(&customer_id, "customer.customer_id"));
    let paths: Vec<String> = match update_mask {
        Some(mask) if !mask.paths.is_empty() => mask.paths,
        _ => {
            let set = [
                !display_name.trim().is_empty(),
                !aliases.is_empty(),
                plan.is_some(),
            ];
            UPDATABLE
                .iter()
                .zip(set)
                .filter(|(_, set)| *set)
                .map(|(path, _)| (*path).to_owned())
                .collect()
        }
    };
    let mut changes = CustomerChanges {
        customer_id: String::new(),
        display_name: None,
        aliases: None,
        plan: None,
        plan_start_time: None,
        allow_missing,
    };
    for path in &paths {
        match path.as_str() {
            "display_name" if display_name.trim().is_empty() => changes.display_name = Some(None),
            "display_name" => {
                changes.display_name = violations
                    .check(text::name(&display_name, "customer.display_name"))
                    .map(Some)
            }
            "aliases" => {
                changes.aliases = customer::aliases(&aliases, "customer.aliases", &mut violations)
            }
            "plan" => changes.plan = plan_from(plan.clone(), &mut violations),
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
    if paths.is_empty() && !allow_missing {
        violations.add("update_mask", "nothing to update");
    }
    if let Some(start) = plan_start_time {
        changes.plan_start_time = violations.check(time(&start, "plan_start_time"));
    }
    violations.into_result()?;
    changes.customer_id = customer_id
        .ok_or_else(|| DomainError::Internal("customer id parsed without violation".into()))?;
    Ok(changes)
}

fn plan_from(plan: Option<pb::Plan>, violations: &mut Violations) -> Option<Plan> {
    let Some(pb::Plan { name, monthly_usd }) = plan else {
        violations.add("customer.plan", "required when the mask names plan");
        return None;
    };
    let name = violations.check(text::name(&name, "customer.plan.name"));
    let monthly = if monthly_usd.is_empty() {
        violations.add("customer.plan.monthly_usd", "required, such as \"99\"");
        None
    } else {
        Usd::parse(&monthly_usd)
            .map_err(|message| violations.add("customer.plan.monthly_usd", message))
            .ok()
    };
    Some(Plan {
        name: name?,
        monthly: monthly?,
    })
}

fn customer_message(view: CustomerView) -> pb::Customer {
    let plan = view.current().map(|period| pb::Plan {
        name: period.plan.name.clone(),
        monthly_usd: period.plan.monthly.to_string(),
    });
    let CustomerView {
        row,
        history,
        seen,
        now: _,
    } = view;
    let ends: Vec<_> = history
        .iter()
        .skip(1)
        .map(|next| Some(next.start_time))
        .chain([None])
        .collect();
    pb::Customer {
        customer_id: row.customer_id,
        display_name: row.display_name.unwrap_or_default(),
        aliases: row.aliases,
        plan,
        plan_history: history
            .into_iter()
            .zip(ends)
            .map(|(period, end)| pb::PlanPeriod {
                plan_name: period.plan.name,
                monthly_usd: period.plan.monthly.to_string(),
                start_time: Some(timestamp(period.start_time)),
                end_time: end.map(timestamp),
            })
            .collect(),
        create_time: Some(timestamp(row.create_time)),
        first_seen_time: seen.first.map(timestamp),
        last_seen_time: seen.last.map(timestamp),
    }
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or_default()
}

fn agent_message(agent: AgentRecord) -> pb::Agent {
    let AgentRecord {
        agent_code,
        create_time,
        seen,
        event_count,
        run_count,
    } = agent;
    pb::Agent {
        agent_code,
        create_time: Some(timestamp(create_time)),
        first_seen_time: seen.first.map(timestamp),
        last_seen_time: seen.last.map(timestamp),
        event_count: count(event_count),
        run_count: count(run_count),
    }
}

fn signal_message(signal: SignalRecord) -> pb::Signal {
    let SignalRecord {
        signal_name,
        create_time,
        seen,
        event_count,
        total_quantity,
    } = signal;
    pb::Signal {
        signal_name,
        create_time: Some(timestamp(create_time)),
        first_seen_time: seen.first.map(timestamp),
        last_seen_time: seen.last.map(timestamp),
        event_count: count(event_count),
        total_quantity: count(total_quantity),
    }
}
