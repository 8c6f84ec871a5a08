//! The `CheckBudget` benchmark: an agent's pre-step check, called at a steady rate over one
//! connection, with the ingest load generator optionally running at full speed beside it. Reports
//! the latency of every check and, when ingest runs, the ingest figures, so that both the check's
//! latency and its cost to ingest can be read off one run.

use std::{
    fmt,
    time::{Duration, Instant},
};

use anyhow::{Context as _, ensure};
use rand::{Rng as _, SeedableRng as _, rngs::StdRng};
use serde::Serialize;
use tally_client::pb::{self, budgets_client::BudgetsClient};
use tonic::{
    metadata::{Ascii, MetadataValue},
    transport::{Channel, Endpoint},
};

use super::{
    authorized,
    ingest::{StreamSettings, stream_events},
    report::{Latency, Report},
    synthetic::{AGENTS, RUNS_PER_CUSTOMER, Workload},
};

/// How the checks are made.
#[derive(Clone, Copy, Debug)]
pub struct CheckSettings {
    /// Checks to make without ingest; beside ingest, checks go on until ingest ends.
    pub checks: u64,
    /// Checks per second (paced; a check that is late is not made up for).
    pub rate: u32,
    /// Stream the workload's events at full speed while checking.
    pub with_ingest: Option<StreamSettings>,
    /// Place a hold with each check (and release it, untimed), against BLOCK budgets.
    pub hold: bool,
}

/// What a check run measured.
#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub benchmark: &'static str,
    /// Whether each check placed a hold.
    pub hold: bool,
    pub checks: u64,
    pub allowed: u64,
    pub denied: u64,
    pub rate: u32,
    pub wall_seconds: f64,
    /// Latency of one `CheckBudget` call, from sending to answer.
    pub latency_ms: Latency,
    /// Budgets the average check answered with.
    pub budgets_per_check: f64,
    /// The ingest run beside the checks, if any.
    pub ingest: Option<Report>,
}

/// Budgets the benchmark creates (once per project; they are found again by name): a project
/// budget, one per agent, one per customer-agent pair of the first customers, and a per-run limit,
/// all `ALERT` with limits far above the workload's spend, so that every check reads every counter
/// and none denies. With `block` (checks that hold), the same as `BLOCK` budgets, named apart.
fn budgets(workload: &Workload, block: bool) -> Vec<pb::Budget> {
    let (enforcement, suffix) = if block {
        (pb::BudgetEnforcement::Block, " (block)")
    } else {
        (pb::BudgetEnforcement::Alert, "")
    };
    let budget = |name: String, kind: pb::BudgetScopeKind, customer: &str, agent: &str| {
        let run = name.ends_with("per run");
        pb::Budget {
            name: format!("{name}{suffix}"),
            scope: Some(pb::BudgetScope {
                kind: kind.into(),
                customer_id: customer.to_owned(),
                agent_code: agent.to_owned(),
            }),
            monthly_limit_usd: if run { String::new() } else { "1000000".into() },
            per_run_limit_usd: if run { "1000".into() } else { String::new() },
            enforcement: enforcement.into(),
            ..Default::default()
        }
    };
    let mut budgets = vec![
        budget("bench project".into(), pb::BudgetScopeKind::Project, "", ""),
        budget("bench per run".into(), pb::BudgetScopeKind::Project, "", ""),
    ];
    for (agent, _) in AGENTS {
        budgets.push(budget(
            format!("bench agent {agent}"),
            pb::BudgetScopeKind::Agent,
            "",
            agent,
        ));
    }
    for c in 0..workload.customers.min(100) {
        let customer = Workload::customer_id(c);
        budgets.push(budget(
            format!("bench customer {customer}"),
            pb::BudgetScopeKind::Customer,
            &customer,
            "",
        ));
    }
    budgets
}

/// Creates the benchmark's budgets that the project does not have yet.
async fn ensure_budgets(
    client: &mut BudgetsClient<Channel>,
    auth: &MetadataValue<Ascii>,
    workload: &Workload,
    block: bool,
) -> anyhow::Result<()> {
    let mut existing = std::collections::HashSet::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_budgets(authorized(
                pb::ListBudgetsRequest {
                    page_size: 100,
                    page_token,
                    ..Default::default()
                },
                auth,
            ))
            .await
            .context("ListBudgets")?
            .into_inner();
        existing.extend(page.budgets.into_iter().map(|budget| budget.name));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    for budget in budgets(workload, block) {
        if existing.contains(&budget.name) {
            continue;
        }
        let name = budget.name.clone();
        client
            .create_budget(authorized(
                pb::CreateBudgetRequest {
                    budget: Some(budget),
                },
                auth,
            ))
            .await
            .with_context(|| format!("CreateBudget {name:?}"))?;
    }
    Ok(())
}

/// Runs the checks (and the ingest beside them) against the server at `endpoint`.
pub async fn check_budgets(
    endpoint: &Endpoint,
    key: &str,
    workload: &Workload,
    settings: CheckSettings,
) -> anyhow::Result<CheckReport> {
    ensure!(settings.checks >= 1, "--checks must be at least 1");
    ensure!(settings.rate >= 1, "--rate must be at least 1");
    let auth: MetadataValue<Ascii> = format!("Bearer {key}")
        .parse()
        .context("the key is not printable ASCII")?;
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("cannot connect to {}", endpoint.uri()))?;
    let mut client = BudgetsClient::new(channel);
    ensure_budgets(&mut client, &auth, workload, settings.hold).await?;

    let ingest = settings.with_ingest.map(|streams| {
        let (endpoint, key, workload) = (endpoint.clone(), key.to_owned(), workload.clone());
        tokio::spawn(async move { stream_events(&endpoint, &key, &workload, streams).await })
    });

    let mut rng = StdRng::seed_from_u64(workload.seed);
    let mut ticker = tokio::time::interval(Duration::from_secs(1) / settings.rate);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut latencies = Vec::with_capacity(settings.checks as usize);
    let (mut checks, mut allowed, mut answered_budgets) = (0_u64, 0, 0);
    let started = Instant::now();
    loop {
        // Beside ingest, checks go on for exactly as long as ingest runs.
        let done = match &ingest {
            Some(task) => task.is_finished(),
            None => checks >= settings.checks,
        };
        if done {
            break;
        }
        ticker.tick().await;
        checks += 1;
        let run = rng.random_range(0..workload.customers * RUNS_PER_CUSTOMER);
        let request = pb::CheckBudgetRequest {
            run_id: workload.run_id(run),
            customer_id: Workload::customer_id(run / RUNS_PER_CUSTOMER),
            agent_code: AGENTS[Workload::run_agent(run)].0.to_owned(),
            estimated_cost_usd: "0.0125".into(),
            hold: settings.hold,
            hold_ttl: None,
        };
        let begun = Instant::now();
        let answer = client
            .check_budget(authorized(request, &auth))
            .await
            .context("CheckBudget failed")?
            .into_inner();
        latencies.push(begun.elapsed());
        if let Some(hold) = &answer.hold {
            let release = pb::ReleaseHoldRequest {
                hold_id: hold.hold_id.clone(),
            };
            client
                .release_hold(authorized(release, &auth))
                .await
                .context("ReleaseHold failed")?;
        }
        allowed += u64::from(answer.allowed);
        answered_budgets += answer.checks.len() as u64;
    }
    let wall = started.elapsed();
    let ingest = match ingest {
        Some(task) => Some(task.await.context("the ingest task panicked")??),
        None => None,
    };
    Ok(CheckReport {
        benchmark: "check",
        hold: settings.hold,
        checks,
        allowed,
        denied: checks - allowed,
        rate: settings.rate,
        wall_seconds: wall.as_secs_f64(),
        latency_ms: Latency::of(latencies),
        budgets_per_check: answered_budgets as f64 / checks.max(1) as f64,
        ingest,
    })
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "check (grpc){}",
            if self.hold { ", placing holds" } else { "" }
        )?;
        writeln!(
            f,
            "  checks            {} at {}/s ({} allowed, {} denied)",
            self.checks, self.rate, self.allowed, self.denied
        )?;
        writeln!(f, "  budgets per check {:.1}", self.budgets_per_check)?;
        writeln!(f, "  wall time         {:.3} s", self.wall_seconds)?;
        let l = self.latency_ms;
        writeln!(
            f,
            "  check latency ms  p50 {:.3}  p90 {:.3}  p99 {:.3}  max {:.3}",
            l.p50, l.p90, l.p99, l.max
        )?;
        if let Some(ingest) = &self.ingest {
            write!(f, "{ingest}")?;
        }
        Ok(())
    }
}
