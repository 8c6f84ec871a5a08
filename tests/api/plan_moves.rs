//! A record (or a run) carrying a plan that starts before events already stored: the customer's
//! events and runs of the span the new period covers move to its plan, as `UpdateCustomer` with a
//! past start moves them, in every read (GetEvent, ListEvents, ExportEvents, GetMargin by plan with
//! usage revenue at the new plan's signal price, run counts) and in the totals by plan.

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use prost_types::Timestamp;
use tally::pb::{
    self, CustomerAttribution, EventRecord, ExportEventsRequest, GetCustomerRequest,
    GetMarginRequest, ListEventsRequest, Plan, ReportDimension, SetSignalPriceRequest, SignalPrice,
    StartRunRequest,
};

use crate::{
    fixtures::EventRecordBuilder,
    helpers::{Backend, TestApp, spawn_app},
};

/// 2026-09-`day` at `hour`:00 UTC.
fn sep(day: u32, hour: u32) -> Timestamp {
    let time = Utc.with_ymd_and_hms(2026, 9, day, hour, 0, 0).unwrap();
    Timestamp {
        seconds: time.timestamp(),
        nanos: 0,
    }
}

fn pro() -> Option<Plan> {
    Some(Plan {
        name: "pro".to_owned(),
        monthly_usd: "99".to_owned(),
    })
}

/// A gpt-4o-mini call of `input` input and 100 output tokens for customer acme.
fn record(at: Timestamp, plan: Option<Plan>, run: &str, input: u64) -> EventRecord {
    EventRecordBuilder::new()
        .plan(plan)
        .run(run)
        .at(at)
        .tokens(input, 100)
        .build()
}

fn plan_of(event: &pb::CostEvent) -> String {
    event
        .customer
        .as_ref()
        .and_then(|customer| customer.plan.as_ref())
        .map(|plan| plan.name.clone())
        .unwrap_or_default()
}

/// The plan of each event as GetEvent, ListEvents and ExportEvents show it, by event id.
async fn plans_read(app: &TestApp) -> [BTreeMap<String, String>; 3] {
    let listed = app
        .ingest(&app.publishable_key)
        .list_events(ListEventsRequest {
            customer_id: "acme".to_owned(),
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner()
        .events;
    let mut got = BTreeMap::new();
    for event in &listed {
        let one = app.event(&event.event_id).await;
        got.insert(one.event_id.clone(), plan_of(&one));
    }
    let mut export = app
        .reports(&app.publishable_key)
        .export_events(ExportEventsRequest {
            start_time: Some(sep(1, 0)),
            end_time: Some(sep(30, 0)),
            ..Default::default()
        })
        .await
        .expect("export")
        .into_inner();
    let mut exported = BTreeMap::new();
    while let Some(message) = export.message().await.expect("export message") {
        for event in message.events {
            exported.insert(event.event_id.clone(), plan_of(&event));
        }
    }
    let listed = listed
        .iter()
        .map(|event| (event.event_id.clone(), plan_of(event)))
        .collect();
    [got, listed, exported]
}

/// GetMargin by plan over September: per plan, usage revenue, cost, events and runs.
async fn margin_by_plan(app: &TestApp) -> BTreeMap<String, (String, String, u64, u64)> {
    let response = app
        .reports(&app.publishable_key)
        .get_margin(GetMarginRequest {
            start_time: Some(sep(1, 0)),
            end_time: Some(Timestamp {
                seconds: Utc
                    .with_ymd_and_hms(2026, 10, 1, 0, 0, 0)
                    .unwrap()
                    .timestamp(),
                nanos: 0,
            }),
            group_by: vec![ReportDimension::Plan as i32],
            page_size: 100,
            ..Default::default()
        })
        .await
        .expect("margin")
        .into_inner();
    response
        .rows
        .into_iter()
        .map(|row| {
            let plan = row
                .group_values
                .first()
                .map(|value| value.value.clone())
                .unwrap_or_default();
            let figures = (
                row.usage_revenue_usd,
                row.cost_usd,
                row.event_count,
                row.run_count,
            );
            (plan, figures)
        })
        .collect()
}

/// Plan `pro` prices the signal `messages` at 0.5 USD a unit from September 1.
async fn price_messages_on_pro(app: &TestApp) {
    app.pricing(&app.secret_key)
        .set_signal_price(SetSignalPriceRequest {
            signal_price: Some(SignalPrice {
                plan_name: "pro".to_owned(),
                signal_name: "messages".to_owned(),
                unit_price_usd: "0.5".to_owned(),
                effective_time: Some(sep(1, 0)),
                ..Default::default()
            }),
        })
        .await
        .expect("signal price set");
}

async fn a_record_starting_a_back_dated_plan_moves_the_events_after_it(backend: Backend) {
    let app = spawn_app(backend).await;
    price_messages_on_pro(&app).await;
    // Sep 21: no plan yet; 4 messages in run "run-21", which it starts.
    let later = app
        .record_stored(vec![EventRecord {
            signal_name: "messages".to_owned(),
            quantity: Some(4),
            ..record(sep(21, 10), None, "run-21", 1_000)
        }])
        .await;
    // Then a record dated Sep 20 carrying plan pro.
    let earlier = app
        .record_stored(vec![record(sep(20, 0), pro(), "", 2_000)])
        .await;

    let history: Vec<(String, Option<Timestamp>)> = app
        .directory(&app.publishable_key)
        .get_customer(GetCustomerRequest {
            customer_id: "acme".to_owned(),
        })
        .await
        .expect("customer")
        .into_inner()
        .customer
        .expect("customer")
        .plan_history
        .into_iter()
        .map(|period| (period.plan_name, period.start_time))
        .collect();
    assert_eq!(history, [("pro".to_owned(), Some(sep(20, 0)))]);

    let both = BTreeMap::from([
        (later[0].clone(), "pro".to_owned()),
        (earlier[0].clone(), "pro".to_owned()),
    ]);
    let [got, listed, exported] = plans_read(&app).await;
    assert_eq!(got, both, "GetEvent");
    assert_eq!(listed, both, "ListEvents");
    assert_eq!(exported, both, "ExportEvents");

    // gpt-4o-mini (catalog: 1.5e-7 USD per input token, 6e-7 per output token):
    // 1000 in + 100 out = 0.00021; 2000 in + 100 out = 0.00036. Usage revenue: 4 messages at
    // pro's 0.5 USD. Run-21 started under pro.
    let margin = margin_by_plan(&app).await;
    assert_eq!(
        margin,
        BTreeMap::from([(
            "pro".to_owned(),
            ("2.0000000000".to_owned(), "0.0005700000".to_owned(), 2, 1)
        )])
    );
    let counted = app.assert_plan_totals_match_events().await;
    assert_eq!(counted, BTreeMap::from([("pro".to_owned(), (2, 1))]));
    app.assert_totals_match_events().await;
}

/// One batch starting two periods, the first before a stored event and a run, the second before
/// another stored event; a run the batch itself starts is counted once, under its plan.
async fn a_batch_starting_two_back_dated_plans_moves_each_span(backend: Backend) {
    let app = spawn_app(backend).await;
    let stored = app
        .record_stored(vec![
            record(sep(21, 0), None, "run-21", 1_000),
            record(sep(26, 0), None, "", 1_000),
        ])
        .await;
    let team = Some(Plan {
        name: "team".to_owned(),
        monthly_usd: "299".to_owned(),
    });
    let sent = app
        .record_stored(vec![
            record(sep(25, 0), team, "", 1_000),
            record(sep(20, 0), pro(), "run-20", 1_000),
        ])
        .await;
    let [got, ..] = plans_read(&app).await;
    let expected = BTreeMap::from([
        (stored[0].clone(), "pro".to_owned()),
        (stored[1].clone(), "team".to_owned()),
        (sent[0].clone(), "team".to_owned()),
        (sent[1].clone(), "pro".to_owned()),
    ]);
    assert_eq!(got, expected);
    let counted = app.assert_plan_totals_match_events().await;
    assert_eq!(
        counted,
        BTreeMap::from([("pro".to_owned(), (2, 2)), ("team".to_owned(), (2, 0))])
    );
    app.assert_totals_match_events().await;
}

/// StartRun with a plan and a start before stored events moves them too (the same code path).
async fn a_run_starting_a_back_dated_plan_moves_the_events_after_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let stored = app
        .record_stored(vec![record(sep(21, 0), None, "run-21", 1_000)])
        .await;
    app.runs(&app.secret_key)
        .start_run(StartRunRequest {
            run_id: "run-20".to_owned(),
            agent_code: "writer".to_owned(),
            customer: Some(CustomerAttribution {
                id: "acme".to_owned(),
                plan: pro(),
                ..Default::default()
            }),
            start_time: Some(sep(20, 0)),
            ..Default::default()
        })
        .await
        .expect("run started");
    let [got, ..] = plans_read(&app).await;
    assert_eq!(got, BTreeMap::from([(stored[0].clone(), "pro".to_owned())]));
    let counted = app.assert_plan_totals_match_events().await;
    assert_eq!(counted, BTreeMap::from([("pro".to_owned(), (1, 2))]));
    app.assert_totals_match_events().await;
}

crate::on_both_databases!(
    a_record_starting_a_back_dated_plan_moves_the_events_after_it,
    a_batch_starting_two_back_dated_plans_moves_each_span,
    a_run_starting_a_back_dated_plan_moves_the_events_after_it,
);
