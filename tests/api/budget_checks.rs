//! CheckBudget through the API: budgets of every scope, a per-run block that stops one run and not
//! its neighbour, an alert that never denies, the estimate of the next step, a monthly limit that
//! resets at the month boundary (back-dated events count in their own month), runs flagged when they
//! pass a limit, and two servers on one database agreeing on spend.

use chrono::{Datelike, TimeZone, Utc};
use prost_types::Timestamp;
use tally::pb::{self, CheckBudgetRequest, CreateBudgetRequest, EventRecord, GetRunRequest};
use tonic::Code;

use crate::{
    fixtures::EventRecordBuilder,
    helpers::{Backend, TestApp, spawn_app, spawn_app_on},
};

/// gpt-4o-mini, 1000 input and 100 output tokens: 0.00015 + 0.00006 = 0.00021 USD.
const STEP_COST: &str = "0.0002100000";

fn step(customer: &str, agent: &str, run: &str, key: &str, at: Option<Timestamp>) -> EventRecord {
    EventRecordBuilder::new()
        .key(key)
        .customer(customer)
        .agent(agent)
        .run(run)
        .at(at)
        .build()
}

async fn record(app: &TestApp, records: Vec<EventRecord>) {
    let results = app.record_all(records).await;
    assert!(
        results.iter().all(|r| r.total_cost_usd == STEP_COST),
        "{results:?}"
    );
}

async fn budget(
    app: &TestApp,
    name: &str,
    scope: pb::BudgetScope,
    monthly: &str,
    per_run: &str,
    block: bool,
) -> String {
    let enforcement = if block {
        pb::BudgetEnforcement::Block
    } else {
        pb::BudgetEnforcement::Alert
    };
    app.budgets(&app.secret_key)
        .create_budget(CreateBudgetRequest {
            budget: Some(pb::Budget {
                name: name.to_owned(),
                scope: Some(scope),
                monthly_limit_usd: monthly.to_owned(),
                per_run_limit_usd: per_run.to_owned(),
                enforcement: enforcement as i32,
                ..Default::default()
            }),
        })
        .await
        .expect("budget created")
        .into_inner()
        .budget
        .expect("budget")
        .budget_id
}

fn scope(kind: pb::BudgetScopeKind, customer: &str, agent: &str) -> pb::BudgetScope {
    pb::BudgetScope {
        kind: kind as i32,
        customer_id: customer.to_owned(),
        agent_code: agent.to_owned(),
    }
}

async fn check(app: &TestApp, request: CheckBudgetRequest) -> pb::CheckBudgetResponse {
    app.budgets(&app.publishable_key)
        .check_budget(request)
        .await
        .expect("check answers")
        .into_inner()
}

fn for_run(run: &str) -> CheckBudgetRequest {
    CheckBudgetRequest {
        run_id: run.to_owned(),
        ..Default::default()
    }
}

async fn a_per_run_block_stops_one_run_and_not_its_neighbour(backend: Backend) {
    let app = spawn_app(backend).await;
    let budget_id = budget(
        &app,
        "per run",
        scope(pb::BudgetScopeKind::Agent, "", "researcher"),
        "",
        "0.0005",
        true,
    )
    .await;
    // Run A: three steps, 0.00063 > 0.0005. Run B: one step, same customer and agent.
    record(
        &app,
        (0..3)
            .map(|n| step("acme", "researcher", "run-a", &format!("a{n}"), None))
            .collect(),
    )
    .await;
    record(&app, vec![step("acme", "researcher", "run-b", "b0", None)]).await;

    let a = check(&app, for_run("run-a")).await;
    assert!(!a.allowed, "{a:?}");
    let denying = &a.checks[0];
    assert!(denying.denies && denying.exceeded);
    assert_eq!(denying.window, pb::BudgetWindow::Run as i32);
    assert_eq!(
        (denying.limit_usd.as_str(), denying.spent_usd.as_str()),
        ("0.0005000000", "0.0006300000")
    );
    assert_eq!(denying.remaining_usd, "-0.0001300000");
    let b = check(&app, for_run("run-b")).await;
    assert!(b.allowed, "the neighbour goes on: {b:?}");
    assert_eq!(b.checks[0].spent_usd, STEP_COST);

    // The estimate of the next step counts: 0.00021 + 0.0003 would pass 0.0005.
    let b_big = check(
        &app,
        CheckBudgetRequest {
            estimated_cost_usd: "0.0003".into(),
            ..for_run("run-b")
        },
    )
    .await;
    assert!(!b_big.allowed && b_big.checks[0].would_exceed && !b_big.checks[0].exceeded);

    // The run that passed the limit is flagged; its later events are still stored.
    let run_a = app
        .runs(&app.secret_key)
        .get_run(GetRunRequest {
            run_id: "run-a".into(),
        })
        .await
        .expect("run")
        .into_inner()
        .run
        .expect("run");
    let flag = run_a
        .flags
        .iter()
        .find(|f| f.flag == pb::RunFlag::BudgetExceeded as i32)
        .expect("flagged");
    assert_eq!(flag.budget_id, budget_id);
    record(&app, vec![step("acme", "researcher", "run-a", "a3", None)]).await;
    let run_b = app
        .runs(&app.secret_key)
        .get_run(GetRunRequest {
            run_id: "run-b".into(),
        })
        .await
        .expect("run")
        .into_inner()
        .run
        .expect("run");
    assert!(run_b.flags.is_empty());
    app.assert_totals_match_events().await;
}

async fn budgets_of_every_scope_apply_hierarchically(backend: Backend) {
    let app = spawn_app(backend).await;
    budget(
        &app,
        "project",
        scope(pb::BudgetScopeKind::Project, "", ""),
        "1",
        "",
        true,
    )
    .await;
    budget(
        &app,
        "customer",
        scope(pb::BudgetScopeKind::Customer, "acme", ""),
        "0.0004",
        "",
        true,
    )
    .await;
    budget(
        &app,
        "agent",
        scope(pb::BudgetScopeKind::Agent, "", "writer"),
        "1",
        "",
        false,
    )
    .await;
    budget(
        &app,
        "pair",
        scope(pb::BudgetScopeKind::CustomerAgent, "acme", "writer"),
        "1",
        "",
        true,
    )
    .await;
    budget(
        &app,
        "other customer",
        scope(pb::BudgetScopeKind::Customer, "globex", ""),
        "0.000001",
        "",
        true,
    )
    .await;
    record(
        &app,
        vec![
            step("acme", "writer", "", "w0", None),
            step("acme", "writer", "", "w1", None),
        ],
    )
    .await;
    record(&app, vec![step("initech", "writer", "", "i0", None)]).await;

    let acme = check(
        &app,
        CheckBudgetRequest {
            customer_id: "acme".into(),
            agent_code: "writer".into(),
            ..Default::default()
        },
    )
    .await;
    let names: Vec<String> = acme
        .checks
        .iter()
        .map(|c| c.budget.as_ref().expect("budget").name.clone())
        .collect();
    assert_eq!(names.len(), 4, "globex's budget does not apply: {names:?}");
    assert!(
        !acme.allowed,
        "the customer's budget is passed (0.00042 > 0.0004), so every step is denied"
    );
    assert_eq!(names[0], "customer", "denying entries first");
    let spent = |response: &pb::CheckBudgetResponse, name: &str| {
        response
            .checks
            .iter()
            .find(|c| c.budget.as_ref().map(|b| b.name.as_str()) == Some(name))
            .expect(name)
            .spent_usd
            .clone()
    };
    assert_eq!(spent(&acme, "project"), "0.0006300000", "the whole project");
    assert_eq!(spent(&acme, "customer"), "0.0004200000");
    assert_eq!(
        spent(&acme, "agent"),
        "0.0006300000",
        "all customers of the agent"
    );
    assert_eq!(spent(&acme, "pair"), "0.0004200000");

    let initech = check(
        &app,
        CheckBudgetRequest {
            customer_id: "initech".into(),
            agent_code: "writer".into(),
            ..Default::default()
        },
    )
    .await;
    assert!(
        initech.allowed,
        "another customer is not held back by acme's budget: {initech:?}"
    );
    let nothing = check(
        &app,
        CheckBudgetRequest {
            customer_id: "new".into(),
            agent_code: "other".into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(nothing.checks.len(), 1, "only the project budget covers it");
}

async fn an_alert_budget_never_denies(backend: Backend) {
    let app = spawn_app(backend).await;
    budget(
        &app,
        "watch",
        scope(pb::BudgetScopeKind::Customer, "acme", ""),
        "0.0001",
        "0.0001",
        false,
    )
    .await;
    record(&app, vec![step("acme", "writer", "run-1", "w0", None)]).await;
    let response = check(
        &app,
        CheckBudgetRequest {
            estimated_cost_usd: "5".into(),
            ..for_run("run-1")
        },
    )
    .await;
    assert!(response.allowed);
    assert_eq!(
        response.checks.len(),
        2,
        "the monthly and the per-run limit"
    );
    assert!(
        response
            .checks
            .iter()
            .all(|c| c.exceeded && c.would_exceed && !c.denies)
    );
    let run = app
        .runs(&app.secret_key)
        .get_run(GetRunRequest {
            run_id: "run-1".into(),
        })
        .await
        .expect("run")
        .into_inner()
        .run
        .expect("run");
    assert!(
        run.flags
            .iter()
            .any(|f| f.flag == pb::RunFlag::BudgetExceeded as i32),
        "an alert still flags the run"
    );
}

async fn a_monthly_limit_resets_at_the_month_boundary(backend: Backend) {
    let app = spawn_app(backend).await;
    budget(
        &app,
        "monthly",
        scope(pb::BudgetScopeKind::Agent, "", "writer"),
        "0.0005",
        "",
        true,
    )
    .await;
    let now = Utc::now();
    let last_month = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .expect("month")
        - chrono::TimeDelta::days(3);
    let then = Timestamp {
        seconds: last_month.timestamp(),
        nanos: 0,
    };
    record(
        &app,
        (0..5)
            .map(|n| step("acme", "writer", "", &format!("old{n}"), Some(then)))
            .collect(),
    )
    .await;
    let request = || CheckBudgetRequest {
        customer_id: "acme".into(),
        agent_code: "writer".into(),
        ..Default::default()
    };
    let fresh = check(&app, request()).await;
    assert!(
        fresh.allowed,
        "last month's spend counts in last month: {fresh:?}"
    );
    assert_eq!(fresh.checks[0].spent_usd, "0.0000000000");
    let window = fresh.checks[0].window_start_time.expect("window");
    assert_eq!(
        window.seconds,
        Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
            .single()
            .expect("month")
            .timestamp()
    );

    record(
        &app,
        (0..3)
            .map(|n| step("acme", "writer", "", &format!("new{n}"), None))
            .collect(),
    )
    .await;
    let spent = check(&app, request()).await;
    assert!(!spent.allowed, "0.00063 this month passes 0.0005");
    assert_eq!(spent.checks[0].spent_usd, "0.0006300000");
}

async fn requests_name_what_to_check(backend: Backend) {
    let app = spawn_app(backend).await;
    record(&app, vec![step("acme", "writer", "run-1", "w0", None)]).await;
    let mut budgets = app.budgets(&app.publishable_key);
    let unknown = budgets
        .check_budget(for_run("never-started"))
        .await
        .expect_err("unknown run");
    assert_eq!(unknown.code(), Code::NotFound);
    let starting = budgets
        .check_budget(CheckBudgetRequest {
            customer_id: "acme".into(),
            agent_code: "writer".into(),
            ..for_run("next-run")
        })
        .await
        .expect("a run about to start is checked as new")
        .into_inner();
    assert!(starting.allowed);
    let nothing = budgets
        .check_budget(CheckBudgetRequest::default())
        .await
        .expect_err("nothing named");
    assert_eq!(nothing.code(), Code::InvalidArgument);
    let mismatch = budgets
        .check_budget(CheckBudgetRequest {
            customer_id: "globex".into(),
            ..for_run("run-1")
        })
        .await
        .expect_err("the run is acme's");
    assert_eq!(mismatch.code(), Code::InvalidArgument);
    let bad_estimate = budgets
        .check_budget(CheckBudgetRequest {
            estimated_cost_usd: "1e-3".into(),
            ..for_run("run-1")
        })
        .await
        .expect_err("not a decimal");
    assert_eq!(bad_estimate.code(), Code::InvalidArgument);
}

/// A run not started yet has no start: its window's start is unset (the contract), while the
/// month's window starts on the month's first instant; once started, the run's window starts at
/// its first event.
async fn a_run_not_started_has_no_window_start(backend: Backend) {
    let app = spawn_app(backend).await;
    budget(
        &app,
        "both",
        scope(pb::BudgetScopeKind::Customer, "acme", ""),
        "10",
        "1",
        true,
    )
    .await;
    let not_started = CheckBudgetRequest {
        customer_id: "acme".into(),
        agent_code: "writer".into(),
        ..for_run("later-run")
    };
    let windows = |response: &pb::CheckBudgetResponse| {
        let mut windows: Vec<(i32, Option<Timestamp>)> = response
            .checks
            .iter()
            .map(|check| (check.window, check.window_start_time))
            .collect();
        windows.sort_by_key(|(window, _)| *window);
        windows
    };
    let now = Utc::now();
    let month = Timestamp {
        seconds: Utc
            .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
            .unwrap()
            .timestamp(),
        nanos: 0,
    };
    let before = check(&app, not_started.clone()).await;
    assert!(before.allowed);
    assert_eq!(
        windows(&before),
        [
            (pb::BudgetWindow::Month as i32, Some(month)),
            (pb::BudgetWindow::Run as i32, None),
        ]
    );

    // A minute ago: never in the future, and not the month's start.
    let started = Timestamp {
        seconds: now.timestamp() - 60,
        nanos: 0,
    };
    record(
        &app,
        vec![step("acme", "writer", "later-run", "k0", Some(started))],
    )
    .await;
    let after = check(&app, not_started).await;
    assert_eq!(
        windows(&after),
        [
            (pb::BudgetWindow::Month as i32, Some(month)),
            (pb::BudgetWindow::Run as i32, Some(started)),
        ]
    );
}

async fn two_servers_on_one_database_agree_on_spend(backend: Backend) {
    let first = spawn_app(backend).await;
    let second = spawn_app_on(first.database.alias()).await;
    budget(
        &first,
        "monthly",
        scope(pb::BudgetScopeKind::Customer, "acme", ""),
        "1",
        "1",
        true,
    )
    .await;
    let mut a = Vec::new();
    let mut b = Vec::new();
    for n in 0..6 {
        let record = step("acme", "writer", "shared-run", &format!("k{n}"), None);
        if n % 2 == 0 {
            a.push(record)
        } else {
            b.push(record)
        }
    }
    let (one, two) = tokio::join!(
        first.record_batch(a),
        second.record_batch_as(&first.secret_key, b)
    );
    assert!(one.iter().chain(&two).all(|r| r.stored));
    let ask = |app: &TestApp| {
        let mut client = app.budgets(&first.publishable_key);
        async move {
            client
                .check_budget(for_run("shared-run"))
                .await
                .expect("check")
                .into_inner()
        }
    };
    let (seen_by_first, seen_by_second) = tokio::join!(ask(&first), ask(&second));
    let spent = |response: &pb::CheckBudgetResponse| {
        response
            .checks
            .iter()
            .map(|c| c.spent_usd.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        spent(&seen_by_first),
        ["0.0012600000", "0.0012600000"],
        "month and run: six steps"
    );
    assert_eq!(spent(&seen_by_first), spent(&seen_by_second));
    first.assert_totals_match_events().await;
}

crate::on_both_databases!(
    a_per_run_block_stops_one_run_and_not_its_neighbour,
    budgets_of_every_scope_apply_hierarchically,
    an_alert_budget_never_denies,
    a_monthly_limit_resets_at_the_month_boundary,
    requests_name_what_to_check,
    a_run_not_started_has_no_window_start,
    two_servers_on_one_database_agree_on_spend,
);
