//! `Reports.GetMargin` through the API: every grouping and filter compared, to the 10th decimal,
//! with the figures computed here from the records sent (see `report_data`), before and after a
//! repricing; sorting, paging, totals, and validation.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use tally::pb::{
    DimensionFilter, GetMarginRequest, MapModelRequest, MarginOrderBy, MarginRow,
    ReportDimension as D,
};
use tonic::Code;

use crate::{
    helpers::{Backend, TestApp, spawn_app},
    margin_expected::expected,
    report_data::{e10, load, reports, t, ts},
};

/// A grouping and its filters.
type Case<'a> = (&'a [D], &'a [(D, &'a [&'a str])]);

fn shown(row: &MarginRow) -> (Vec<String>, Vec<String>) {
    let key = row.group_values.iter().map(|v| v.value.clone()).collect();
    let figures = vec![
        row.revenue_usd.clone(),
        row.plan_revenue_usd.clone(),
        row.usage_revenue_usd.clone(),
        row.cost_usd.clone(),
        row.margin_usd.clone(),
        row.margin_percent.clone(),
        row.cost_percent_of_revenue.clone(),
        row.event_count.to_string(),
        row.run_count.to_string(),
        row.unpriced_event_count.to_string(),
        row.tokens
            .as_ref()
            .map_or(0, |t| t.input_tokens)
            .to_string(),
    ];
    (key, figures)
}

fn request(group_by: &[D], filters: &[(D, &[&str])]) -> GetMarginRequest {
    GetMarginRequest {
        start_time: Some(ts(t(0, 0))),
        end_time: Some(ts(t(30, 0))),
        group_by: group_by.iter().map(|d| *d as i32).collect(),
        filters: filters
            .iter()
            .map(|(d, values)| DimensionFilter {
                dimension: *d as i32,
                values: values.iter().map(|v| (*v).to_owned()).collect(),
            })
            .collect(),
        page_size: 1000,
        ..Default::default()
    }
}

async fn check(app: &TestApp, group_by: &[D], filters: &[(D, &[&str])], mapped: bool) {
    let response = reports(app)
        .get_margin(request(group_by, filters))
        .await
        .expect("margin")
        .into_inner();
    let want = expected(t(0, 0), t(30, 0), group_by, filters, mapped);
    let got: BTreeMap<_, _> = response.rows.iter().map(shown).collect();
    assert_eq!(got, want, "group_by {group_by:?} filters {filters:?}");
    let used = [group_by, &filters.iter().map(|f| f.0).collect::<Vec<_>>()].concat();
    let revenue = used.iter().all(|d| matches!(d, D::Customer | D::Plan));
    let line_level = used.iter().any(|d| matches!(d, D::Provider | D::Model));
    let runs = used
        .iter()
        .all(|d| matches!(d, D::Customer | D::Plan | D::Agent | D::User));
    for row in response.rows.iter().chain(&response.totals) {
        assert_eq!(row.revenue_available, revenue);
        assert_eq!(row.run_count_available, runs);
        assert_eq!(row.revenue_note.is_empty(), revenue, "{}", row.revenue_note);
    }
    assert!(response.next_page_token.is_empty());
    // Totals: cost and counts add up exactly; revenue is rounded from the exact sum of the groups.
    let totals = response.totals.expect("totals");
    let total = expected(t(0, 0), t(30, 0), &[], filters, mapped);
    let (_, mut want_totals) = total.into_iter().next().expect("one total row");
    // The totals carry what the request's grouping allows.
    for (index, field) in want_totals.iter_mut().enumerate() {
        if (!revenue && [0, 1, 4, 5, 6].contains(&index)) || (line_level && index == 2) {
            field.clear();
        }
        if !runs && index == 8 {
            *field = "0".to_owned();
        }
    }
    let (_, got_totals) = shown(&totals);
    let cost: i64 = want
        .values()
        .map(|r| r[3].replace('.', "").parse::<i64>().unwrap())
        .sum();
    assert_eq!(got_totals[3], e10(cost));
    if !(group_by.contains(&D::Model) || group_by.contains(&D::Provider)) {
        assert_eq!(got_totals, want_totals, "totals of {group_by:?}");
    }
}

async fn margin_matches_the_records_for_every_grouping(backend: Backend) {
    let app = spawn_app(backend).await;
    load(&app, false).await;
    let before: [Case; 3] = [
        (&[D::Model], &[]),
        (&[D::Customer, D::Provider, D::Model], &[]),
        (&[D::Customer], &[]),
    ];
    for (group_by, filters) in before {
        check(&app, group_by, filters, false).await;
    }
    app.pricing(&app.secret_key)
        .map_model(MapModelRequest {
            from_provider: "acme".into(),
            from_model: "llm-x".into(),
            to_provider: "openai".into(),
            to_model: "gpt-4o-mini".into(),
        })
        .await
        .expect("mapped");
    let cases: Vec<Case> = vec![
        (&[], &[]),
        (&[D::Customer], &[]),
        (&[D::Customer, D::Plan], &[]),
        (&[D::Plan], &[(D::Customer, &["acme", "gamma"])]),
        (&[D::Customer], &[(D::Plan, &["pro"])]),
        (&[D::Agent], &[]),
        (&[D::Signal, D::User], &[]),
        (
            &[D::Customer, D::Agent, D::User],
            &[(D::Plan, &["pro", "team"])],
        ),
        (&[D::Model], &[]),
        (&[D::Provider], &[]),
        (&[D::Provider, D::Model], &[(D::Customer, &["acme"])]),
        (&[D::Agent], &[(D::Model, &["gpt-4o-mini", "o1"])]),
        (&[D::Customer, D::Signal], &[(D::User, &["", "u1"])]),
    ];
    for (group_by, filters) in cases {
        check(&app, group_by, filters, true).await;
    }
}

/// The customer id and display name of each row of a report grouped by customer.
fn customer_names(response: &tally::pb::GetMarginResponse) -> Vec<(&str, &str)> {
    response
        .rows
        .iter()
        .map(|r| {
            (
                r.group_values[0].value.as_str(),
                r.group_values[0].display_name.as_str(),
            )
        })
        .collect()
}

async fn margin_rows_are_named_and_carry_what_the_grouping_allows(backend: Backend) {
    let app = spawn_app(backend).await;
    load(&app, true).await;
    let response = reports(&app)
        .get_margin(request(&[D::Customer], &[]))
        .await
        .expect("margin")
        .into_inner();
    assert_eq!(
        customer_names(&response),
        [
            ("acme", "acme Inc."),
            ("beta", "beta Inc."),
            ("delta", "delta Inc."),
            ("gamma", "")
        ]
    );
    // Filtered to some customers, the page's names are read after the rows (the path a project
    // with more named customers than are read beside the figures takes too).
    let filtered = reports(&app)
        .get_margin(request(
            &[D::Customer],
            &[(D::Customer, &["acme", "gamma"])],
        ))
        .await
        .expect("margin")
        .into_inner();
    assert_eq!(
        customer_names(&filtered),
        [("acme", "acme Inc."), ("gamma", "")]
    );
    let gamma = &response.rows[3];
    assert_eq!(
        (gamma.event_count, gamma.cost_usd.as_str()),
        (0, "0.0000000000")
    );
    assert_eq!(gamma.plan_revenue_usd, "82.5000000000");
    let delta = &response.rows[2];
    assert_eq!(
        (delta.revenue_usd.as_str(), delta.margin_percent.as_str()),
        ("0.0000000000", "")
    );
    assert!(response.rows.iter().all(|r| r.run_count_available));
    // A model grouping says why it has no revenue and no runs.
    let by_model = reports(&app)
        .get_margin(request(&[D::Model], &[]))
        .await
        .expect("margin")
        .into_inner();
    let row = &by_model.rows[0];
    assert!(!row.revenue_available && !row.run_count_available);
    assert_eq!(
        (
            row.revenue_usd.as_str(),
            row.usage_revenue_usd.as_str(),
            row.margin_usd.as_str()
        ),
        ("", "", "")
    );
    assert!(
        row.revenue_note.contains("cannot be split by model"),
        "{}",
        row.revenue_note
    );
    let by_signal = reports(&app)
        .get_margin(request(&[D::Signal], &[]))
        .await
        .expect("margin")
        .into_inner();
    assert!(
        by_signal
            .rows
            .iter()
            .all(|r| !r.run_count_available && r.run_count == 0)
    );
    // The mid-hour price change: 4 tickets at 0.5 and 2 at 0.75 in one hour, read from the events.
    let hour = reports(&app)
        .get_margin(GetMarginRequest {
            start_time: Some(ts(t(10, 12))),
            end_time: Some(ts(t(10, 13))),
            ..request(&[D::Signal], &[])
        })
        .await
        .expect("margin")
        .into_inner();
    assert_eq!(hour.rows[0].usage_revenue_usd, "3.5000000000");
}

async fn margin_sorts_and_pages_with_totals_on_every_page(backend: Backend) {
    let app = spawn_app(backend).await;
    load(&app, true).await;
    let want = expected(t(0, 0), t(30, 0), &[D::Customer, D::Agent], &[], true);
    for (order, column, descending) in [
        (MarginOrderBy::Cost, 3, true),
        (MarginOrderBy::Cost, 3, false),
        (MarginOrderBy::EventCount, 7, true),
        (MarginOrderBy::MarginPercent, 5, false),
        (MarginOrderBy::Group, usize::MAX, true),
    ] {
        let mut sorted: Vec<(Vec<String>, Vec<String>)> = want.clone().into_iter().collect();
        let number = |row: &Vec<String>| -> Option<Decimal> {
            row.get(column)
                .filter(|v| !v.is_empty())
                .map(|v| v.parse().unwrap())
        };
        sorted.sort_by(|a, b| {
            let by_value = match (number(&a.1), number(&b.1)) {
                (Some(x), Some(y)) if descending => y.cmp(&x),
                (Some(x), Some(y)) => x.cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            };
            let by_group = if descending && column == usize::MAX {
                b.0.cmp(&a.0)
            } else {
                a.0.cmp(&b.0)
            };
            by_value.then(by_group)
        });
        let mut got = Vec::new();
        let mut token = String::new();
        let mut totals = Vec::new();
        loop {
            let page = reports(&app)
                .get_margin(GetMarginRequest {
                    order_by: order as i32,
                    descending,
                    page_size: 2,
                    page_token: token.clone(),
                    ..request(&[D::Customer, D::Agent], &[])
                })
                .await
                .expect("page")
                .into_inner();
            assert!(page.rows.len() <= 2);
            got.extend(page.rows.iter().map(shown));
            totals.push(page.totals.expect("totals"));
            token = page.next_page_token;
            if token.is_empty() {
                break;
            }
        }
        assert_eq!(got, sorted, "{order:?} descending {descending}");
        assert!(totals.len() >= 2 && totals.windows(2).all(|w| w[0] == w[1]));
    }
    // A token is bound to its request.
    let first = reports(&app)
        .get_margin(GetMarginRequest {
            page_size: 1,
            ..request(&[D::Customer], &[])
        })
        .await
        .expect("page")
        .into_inner();
    let refused = reports(&app)
        .get_margin(GetMarginRequest {
            page_size: 1,
            page_token: first.next_page_token,
            ..request(&[D::Agent], &[])
        })
        .await
        .expect_err("token of another request");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(crate::helpers::violated_fields(&refused), ["page_token"]);
}

async fn margin_requests_are_validated_naming_the_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases: Vec<(GetMarginRequest, Vec<&str>)> = vec![
        (
            GetMarginRequest {
                start_time: None,
                ..request(&[], &[])
            },
            vec!["start_time"],
        ),
        (
            GetMarginRequest {
                start_time: Some(ts(t(0, 0) + chrono::Duration::minutes(5))),
                end_time: None,
                ..request(&[], &[])
            },
            vec!["start_time", "end_time"],
        ),
        (
            GetMarginRequest {
                end_time: Some(ts(t(0, 0))),
                ..request(&[], &[])
            },
            vec!["end_time"],
        ),
        (
            GetMarginRequest {
                end_time: Some(ts(t(800, 0))),
                ..request(&[], &[])
            },
            vec!["end_time"],
        ),
        (
            request(
                &[D::Customer, D::Customer, D::Unspecified],
                &[(D::Unspecified, &["x"]), (D::Agent, &[])],
            ),
            vec![
                "group_by[1]",
                "group_by[2]",
                "filters[0].dimension",
                "filters[1].values",
            ],
        ),
        (
            GetMarginRequest {
                order_by: 99,
                page_size: -1,
                ..request(&[], &[])
            },
            vec!["order_by", "page_size"],
        ),
    ];
    for (request, fields) in cases {
        let status = reports(&app)
            .get_margin(request)
            .await
            .expect_err("invalid");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(crate::helpers::violated_fields(&status), fields);
    }
}

/// An event missing volume is of unknown cost (unpriced, not zero) until `FillVolume` prices it;
/// the report follows.
async fn margin_follows_fill_volume(backend: Backend) {
    use tally::pb::{
        CustomerAttribution, EventRecord, FillVolumeRequest, ServiceUsage, event_record::Usage,
    };
    let app = spawn_app(backend).await;
    let result = app
        .record_batch(vec![EventRecord {
            customer: Some(CustomerAttribution {
                id: "zeta".into(),
                ..Default::default()
            }),
            agent_code: "support".into(),
            usage_time: Some(ts(t(2, 7))),
            usage: Some(Usage::Service(ServiceUsage {
                provider: "openai".into(),
                model: "gpt-4o-mini".into(),
                ..Default::default()
            })),
            ..Default::default()
        }])
        .await
        .remove(0);
    assert!(result.stored, "{result:?}");
    let figures = |response: tally::pb::GetMarginResponse| {
        let row = &response.rows[0];
        (
            row.cost_usd.clone(),
            row.event_count,
            row.unpriced_event_count,
            row.tokens.as_ref().map_or(0, |t| t.input_tokens),
        )
    };
    for group_by in [&[D::Model][..], &[D::Customer][..]] {
        let before = reports(&app)
            .get_margin(request(group_by, &[]))
            .await
            .expect("margin");
        assert_eq!(figures(before.into_inner()), (e10(0), 1, 1, 0));
    }
    app.ingest(&app.secret_key)
        .fill_volume(FillVolumeRequest {
            event_id: result.event_id,
            line_index: 0,
            input_tokens: Some(1_000),
            output_tokens: Some(100),
            ..Default::default()
        })
        .await
        .expect("filled");
    for group_by in [&[D::Model][..], &[D::Customer][..]] {
        let after = reports(&app)
            .get_margin(request(group_by, &[]))
            .await
            .expect("margin");
        assert_eq!(
            figures(after.into_inner()),
            (e10(crate::report_data::MINI_E10), 1, 0, 1_000)
        );
    }
    app.assert_totals_match_events().await;
}

crate::on_both_databases!(
    margin_matches_the_records_for_every_grouping,
    margin_follows_fill_volume,
    margin_rows_are_named_and_carry_what_the_grouping_allows,
    margin_sorts_and_pages_with_totals_on_every_page,
    margin_requests_are_validated_naming_the_field,
);
