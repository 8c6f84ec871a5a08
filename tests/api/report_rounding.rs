//! Revenue, margin and percentages are each rounded once, half to even, from the exact figures, and
//! risky accounts are listed and ordered by the exact figures. Usage revenue here is a signal price
//! of 0.00000000015 USD (1.5e-10) times a quantity, so ties at half of 1e-10 USD are common; every
//! expected figure is worked out by hand in the comments.

use tally::pb::{
    GetCostSeriesRequest, GetMarginRequest, ListRiskyAccountsRequest, MarginRow, Plan,
    ReportDimension as D, ServiceUsage, SetSignalPriceRequest, SignalPrice, TimeGranularity,
};

use crate::{
    fixtures::EventRecordBuilder,
    helpers::{Backend, TestApp, spawn_app},
    report_data::{t, ts},
};

/// Customer, quantity of the signal `call`, cost in 1e-10 USD (a manual line cost).
const CUSTOMERS: [(&str, u64, i64); 4] = [
    // Revenue 1 × 1.5 = 1.5, cost 1.
    ("ana", 1, 1),
    // Revenue 3 × 1.5 = 4.5, cost 1: a margin of 3.5.
    ("bo", 3, 1),
    // Revenue 4 × 1.5 = 6, cost 5.
    ("cy", 4, 5),
    // Revenue 20 × 1.5 = 30, cost 7.
    ("dee", 20, 7),
];

async fn load(app: &TestApp) {
    app.pricing(&app.secret_key)
        .set_signal_price(SetSignalPriceRequest {
            signal_price: Some(SignalPrice {
                plan_name: "metered".into(),
                signal_name: "call".into(),
                unit_price_usd: "0.00000000015".into(),
                effective_time: Some(ts(t(-1, 0))),
                create_time: None,
            }),
        })
        .await
        .expect("signal price set");
    let records = CUSTOMERS
        .iter()
        .enumerate()
        .map(|(index, (customer, quantity, cost_e10))| {
            EventRecordBuilder::new()
                .customer(customer)
                // No fee: all revenue is usage revenue.
                .plan(Some(Plan {
                    name: "metered".into(),
                    monthly_usd: "0".into(),
                }))
                .agent("support")
                .signal("call", *quantity)
                .at(ts(t(2, index as i64)))
                .service(ServiceUsage {
                    provider: "openai".into(),
                    model: "gpt-4o".into(),
                    cost_usd: format!("0.{cost_e10:010}"),
                    ..Default::default()
                })
                .build()
        })
        .collect();
    app.record_all(records).await;
}

/// Revenue, plan revenue, usage revenue, cost, margin, margin %, cost %.
fn money(row: &MarginRow) -> [&str; 7] {
    [
        &row.revenue_usd,
        &row.plan_revenue_usd,
        &row.usage_revenue_usd,
        &row.cost_usd,
        &row.margin_usd,
        &row.margin_percent,
        &row.cost_percent_of_revenue,
    ]
}

async fn revenue_margin_and_percentages_are_rounded_once(backend: Backend) {
    let app = spawn_app(backend).await;
    load(&app).await;
    let response = app
        .reports(&app.publishable_key)
        .get_margin(GetMarginRequest {
            start_time: Some(ts(t(0, 0))),
            end_time: Some(ts(t(30, 0))),
            group_by: vec![D::Customer as i32],
            ..Default::default()
        })
        .await
        .expect("margin")
        .into_inner();
    let rows: Vec<(&str, [&str; 7])> = response
        .rows
        .iter()
        .map(|row| (row.group_values[0].value.as_str(), money(row)))
        .collect();
    assert_eq!(
        rows,
        [
            // 1.5 → 2 (half to even); margin 1.5 − 1 = 0.5 → 0; 0.5 / 1.5 = 33.33 %;
            // 1 / 1.5 = 66.67 %.
            (
                "ana",
                [
                    "0.0000000002",
                    "0.0000000000",
                    "0.0000000002",
                    "0.0000000001",
                    "0.0000000000",
                    "33.33",
                    "66.67"
                ]
            ),
            // 4.5 → 4; margin 4.5 − 1 = 3.5 → 4; 3.5 / 4.5 = 77.78 %; 1 / 4.5 = 22.22 %.
            (
                "bo",
                [
                    "0.0000000004",
                    "0.0000000000",
                    "0.0000000004",
                    "0.0000000001",
                    "0.0000000004",
                    "77.78",
                    "22.22"
                ]
            ),
            // 6; margin 1; 1 / 6 = 16.67 %; 5 / 6 = 83.33 %.
            (
                "cy",
                [
                    "0.0000000006",
                    "0.0000000000",
                    "0.0000000006",
                    "0.0000000005",
                    "0.0000000001",
                    "16.67",
                    "83.33"
                ]
            ),
            // 30; margin 23; 23 / 30 = 76.67 %; 7 / 30 = 23.33 %.
            (
                "dee",
                [
                    "0.0000000030",
                    "0.0000000000",
                    "0.0000000030",
                    "0.0000000007",
                    "0.0000000023",
                    "76.67",
                    "23.33"
                ]
            ),
        ]
    );
    // Totals: revenue 1.5 + 4.5 + 6 + 30 = 42, cost 14, margin 28; 66.67 % and 33.33 %.
    assert_eq!(
        money(&response.totals.expect("totals")),
        [
            "0.0000000042",
            "0.0000000000",
            "0.0000000042",
            "0.0000000014",
            "0.0000000028",
            "66.67",
            "33.33"
        ]
    );

    // The cost series rounds each bucket's revenue once: one day, split by customer.
    let series = app
        .reports(&app.publishable_key)
        .get_cost_series(GetCostSeriesRequest {
            start_time: Some(ts(t(2, 0))),
            end_time: Some(ts(t(3, 0))),
            granularity: TimeGranularity::Day as i32,
            split_by: D::Customer as i32,
            ..Default::default()
        })
        .await
        .expect("series")
        .into_inner();
    let mut revenue: Vec<(String, String)> = series
        .series
        .iter()
        .map(|one| {
            (
                one.split.as_ref().expect("split").value.clone(),
                one.buckets[0].revenue_usd.clone(),
            )
        })
        .collect();
    revenue.sort();
    assert_eq!(
        revenue,
        [
            ("ana".to_owned(), "0.0000000002".to_owned()),
            ("bo".to_owned(), "0.0000000004".to_owned()),
            ("cy".to_owned(), "0.0000000006".to_owned()),
            ("dee".to_owned(), "0.0000000030".to_owned()),
        ]
    );
}

async fn risky_accounts_follow_the_exact_figures(backend: Backend) {
    let app = spawn_app(backend).await;
    load(&app).await;
    let listed = |threshold: &'static str| {
        let mut reports = app.reports(&app.publishable_key);
        async move {
            reports
                .list_risky_accounts(ListRiskyAccountsRequest {
                    start_time: Some(ts(t(0, 0))),
                    end_time: Some(ts(t(30, 0))),
                    cost_share_threshold_percent: threshold.into(),
                    ..Default::default()
                })
                .await
                .expect("risky")
                .into_inner()
                .accounts
        }
    };
    // Cost shares of the exact revenue: cy 5 / 6 = 83.33 %, ana 1 / 1.5 = 66.67 %,
    // dee 7 / 30 = 23.33 %, bo 1 / 4.5 = 22.22 % (of the rounded revenue, ana would be 1 / 2 =
    // 50 % or 1 / 1 = 100 % and bo 1 / 4 = 25 %).
    let every = listed("0").await;
    let shown: Vec<(&str, &str, &str, &str)> = every
        .iter()
        .map(|a| {
            (
                a.customer_id.as_str(),
                a.revenue_usd.as_str(),
                a.margin_usd.as_str(),
                a.cost_percent_of_revenue.as_str(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("cy", "0.0000000006", "0.0000000001", "83.33"),
            ("ana", "0.0000000002", "0.0000000000", "66.67"),
            ("dee", "0.0000000030", "0.0000000023", "23.33"),
            ("bo", "0.0000000004", "0.0000000004", "22.22"),
        ]
    );
    // Over 22.5 %: bo's 22.22 % is not (25 % of its rounded revenue would be).
    let over: Vec<String> = listed("22.5")
        .await
        .into_iter()
        .map(|a| a.customer_id)
        .collect();
    assert_eq!(over, ["cy", "ana", "dee"]);
}

crate::on_both_databases!(
    revenue_margin_and_percentages_are_rounded_once,
    risky_accounts_follow_the_exact_figures,
);
