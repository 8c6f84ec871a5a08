//! Who a record is for: its customer and agent, from the record or from the run it names.

use crate::domain::{FieldViolation, event::EventInput};

/// Who a record is for, once its run (if any) has been taken into account.
#[derive(Clone, Debug)]
pub(super) struct Attribution {
    pub customer_id: String,
    pub agent_code: String,
    pub user_id: Option<String>,
    /// The record names a run not started before it: it starts the run.
    pub starts_run: bool,
}

/// Resolves the customer and agent of a record: from the record, checked against its run when the
/// run exists; a record naming a run not started yet must name both itself.
pub(super) fn attribute(
    input: &EventInput,
    run: Option<&Attribution>,
) -> Result<Attribution, Vec<FieldViolation>> {
    let mut violations = Vec::new();
    let sent_customer = input.customer.as_ref().map(|customer| customer.id.clone());
    match run {
        Some(run) => {
            if let Some(sent) = &sent_customer
                && *sent != run.customer_id
            {
                violations.push(FieldViolation::new(
                    "customer.id",
                    format!(
                        "{sent:?} differs from the customer {:?} of run {:?}",
                        run.customer_id,
                        input.run_id.as_deref().unwrap_or_default()
                    ),
                ));
            }
            if let Some(sent) = &input.agent_code
                && *sent != run.agent_code
            {
                violations.push(FieldViolation::new(
                    "agent_code",
                    format!(
                        "{sent:?} differs from the agent {:?} of run {:?}",
                        run.agent_code,
                        input.run_id.as_deref().unwrap_or_default()
                    ),
                ));
            }
            if !violations.is_empty() {
                return Err(violations);
            }
            Ok(Attribution {
                customer_id: run.customer_id.clone(),
                agent_code: run.agent_code.clone(),
                user_id: input.user_id.clone().or_else(|| run.user_id.clone()),
                starts_run: false,
            })
        }
        None => {
            let started = "required: the run is not started yet, so this record starts it";
            if sent_customer.is_none() {
                violations.push(FieldViolation::new("customer.id", started));
            }
            if input.agent_code.is_none() {
                violations.push(FieldViolation::new("agent_code", started));
            }
            match (sent_customer, &input.agent_code) {
                (Some(customer_id), Some(agent_code)) if violations.is_empty() => Ok(Attribution {
                    customer_id,
                    agent_code: agent_code.clone(),
                    user_id: input.user_id.clone(),
                    starts_run: input.run_id.is_some(),
                }),
                _ => Err(violations),
            }
        }
    }
}
