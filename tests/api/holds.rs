//! Budget holds (authorize, then capture): many runs that hold before each step never take a BLOCK
//! limit past itself, on one server, on two server processes sharing a PostgreSQL database, and
//! within one run; a hold counts until an event settles it, `ReleaseHold` releases it or it expires;
//! the settled cost replaces the estimate and a step that cost more shows its overrun.
//!
//! Expected figures come from the price list: every step is gpt-4o-mini with 1,000 input and 100
//! output tokens, 0.00021 USD (see `fixtures::EventRecordBuilder`), 2,100,000 units of 1e-10 USD.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use rust_decimal::Decimal;
use tally::pb::{
    self, CheckBudgetRequest, CreateBudgetRequest, GetRunRequest, ListBudgetsRequest,
    RecordEventRequest, ReleaseHoldRequest, budgets_client::BudgetsClient,
    ingest_client::IngestClient,
};
use tonic::{Code, service::interceptor::InterceptedService, transport::Channel};

use crate::{
    cli,
    fixtures::EventRecordBuilder,
    helpers::{ApiKey, Backend, TestApp, spawn_app, violated_fields},
};

/// One step's cost, in 1e-10 USD.
const STEP_E10: i64 = 2_100_000;
const STEP: &str = "0.00021";
/// Concurrent runs of the monthly test.
const RUNS: usize = 20;

fn usd(text: &str) -> Decimal {
    text.parse()
        .unwrap_or_else(|_| panic!("a decimal: {text:?}"))
}

fn e10(units: i64) -> Decimal {
    Decimal::new(units, 10)
}

/// Clients of one server, calling with one key.
#[derive(Clone)]
struct Clients {
    budgets: BudgetsClient<InterceptedService<Channel, ApiKey>>,
    ingest: IngestClient<InterceptedService<Channel, ApiKey>>,
}

impl Clients {
    fn of(address: &str, key: &str) -> Self {
        let channel = Channel::from_shared(format!("http://{address}"))
            .expect("uri")
            .connect_lazy();
        Self {
            budgets: BudgetsClient::with_interceptor(channel.clone(), ApiKey::bearer(key)),
            ingest: IngestClient::with_interceptor(channel, ApiKey::bearer(key)),
        }
    }

    /// `ReleaseHold` of `hold_id`: the hold as it answers.
    async fn release(&mut self, hold_id: &str) -> pb::Hold {
        self.budgets
            .release_hold(ReleaseHoldRequest {
                hold_id: hold_id.to_owned(),
            })
            .await
            .expect("release answers")
            .into_inner()
            .hold
            .expect("a hold")
    }

    async fn check(&mut self, request: CheckBudgetRequest) -> pb::CheckBudgetResponse {
        self.budgets
            .check_budget(request)
            .await
            .expect("check answers")
            .into_inner()
    }

    /// Steps `run` until a check that holds is denied: check and hold, then record the step naming
    /// its hold (idempotency keys `{tag}-{n}`). Returns the steps taken.
    async fn step_until_denied(&mut self, customer: &str, run: &str, tag: &str) -> u32 {
        let mut steps = 0;
        loop {
            let answer = self
                .check(CheckBudgetRequest {
                    run_id: run.to_owned(),
                    customer_id: customer.to_owned(),
                    agent_code: "writer".to_owned(),
                    estimated_cost_usd: STEP.to_owned(),
                    hold: true,
                    ..Default::default()
                })
                .await;
            if !answer.allowed {
                assert!(answer.hold.is_none(), "a denied check holds nothing");
                return steps;
            }
            let hold = answer.hold.expect("an allowed check that asks holds");
            assert_eq!(hold.amount_usd, "0.0002100000");
            let record = EventRecordBuilder::new()
                .key(&format!("{tag}-{steps}"))
                .customer(customer)
                .run(run)
                .build();
            let result = self
                .ingest
                .record_event(RecordEventRequest {
                    record: Some(pb::EventRecord {
                        hold_id: hold.hold_id,
                        ..record
                    }),
                })
                .await
                .expect("record answers")
                .into_inner()
                .result
                .expect("a result");
            assert!(result.stored, "{result:?}");
            steps += 1;
        }
    }
}

async fn block_budget(app: &TestApp, scope: pb::BudgetScope, monthly: &str, per_run: &str) {
    app.budgets(&app.secret_key)
        .create_budget(CreateBudgetRequest {
            budget: Some(pb::Budget {
                name: "hard cap".to_owned(),
                scope: Some(scope),
                monthly_limit_usd: monthly.to_owned(),
                per_run_limit_usd: per_run.to_owned(),
                enforcement: pb::BudgetEnforcement::Block as i32,
                ..Default::default()
            }),
        })
        .await
        .expect("budget created");
}

fn customer_scope(customer: &str) -> pb::BudgetScope {
    pb::BudgetScope {
        kind: pb::BudgetScopeKind::Customer as i32,
        customer_id: customer.to_owned(),
        agent_code: String::new(),
    }
}

/// The entry of `window` in a check's answer.
fn entry(answer: &pb::CheckBudgetResponse, window: pb::BudgetWindow) -> &pb::BudgetCheck {
    answer
        .checks
        .iter()
        .find(|check| check.window == window as i32)
        .unwrap_or_else(|| panic!("a {window:?} entry in {answer:?}"))
}

/// Samples, until `done`, what `sample` reads as spend plus holds, and fails on any sample over
/// `limit`. Returns how many samples it took.
fn watch_limit(
    mut clients: Clients,
    request: CheckBudgetRequest,
    window: pb::BudgetWindow,
    limit: Decimal,
    done: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<u32> {
    tokio::spawn(async move {
        let mut samples = 0;
        while !done.load(Ordering::Relaxed) {
            let answer = clients.check(request.clone()).await;
            let seen = entry(&answer, window);
            let committed = usd(&seen.spent_usd) + usd(&seen.held_usd);
            assert!(
                committed <= limit,
                "spend {} plus holds {} passed the limit {limit}",
                seen.spent_usd,
                seen.held_usd
            );
            samples += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        samples
    })
}

/// Twenty runs of one customer step at once against a monthly BLOCK budget of 0.01 USD, each
/// checking with a hold of its exact cost before every step, on the servers of `addresses` in
/// turn. Spend plus holds never passes the limit, and the month ends at the most whole steps that
/// fit: floor(0.01 / 0.00021) = 47.
async fn twenty_runs_against_one_monthly_limit(app: &TestApp, addresses: &[String]) {
    block_budget(app, customer_scope("acme"), "0.01", "").await;
    let limit = usd("0.01");
    let done = Arc::new(AtomicBool::new(false));
    let sampler = watch_limit(
        Clients::of(&addresses[0], &app.publishable_key),
        CheckBudgetRequest {
            customer_id: "acme".to_owned(),
            agent_code: "writer".to_owned(),
            ..Default::default()
        },
        pb::BudgetWindow::Month,
        limit,
        done.clone(),
    );
    let runs: Vec<_> = (0..RUNS)
        .map(|n| {
            let mut clients = Clients::of(&addresses[n % addresses.len()], &app.secret_key);
            tokio::spawn(async move {
                let run = format!("run-{n}");
                clients.step_until_denied("acme", &run, &run).await
            })
        })
        .collect();
    let mut steps = 0;
    for run in runs {
        steps += run.await.expect("run task");
    }
    done.store(true, Ordering::Relaxed);
    let samples = sampler.await.expect("sampler");
    assert!(samples > 0);

    assert_eq!(steps, 47, "the steps that fit in 0.01 USD at 0.00021 each");
    let mut clients = Clients::of(&addresses[0], &app.publishable_key);
    let end = clients
        .check(CheckBudgetRequest {
            customer_id: "acme".to_owned(),
            agent_code: "writer".to_owned(),
            ..Default::default()
        })
        .await;
    let month = entry(&end, pb::BudgetWindow::Month);
    assert_eq!(usd(&month.spent_usd), e10(47 * STEP_E10));
    assert_eq!(month.held_usd, "0.0000000000", "every hold settled");
    app.assert_totals_match_events().await;
}

async fn concurrent_runs_never_pass_a_monthly_block_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    twenty_runs_against_one_monthly_limit(&app, &[app.address.to_string()]).await;
}

/// The same on two `tally serve` processes sharing one PostgreSQL database: the runs alternate
/// between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_processes_never_pass_a_monthly_block_limit_between_them() {
    let app = spawn_app(Backend::Postgres).await;
    let first = cli::serve(&app.database.url).await;
    let second = cli::serve(&app.database.url).await;
    let addresses = [first.address().to_owned(), second.address().to_owned()];
    twenty_runs_against_one_monthly_limit(&app, &addresses).await;
}

/// Ten steps of one run at once against its per-run BLOCK limit of 0.002 USD: the run ends at
/// floor(0.002 / 0.00021) = 9 steps, never more in spend plus holds.
async fn concurrent_steps_never_pass_a_per_run_block_limit(backend: Backend) {
    let app = spawn_app(backend).await;
    block_budget(&app, customer_scope("acme"), "", "0.002").await;
    let address = app.address.to_string();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = watch_limit(
        Clients::of(&address, &app.publishable_key),
        CheckBudgetRequest {
            run_id: "shared".to_owned(),
            customer_id: "acme".to_owned(),
            agent_code: "writer".to_owned(),
            ..Default::default()
        },
        pb::BudgetWindow::Run,
        usd("0.002"),
        done.clone(),
    );
    let steps: Vec<_> = (0..10)
        .map(|n| {
            let mut clients = Clients::of(&address, &app.secret_key);
            tokio::spawn(async move {
                clients
                    .step_until_denied("acme", "shared", &format!("task-{n}"))
                    .await
            })
        })
        .collect();
    let mut taken = 0;
    for step in steps {
        taken += step.await.expect("step task");
    }
    done.store(true, Ordering::Relaxed);
    sampler.await.expect("sampler");
    assert_eq!(taken, 9);
    let run = run_of(&app, "shared").await.expect("run");
    assert_eq!(usd(&run.total_cost_usd), e10(9 * STEP_E10));
    assert!(run.open_holds.is_empty());
    assert_eq!(run.hold_overrun_usd, "0.0000000000");
}

/// `GetRun` of `run_id`.
async fn run_of(app: &TestApp, run_id: &str) -> Result<pb::Run, tonic::Status> {
    let answer = app
        .runs(&app.publishable_key)
        .get_run(GetRunRequest {
            run_id: run_id.to_owned(),
        })
        .await?;
    Ok(answer.into_inner().run.expect("a run"))
}

fn hold_check(customer: &str, run: &str, estimate: &str) -> CheckBudgetRequest {
    CheckBudgetRequest {
        run_id: run.to_owned(),
        customer_id: customer.to_owned(),
        agent_code: "writer".to_owned(),
        estimated_cost_usd: estimate.to_owned(),
        hold: true,
        ..Default::default()
    }
}

/// A hold counts as spent until an event settles it (the actual cost replaces it, and a cost above
/// the estimate shows as the hold's and the run's overrun), `ReleaseHold` releases it (idempotent),
/// or it expires by itself.
async fn a_hold_counts_until_settled_released_or_expired(backend: Backend) {
    let app = spawn_app(backend).await;
    block_budget(&app, customer_scope("acme"), "0.001", "").await;
    let mut clients = Clients::of(&app.address.to_string(), &app.secret_key);

    let first = clients.check(hold_check("acme", "r1", "0.0008")).await;
    assert!(first.allowed);
    let held = first.hold.expect("held");
    assert_eq!(held.state, pb::HoldState::Open as i32);
    assert_eq!(
        (
            held.run_id.as_str(),
            held.customer_id.as_str(),
            held.agent_code.as_str()
        ),
        ("r1", "acme", "writer")
    );
    let denied = clients.check(hold_check("acme", "r2", "0.0003")).await;
    assert!(!denied.allowed && denied.hold.is_none());
    let month = entry(&denied, pb::BudgetWindow::Month);
    assert_eq!(
        (
            month.spent_usd.as_str(),
            month.held_usd.as_str(),
            month.remaining_usd.as_str()
        ),
        ("0.0000000000", "0.0008000000", "0.0002000000")
    );
    assert!(!month.exceeded && month.would_exceed && month.denies);

    let listed = app
        .budgets(&app.publishable_key)
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect("list")
        .into_inner()
        .budgets;
    assert_eq!(
        (
            listed[0].month_spent_usd.as_str(),
            listed[0].month_held_usd.as_str()
        ),
        ("0.0000000000", "0.0008000000")
    );
    let run = run_of(&app, "r1").await;
    assert_eq!(
        run.expect_err("r1 has no event yet").code(),
        Code::NotFound,
        "a hold starts no run"
    );

    // Released: it stops counting at once; releasing again answers the same.
    let released = clients.release(&held.hold_id).await;
    assert_eq!(released.state, pb::HoldState::Released as i32);
    assert!(released.end_time.is_some());
    let again = clients.release(&held.hold_id).await;
    assert_eq!(again, released);

    // Settled by its event: estimated 0.0001, cost 0.00021, an overrun of 0.00011.
    let small = clients.check(hold_check("acme", "r3", "0.0001")).await;
    let small = small.hold.expect("allowed after the release");
    let open = run_of(&app, "r3").await;
    assert_eq!(open.expect_err("no event yet").code(), Code::NotFound);
    let result = app
        .record_one(pb::EventRecord {
            hold_id: small.hold_id.clone(),
            ..EventRecordBuilder::new().key("r3-0").run("r3").build()
        })
        .await;
    assert!(result.stored, "{result:?}");
    let run = run_of(&app, "r3").await.expect("run");
    assert!(run.open_holds.is_empty());
    assert_eq!(run.hold_overrun_usd, "0.0001100000");
    let settled = clients.release(&small.hold_id).await;
    assert_eq!(settled.state, pb::HoldState::Settled as i32);
    assert_eq!(settled.event_id, result.event_id);
    assert_eq!(
        (
            settled.settled_cost_usd.as_str(),
            settled.overrun_usd.as_str()
        ),
        ("0.0002100000", "0.0001100000")
    );
    // A retry of the event settles nothing twice and counts once.
    let retry = app
        .record_one(EventRecordBuilder::new().key("r3-0").run("r3").build())
        .await;
    assert!(retry.duplicate);

    // Open on a run: GetRun lists it; it expires by itself after its time to live.
    let short = clients
        .check(CheckBudgetRequest {
            hold_ttl: Some(prost_types::Duration {
                seconds: 1,
                nanos: 0,
            }),
            ..hold_check("acme", "r3", "0.0005")
        })
        .await
        .hold
        .expect("held");
    let run = run_of(&app, "r3").await.expect("run");
    assert_eq!(run.open_holds.len(), 1);
    assert_eq!(run.open_holds[0].hold_id, short.hold_id);
    let over = clients.check(hold_check("acme", "r4", "0.0003")).await;
    assert!(
        !over.allowed,
        "0.00021 spent + 0.0005 held + 0.0003 > 0.001"
    );
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let after = clients.check(hold_check("acme", "r4", "0.0003")).await;
    assert!(after.allowed, "the expired hold counts no more: {after:?}");
    let expired = clients.release(&short.hold_id).await;
    assert_eq!(expired.state, pb::HoldState::Expired as i32);
    assert!(expired.end_time.is_none());
    app.assert_totals_match_events().await;
}

/// Wrong requests name their field; an unknown hold is `NOT_FOUND`; a record naming a malformed
/// hold is refused alone, and one naming an unknown hold is stored.
async fn hold_requests_name_what_is_wrong(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut budgets = app.budgets(&app.secret_key);
    let refused = |request: CheckBudgetRequest| {
        let mut budgets = budgets.clone();
        async move { budgets.check_budget(request).await.expect_err("refused") }
    };
    let no_estimate = refused(hold_check("acme", "r", "")).await;
    assert_eq!(no_estimate.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&no_estimate), ["estimated_cost_usd"]);
    let too_long = refused(CheckBudgetRequest {
        hold_ttl: Some(prost_types::Duration {
            seconds: 3_601,
            nanos: 0,
        }),
        ..hold_check("acme", "r", "0.1")
    })
    .await;
    assert_eq!(violated_fields(&too_long), ["hold_ttl"]);
    let ttl_alone = refused(CheckBudgetRequest {
        hold: false,
        hold_ttl: Some(prost_types::Duration {
            seconds: 60,
            nanos: 0,
        }),
        ..hold_check("acme", "r", "0.1")
    })
    .await;
    assert_eq!(violated_fields(&ttl_alone), ["hold_ttl"]);
    let unknown_run = refused(CheckBudgetRequest {
        customer_id: String::new(),
        agent_code: String::new(),
        ..hold_check("acme", "nobody", "0.1")
    })
    .await;
    assert_eq!(unknown_run.code(), Code::NotFound);

    let bad_id = budgets
        .release_hold(ReleaseHoldRequest {
            hold_id: "not-a-uuid".to_owned(),
        })
        .await
        .expect_err("refused");
    assert_eq!(violated_fields(&bad_id), ["hold_id"]);
    let unknown = budgets
        .release_hold(ReleaseHoldRequest {
            hold_id: uuid::Uuid::now_v7().to_string(),
        })
        .await
        .expect_err("refused");
    assert_eq!(unknown.code(), Code::NotFound);
    let reading_key = app
        .budgets(&app.publishable_key)
        .check_budget(hold_check("acme", "r", "0.1"))
        .await
        .expect_err("a publishable key cannot hold");
    assert_eq!(reading_key.code(), Code::PermissionDenied);
    let reader = app
        .budgets(&app.publishable_key)
        .release_hold(ReleaseHoldRequest {
            hold_id: uuid::Uuid::now_v7().to_string(),
        })
        .await
        .expect_err("a publishable key only reads");
    assert_eq!(reader.code(), Code::PermissionDenied);

    let results = app
        .record_batch(vec![
            pb::EventRecord {
                hold_id: "nope".to_owned(),
                ..EventRecordBuilder::new().key("bad").build()
            },
            pb::EventRecord {
                hold_id: uuid::Uuid::now_v7().to_string(),
                ..EventRecordBuilder::new().key("unknown-hold").build()
            },
        ])
        .await;
    assert!(!results[0].stored);
    assert_eq!(
        results[0]
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect::<Vec<_>>(),
        ["hold_id"]
    );
    assert!(results[1].stored, "{:?}", results[1]);
}

crate::on_both_databases!(
    concurrent_runs_never_pass_a_monthly_block_limit,
    concurrent_steps_never_pass_a_per_run_block_limit,
    a_hold_counts_until_settled_released_or_expired,
    hold_requests_name_what_is_wrong,
);
