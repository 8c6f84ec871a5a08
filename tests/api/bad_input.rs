//! Bad values through the API: times only within the protobuf `Timestamp` and `Duration` ranges,
//! and unknown enum values refused in every list filter. The helpers serve `bad_decimals`,
//! `bad_text` and `unreadable` too.

use prost_types::{Duration, Timestamp};
use tally::pb::{
    self, EventRecord, ListBudgetsRequest, ListEventsRequest, ListPricesRequest, ListRunsRequest,
    Plan, StartRunRequest, event_record::Usage,
};
use tonic::Code;

use crate::{
    fixtures::EventRecordBuilder,
    helpers::{Backend, TestApp, spawn_app, violated_fields},
};

/// The record the bad-input tests vary: customer `workspace_42`, agent `support_reply`, an
/// openai/gpt-4o call of 10 input and 1 output tokens.
pub fn record(key: &str) -> EventRecord {
    EventRecordBuilder::new()
        .key(key)
        .customer("workspace_42")
        .agent("support_reply")
        .model("openai", "gpt-4o")
        .tokens(10, 1)
        .build()
}

pub fn with_manual_cost(key: &str, cost_usd: &str) -> EventRecord {
    let mut record = record(key);
    if let Some(Usage::Service(service)) = &mut record.usage {
        service.cost_usd = cost_usd.to_owned();
    }
    record
}

pub fn with_plan(key: &str, monthly_usd: &str) -> EventRecord {
    let mut record = record(key);
    if let Some(customer) = &mut record.customer {
        customer.plan = Some(Plan {
            name: "pro".to_owned(),
            monthly_usd: monthly_usd.to_owned(),
        });
    }
    record
}

/// Starts run `run_id` of [`record`]'s customer and agent, for the calls that name a run.
pub async fn start_run(app: &TestApp, run_id: &str) {
    app.runs(&app.secret_key)
        .start_run(StartRunRequest {
            run_id: run_id.to_owned(),
            agent_code: "support_reply".to_owned(),
            customer: record("x").customer,
            ..Default::default()
        })
        .await
        .expect("run started");
}

/// The report window of these tests: 2026-01-01T00:00:00Z and one day.
pub fn one_day_window() -> (Option<Timestamp>, Option<Timestamp>) {
    let start = 1_767_225_600;
    (
        Some(Timestamp {
            seconds: start,
            nanos: 0,
        }),
        Some(Timestamp {
            seconds: start + 86_400,
            nanos: 0,
        }),
    )
}

/// Checks that `result` refused its record for `field` alone.
pub fn refused_for(result: &pb::RecordResult, field: &str, case: &str) {
    assert_eq!(
        result.status,
        pb::EventStatus::ValidationError as i32,
        "{case}: {result:?}"
    );
    assert!(!result.stored, "{case}");
    let fields: Vec<&str> = result
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(fields, [field], "{case}: {result:?}");
}

/// Checks that a call was refused with `INVALID_ARGUMENT` naming `field` alone.
pub fn invalid<T: std::fmt::Debug>(answer: Result<T, tonic::Status>, field: &str, case: &str) {
    let status = answer.expect_err(case);
    assert_eq!(status.code(), Code::InvalidArgument, "{case}: {status:?}");
    assert_eq!(violated_fields(&status), [field], "{case}: {status:?}");
}

async fn times_outside_the_protobuf_ranges_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    // 0001-01-01T00:00:00Z is the first second of a Timestamp, 9999-12-31T23:59:59Z the last.
    let first_second = -62_135_596_800;
    for (case, usage_time) in [
        (
            "year 0",
            Timestamp {
                seconds: first_second - 1,
                nanos: 0,
            },
        ),
        (
            "far before year 1",
            Timestamp {
                seconds: i64::MIN / 2,
                nanos: 0,
            },
        ),
        (
            "a leap-second nanos",
            Timestamp {
                seconds: 1_767_225_600,
                nanos: 1_000_000_000,
            },
        ),
        (
            "negative nanos",
            Timestamp {
                seconds: 1_767_225_600,
                nanos: -1,
            },
        ),
    ] {
        let result = app
            .record_one(EventRecord {
                usage_time: Some(usage_time),
                ..record(case)
            })
            .await;
        refused_for(&result, "usage_time", case);
    }
    // The longest Duration is 315,576,000,000 seconds.
    for (case, latency) in [
        (
            "past the Duration maximum",
            Duration {
                seconds: 315_576_000_001,
                nanos: 0,
            },
        ),
        (
            "far past it",
            Duration {
                seconds: i64::MAX / 1_000,
                nanos: 0,
            },
        ),
        (
            "nanos of a second or more",
            Duration {
                seconds: 1,
                nanos: 1_000_000_000,
            },
        ),
    ] {
        let mut record = record(case);
        if let Some(Usage::Service(service)) = &mut record.usage {
            service.latency = Some(latency);
        }
        refused_for(&app.record_one(record).await, "service.latency", case);
    }
    // Within the ranges: the first second of year 1 is a usage time like any other past one, and
    // the longest Duration a latency.
    let mut edge = EventRecord {
        usage_time: Some(Timestamp {
            seconds: first_second,
            nanos: 0,
        }),
        ..record("edges")
    };
    if let Some(Usage::Service(service)) = &mut edge.usage {
        service.latency = Some(Duration {
            seconds: 315_576_000_000,
            nanos: 0,
        });
    }
    let result = app.record_one(edge).await;
    assert!(result.stored, "{result:?}");
    let event = app.event(&result.event_id).await;
    assert_eq!(event.usage_time.map(|t| t.seconds), Some(first_second));
    assert_eq!(
        app.count_events().await,
        1,
        "only the event within range stored"
    );

    // A list window too.
    let status = app
        .ingest(&app.secret_key)
        .list_events(ListEventsRequest {
            end_time: Some(Timestamp {
                seconds: 253_402_300_800, // 10000-01-01T00:00:00Z
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(violated_fields(&status), ["end_time"], "{status:?}");
}

async fn unknown_enum_values_in_list_filters_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    // Something for each list to return, so that "no filter" would show.
    app.record_one(record("e-1")).await;
    start_run(&app, "run-1").await;
    let mut runs = app.runs(&app.secret_key);
    let unknown = 99;
    invalid(
        runs.list_runs(ListRunsRequest {
            status: unknown,
            ..Default::default()
        })
        .await,
        "status",
        "ListRuns status",
    );
    invalid(
        runs.list_runs(ListRunsRequest {
            flag: unknown,
            ..Default::default()
        })
        .await,
        "flag",
        "ListRuns flag",
    );
    invalid(
        runs.list_runs(ListRunsRequest {
            order_by: unknown,
            ..Default::default()
        })
        .await,
        "order_by",
        "ListRuns order_by",
    );
    invalid(
        app.budgets(&app.secret_key)
            .list_budgets(ListBudgetsRequest {
                scope_kind: unknown,
                ..Default::default()
            })
            .await,
        "scope_kind",
        "ListBudgets scope_kind",
    );
    invalid(
        app.pricing(&app.secret_key)
            .list_prices(ListPricesRequest {
                source: unknown,
                ..Default::default()
            })
            .await,
        "source",
        "ListPrices source",
    );
    invalid(
        app.ingest(&app.secret_key)
            .list_events(ListEventsRequest {
                status: unknown,
                ..Default::default()
            })
            .await,
        "status",
        "ListEvents status",
    );
    // Negative numbers are not values either.
    invalid(
        runs.list_runs(ListRunsRequest {
            status: -1,
            ..Default::default()
        })
        .await,
        "status",
        "ListRuns status -1",
    );
    // The defined values still filter.
    let listed = runs
        .list_runs(ListRunsRequest {
            status: pb::RunStatus::Running as i32,
            order_by: pb::RunOrderBy::Cost as i32,
            ..Default::default()
        })
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(listed.runs.len(), 1);
}

async fn a_report_filter_of_too_many_values_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.record_one(record("e-1")).await;
    // Each value was one bound parameter: 70,000 of them (about 600 KiB, a valid message) passed
    // what PostgreSQL (65,535) and SQLite (32,766) take in one statement, and the call failed
    // INTERNAL.
    let filter = |count: usize| pb::DimensionFilter {
        dimension: pb::ReportDimension::Customer as i32,
        values: (0..count).map(|i| format!("c{i}")).collect(),
    };
    let window = one_day_window();
    let mut reports = app.reports(&app.secret_key);
    invalid(
        reports
            .get_margin(pb::GetMarginRequest {
                start_time: window.0,
                end_time: window.1,
                filters: vec![filter(70_000)],
                ..Default::default()
            })
            .await,
        "filters[0].values",
        "GetMargin",
    );
    invalid(
        reports
            .get_cost_series(pb::GetCostSeriesRequest {
                start_time: window.0,
                end_time: window.1,
                granularity: pb::TimeGranularity::Day as i32,
                filters: vec![filter(70_000)],
                ..Default::default()
            })
            .await,
        "filters[0].values",
        "GetCostSeries",
    );
    // The contract's limit itself is served.
    reports
        .get_margin(pb::GetMarginRequest {
            start_time: window.0,
            end_time: window.1,
            filters: vec![filter(1_000)],
            ..Default::default()
        })
        .await
        .expect("1,000 values are within the limit");
}

crate::on_both_databases!(
    times_outside_the_protobuf_ranges_are_refused,
    unknown_enum_values_in_list_filters_are_refused,
    a_report_filter_of_too_many_values_is_refused,
);
