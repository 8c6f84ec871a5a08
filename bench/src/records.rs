//! Synthetic events as a caller sends them: `EventRecord` messages of the `Ingest` contract.

use std::collections::BTreeMap;

use prost_types::{Struct, Timestamp, Value, value::Kind};
use tally_client::pb;

use super::synthetic::{AGENTS, SyntheticEvent, SyntheticLine, Workload};

/// The region a ticket's metadata names.
const REGIONS: [&str; 3] = ["eu-west-1", "us-east-1", "ap-south-1"];

impl SyntheticEvent {
    /// The event as an `EventRecord`: a customer with its plan, the run's agent, the agent's
    /// signal, and one service or several.
    pub fn record(&self, workload: &Workload) -> pb::EventRecord {
        let (plan_name, monthly_usd) = Workload::plan(self.customer);
        let (agent_code, signal_name) = AGENTS[self.agent];
        let mut services: Vec<pb::ServiceUsage> = self.lines.iter().map(service).collect();
        let usage = if self.multi {
            pb::event_record::Usage::Services(pb::MultiServiceUsage { services })
        } else {
            pb::event_record::Usage::Service(services.pop().unwrap_or_default())
        };
        pb::EventRecord {
            idempotency_key: self.idempotency_key.clone(),
            customer: Some(pb::CustomerAttribution {
                id: Workload::customer_id(self.customer),
                name: format!("Bench Customer {}", self.customer),
                plan: Some(pb::Plan {
                    name: plan_name.to_owned(),
                    monthly_usd: monthly_usd.to_owned(),
                }),
            }),
            user_id: self
                .user
                .map(|user| Workload::user_id(self.customer, user))
                .unwrap_or_default(),
            agent_code: agent_code.to_owned(),
            signal_name: signal_name.unwrap_or_default().to_owned(),
            quantity: self.quantity,
            run_id: self.run.map(|run| workload.run_id(run)).unwrap_or_default(),
            hold_id: String::new(),
            usage_time: Some(Timestamp {
                seconds: self.usage_time.timestamp(),
                nanos: self.usage_time.timestamp_subsec_nanos() as i32,
            }),
            metadata: self.metadata().map(|fields| Struct {
                fields: fields
                    .into_iter()
                    .map(|(key, text)| {
                        (
                            key.to_owned(),
                            Value {
                                kind: Some(Kind::StringValue(text)),
                            },
                        )
                    })
                    .collect(),
            }),
            usage: Some(usage),
        }
    }

    /// The event's metadata as string fields, when it has any.
    pub fn metadata(&self) -> Option<BTreeMap<&'static str, String>> {
        let ticket = self.ticket?;
        Some(BTreeMap::from([
            ("source", "tally-bench".to_owned()),
            ("ticket", format!("T-{ticket}")),
            (
                "region",
                REGIONS[ticket as usize % REGIONS.len()].to_owned(),
            ),
        ]))
    }

    /// The metadata as the JSON object ingest stores.
    pub fn metadata_json(&self) -> Option<serde_json::Value> {
        self.metadata().map(|fields| {
            serde_json::Value::Object(
                fields
                    .into_iter()
                    .map(|(key, text)| (key.to_owned(), serde_json::Value::String(text)))
                    .collect(),
            )
        })
    }
}

fn service(line: &SyntheticLine) -> pb::ServiceUsage {
    let cost_usd = match line.call {
        super::synthetic::Call::Manual(_, _, cost_e10) => {
            rust_decimal::Decimal::new(cost_e10, 10).to_string()
        }
        _ => String::new(),
    };
    pb::ServiceUsage {
        provider: line.call.provider().to_owned(),
        model: line.call.model().to_owned(),
        service_tier: pb::ServiceTier::Unspecified as i32,
        input_tokens: line.tokens.input,
        output_tokens: line.tokens.output,
        cached_input_tokens: line.tokens.cached_input,
        cache_creation_tokens: line.tokens.cache_creation,
        reasoning_tokens: line.tokens.reasoning,
        quantity: None,
        cost_usd,
        latency: line.latency_ms.map(|ms| prost_types::Duration {
            seconds: i64::from(ms / 1000),
            nanos: (ms % 1000) as i32 * 1_000_000,
        }),
        call_status: line.call_status.unwrap_or_default().to_owned(),
    }
}
