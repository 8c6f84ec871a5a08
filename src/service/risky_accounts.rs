//! `ListRiskyAccounts`: customers whose cost is over a share of their revenue, whose margin is
//! negative, or who cost something and bring no revenue, worst first, with the agent and the model
//! that cost them most.

use std::{cmp::Ordering, collections::HashMap};

use rust_decimal::Decimal;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::report_groups::{MarginLine, groups};
use crate::{
    domain::{
        DomainError, FieldViolation,
        event::Plan,
        exact::ExactUsd,
        money::Usd,
        page_token::{self, PageLimits},
        report::{Capabilities, Dimension, Window},
    },
    store::{
        report_inputs,
        report_reads::{self, GroupQuery},
    },
};

/// Accounts per page: 50 unless asked, at most 100.
pub const PAGE_LIMITS: PageLimits = PageLimits {
    default: 50,
    max: 100,
};

/// A checked request.
#[derive(Clone, Debug)]
pub struct RiskQuery {
    pub window: Window,
    /// Percent of revenue; `None` when not asked.
    pub threshold_percent: Option<Decimal>,
    pub include_negative_margin: bool,
    pub page_size: i32,
    pub page_token: String,
}

/// Why an account is listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    CostShareOverThreshold,
    NegativeMargin,
    NoRevenue,
}

/// An account and its figures (money rounded, in 1e-10 USD).
#[derive(Clone, Debug)]
pub struct RiskyAccount {
    pub customer_id: String,
    pub display_name: String,
    pub plan: Option<Plan>,
    pub line: MarginLine,
    /// Agent code and its cost.
    pub top_agent: Option<(String, i64)>,
    /// Provider, model and their cost.
    pub top_model: Option<(String, String, i64)>,
    pub reasons: Vec<Reason>,
}

/// Why a customer is listed, from its exact revenue and its cost (never from a rounded revenue):
/// cost with no revenue (listed by either criterion), cost above revenue when asked, cost above
/// `threshold` percent of a positive revenue when asked.
pub fn reasons(
    revenue: ExactUsd,
    cost_e10: i64,
    threshold_percent: Option<Decimal>,
    include_negative_margin: bool,
) -> Vec<Reason> {
    let cost = ExactUsd::from_e10(cost_e10);
    let mut reasons = Vec::new();
    if let Some(threshold) = threshold_percent
        && revenue.is_positive()
        && cost.exceeds_percent_of(threshold, revenue)
    {
        reasons.push(Reason::CostShareOverThreshold);
    }
    if include_negative_margin && cost > revenue {
        reasons.push(Reason::NegativeMargin);
    }
    if revenue.is_zero() && cost_e10 > 0 {
        reasons.push(Reason::NoRevenue);
    }
    reasons
}

/// Worst first: no revenue (most cost first), then by cost as a share of the exact revenue,
/// compared exactly; ties by customer id.
pub fn worst_first(a: &RiskyAccount, b: &RiskyAccount) -> Ordering {
    let figures = |account: &RiskyAccount| {
        (
            account.line.exact_revenue.unwrap_or_default(),
            ExactUsd::from_e10(account.line.cost_e10),
        )
    };
    let ((revenue_a, cost_a), (revenue_b, cost_b)) = (figures(a), figures(b));
    let by_risk = match (revenue_a.is_positive(), revenue_b.is_positive()) {
        (false, false) => cost_b.cmp(&cost_a),
        (false, true) => Ordering::Less,
        (true, false) => Ordering::Greater,
        (true, true) => cost_b
            .cmp_share(revenue_b, cost_a, revenue_a)
            .unwrap_or(Ordering::Equal),
    };
    by_risk.then_with(|| a.customer_id.cmp(&b.customer_id))
}

/// The largest cost per customer among `(customer, rest of key, cost)` rows; ties by key.
fn top_by_cost(
    rows: impl Iterator<Item = (String, Vec<String>, i64)>,
) -> HashMap<String, (Vec<String>, i64)> {
    let mut top: HashMap<String, (Vec<String>, i64)> = HashMap::new();
    for (customer, key, cost) in rows {
        let better = top.get(&customer).is_none_or(|(best, best_cost)| {
            cost > *best_cost || (cost == *best_cost && key < *best)
        });
        if better {
            top.insert(customer, (key, cost));
        }
    }
    top
}

/// Answers a `ListRiskyAccounts` request.
pub async fn list_risky_accounts(
    db: &DatabaseConnection,
    project_id: Uuid,
    query: RiskQuery,
) -> Result<(Vec<RiskyAccount>, String), DomainError> {
    let fingerprint = format!(
        "risky|{:?}|{:?}|{}",
        query.window, query.threshold_percent, query.include_negative_margin
    );
    let invalid_token = || {
        DomainError::Invalid(vec![FieldViolation::new(
            "page_token",
            "not a page token of this list with these parameters",
        )])
    };
    let offset = match page_token::decode(&query.page_token, &fingerprint)
        .map_err(|violation| DomainError::Invalid(vec![violation]))?
    {
        None => 0,
        Some(cursor) => cursor.parse::<usize>().map_err(|_| invalid_token())?,
    };
    let by_customer = [Dimension::Customer];
    let caps = Capabilities::of(by_customer);
    let customers = groups(db, project_id, query.window, &by_customer, &[], caps).await?;
    let mut accounts = Vec::new();
    for (key, figures) in &customers {
        let line = MarginLine::of(key.clone(), figures, caps)?;
        let reasons = reasons(
            line.exact_revenue.unwrap_or_default(),
            line.cost_e10,
            query.threshold_percent,
            query.include_negative_margin,
        );
        if !reasons.is_empty() {
            accounts.push(RiskyAccount {
                customer_id: key[0].clone(),
                display_name: String::new(),
                plan: None,
                line,
                top_agent: None,
                top_model: None,
                reasons,
            });
        }
    }
    accounts.sort_by(worst_first);
    let size = PAGE_LIMITS.size(query.page_size) as usize;
    let end = offset.saturating_add(size).min(accounts.len());
    let next_page_token = if end < accounts.len() {
        page_token::encode(&end.to_string(), &fingerprint)
    } else {
        String::new()
    };
    let mut page: Vec<RiskyAccount> = accounts.into_iter().skip(offset).take(size).collect();
    if page.is_empty() {
        return Ok((page, next_page_token));
    }
    let ids: Vec<String> = page.iter().map(|a| a.customer_id.clone()).collect();
    let filter = [crate::domain::report::Filter {
        dimension: Dimension::Customer,
        values: ids.clone(),
    }];
    let grouped = |dimensions: &'static [Dimension]| GroupQuery {
        project_id,
        window: query.window,
        dimensions,
        period: None,
        filters: &filter,
    };
    let agents =
        report_reads::event_groups(db, &grouped(&[Dimension::Customer, Dimension::Agent])).await?;
    let top_agents = top_by_cost(
        agents
            .into_iter()
            .filter(|row| row.sums[1] > 0)
            .map(|row| (row.key[0].clone(), row.key[1..].to_vec(), row.sums[1])),
    );
    let models = report_reads::line_groups(
        db,
        &grouped(&[Dimension::Customer, Dimension::Provider, Dimension::Model]),
    )
    .await?;
    let top_models = top_by_cost(
        models
            .into_iter()
            .filter(|row| row.sums[1] > 0)
            .map(|row| (row.key[0].clone(), row.key[1..].to_vec(), row.sums[1])),
    );
    let names = report_inputs::display_names(db, project_id, &ids).await?;
    let periods = report_inputs::plan_periods(db, project_id, Some(&ids), query.window.end).await?;
    for account in &mut page {
        account.display_name = names.get(&account.customer_id).cloned().unwrap_or_default();
        account.top_agent = top_agents
            .get(&account.customer_id)
            .map(|(key, cost)| (key[0].clone(), *cost));
        account.top_model = top_models
            .get(&account.customer_id)
            .map(|(key, cost)| (key[0].clone(), key[1].clone(), *cost));
        account.plan = periods
            .iter()
            .rfind(|p| p.customer_id == account.customer_id)
            .map(|p| Plan {
                name: p.plan_name.clone(),
                monthly: Usd::from_e10(p.monthly_e10),
            });
    }
    Ok((page, next_page_token))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::exact;

    fn usd(e10: i64) -> ExactUsd {
        ExactUsd::from_e10(e10)
    }

    #[test]
    fn reasons_follow_the_criteria_asked() {
        let forty = Some(Decimal::from(40));
        assert_eq!(
            reasons(usd(100), 41, forty, false),
            [Reason::CostShareOverThreshold]
        );
        assert!(reasons(usd(100), 40, forty, false).is_empty());
        assert!(reasons(usd(100), 150, None, false).is_empty());
        assert_eq!(
            reasons(usd(100), 150, forty, true),
            [Reason::CostShareOverThreshold, Reason::NegativeMargin]
        );
        assert_eq!(reasons(usd(0), 5, forty, false), [Reason::NoRevenue]);
        assert_eq!(
            reasons(usd(0), 5, None, true),
            [Reason::NegativeMargin, Reason::NoRevenue]
        );
        assert!(reasons(usd(0), 0, Some(Decimal::ZERO), true).is_empty());
    }

    #[test]
    fn reasons_compare_the_exact_revenue() {
        // Revenue 2.5 (shown rounded to 2): a cost of 1 is 40 %, not over 40 % (50 % of 2).
        let two_and_a_half = ExactUsd::from_parts(exact::DENOMINATOR * 5 / 2);
        let forty = Some(Decimal::from(40));
        assert!(reasons(two_and_a_half, 1, forty, false).is_empty());
        // Revenue 0.5 (shown 0): some revenue, so not NO_REVENUE; a cost of 1 is above it.
        let half = ExactUsd::from_parts(exact::DENOMINATOR / 2);
        assert_eq!(reasons(half, 1, None, true), [Reason::NegativeMargin]);
        // Revenue 1.5 less a cost of 2 is a negative margin of 0.5 (shown 0 when rounded).
        let one_and_a_half = ExactUsd::from_parts(exact::DENOMINATOR * 3 / 2);
        assert_eq!(
            reasons(one_and_a_half, 2, None, true),
            [Reason::NegativeMargin]
        );
    }
}
