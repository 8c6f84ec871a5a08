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

/// Why a customer is listed, from its rounded revenue and cost: cost with no revenue (listed by
/// either criterion), cost above revenue when asked, cost above `threshold` percent of a positive
/// revenue when asked.
pub fn reasons(
    revenue_e10: i64,
    cost_e10: i64,
    threshold_percent: Option<Decimal>,
    include_negative_margin: bool,
) -> Vec<Reason> {
    let mut reasons = Vec::new();
    if let Some(threshold) = threshold_percent
        && revenue_e10 > 0
        && Decimal::from(cost_e10) * Decimal::ONE_HUNDRED > threshold * Decimal::from(revenue_e10)
    {
        reasons.push(Reason::CostShareOverThreshold);
    }
    if include_negative_margin && cost_e10 > revenue_e10 {
        reasons.push(Reason::NegativeMargin);
    }
    if revenue_e10 == 0 && cost_e10 > 0 {
        reasons.push(Reason::NoRevenue);
    }
    reasons
}

/// Worst first: no revenue (most cost first), then by cost as a share of revenue, compared
/// exactly; ties by customer id.
pub fn worst_first(a: &RiskyAccount, b: &RiskyAccount) -> Ordering {
    let figures = |account: &RiskyAccount| {
        (
            i128::from(account.line.revenue_e10.unwrap_or(0)),
            i128::from(account.line.cost_e10),
        )
    };
    let ((revenue_a, cost_a), (revenue_b, cost_b)) = (figures(a), figures(b));
    let by_risk = match (revenue_a == 0, revenue_b == 0) {
        (true, true) => cost_b.cmp(&cost_a),
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => (cost_b * revenue_a).cmp(&(cost_a * revenue_b)),
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
            line.revenue_e10.unwrap_or(0),
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

    #[test]
    fn reasons_follow_the_criteria_asked() {
        let forty = Some(Decimal::from(40));
        assert_eq!(
            reasons(100, 41, forty, false),
            [Reason::CostShareOverThreshold]
        );
        assert!(reasons(100, 40, forty, false).is_empty());
        assert!(reasons(100, 150, None, false).is_empty());
        assert_eq!(
            reasons(100, 150, forty, true),
            [Reason::CostShareOverThreshold, Reason::NegativeMargin]
        );
        assert_eq!(reasons(0, 5, forty, false), [Reason::NoRevenue]);
        assert_eq!(
            reasons(0, 5, None, true),
            [Reason::NegativeMargin, Reason::NoRevenue]
        );
        assert!(reasons(0, 0, Some(Decimal::ZERO), true).is_empty());
    }
}
