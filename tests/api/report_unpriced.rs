//! Events of unknown cost are counted alike in every report: an event is unpriced when any of its
//! lines has no cost, whether it has no price (`NEEDS_COST_BACKFILL`) or no volume
//! (`MISSING_VOLUME_DATA`). `FillVolume` moves such events to priced in every report at once.

use tally::pb::{
    CustomerAttribution, EventRecord, FillVolumeRequest, GetCostSeriesRequest, GetMarginRequest,
    GetNeedsAttentionRequest, GetRunRequest, ListRiskyAccountsRequest, ListTopRunsRequest,
    MultiServiceUsage, ReportDimension as D, ServiceUsage, TimeGranularity, event_record::Usage,
};

use crate::{
    helpers::{Backend, TestApp, spawn_app},
    report_data::{MINI_E10, e10, t, ts},
};

/// A gpt-4o-mini line; with `tokens`, 1000 input and 100 output (0.00021 USD: `MINI_E10`), else no
/// counts at all (missing volume).
fn mini(tokens: bool) -> ServiceUsage {
    ServiceUsage {
        provider: "openai".into(),
        model: "gpt-4o-mini".into(),
        input_tokens: tokens.then_some(1_000),
        output_tokens: tokens.then_some(100),
        ..Default::default()
    }
}

/// A line of a model no price list has.
fn unknown() -> ServiceUsage {
    ServiceUsage {
        provider: "acme".into(),
        model: "llm-x".into(),
        input_tokens: Some(500),
        output_tokens: Some(50),
        ..Default::default()
    }
}

fn record(run: &str, minute: i64, lines: Vec<ServiceUsage>) -> EventRecord {
    EventRecord {
        customer: Some(CustomerAttribution {
            id: "zeta".into(),
            ..Default::default()
        }),
        agent_code: "support".into(),
        run_id: run.into(),
        usage_time: Some(ts(t(1, 7) + chrono::Duration::minutes(minute))),
        usage: Some(if lines.len() == 1 {
            Usage::Service(lines.into_iter().next().unwrap())
        } else {
            Usage::Services(MultiServiceUsage { services: lines })
        }),
        ..Default::default()
    }
}

/// What each report says is of unknown cost, in the order: margin total, margin row of zeta,
/// margin rows by model (gpt-4o-mini, llm-x), series bucket, risky account, needs attention
/// (no price, no volume), run steps (GetRun, ListTopRuns); and the margin total's cost.
async fn counts(app: &TestApp) -> (Vec<u64>, String) {
    let mut reports = app.reports(&app.publishable_key);
    let margin = |group_by: Vec<D>| GetMarginRequest {
        start_time: Some(ts(t(0, 0))),
        end_time: Some(ts(t(30, 0))),
        group_by: group_by.into_iter().map(|d| d as i32).collect(),
        ..Default::default()
    };
    let by_customer = reports
        .get_margin(margin(vec![D::Customer]))
        .await
        .expect("margin")
        .into_inner();
    let totals = by_customer.totals.expect("totals");
    let by_model = reports
        .get_margin(margin(vec![D::Model]))
        .await
        .expect("margin")
        .into_inner();
    let model = |name: &str| {
        by_model
            .rows
            .iter()
            .find(|row| row.group_values[0].value == name)
            .map_or(0, |row| row.unpriced_event_count)
    };
    let series = reports
        .get_cost_series(GetCostSeriesRequest {
            start_time: Some(ts(t(1, 0))),
            end_time: Some(ts(t(2, 0))),
            granularity: TimeGranularity::Day as i32,
            ..Default::default()
        })
        .await
        .expect("series")
        .into_inner();
    let risky = reports
        .list_risky_accounts(ListRiskyAccountsRequest {
            start_time: Some(ts(t(0, 0))),
            end_time: Some(ts(t(30, 0))),
            cost_share_threshold_percent: "0".into(),
            ..Default::default()
        })
        .await
        .expect("risky")
        .into_inner();
    let attention = reports
        .get_needs_attention(GetNeedsAttentionRequest {
            start_time: Some(ts(t(0, 0))),
            end_time: Some(ts(t(30, 0))),
            ..Default::default()
        })
        .await
        .expect("needs attention")
        .into_inner();
    let run = app
        .runs(&app.publishable_key)
        .get_run(GetRunRequest {
            run_id: "r-1".into(),
        })
        .await
        .expect("run")
        .into_inner()
        .run
        .expect("run");
    let top = reports
        .list_top_runs(ListTopRunsRequest {
            start_time: Some(ts(t(0, 0))),
            end_time: Some(ts(t(30, 0))),
            ..Default::default()
        })
        .await
        .expect("top runs")
        .into_inner()
        .runs;
    assert_eq!(top.len(), 1);
    let figures = vec![
        totals.unpriced_event_count,
        by_customer.rows[0].unpriced_event_count,
        model("gpt-4o-mini"),
        model("llm-x"),
        series.series[0].buckets[0].unpriced_event_count,
        risky.accounts[0].unpriced_event_count,
        attention.unpriced_event_count,
        attention.missing_volume_event_count,
        run.unpriced_step_count,
        top[0].unpriced_step_count,
    ];
    (figures, totals.cost_usd)
}

async fn events_missing_volume_are_unpriced_in_every_report(backend: Backend) {
    let app = spawn_app(backend).await;
    let results = app
        .record_batch(vec![
            // Missing volume, in run r-1.
            record("r-1", 0, vec![mini(false)]),
            // No price.
            record("", 5, vec![unknown()]),
            // One priced line and one missing volume, in run r-1: unpriced, its priced line in the
            // cost.
            record("r-1", 10, vec![mini(true), mini(false)]),
            // Priced.
            record("", 15, vec![mini(true)]),
        ])
        .await;
    let statuses: Vec<&str> = results.iter().map(|r| r.status().as_str_name()).collect();
    assert_eq!(
        statuses,
        [
            "EVENT_STATUS_MISSING_VOLUME_DATA",
            "EVENT_STATUS_NEEDS_COST_BACKFILL",
            "EVENT_STATUS_MISSING_VOLUME_DATA",
            "EVENT_STATUS_PROCESSED"
        ]
    );
    // Three events of unknown cost: two lack volume (one of them has a priced line), one a price.
    // By model: two gpt-4o-mini lines and one llm-x line of unknown cost. The run has three steps,
    // two of unknown cost.
    let (figures, cost) = counts(&app).await;
    assert_eq!(figures, [3, 3, 2, 1, 3, 3, 1, 2, 2, 2]);
    assert_eq!(cost, e10(2 * MINI_E10));
    app.assert_totals_match_events().await;

    // Volume given: the two events move to priced everywhere; the unknown model stays unpriced.
    for (event, line) in [(0, 0), (2, 1)] {
        app.ingest(&app.secret_key)
            .fill_volume(FillVolumeRequest {
                event_id: results[event].event_id.clone(),
                line_index: line,
                input_tokens: Some(1_000),
                output_tokens: Some(100),
                ..Default::default()
            })
            .await
            .expect("filled");
    }
    let (figures, cost) = counts(&app).await;
    assert_eq!(figures, [1, 1, 0, 1, 1, 1, 1, 0, 0, 0]);
    assert_eq!(cost, e10(4 * MINI_E10));
    app.assert_totals_match_events().await;
}

crate::on_both_databases!(events_missing_volume_are_unpriced_in_every_report);
