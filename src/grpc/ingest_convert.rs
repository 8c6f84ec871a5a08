//! Reads an `EventRecord` into the domain's `EventInput`, collecting every violation with its path in
//! the record (`customer.plan.monthly_usd`, `services.services[1].input_tokens`).

use chrono::{DateTime, Utc};

use super::convert::{self, duration, time};
use crate::{
    domain::{
        FieldViolation,
        event::{self, CustomerRef, EventInput, LineInput, MAX_LINES, Plan, RawCounts, Shape},
        money::Usd,
        pricing::Tier,
        text,
    },
    pb,
};

/// Checks a record; `Err` lists every violation.
pub fn event_input(
    record: pb::EventRecord,
    now: DateTime<Utc>,
) -> Result<EventInput, Vec<FieldViolation>> {
    let pb::EventRecord {
        idempotency_key,
        customer,
        user_id,
        agent_code,
        signal_name,
        quantity,
        run_id,
        usage_time,
        metadata,
        hold_id,
        usage,
    } = record;
    let mut violations = Vec::new();
    let mut check =
        |result: Result<String, FieldViolation>| result.map_err(|v| violations.push(v)).ok();
    let idempotency_key =
        optional(&idempotency_key).and_then(|key| check(text::identifier(key, "idempotency_key")));
    let user_id = optional(&user_id).and_then(|id| check(text::identifier(id, "user_id")));
    let agent_code =
        optional(&agent_code).and_then(|code| check(text::identifier(code, "agent_code")));
    let signal_name =
        optional(&signal_name).and_then(|name| check(text::identifier(name, "signal_name")));
    let run_id = optional(&run_id).and_then(|id| check(text::identifier(id, "run_id")));
    let hold_id = optional(&hold_id).and_then(|id| {
        convert::id(id, "hold_id", "hold")
            .map_err(|v| violations.push(v))
            .ok()
    });
    let customer = customer.and_then(|customer| customer_ref(customer, &mut violations));

    let usage_time = match usage_time
        .as_ref()
        .map(|sent| time(sent, "usage_time"))
        .transpose()
    {
        Ok(sent) => event::usage_time(sent, now, "usage_time")
            .map_err(|v| violations.push(v))
            .ok(),
        Err(violation) => {
            violations.push(violation);
            None
        }
    };
    let metadata = metadata.and_then(|metadata| {
        convert::metadata(metadata, "metadata")
            .map_err(|v| violations.push(v))
            .ok()
    });
    if run_id.is_none() {
        // Without a run to supply them, the customer and the agent are required.
        if customer.is_none() && !violations.iter().any(|v| v.field.starts_with("customer.")) {
            violations.push(FieldViolation::new(
                "customer.id",
                "required (or a run_id of a started run)",
            ));
        }
        if agent_code.is_none() && !violations.iter().any(|v| v.field == "agent_code") {
            violations.push(FieldViolation::new(
                "agent_code",
                "required (or a run_id of a started run)",
            ));
        }
    }
    let quantity = quantity.unwrap_or(1);
    event::check_count(Some(quantity), "quantity", &mut violations);

    let shape = match usage {
        Some(pb::event_record::Usage::Services(_)) => Shape::Multi,
        _ => Shape::Single,
    };
    let lines = match usage {
        Some(pb::event_record::Usage::Service(service)) => {
            vec![line(service, "service.", &mut violations)]
        }
        Some(pb::event_record::Usage::Services(pb::MultiServiceUsage { services })) => {
            if services.is_empty() || services.len() > MAX_LINES {
                violations.push(FieldViolation::new(
                    "services.services",
                    format!("1 to {MAX_LINES} service lines, got {}", services.len()),
                ));
            }
            services
                .into_iter()
                .enumerate()
                .map(|(index, service)| {
                    line(
                        service,
                        &format!("services.services[{index}]."),
                        &mut violations,
                    )
                })
                .collect()
        }
        None => {
            violations.push(FieldViolation::new(
                "usage",
                "required: set service (one call) or services (several)",
            ));
            Vec::new()
        }
    };

    if !violations.is_empty() {
        return Err(violations);
    }
    Ok(EventInput {
        idempotency_key,
        customer,
        user_id,
        agent_code,
        signal_name,
        quantity,
        run_id,
        hold_id,
        usage_time: usage_time.unwrap_or(now),
        metadata,
        shape,
        lines: lines.into_iter().flatten().collect(),
    })
}

/// Empty means absent.
pub fn optional(value: &str) -> Option<&str> {
    (!value.is_empty()).then_some(value)
}

pub fn customer_ref(
    customer: pb::CustomerAttribution,
    violations: &mut Vec<FieldViolation>,
) -> Option<CustomerRef> {
    let pb::CustomerAttribution { id, name, plan } = customer;
    let id = text::identifier(&id, "customer.id")
        .map_err(|v| violations.push(v))
        .ok();
    let name = optional(name.trim()).and_then(|name| {
        text::name(name, "customer.name")
            .map_err(|v| violations.push(v))
            .ok()
    });
    let plan = plan.and_then(|pb::Plan { name, monthly_usd }| {
        let name = text::name(&name, "customer.plan.name")
            .map_err(|v| violations.push(v))
            .ok();
        let monthly = if monthly_usd.is_empty() {
            violations.push(FieldViolation::new(
                "customer.plan.monthly_usd",
                "required with a plan, such as \"99\"",
            ));
            None
        } else {
            Usd::parse(&monthly_usd)
                .map_err(|message| {
                    violations.push(FieldViolation::new("customer.plan.monthly_usd", message))
                })
                .ok()
        };
        Some(Plan {
            name: name?,
            monthly: monthly?,
        })
    });
    Some(CustomerRef {
        id: id?,
        name,
        plan,
    })
}

/// Reads one service line; `None` when it has violations (already recorded).
pub fn line(
    service: pb::ServiceUsage,
    prefix: &str,
    violations: &mut Vec<FieldViolation>,
) -> Option<LineInput> {
    let pb::ServiceUsage {
        provider,
        model,
        service_tier,
        input_tokens,
        output_tokens,
        cached_input_tokens,
        cache_creation_tokens,
        reasoning_tokens,
        quantity,
        cost_usd,
        latency,
        call_status,
    } = service;
    let before = violations.len();
    let provider = event::service_name(&provider, &format!("{prefix}provider"))
        .map_err(|v| violations.push(v))
        .ok();
    let model = event::service_name(&model, &format!("{prefix}model"))
        .map_err(|v| violations.push(v))
        .ok();
    let tier = match pb::ServiceTier::try_from(service_tier) {
        Ok(pb::ServiceTier::Unspecified | pb::ServiceTier::Standard) => Tier::Standard,
        Ok(pb::ServiceTier::Batch) => Tier::Batch,
        Ok(pb::ServiceTier::Flex) => Tier::Flex,
        Ok(pb::ServiceTier::Priority) => Tier::Priority,
        Err(_) => {
            violations.push(FieldViolation::new(
                format!("{prefix}service_tier"),
                format!("unknown tier {service_tier}"),
            ));
            Tier::Standard
        }
    };
    let raw = RawCounts {
        input_tokens,
        output_tokens,
        cached_input_tokens,
        cache_creation_tokens,
        reasoning_tokens,
        quantity,
    };
    let usage = event::counts(raw, tier, prefix, violations);
    let manual_cost = optional(&cost_usd).and_then(|text| {
        Usd::parse(text)
            .map_err(|message| {
                violations.push(FieldViolation::new(format!("{prefix}cost_usd"), message))
            })
            .ok()
    });
    let latency_ms = latency.and_then(|latency| {
        let field = format!("{prefix}latency");
        duration(&latency, &field)
            .and_then(|latency| event::latency_ms(latency, &field))
            .map_err(|v| violations.push(v))
            .ok()
    });
    let call_status = optional(&call_status).and_then(|status| {
        text::identifier(status, &format!("{prefix}call_status"))
            .map_err(|v| violations.push(v))
            .ok()
    });
    if violations.len() > before {
        return None;
    }
    Some(LineInput {
        provider: provider?,
        model: model?,
        usage,
        manual_cost,
        latency_ms,
        call_status,
    })
}
