//! `Reports.GetCostSeries` through the API: buckets by hour, day and month cut to the window, empty
//! ones present, split by a dimension with an `other` series, revenue per bucket, each figure
//! compared with the one computed here from the records sent (see `report_data`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use tally::pb::{
    DimensionFilter, GetCostSeriesRequest, GetCostSeriesResponse, ReportDimension as D,
    TimeGranularity as G,
};
use tonic::Code;

use crate::{
    helpers::{Backend, TestApp, spawn_app, violated_fields},
    margin_expected::value,
    report_data::{events, load, money, plan_at, plan_fees, price_at, reports, t, ts},
};

fn buckets(from: DateTime<Utc>, to: DateTime<Utc>, g: G) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut start = from;
    while start < to {
        let next = match g {
            G::Hour => start + Duration::hours(1),
            G::Day => {
                Utc.with_ymd_and_hms(start.year(), start.month(), start.day(), 0, 0, 0)
                    .unwrap()
                    + Duration::days(1)
            }
            _ => {
                Utc.with_ymd_and_hms(start.year(), start.month(), 1, 0, 0, 0)
                    .unwrap()
                    + chrono::Months::new(1)
            }
        };
        out.push((start, next.min(to)));
        start = next.min(to);
    }
    out
}

/// Per bucket: cost, events, unpriced, exact revenue.
type Sums = Vec<(i64, u64, u64, Decimal)>;

/// The series a request must give: (split value, other, per bucket [cost, revenue, events,
/// unpriced]) computed from the records; all lines priced (after the mapping).
fn expected(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    g: G,
    split: Option<D>,
    max_series: usize,
) -> Vec<(String, bool, Vec<[String; 4]>)> {
    let spans = buckets(from, to, g);
    let line_level = matches!(split, Some(D::Provider | D::Model));
    let mut series: BTreeMap<String, Sums> = BTreeMap::new();
    let empty = || vec![(0, 0, 0, Decimal::ZERO); spans.len()];
    for event in events().iter().filter(|e| e.at >= from && e.at < to) {
        let b = spans
            .iter()
            .position(|(s, e)| event.at >= *s && event.at < *e)
            .unwrap();
        if line_level {
            let mut counted = BTreeSet::new();
            for line in &event.lines {
                let k = value(event, Some(line), split.unwrap());
                let sums = &mut series.entry(k.clone()).or_insert_with(empty)[b];
                sums.0 += line.cost(true).unwrap();
                sums.1 += u64::from(counted.insert((k, line.provider, line.model)));
            }
        } else {
            let k = split.map_or(String::new(), |d| value(event, None, d));
            let sums = &mut series.entry(k).or_insert_with(empty)[b];
            sums.0 += event
                .lines
                .iter()
                .map(|l| l.cost(true).unwrap())
                .sum::<i64>();
            sums.1 += 1;
            if let Some(price) = price_at(plan_at(event.customer, event.at), event.signal, event.at)
            {
                sums.3 += price * Decimal::from(event.quantity);
            }
        }
    }
    let revenue = matches!(split, None | Some(D::Customer | D::Plan));
    if revenue {
        for (b, (start, end)) in spans.iter().enumerate() {
            for ((customer, plan), fee) in plan_fees(*start, *end) {
                let k = match split {
                    None => String::new(),
                    Some(D::Customer) => customer,
                    _ => plan,
                };
                series.entry(k).or_insert_with(empty)[b].3 += fee;
            }
        }
    }
    if split.is_none() && series.is_empty() {
        series.insert(String::new(), empty());
    }
    let mut ranked: Vec<(String, Sums)> = series.into_iter().collect();
    let total = |s: &Sums| s.iter().map(|b| b.0).sum::<i64>();
    ranked.sort_by(|a, b| total(&b.1).cmp(&total(&a.1)).then(a.0.cmp(&b.0)));
    let rest = if split.is_some() {
        ranked.split_off(max_series.min(ranked.len()))
    } else {
        Vec::new()
    };
    let mut out: Vec<(String, bool, Sums)> =
        ranked.into_iter().map(|(k, s)| (k, false, s)).collect();
    if !rest.is_empty() {
        let mut other = empty();
        for (_, sums) in rest {
            for (o, s) in other.iter_mut().zip(sums) {
                *o = (o.0 + s.0, o.1 + s.1, o.2 + s.2, o.3 + s.3);
            }
        }
        out.push((String::new(), true, other));
    }
    out.into_iter()
        .map(|(k, other, sums)| {
            let shown =
                sums.into_iter()
                    .map(|(cost, events, unpriced, rev)| {
                        [
                            money(Decimal::new(cost, 10)),
                            if revenue {
                                money(rev.round_dp_with_strategy(
                                    10,
                                    RoundingStrategy::MidpointNearestEven,
                                ))
                            } else {
                                String::new()
                            },
                            events.to_string(),
                            unpriced.to_string(),
                        ]
                    })
                    .collect();
            (k, other, shown)
        })
        .collect()
}

fn shown(response: &GetCostSeriesResponse) -> Vec<(String, bool, Vec<[String; 4]>)> {
    response
        .series
        .iter()
        .map(|s| {
            (
                s.split.as_ref().map_or(String::new(), |v| v.value.clone()),
                s.other,
                s.buckets
                    .iter()
                    .map(|b| {
                        [
                            b.cost_usd.clone(),
                            b.revenue_usd.clone(),
                            b.event_count.to_string(),
                            b.unpriced_event_count.to_string(),
                        ]
                    })
                    .collect(),
            )
        })
        .collect()
}

fn request(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    g: G,
    split: D,
    max: i32,
) -> GetCostSeriesRequest {
    GetCostSeriesRequest {
        start_time: Some(ts(from)),
        end_time: Some(ts(to)),
        granularity: g as i32,
        split_by: split as i32,
        filters: Vec::new(),
        max_series: max,
    }
}

async fn check(
    app: &TestApp,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    g: G,
    split: Option<D>,
    max: usize,
) {
    let response = reports(app)
        .get_cost_series(request(
            from,
            to,
            g,
            split.unwrap_or(D::Unspecified),
            max as i32,
        ))
        .await
        .expect("series")
        .into_inner();
    // 0 asks for the default, 10.
    let want = expected(from, to, g, split, if max == 0 { 10 } else { max });
    assert_eq!(shown(&response), want, "{g:?} split {split:?} from {from}");
    // Buckets: contiguous calendar units, cut to the window.
    let spans = buckets(from, to, g);
    for series in &response.series {
        let got: Vec<_> = series
            .buckets
            .iter()
            .map(|b| (b.start_time.unwrap().seconds, b.end_time.unwrap().seconds))
            .collect();
        let want: Vec<_> = spans
            .iter()
            .map(|(s, e)| (s.timestamp(), e.timestamp()))
            .collect();
        assert_eq!(got, want);
    }
    let revenue = matches!(split, None | Some(D::Customer | D::Plan));
    assert_eq!(response.revenue_available, revenue);
    assert_eq!(
        response.revenue_note.is_empty(),
        revenue,
        "{}",
        response.revenue_note
    );
}

async fn cost_series_match_the_records(backend: Backend) {
    let app = spawn_app(backend).await;
    load(&app, true).await;
    check(&app, t(0, 0), t(30, 0), G::Day, None, 0).await;
    check(&app, t(9, 5), t(11, 7), G::Day, None, 0).await;
    check(&app, t(10, 0), t(12, 0), G::Hour, None, 0).await;
    check(&app, t(-1, 0), t(45, 1), G::Month, None, 0).await;
    check(&app, t(-1, 0), t(45, 1), G::Month, Some(D::Plan), 10).await;
    check(&app, t(0, 0), t(30, 0), G::Day, Some(D::Customer), 2).await;
    check(&app, t(0, 0), t(30, 0), G::Day, Some(D::Agent), 1).await;
    check(&app, t(0, 0), t(30, 0), G::Day, Some(D::Model), 0).await;
    check(&app, t(1, 0), t(3, 0), G::Hour, Some(D::Provider), 0).await;
    // A window without events: every bucket present, with plan fees only.
    check(&app, t(100, 0), t(102, 0), G::Hour, None, 0).await;
    // The other series sums beta and gamma; gamma has only revenue.
    let split = reports(&app)
        .get_cost_series(request(t(0, 0), t(30, 0), G::Month, D::Customer, 2))
        .await
        .expect("series")
        .into_inner();
    let names: Vec<(String, String, bool)> = split
        .series
        .iter()
        .map(|s| {
            let v = s.split.clone().unwrap_or_default();
            (v.value, v.display_name, s.other)
        })
        .collect();
    assert_eq!(
        names,
        [
            ("acme".into(), "acme Inc.".into(), false),
            ("delta".into(), "delta Inc.".into(), false),
            (String::new(), String::new(), true)
        ]
    );
    // Filters narrow the series.
    let filtered = reports(&app)
        .get_cost_series(GetCostSeriesRequest {
            filters: vec![DimensionFilter {
                dimension: D::Customer as i32,
                values: vec!["beta".into()],
            }],
            ..request(t(0, 0), t(30, 0), G::Month, D::Unspecified, 0)
        })
        .await
        .expect("series")
        .into_inner();
    let beta = expected(t(0, 0), t(30, 0), G::Month, Some(D::Customer), 10)
        .into_iter()
        .find(|s| s.0 == "beta")
        .unwrap();
    assert_eq!(shown(&filtered)[0].2, beta.2);
}

async fn cost_series_requests_are_validated_naming_the_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = vec![
        (
            request(t(0, 0), t(1, 0), G::Unspecified, D::Unspecified, 0),
            vec!["granularity"],
        ),
        (
            request(t(0, 0), t(500, 0), G::Hour, D::Unspecified, 0),
            vec!["end_time"],
        ),
        (
            GetCostSeriesRequest {
                start_time: None,
                max_series: -1,
                ..request(t(0, 0), t(1, 0), G::Hour, D::Unspecified, 0)
            },
            vec!["start_time", "max_series"],
        ),
        (
            request(t(0, 0), t(1, 0), G::Hour, D::Unspecified, 0),
            vec![],
        ),
    ];
    for (request, fields) in cases {
        match reports(&app).get_cost_series(request).await {
            Ok(_) => assert!(fields.is_empty()),
            Err(status) => {
                assert_eq!(status.code(), Code::InvalidArgument);
                assert_eq!(violated_fields(&status), fields);
            }
        }
    }
}

crate::on_both_databases!(
    cost_series_match_the_records,
    cost_series_requests_are_validated_naming_the_field,
);
