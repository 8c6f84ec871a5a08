//! Fuzzing through the wire: random and mutated request bodies (random bytes, random messages of the
//! method's own type, bit flips, truncation, lying length prefixes, deep nesting, bad flags, extra
//! messages) sent as unary and streaming bodies to every method of every `tally.v1` service of a
//! live server. The methods come from the contract's descriptors, so a new one is fuzzed without a
//! change here. An `INTERNAL` or `UNKNOWN` answer, a record answered `INTERNAL_ERROR`, a call with
//! no gRPC answer, or a server that stops answering fails the test, with the seed, the method and
//! the body to replay it.
//!
//! Seeded and reproducible: `TALLY_FUZZ_SEED` picks the seed (default [`DEFAULT_SEED`]) and
//! `TALLY_FUZZ_CASES` the bodies per method (default [`DEFAULT_CASES`]: about 3,700 calls per
//! database, 10 s for both on two cores); a longer run is
//! `TALLY_FUZZ_CASES=1000 cargo test --test api fuzz::`.

mod bodies;

use std::{collections::HashMap, time::Duration};

use bytes::Bytes;
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MethodDescriptor, Value};
use rand::{SeedableRng, rngs::StdRng};
use tonic::Code;

use crate::{
    helpers::{Backend, TestApp, spawn_app},
    raw_grpc::{self, NoAnswer},
};

const DEFAULT_SEED: u64 = 0x7a11_7e57;
const DEFAULT_CASES: usize = 100;
/// How long one call may take before the server counts as hung.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Every method of the `tally.v1` services, from the descriptors the server was built from.
fn methods() -> Vec<MethodDescriptor> {
    let pool = DescriptorPool::decode(tally::pb::FILE_DESCRIPTOR_SET).expect("descriptors");
    pool.services()
        .filter(|service| service.package_name() == "tally.v1")
        .flat_map(|service| service.methods().collect::<Vec<_>>())
        .collect()
}

fn path(method: &MethodDescriptor) -> String {
    format!("/{}/{}", method.parent_service().full_name(), method.name())
}

/// Whether a response message reports a record failed by the server (`EVENT_STATUS_INTERNAL_ERROR`)
/// anywhere inside it: the per-record form of `INTERNAL`.
fn reports_internal_error(message: &DynamicMessage) -> bool {
    fn value_has(value: &Value, kind: &Kind) -> bool {
        match (value, kind) {
            (Value::EnumNumber(number), Kind::Enum(descriptor)) => {
                descriptor.full_name() == "tally.v1.EventStatus"
                    && *number == tally::pb::EventStatus::InternalError as i32
            }
            (Value::Message(inner), _) => reports_internal_error(inner),
            (Value::List(values), _) => values.iter().any(|value| value_has(value, kind)),
            (Value::Map(entries), _) => entries.values().any(|value| value_has(value, kind)),
            _ => false,
        }
    }
    message
        .fields()
        .any(|(field, value)| value_has(value, &field.kind()))
}

fn hex(chunks: &[Bytes]) -> String {
    let all: Vec<u8> = chunks
        .iter()
        .flat_map(|chunk| chunk.iter().copied())
        .collect();
    let shown: String = all
        .iter()
        .take(600)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    if all.len() > 600 {
        format!("{shown}… ({} bytes in {} chunks)", all.len(), chunks.len())
    } else {
        format!("{shown} ({} chunks)", chunks.len())
    }
}

async fn still_serving(app: &TestApp) -> bool {
    let mut health = app.health();
    let check = health.check(tonic_health::pb::HealthCheckRequest {
        service: String::new(),
    });
    matches!(tokio::time::timeout(CALL_TIMEOUT, check).await, Ok(Ok(_)))
}

async fn every_method_answers_random_and_mutated_bodies_without_internal(backend: Backend) {
    let app = spawn_app(backend).await;
    let seed = env_or("TALLY_FUZZ_SEED", DEFAULT_SEED);
    let cases = env_or("TALLY_FUZZ_CASES", DEFAULT_CASES);
    let methods = methods();
    assert!(
        methods.len() > 30,
        "every method of the contract: {}",
        methods.len()
    );
    assert!(methods.iter().any(|method| method.is_client_streaming()));
    let mut rng = StdRng::seed_from_u64(seed);
    let mut failures = Vec::new();
    let mut codes: HashMap<Code, usize> = HashMap::new();
    'methods: for method in &methods {
        let path = path(method);
        for case in 0..cases {
            let (kind, chunks) = bodies::body(&mut rng, method, case);
            let answer =
                raw_grpc::call(&app, &path, &app.secret_key, chunks.clone(), CALL_TIMEOUT).await;
            let failure = match answer {
                Ok(answer) => {
                    *codes.entry(answer.code()).or_default() += 1;
                    let failed_record = answer.messages.iter().find(|bytes| {
                        DynamicMessage::decode(method.output(), Bytes::clone(bytes))
                            .is_ok_and(|message| reports_internal_error(&message))
                    });
                    if matches!(answer.code(), Code::Internal | Code::Unknown) {
                        Some(format!("{:?}", answer.status))
                    } else {
                        failed_record.map(|bytes| {
                            let message = DynamicMessage::decode(method.output(), bytes.clone());
                            format!("a record failed with INTERNAL_ERROR: {message:?}")
                        })
                    }
                }
                Err(NoAnswer::Transport(error)) => Some(format!("no gRPC answer: {error}")),
                Err(NoAnswer::TimedOut) => Some(format!("no answer within {CALL_TIMEOUT:?}")),
            };
            if let Some(failure) = failure {
                failures.push(format!(
                    "{path} case {case} ({kind}): {failure}\n    body: {}",
                    hex(&chunks)
                ));
                if !still_serving(&app).await {
                    failures.push("the server stopped answering".to_owned());
                    break 'methods;
                }
            }
        }
    }
    assert!(still_serving(&app).await, "the server stopped answering");
    eprintln!("fuzz {backend:?} (seed {seed:#x}): answers by code {codes:?}");
    assert!(
        failures.is_empty(),
        "{} of {} calls failed (seed {seed:#x}; replay with TALLY_FUZZ_SEED={seed} \
         TALLY_FUZZ_CASES={cases}):\n{}",
        failures.len(),
        methods.len() * cases,
        failures.join("\n")
    );
    // The bodies reached the handlers too, not only the decoder: some were valid calls.
    assert!(
        codes.get(&Code::Ok).copied().unwrap_or(0) > methods.len(),
        "{codes:?}"
    );
}

crate::on_both_databases!(every_method_answers_random_and_mutated_bodies_without_internal);
