//! Bad text through the API: U+0000, which PostgreSQL can neither store nor compare in text,
//! refused as a violation of its field wherever it would reach the database (on both databases
//! alike), and a long bad value quoted by its start so that the error fits a standard client's
//! 16 KiB of trailers.

use tally::pb::{
    self, CheckBudgetRequest, EventRecord, ListEventsRequest, ListRunsRequest, ServiceUsage,
};
use tonic::Code;

use crate::{
    bad_input::{invalid, one_day_window, record, refused_for, start_run, with_manual_cost},
    helpers::{Backend, spawn_app, violated_fields},
};

async fn text_the_database_cannot_store_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    // PostgreSQL stores no U+0000 in text, nor compares with it: such a value went to the database
    // and came back INTERNAL there (a filter, a reason), while SQLite took it. Now both refuse it
    // as a violation of its field. Metadata is JSON (`"\u0000"`), which both store: it is kept.
    let nul = "a\u{0}b";
    let metadata = prost_types::Struct {
        fields: [(
            "note".to_owned(),
            prost_types::Value {
                kind: Some(prost_types::value::Kind::StringValue(nul.to_owned())),
            },
        )]
        .into(),
    };
    let result = app
        .record_one(EventRecord {
            metadata: Some(metadata.clone()),
            ..record("nul-metadata")
        })
        .await;
    assert!(result.stored, "{result:?}");
    let stored = app.event(&result.event_id).await;
    assert_eq!(
        stored.metadata.as_ref(),
        Some(&metadata),
        "returned as sent"
    );
    start_run(&app, "run-1").await;
    let mut runs = app.runs(&app.secret_key);
    invalid(
        runs.fail_run(pb::FailRunRequest {
            run_id: "run-1".to_owned(),
            reason: format!("tool {nul}"),
            ..Default::default()
        })
        .await,
        "reason",
        "FailRun reason",
    );
    invalid(
        app.ingest(&app.secret_key)
            .list_events(ListEventsRequest {
                customer_id: nul.to_owned(),
                ..Default::default()
            })
            .await,
        "customer_id",
        "ListEvents customer_id",
    );
    invalid(
        runs.list_runs(ListRunsRequest {
            agent_code: nul.to_owned(),
            ..Default::default()
        })
        .await,
        "agent_code",
        "ListRuns agent_code",
    );
    invalid(
        app.budgets(&app.secret_key)
            .check_budget(CheckBudgetRequest {
                run_id: nul.to_owned(),
                ..Default::default()
            })
            .await,
        "run_id",
        "CheckBudget run_id",
    );
    invalid(
        app.pricing(&app.secret_key)
            .list_signal_prices(pb::ListSignalPricesRequest {
                plan_name: nul.to_owned(),
                ..Default::default()
            })
            .await,
        "plan_name",
        "ListSignalPrices plan_name",
    );
    let (start_time, end_time) = one_day_window();
    invalid(
        app.reports(&app.secret_key)
            .get_margin(pb::GetMarginRequest {
                start_time,
                end_time,
                filters: vec![pb::DimensionFilter {
                    dimension: pb::ReportDimension::Customer as i32,
                    values: vec![nul.to_owned()],
                }],
                ..Default::default()
            })
            .await,
        "filters[0].values[0]",
        "GetMargin filter value",
    );
    assert_eq!(app.count_events().await, 1);
}

async fn a_long_bad_value_is_quoted_by_its_start(backend: Backend) {
    let app = spawn_app(backend).await;
    // 10 KB values: quoted whole (twice, message and details), they passed the 16 KiB of trailers
    // a standard client takes, which then saw RESOURCE_EXHAUSTED instead of the violation.
    let long = "7".repeat(10_000);
    let status = app
        .ingest(&app.secret_key)
        .get_event(pb::GetEventRequest {
            event_id: long.clone(),
        })
        .await
        .expect_err("not an event id");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(violated_fields(&status), ["event_id"]);
    assert!(status.message().len() < 512, "{}", status.message());
    assert!(
        status.message().contains("(10000 bytes)"),
        "{}",
        status.message()
    );

    let status = app
        .budgets(&app.secret_key)
        .check_budget(CheckBudgetRequest {
            customer_id: "workspace_42".to_owned(),
            agent_code: "support_reply".to_owned(),
            estimated_cost_usd: format!("-{long}"),
            ..Default::default()
        })
        .await
        .expect_err("not an amount");
    assert_eq!(
        violated_fields(&status),
        ["estimated_cost_usd"],
        "{status:?}"
    );
    assert!(status.message().len() < 512, "{}", status.message());

    // In a record's result too (the body has room, but a result names its field, not megabytes).
    let result = app.record_one(with_manual_cost("long", &long)).await;
    refused_for(&result, "service.cost_usd", "long cost");
    assert!(result.error.len() < 512, "{}", result.error);

    // Many violations: the message lists the first ones, the details a bounded number.
    let status = app
        .pricing(&app.secret_key)
        .quote_cost(pb::QuoteCostRequest {
            services: (0..100)
                .map(|_| ServiceUsage {
                    provider: long.clone(),
                    model: long.clone(),
                    cost_usd: long.clone(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(!violated_fields(&status).is_empty());
}

crate::on_both_databases!(
    text_the_database_cannot_store_is_refused,
    a_long_bad_value_is_quoted_by_its_start,
);
