//! `Reports.ListTopRuns`: the most expensive runs started in a window, ranked in the test from the
//! runs' own summaries; window bounds, customer and agent filters, the default and asked limits,
//! each run identical to what `GetRun` shows (flags included), and violations naming their field.

use prost_types::Timestamp;
use tally::pb::{self, EventRecord, GetRunRequest, ListTopRunsRequest};
use tonic::Code;

use crate::{
    fixtures::EventRecordBuilder,
    helpers::{Backend, TestApp, spawn_app, violated_fields},
};

/// 2026-06-01T00:00:00Z: the window's start.
const BASE: i64 = 1_780_272_000;

fn at(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: BASE + seconds,
        nanos: 0,
    })
}

/// One step of a run: gpt-4o, `input` tokens in, 10 out, `offset` seconds after `BASE`.
fn step(run: &str, key: &str, customer: &str, agent: &str, input: u64, offset: i64) -> EventRecord {
    EventRecordBuilder::new()
        .key(key)
        .run(run)
        .customer(customer)
        .agent(agent)
        .at(at(offset))
        .model("openai", "gpt-4o")
        .tokens(input, 10)
        .build()
}

/// A run as `GetRun` shows it, less its holds (which only `GetRun` shows).
async fn get_run(app: &TestApp, run_id: &str) -> pb::Run {
    let run = app
        .runs(&app.publishable_key)
        .get_run(GetRunRequest {
            run_id: run_id.to_owned(),
        })
        .await
        .expect("run")
        .into_inner()
        .run
        .expect("run");
    assert!(run.open_holds.is_empty());
    assert_eq!(run.hold_overrun_usd, "0.0000000000");
    pb::Run {
        hold_overrun_usd: String::new(),
        ..run
    }
}

fn e10(usd: &str) -> i64 {
    let (whole, fraction) = usd.split_once('.').expect("10 places");
    assert_eq!(fraction.len(), 10, "{usd}");
    whole.parse::<i64>().expect("whole") * 10_000_000_000
        + fraction.parse::<i64>().expect("fraction")
}

/// The runs of the data set: (run id, customer, agent, start offset, inputs of its steps).
fn data_set() -> Vec<(String, &'static str, &'static str, i64, Vec<u64>)> {
    let mut runs = vec![
        // Outside the window [BASE, BASE + 8 h): the most expensive of all, never listed.
        ("early".to_owned(), "c1", "writer", -60, vec![900_000]),
        ("late".to_owned(), "c1", "writer", 8 * 3_600, vec![900_000]),
        // Started in the window, with a step after its end: listed, the whole run's cost.
        (
            "straddle".to_owned(),
            "c2",
            "writer",
            7 * 3_600,
            vec![10_000, 300_000],
        ),
        // A loop: the same call fifteen times in a row.
        ("loop".to_owned(), "c2", "looper", 3_600, vec![20_000; 15]),
    ];
    // Twelve more with distinct costs, across two customers and two agents.
    for n in 0..12_u64 {
        runs.push((
            format!("r{n:02}"),
            if n % 2 == 0 { "c1" } else { "c2" },
            if n % 3 == 0 { "reader" } else { "writer" },
            60 * (n as i64 + 1),
            vec![1_000 * (n * 7 % 12 + 1), 500],
        ));
    }
    runs
}

async fn the_most_expensive_runs_of_a_window_are_listed_with_their_flags(backend: Backend) {
    let app = spawn_app(backend).await;
    let runs = data_set();
    let mut records = Vec::new();
    for (run, customer, agent, start, inputs) in &runs {
        for (index, input) in inputs.iter().enumerate() {
            let offset = if run == "straddle" && index == 1 {
                9 * 3_600
            } else {
                start + index as i64
            };
            records.push(step(
                run,
                &format!("{run}-{index}"),
                customer,
                agent,
                *input,
                offset,
            ));
        }
    }
    app.record_all(records).await;

    // The expected ranking, from each run's summary.
    let mut summaries = Vec::new();
    for (run, customer, agent, start, _) in &runs {
        if (0..8 * 3_600).contains(start) {
            summaries.push((get_run(&app, run).await, *customer, *agent));
        }
    }
    summaries.sort_by_key(|(run, _, _)| std::cmp::Reverse(e10(&run.total_cost_usd)));
    let costs: Vec<i64> = summaries
        .iter()
        .map(|(run, _, _)| e10(&run.total_cost_usd))
        .collect();
    assert!(
        costs.windows(2).all(|pair| pair[0] > pair[1]),
        "distinct costs make one right order: {costs:?}"
    );
    let expected = |keep: &dyn Fn(&str, &str) -> bool, limit: usize| -> Vec<pb::Run> {
        summaries
            .iter()
            .filter(|(_, customer, agent)| keep(customer, agent))
            .take(limit)
            .map(|(run, _, _)| run.clone())
            .collect()
    };
    let window = ListTopRunsRequest {
        start_time: at(0),
        end_time: at(8 * 3_600),
        ..Default::default()
    };
    let reports = app.reports(&app.publishable_key);
    let top = |request: ListTopRunsRequest| {
        let mut reports = reports.clone();
        async move {
            reports
                .list_top_runs(request)
                .await
                .expect("top runs")
                .into_inner()
                .runs
        }
    };

    let default = top(window.clone()).await;
    assert_eq!(default.len(), 10, "ten unless asked");
    assert_eq!(default, expected(&|_, _| true, 10), "identical to GetRun");
    assert_eq!(default[0].run_id, "straddle", "the whole run's cost counts");
    let looping = default
        .iter()
        .find(|run| run.run_id == "loop")
        .expect("the loop is among the top ten");
    assert!(
        looping
            .flags
            .iter()
            .any(|flag| flag.flag == pb::RunFlag::RunawayLoop as i32),
        "{looping:?}"
    );

    let three = top(ListTopRunsRequest {
        limit: 3,
        ..window.clone()
    })
    .await;
    assert_eq!(three, expected(&|_, _| true, 3));
    let all = top(ListTopRunsRequest {
        limit: 1_000,
        ..window.clone()
    })
    .await;
    assert_eq!(all.len(), 14, "every run of the window, capped at 100");
    assert!(
        all.iter()
            .all(|run| !["early", "late"].contains(&run.run_id.as_str()))
    );

    let c2 = top(ListTopRunsRequest {
        customer_id: "c2".to_owned(),
        limit: 100,
        ..window.clone()
    })
    .await;
    assert_eq!(c2, expected(&|customer, _| customer == "c2", 100));
    let readers = top(ListTopRunsRequest {
        agent_code: "reader".to_owned(),
        customer_id: "c1".to_owned(),
        limit: 100,
        ..window.clone()
    })
    .await;
    assert_eq!(
        readers,
        expected(
            &|customer, agent| customer == "c1" && agent == "reader",
            100
        )
    );
    assert!(!readers.is_empty());

    // The window's start is inclusive and its end exclusive.
    let edge = top(ListTopRunsRequest {
        start_time: at(-60),
        end_time: at(8 * 3_600),
        limit: 1,
        ..Default::default()
    })
    .await;
    assert_eq!(edge[0].run_id, "early");
    let before_late = top(ListTopRunsRequest {
        start_time: at(7 * 3_600 + 1),
        end_time: at(8 * 3_600 + 1),
        ..Default::default()
    })
    .await;
    let ids: Vec<&str> = before_late.iter().map(|run| run.run_id.as_str()).collect();
    assert_eq!(ids, ["late"]);
}

async fn bad_requests_name_their_fields(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut reports = app.reports(&app.publishable_key);
    let cases = [
        (
            ListTopRunsRequest::default(),
            vec!["start_time", "end_time"],
        ),
        (
            ListTopRunsRequest {
                start_time: at(3_600),
                end_time: at(3_600),
                ..Default::default()
            },
            vec!["end_time"],
        ),
        (
            ListTopRunsRequest {
                start_time: at(0),
                end_time: at(3_600),
                limit: -1,
                ..Default::default()
            },
            vec!["limit"],
        ),
        (
            ListTopRunsRequest {
                start_time: Some(Timestamp {
                    seconds: 0,
                    nanos: -5,
                }),
                end_time: at(3_600),
                ..Default::default()
            },
            vec!["start_time"],
        ),
    ];
    for (request, fields) in cases {
        let status = reports
            .list_top_runs(request.clone())
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::InvalidArgument, "{request:?}");
        assert_eq!(violated_fields(&status), fields, "{request:?}");
    }
}

crate::on_both_databases!(
    the_most_expensive_runs_of_a_window_are_listed_with_their_flags,
    bad_requests_name_their_fields,
);
