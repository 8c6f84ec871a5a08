//! `Reports.ListRiskyAccounts` through the API: who is listed and why, worst first, with figures,
//! top agent and top model computed here from the records sent (see `report_data`); pages and
//! validation.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tally::pb::{ListRiskyAccountsRequest, ReportDimension as D, RiskReason as R, RiskyAccount};
use tonic::Code;

use crate::{
    helpers::{Backend, TestApp, spawn_app, violated_fields},
    margin_expected::{expected, revenue_by_customer},
    report_data::{e10, events, load, plan_history, reports, t, ts},
};

fn request(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    threshold: &str,
    negative: bool,
) -> ListRiskyAccountsRequest {
    ListRiskyAccountsRequest {
        start_time: Some(ts(from)),
        end_time: Some(ts(to)),
        cost_share_threshold_percent: threshold.to_owned(),
        include_negative_margin: negative,
        page_size: 0,
        page_token: String::new(),
    }
}

/// The accounts as comparable text: id, plan, revenue, cost, margin, margin %, cost %, events,
/// unpriced, top agent and cost, top provider/model and cost, reasons.
fn want(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    threshold: Option<Decimal>,
    negative: bool,
) -> Vec<Vec<String>> {
    let by_customer = expected(from, to, &[D::Customer], &[], true);
    // Criteria and order compare the exact revenue, never a rounded one.
    let exact_revenue = revenue_by_customer(from, to);
    let mut agents: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut models: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for event in events().iter().filter(|e| e.at >= from && e.at < to) {
        for line in &event.lines {
            let cost = line.cost(true).unwrap();
            *agents
                .entry((event.customer.into(), event.agent.into()))
                .or_default() += cost;
            *models
                .entry((
                    event.customer.into(),
                    line.provider.into(),
                    line.model.into(),
                ))
                .or_default() += cost;
        }
    }
    let mut out: Vec<(Decimal, Decimal, Vec<String>)> = Vec::new();
    for (key, row) in by_customer {
        let customer = key[0].clone();
        let revenue = exact_revenue.get(&customer).copied().unwrap_or_default();
        let cost: Decimal = row[3].parse().unwrap();
        let mut reasons = Vec::new();
        if let Some(threshold) = threshold
            && revenue > Decimal::ZERO
            && cost * Decimal::ONE_HUNDRED > threshold * revenue
        {
            reasons.push((R::CostShareOverThreshold as i32).to_string());
        }
        if negative && cost > revenue {
            reasons.push((R::NegativeMargin as i32).to_string());
        }
        if revenue.is_zero() && cost > Decimal::ZERO {
            reasons.push((R::NoRevenue as i32).to_string());
        }
        if reasons.is_empty() {
            continue;
        }
        let top_agent = agents
            .iter()
            .filter(|((c, _), cost)| *c == customer && **cost > 0)
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map_or(String::new(), |((_, agent), cost)| {
                format!("{agent} {}", e10(*cost))
            });
        let top_model = models
            .iter()
            .filter(|((c, _, _), cost)| *c == customer && **cost > 0)
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map_or(String::new(), |((_, p, m), cost)| {
                format!("{p}/{m} {}", e10(*cost))
            });
        let plan = plan_history()
            .into_iter()
            .rfind(|(c, _, _, start)| *c == customer && *start < to)
            .map_or(String::new(), |(_, name, monthly, _)| {
                format!("{name} {monthly}")
            });
        let mut shown = vec![customer, plan];
        shown.extend([0, 3, 4, 5, 6, 7, 9].map(|i| row[i].clone()));
        shown.extend([top_agent, top_model, reasons.join(",")]);
        out.push((revenue, cost, shown));
    }
    out.sort_by(|a, b| {
        let risk = match (a.0.is_zero(), b.0.is_zero()) {
            (true, true) => b.1.cmp(&a.1),
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
            (false, false) => (b.1 / b.0).cmp(&(a.1 / a.0)),
        };
        risk.then(a.2[0].cmp(&b.2[0]))
    });
    out.into_iter().map(|(_, _, shown)| shown).collect()
}

fn shown(account: &RiskyAccount) -> Vec<String> {
    let plan = account.plan.as_ref().map_or(String::new(), |p| {
        format!(
            "{} {}",
            p.name,
            p.monthly_usd.parse::<Decimal>().unwrap().normalize()
        )
    });
    let top = |name: String, cost: &str| {
        if name.is_empty() {
            name
        } else {
            format!("{name} {cost}")
        }
    };
    vec![
        account.customer_id.clone(),
        plan,
        account.revenue_usd.clone(),
        account.cost_usd.clone(),
        account.margin_usd.clone(),
        account.margin_percent.clone(),
        account.cost_percent_of_revenue.clone(),
        account.event_count.to_string(),
        account.unpriced_event_count.to_string(),
        top(account.top_agent_code.clone(), &account.top_agent_cost_usd),
        top(
            if account.top_model.is_empty() {
                String::new()
            } else {
                format!("{}/{}", account.top_provider, account.top_model)
            },
            &account.top_model_cost_usd,
        ),
        account
            .reasons
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(","),
    ]
}

async fn list_all(
    app: &TestApp,
    request: ListRiskyAccountsRequest,
    page_size: i32,
) -> Vec<RiskyAccount> {
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let page = reports(app)
            .list_risky_accounts(ListRiskyAccountsRequest {
                page_size,
                page_token: token,
                ..request.clone()
            })
            .await
            .expect("risky accounts")
            .into_inner();
        assert!(page.accounts.len() <= page_size.max(1) as usize || page_size == 0);
        out.extend(page.accounts);
        token = page.next_page_token;
        if token.is_empty() {
            return out;
        }
    }
}

async fn risky_accounts_are_listed_worst_first_with_their_reasons(backend: Backend) {
    let app = spawn_app(backend).await;
    load(&app, true).await;
    let cases = [
        (t(0, 0), t(30, 0), "40", false),
        (t(0, 0), t(30, 0), "4", false),
        (t(0, 0), t(30, 0), "", true),
        (t(20, 0), t(21, 0), "", true),
        (t(20, 0), t(21, 0), "62.5", true),
        (t(0, 0), t(30, 0), "0", true),
    ];
    for (from, to, threshold, negative) in cases {
        let threshold_value =
            (!threshold.is_empty()).then(|| threshold.parse::<Decimal>().unwrap());
        let expected = want(from, to, threshold_value, negative);
        assert!(
            !expected.is_empty(),
            "a case that lists no one proves little"
        );
        for page_size in [0, 1] {
            let got: Vec<Vec<String>> =
                list_all(&app, request(from, to, threshold, negative), page_size)
                    .await
                    .iter()
                    .map(shown)
                    .collect();
            assert_eq!(got, expected, "{threshold:?} {negative} from {from}");
        }
    }
    // The whole-month list: delta (no revenue) first, then acme, then beta.
    let all = list_all(&app, request(t(0, 0), t(30, 0), "4", false), 0).await;
    let ids: Vec<&str> = all.iter().map(|a| a.customer_id.as_str()).collect();
    assert_eq!(ids, ["delta", "acme", "beta"]);
    assert_eq!(all[1].display_name, "acme Inc.");
    // A token binds its parameters.
    let first = reports(&app)
        .list_risky_accounts(ListRiskyAccountsRequest {
            page_size: 1,
            ..request(t(0, 0), t(30, 0), "4", false)
        })
        .await
        .expect("page")
        .into_inner();
    let refused = reports(&app)
        .list_risky_accounts(ListRiskyAccountsRequest {
            page_size: 1,
            page_token: first.next_page_token,
            ..request(t(0, 0), t(30, 0), "5", false)
        })
        .await
        .expect_err("other threshold");
    assert_eq!(violated_fields(&refused), ["page_token"]);
}

async fn risky_account_requests_are_validated_naming_the_field(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases = vec![
        (
            request(t(0, 0), t(1, 0), "", false),
            vec!["cost_share_threshold_percent"],
        ),
        (
            request(t(0, 0), t(1, 0), "-5", false),
            vec!["cost_share_threshold_percent"],
        ),
        (
            request(t(0, 0), t(1, 0), "4e1", true),
            vec!["cost_share_threshold_percent"],
        ),
        (request(t(1, 0), t(0, 0), "40", false), vec!["end_time"]),
        (
            ListRiskyAccountsRequest {
                start_time: None,
                page_size: -2,
                ..request(t(0, 0), t(1, 0), "40", false)
            },
            vec!["start_time", "page_size"],
        ),
    ];
    for (request, fields) in cases {
        let status = reports(&app)
            .list_risky_accounts(request)
            .await
            .expect_err("invalid");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(violated_fields(&status), fields);
    }
}

crate::on_both_databases!(
    risky_accounts_are_listed_worst_first_with_their_reasons,
    risky_account_requests_are_validated_naming_the_field,
);
