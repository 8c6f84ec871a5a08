//! Synthetic cost events, the same for a given seed: customers `bench_customer_{n}` on a few plans,
//! agents with their signals, runs, usage times over the last 30 days, single- and multi-service
//! events on real catalog models with cached and reasoning tokens, and a few events that ingest
//! parks (unknown models, missing token counts). Event `n` depends only on the seed and `n`, so any
//! writer can make its own share.

use chrono::{DateTime, TimeDelta, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng};

use super::models::{BenchModel, KNOWN_MODELS, Tokens, UNKNOWN_MODELS};

/// Plans customers are on: name and monthly USD.
pub const PLANS: [(&str, &str); 4] = [
    ("free", "0"),
    ("starter", "49"),
    ("pro", "99"),
    ("team", "299"),
];
/// Agents, each with the signal its events count (None: a pure cost event).
pub const AGENTS: [(&str, Option<&str>); 6] = [
    ("support_reply", Some("messages")),
    ("report_writer", Some("report_pages")),
    ("code_review", Some("reviews")),
    ("lead_enrichment", Some("leads")),
    ("doc_summarizer", Some("documents")),
    ("sql_assistant", None),
];
/// Distinct runs per customer; the agent of run `r` of customer `c` is `(c + r) % AGENTS.len()`.
pub const RUNS_PER_CUSTOMER: usize = 5;
/// Users per customer.
const USERS_PER_CUSTOMER: usize = 3;
/// How far back usage times go.
const HISTORY: TimeDelta = TimeDelta::days(30);
/// A manual-cost service some multi-service events call (a maps API).
pub const MANUAL_SERVICE: (&str, &str, i64) = ("google-maps", "geocoding", 50_000_000);

/// What to generate.
#[derive(Clone, Debug)]
pub struct Workload {
    pub events: u64,
    pub customers: usize,
    /// How many of [`KNOWN_MODELS`] the events call (1 to 21).
    pub models: usize,
    pub seed: u64,
    /// Unique per run of the tool: it prefixes idempotency keys and run ids, so reruns don't collide.
    pub tag: String,
    /// Usage times are spread over the 30 days before this instant (whole microseconds).
    pub now: DateTime<Utc>,
}

/// What a service line called.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Call {
    /// A catalog model.
    Known(&'static BenchModel),
    /// A model no catalog has (`NEEDS_COST_BACKFILL`).
    Unknown(&'static str, &'static str),
    /// A service priced by the caller's `cost_usd`, in 1e-10 USD.
    Manual(&'static str, &'static str, i64),
}

impl Call {
    pub fn provider(&self) -> &'static str {
        match self {
            Self::Known(model) => model.provider,
            Self::Unknown(provider, _) | Self::Manual(provider, _, _) => provider,
        }
    }

    pub fn model(&self) -> &'static str {
        match self {
            Self::Known(model) => model.model,
            Self::Unknown(_, model) | Self::Manual(_, model, _) => model,
        }
    }
}

/// One service call of a synthetic event.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticLine {
    pub call: Call,
    pub tokens: Tokens,
    pub latency_ms: Option<u32>,
    pub call_status: Option<&'static str>,
}

/// One synthetic event: everything ingest is sent, by index into the tables above.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticEvent {
    pub number: u64,
    pub idempotency_key: String,
    pub customer: usize,
    pub user: Option<usize>,
    pub agent: usize,
    /// Event quantity of the agent's signal; None means 1.
    pub quantity: Option<u64>,
    /// Index of the run: `customer * RUNS_PER_CUSTOMER + r`.
    pub run: Option<usize>,
    pub usage_time: DateTime<Utc>,
    /// A ticket number in the metadata, when the event has metadata.
    pub ticket: Option<u32>,
    /// Sent as `services` (several lines) rather than `service`.
    pub multi: bool,
    pub lines: Vec<SyntheticLine>,
}

impl Workload {
    /// The caller's id of customer `c`.
    pub fn customer_id(c: usize) -> String {
        format!("bench_customer_{c}")
    }

    /// The caller's id of user `u` of customer `c`.
    pub fn user_id(c: usize, u: usize) -> String {
        format!("bench_user_{c}_{u}")
    }

    /// The caller's id of run `run`, unique to this run of the tool.
    pub fn run_id(&self, run: usize) -> String {
        format!("bench-{}-run-{run}", self.tag)
    }

    /// The agent of run `run`.
    pub fn run_agent(run: usize) -> usize {
        (run / RUNS_PER_CUSTOMER + run % RUNS_PER_CUSTOMER) % AGENTS.len()
    }

    /// The plan of customer `c`.
    pub fn plan(c: usize) -> (&'static str, &'static str) {
        PLANS[c % PLANS.len()]
    }

    /// Event `number` of the workload.
    pub fn event(&self, number: u64) -> SyntheticEvent {
        let mut rng = StdRng::seed_from_u64(mix(self.seed ^ mix(number)));
        // A few customers do most of the work.
        let skew: f64 = rng.random::<f64>();
        let customer = ((skew * skew * self.customers as f64) as usize).min(self.customers - 1);
        let run = rng
            .random_bool(0.6)
            .then(|| customer * RUNS_PER_CUSTOMER + rng.random_range(0..RUNS_PER_CUSTOMER));
        let agent = match run {
            Some(run) => Self::run_agent(run),
            None => rng.random_range(0..AGENTS.len()),
        };
        let quantity = match AGENTS[agent].1 {
            Some("report_pages") => Some(rng.random_range(1..=20)),
            Some(_) if rng.random_bool(0.1) => Some(1),
            _ => None,
        };
        let back = rng.random_range(0..HISTORY.num_microseconds().unwrap_or(i64::MAX));
        let multi = rng.random_bool(0.15);
        let line_count = if multi { rng.random_range(2..=4) } else { 1 };
        let lines = (0..line_count)
            .map(|index| self.line(&mut rng, multi && index == line_count - 1))
            .collect();
        SyntheticEvent {
            number,
            idempotency_key: format!("bench-{}-{number}", self.tag),
            customer,
            user: rng
                .random_bool(0.8)
                .then(|| rng.random_range(0..USERS_PER_CUSTOMER)),
            agent,
            quantity,
            run,
            usage_time: self.now - TimeDelta::microseconds(back),
            ticket: rng.random_bool(0.3).then(|| rng.random_range(1..1_000_000)),
            multi,
            lines,
        }
    }

    /// One service call; the last line of a multi-service event is sometimes a maps lookup.
    fn line(&self, rng: &mut StdRng, last_of_several: bool) -> SyntheticLine {
        let latency_ms = rng.random_bool(0.9).then(|| rng.random_range(150..12_000));
        let call_status = match rng.random_range(0..100) {
            0..=2 => Some("error"),
            3 => Some("timeout"),
            4..=89 => Some("ok"),
            _ => None,
        };
        if last_of_several && rng.random_bool(0.5) {
            let (provider, model, cost) = MANUAL_SERVICE;
            return SyntheticLine {
                call: Call::Manual(provider, model, cost),
                tokens: Tokens::default(),
                latency_ms,
                call_status,
            };
        }
        let call = if rng.random_bool(0.01) {
            let (provider, model) = UNKNOWN_MODELS[rng.random_range(0..UNKNOWN_MODELS.len())];
            Call::Unknown(provider, model)
        } else {
            // Earlier models of the table are called more often.
            let pick: f64 = rng.random::<f64>();
            let models = self.models.clamp(1, KNOWN_MODELS.len());
            Call::Known(&KNOWN_MODELS[((pick * pick * models as f64) as usize).min(models - 1)])
        };
        let tokens = if rng.random_bool(0.01) {
            // The caller did not report the counts: `MISSING_VOLUME_DATA`.
            Tokens::default()
        } else {
            tokens(rng, call)
        };
        SyntheticLine {
            call,
            tokens,
            latency_ms,
            call_status,
        }
    }
}

/// Token counts a provider would report for one call, in its own convention.
fn tokens(rng: &mut StdRng, call: Call) -> Tokens {
    let input = rng.random_range(200..24_000_u64);
    let Call::Known(model) = call else {
        return Tokens {
            input: Some(input),
            output: Some(rng.random_range(20..2_000)),
            ..Tokens::default()
        };
    };
    if model.output.is_none() {
        return Tokens {
            input: Some(input),
            ..Tokens::default()
        };
    }
    let output = rng.random_range(20..2_500_u64);
    let cached = rng
        .random_bool(0.4)
        .then(|| input * rng.random_range(10..90) / 100);
    let creation = (model.cache_creation.is_some() && rng.random_bool(0.2))
        .then(|| rng.random_range(500..4_000));
    // Reasoning inside output where the provider counts it there, so it never exceeds output.
    let reasoning = (model.thinks && rng.random_bool(0.7)).then(|| match model.style {
        super::models::Style::Gemini => rng.random_range(50..3_000),
        _ => output * rng.random_range(10..80) / 100,
    });
    Tokens {
        input: Some(input),
        output: Some(output),
        cached_input: cached,
        cache_creation: creation,
        reasoning,
    }
}

/// SplitMix64's finalizer: spreads neighbouring numbers over the whole seed space.
fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
