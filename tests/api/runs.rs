//! Runs through the API: explicit and implicit runs, idempotent start, each terminal transition and
//! the refused ones, outcomes, a summary whose cost and per-model figures equal the sum of its events
//! worked out here, each flag raised by a constructed run and not by a normal one, and listings.

use std::collections::HashMap;

use prost_types::Timestamp;
use tally::pb::{
    self, CompleteRunRequest, CustomerAttribution, EventRecord, FailRunRequest, GetRunRequest,
    ListRunsRequest, Outcome, RecordOutcomeRequest, ServiceUsage, StartRunRequest,
    event_record::Usage,
};
use tonic::Code;

use crate::helpers::{Backend, TestApp, spawn_app};

fn customer(id: &str) -> Option<CustomerAttribution> {
    Some(CustomerAttribution {
        id: id.to_owned(),
        name: "Northstar Agency".to_owned(),
        plan: Some(pb::Plan {
            name: "pro".to_owned(),
            monthly_usd: "99".to_owned(),
        }),
    })
}

fn start(run_id: &str, agent: &str) -> StartRunRequest {
    StartRunRequest {
        run_id: run_id.to_owned(),
        agent_code: agent.to_owned(),
        customer: customer("workspace_42"),
        user_id: "user_7".to_owned(),
        ..Default::default()
    }
}

fn step(
    run_id: &str,
    key: &str,
    model: &str,
    input: u64,
    output: u64,
    seconds: i64,
) -> EventRecord {
    EventRecord {
        idempotency_key: key.to_owned(),
        run_id: run_id.to_owned(),
        usage_time: Some(Timestamp {
            seconds: chrono::Utc::now().timestamp() - 3_600 + seconds,
            nanos: 0,
        }),
        usage: Some(Usage::Service(ServiceUsage {
            provider: "openai".to_owned(),
            model: model.to_owned(),
            input_tokens: Some(input),
            output_tokens: Some(output),
            ..Default::default()
        })),
        ..Default::default()
    }
}

async fn get(app: &TestApp, run_id: &str) -> pb::Run {
    app.runs(&app.publishable_key)
        .get_run(GetRunRequest {
            run_id: run_id.to_owned(),
        })
        .await
        .expect("run found")
        .into_inner()
        .run
        .expect("run")
}

fn flags(run: &pb::Run) -> Vec<pb::RunFlag> {
    run.flags
        .iter()
        .map(|flag| pb::RunFlag::try_from(flag.flag).expect("flag"))
        .collect()
}

fn e10(usd: &str) -> i64 {
    let (whole, fraction) = usd.split_once('.').expect("10 places");
    assert_eq!(fraction.len(), 10, "{usd}");
    whole.parse::<i64>().expect("whole") * 10_000_000_000
        + fraction.parse::<i64>().expect("fraction")
}

async fn runs_start_explicitly_and_idempotently(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut runs = app.runs(&app.secret_key);
    let first = runs
        .start_run(start("run-1", "support_reply"))
        .await
        .expect("started")
        .into_inner();
    assert!(first.created);
    let run = first.run.expect("run");
    assert_eq!(
        (run.run_id.as_str(), run.status),
        ("run-1", pb::RunStatus::Running as i32)
    );
    let customer = run.customer.expect("customer");
    assert_eq!(
        (customer.id.as_str(), customer.name.as_str()),
        ("workspace_42", "Northstar Agency")
    );
    assert_eq!(customer.plan.map(|p| p.name), Some("pro".to_owned()));
    assert_eq!(
        (run.total_cost_usd.as_str(), run.step_count),
        ("0.0000000000", 0)
    );

    let again = runs
        .start_run(start("run-1", "support_reply"))
        .await
        .expect("same run")
        .into_inner();
    assert!(!again.created, "the same id returns the same run");
    assert_eq!(again.run.expect("run").start_time, run.start_time);
    let clash = runs
        .start_run(start("run-1", "other_agent"))
        .await
        .expect_err("another agent");
    assert_eq!(clash.code(), Code::AlreadyExists);

    let generated = runs
        .start_run(StartRunRequest {
            run_id: String::new(),
            ..start("", "support_reply")
        })
        .await
        .expect("started")
        .into_inner();
    assert!(
        uuid::Uuid::parse_str(&generated.run.expect("run").run_id).is_ok(),
        "the server makes an id"
    );
    let invalid = runs
        .start_run(StartRunRequest {
            agent_code: String::new(),
            customer: None,
            ..start("run-x", "")
        })
        .await
        .expect_err("customer and agent are required");
    assert_eq!(invalid.code(), Code::InvalidArgument);
}

async fn terminal_transitions_and_outcomes(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut runs = app.runs(&app.secret_key);
    runs.start_run(start("done", "report"))
        .await
        .expect("started");
    runs.start_run(start("broken", "report"))
        .await
        .expect("started");
    let outcome = |name: &str, value: &str, kind: pb::OutcomeValueKind| Outcome {
        name: name.to_owned(),
        value: value.to_owned(),
        value_kind: kind as i32,
        ..Default::default()
    };

    let completed = runs
        .complete_run(CompleteRunRequest {
            run_id: "done".into(),
            outcomes: vec![outcome(
                "report_exported",
                "",
                pb::OutcomeValueKind::Unspecified,
            )],
            end_time: None,
        })
        .await
        .expect("completed")
        .into_inner()
        .run
        .expect("run");
    assert_eq!(completed.status, pb::RunStatus::Completed as i32);
    assert!(completed.end_time.is_some());
    assert_eq!(completed.outcomes.len(), 1);

    let again = runs
        .complete_run(CompleteRunRequest {
            run_id: "done".into(),
            outcomes: vec![outcome(
                "report_exported",
                "",
                pb::OutcomeValueKind::Unspecified,
            )],
            end_time: None,
        })
        .await
        .expect("completing again is a no-op")
        .into_inner()
        .run
        .expect("run");
    assert_eq!(again.outcomes.len(), 1, "outcomes are not added again");
    let refused = runs
        .fail_run(FailRunRequest {
            run_id: "done".into(),
            reason: "late".into(),
            ..Default::default()
        })
        .await
        .expect_err("a completed run cannot fail");
    assert_eq!(refused.code(), Code::FailedPrecondition);

    let failed = runs
        .fail_run(FailRunRequest {
            run_id: "broken".into(),
            reason: "tool timeout".into(),
            cancelled: true,
            end_time: None,
        })
        .await
        .expect("failed")
        .into_inner()
        .run
        .expect("run");
    assert_eq!(
        (
            failed.status,
            failed.failure_reason.as_str(),
            failed.cancelled
        ),
        (pb::RunStatus::Failed as i32, "tool timeout", true)
    );
    runs.fail_run(FailRunRequest {
        run_id: "broken".into(),
        ..Default::default()
    })
    .await
    .expect("failing again is a no-op");
    let refused = runs
        .complete_run(CompleteRunRequest {
            run_id: "broken".into(),
            ..Default::default()
        })
        .await
        .expect_err("a failed run cannot complete");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let unknown = runs
        .complete_run(CompleteRunRequest {
            run_id: "nope".into(),
            ..Default::default()
        })
        .await
        .expect_err("unknown");
    assert_eq!(unknown.code(), Code::NotFound);

    // Outcomes can come after the end, with a value.
    let recorded = runs
        .record_outcome(RecordOutcomeRequest {
            run_id: "done".into(),
            outcome: Some(outcome(
                "lead_qualified",
                "49.99",
                pb::OutcomeValueKind::Usd,
            )),
        })
        .await
        .expect("recorded")
        .into_inner()
        .outcome
        .expect("outcome");
    assert_eq!(recorded.value, "49.9900000000");
    let bad = runs
        .record_outcome(RecordOutcomeRequest {
            run_id: "done".into(),
            outcome: Some(outcome("pages", "12", pb::OutcomeValueKind::Unspecified)),
        })
        .await
        .expect_err("a value needs its kind");
    assert_eq!(bad.code(), Code::InvalidArgument);
    let run = get(&app, "done").await;
    let names: Vec<&str> = run.outcomes.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["report_exported", "lead_qualified"]);

    // Events after the end are still stored and counted.
    app.record_all(vec![step("done", "late-1", "gpt-4o-mini", 1_000, 100, 10)])
        .await;
    assert_eq!(get(&app, "done").await.event_count, 1);
}

async fn a_run_summary_adds_up_its_events(backend: Backend) {
    let app = spawn_app(backend).await;
    // An implicit run: the first event names it.
    let mut records = vec![EventRecord {
        customer: customer("workspace_42"),
        agent_code: "research".to_owned(),
        ..step("implicit-1", "s-0", "gpt-4o", 1_200, 300, 0)
    }];
    let models = ["gpt-4o", "gpt-4o-mini", "gpt-4o", "gpt-4o-mini", "gpt-4o"];
    for (n, model) in models.iter().enumerate() {
        records.push(step(
            "implicit-1",
            &format!("s-{}", n + 1),
            model,
            1_000 + 100 * n as u64,
            200,
            60 * (n as i64 + 1),
        ));
    }
    let results = app.record_all(records.clone()).await;
    let run = get(&app, "implicit-1").await;
    assert_eq!(
        (run.status, run.agent_code.as_str()),
        (pb::RunStatus::Running as i32, "research")
    );
    assert_eq!(
        (run.event_count, run.step_count, run.unpriced_step_count),
        (6, 6, 0)
    );

    // The summary equals the sum of its events' results, to the last decimal.
    let total: i64 = results
        .iter()
        .map(|result| e10(&result.total_cost_usd))
        .sum();
    assert_eq!(e10(&run.total_cost_usd), total);
    let mut by_model: HashMap<String, (i64, u64, u64)> = HashMap::new();
    for (record, result) in records.iter().zip(&results) {
        let Some(Usage::Service(service)) = &record.usage else {
            unreachable!()
        };
        let entry = by_model.entry(service.model.clone()).or_default();
        entry.0 += e10(&result.total_cost_usd);
        entry.1 += 1;
        entry.2 += service.input_tokens.unwrap_or(0);
    }
    assert_eq!(run.model_costs.len(), 2);
    for model in &run.model_costs {
        let (cost, steps, input) = by_model[&model.model];
        assert_eq!(
            (e10(&model.cost_usd), model.step_count),
            (cost, steps),
            "{}",
            model.model
        );
        assert_eq!(model.tokens.as_ref().map(|t| t.input_tokens), Some(input));
    }
    assert!(
        e10(&run.model_costs[0].cost_usd) >= e10(&run.model_costs[1].cost_usd),
        "most expensive first"
    );
    assert_eq!(run.duration.as_ref().map(|d| d.seconds), Some(300));
    assert!(run.first_event_time.map(|t| t.seconds) < run.last_event_time.map(|t| t.seconds));
    assert!(
        flags(&run).is_empty(),
        "a normal run raises no flag: {:?}",
        run.flags
    );
    app.assert_totals_match_events().await;
}

async fn waste_flags_are_raised_by_constructed_runs(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = |run: &str, key: &str, input: u64| EventRecord {
        customer: customer("workspace_42"),
        agent_code: "agentic".to_owned(),
        ..step(run, key, "gpt-4o-mini", input, 50, 0)
    };
    // Context bloat: input grows to many times the first steps' average at step 5.
    let mut bloat = vec![first("bloat", "b-0", 1_000)];
    for (n, input) in [1_100, 900, 2_500, 8_000, 12_000].into_iter().enumerate() {
        bloat.push(step(
            "bloat",
            &format!("b-{}", n + 1),
            "gpt-4o-mini",
            input,
            50,
            10 * (n as i64 + 1),
        ));
    }
    // A loop: the same call twelve times in a row from step 3.
    let mut looping = vec![
        first("loop", "l-0", 500),
        step("loop", "l-1", "gpt-4o-mini", 600, 60, 5),
    ];
    for n in 0..12 {
        looping.push(step(
            "loop",
            &format!("l-{}", n + 2),
            "gpt-4o-mini",
            700,
            70,
            10 + n,
        ));
    }
    // Too many steps: 201, all different.
    let mut long = vec![first("long", "x-0", 100)];
    for n in 1..=200 {
        long.push(step(
            "long",
            &format!("x-{n}"),
            "gpt-4o-mini",
            100 + n as u64,
            10,
            n as i64,
        ));
    }
    app.record_all(bloat).await;
    app.record_all(looping).await;
    app.record_all(long).await;

    let run = get(&app, "bloat").await;
    assert_eq!(flags(&run), [pb::RunFlag::ContextBloat]);
    assert_eq!(run.flags[0].step, Some(5), "{:?}", run.flags[0]);
    let run = get(&app, "loop").await;
    assert_eq!(flags(&run), [pb::RunFlag::RunawayLoop]);
    assert_eq!(run.flags[0].step, Some(3));
    assert!(
        run.flags[0].detail.contains("12 times"),
        "{}",
        run.flags[0].detail
    );
    let run = get(&app, "long").await;
    assert!(flags(&run).contains(&pb::RunFlag::RunawayLoop));
    assert_eq!(run.step_count, 201);

    // Stale: running and quiet for longer than the threshold (its only event is two hours old).
    let stale = EventRecord {
        usage_time: Some(Timestamp {
            seconds: chrono::Utc::now().timestamp() - 7_200,
            nanos: 0,
        }),
        ..first("stale", "q-0", 100)
    };
    app.record_all(vec![stale]).await;
    assert_eq!(flags(&get(&app, "stale").await), [pb::RunFlag::Stale]);
    app.runs(&app.secret_key)
        .complete_run(CompleteRunRequest {
            run_id: "stale".into(),
            ..Default::default()
        })
        .await
        .expect("done");
    assert!(
        flags(&get(&app, "stale").await).is_empty(),
        "an ended run is not stale"
    );

    let mut runs = app.runs(&app.publishable_key);
    let flagged = |flag: pb::RunFlag| ListRunsRequest {
        flag: flag as i32,
        ..Default::default()
    };
    let ids = |response: pb::ListRunsResponse| {
        response
            .runs
            .into_iter()
            .map(|r| r.run_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(runs
            .list_runs(flagged(pb::RunFlag::ContextBloat))
            .await
            .expect("list")
            .into_inner()),
        ["bloat"]
    );
    let mut loops = ids(runs
        .list_runs(flagged(pb::RunFlag::RunawayLoop))
        .await
        .expect("list")
        .into_inner());
    loops.sort();
    assert_eq!(loops, ["long", "loop"]);
    assert!(
        ids(runs
            .list_runs(flagged(pb::RunFlag::Stale))
            .await
            .expect("list")
            .into_inner())
        .is_empty()
    );
    app.assert_totals_match_events().await;
}

async fn runs_are_listed_filtered_sorted_and_paged(backend: Backend) {
    let app = spawn_app(backend).await;
    for (n, input) in [5_000_u64, 1_000, 3_000, 4_000, 2_000]
        .into_iter()
        .enumerate()
    {
        let record = EventRecord {
            customer: customer(if n % 2 == 0 { "even" } else { "odd" }),
            agent_code: "writer".to_owned(),
            ..step(
                &format!("r{n}"),
                &format!("k{n}"),
                "gpt-4o",
                input,
                0,
                n as i64 * 60,
            )
        };
        app.record_all(vec![record]).await;
    }
    let mut runs = app.runs(&app.publishable_key);
    let by_cost = runs
        .list_runs(ListRunsRequest {
            order_by: pb::RunOrderBy::Cost as i32,
            descending: true,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    let ids: Vec<&str> = by_cost.runs.iter().map(|r| r.run_id.as_str()).collect();
    assert_eq!(ids, ["r0", "r3", "r2", "r4", "r1"]);
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = runs
            .list_runs(ListRunsRequest {
                page_size: 2,
                page_token: token,
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        seen.extend(page.runs.into_iter().map(|r| r.run_id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        seen,
        ["r0", "r1", "r2", "r3", "r4"],
        "by start time, oldest first"
    );
    let odd = runs
        .list_runs(ListRunsRequest {
            customer_id: "odd".into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(odd.runs.len(), 2);
    let running = runs
        .list_runs(ListRunsRequest {
            status: pb::RunStatus::Completed as i32,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert!(running.runs.is_empty());
}

crate::on_both_databases!(
    runs_start_explicitly_and_idempotently,
    terminal_transitions_and_outcomes,
    a_run_summary_adds_up_its_events,
    waste_flags_are_raised_by_constructed_runs,
    runs_are_listed_filtered_sorted_and_paged,
);
