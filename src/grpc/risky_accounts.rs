//! `Reports.ListRiskyAccounts` on the wire.

use rust_decimal::Decimal;
use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

use super::{
    margin::{usd, window},
    status::tenant,
};
use crate::{
    domain::{
        DomainError, Violations,
        error::quote,
        money::{Usd, check_plain},
        report::percent_text,
    },
    pb,
    service::risky_accounts::{self as service, Reason, RiskQuery, RiskyAccount},
};

/// Decimal places a threshold may have.
const MAX_THRESHOLD_PLACES: u32 = 10;

/// Reads a threshold such as "40" or "62.5": a decimal in the contract's plain notation, at most
/// 1,000,000 percent.
fn threshold(text: &str) -> Result<Option<Decimal>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    check_plain(text, MAX_THRESHOLD_PLACES)?;
    Decimal::from_str_exact(text)
        .ok()
        .filter(|value| *value <= Decimal::from(1_000_000))
        .map(Some)
        .ok_or_else(|| format!("{} is over 1000000 percent", quote(text)))
}

fn risk_query(request: pb::ListRiskyAccountsRequest) -> Result<RiskQuery, DomainError> {
    let pb::ListRiskyAccountsRequest {
        start_time,
        end_time,
        cost_share_threshold_percent,
        include_negative_margin,
        page_size,
        page_token,
    } = request;
    let mut violations = Violations::default();
    let window = window(start_time, end_time, &mut violations);
    let threshold_percent = match threshold(&cost_share_threshold_percent) {
        Ok(value) => value,
        Err(message) => {
            violations.add("cost_share_threshold_percent", message);
            None
        }
    };
    if cost_share_threshold_percent.is_empty() && !include_negative_margin {
        violations.add(
            "cost_share_threshold_percent",
            "required unless include_negative_margin is true",
        );
    }
    if page_size < 0 {
        violations.add("page_size", "must not be negative");
    }
    violations.into_result()?;
    let window = window.ok_or_else(|| DomainError::Invalid(Vec::new()))?;
    Ok(RiskQuery {
        window,
        threshold_percent,
        include_negative_margin,
        page_size,
        page_token,
    })
}

fn reason(reason: Reason) -> pb::RiskReason {
    match reason {
        Reason::CostShareOverThreshold => pb::RiskReason::CostShareOverThreshold,
        Reason::NegativeMargin => pb::RiskReason::NegativeMargin,
        Reason::NoRevenue => pb::RiskReason::NoRevenue,
    }
}

fn account_message(account: RiskyAccount) -> pb::RiskyAccount {
    let line = account.line;
    let (top_agent_code, top_agent_cost_usd) = account
        .top_agent
        .map_or((String::new(), String::new()), |(agent, cost)| {
            (agent, Usd::from_e10(cost).to_string())
        });
    let (top_provider, top_model, top_model_cost_usd) = account.top_model.map_or(
        (String::new(), String::new(), String::new()),
        |(provider, model, cost)| (provider, model, Usd::from_e10(cost).to_string()),
    );
    pb::RiskyAccount {
        customer_id: account.customer_id,
        display_name: account.display_name,
        plan: account.plan.map(|plan| pb::Plan {
            name: plan.name,
            monthly_usd: plan.monthly.to_string(),
        }),
        revenue_usd: usd(line.revenue_e10),
        cost_usd: Usd::from_e10(line.cost_e10).to_string(),
        margin_usd: usd(line.margin_e10),
        margin_percent: percent_text(line.margin_percent),
        cost_percent_of_revenue: percent_text(line.cost_percent),
        event_count: u64::try_from(line.events).unwrap_or(0),
        unpriced_event_count: u64::try_from(line.unpriced).unwrap_or(0),
        top_agent_code,
        top_agent_cost_usd,
        top_provider,
        top_model,
        top_model_cost_usd,
        reasons: account
            .reasons
            .into_iter()
            .map(|r| reason(r) as i32)
            .collect(),
    }
}

/// Answers `ListRiskyAccounts`.
pub async fn list_risky_accounts(
    db: &DatabaseConnection,
    request: Request<pb::ListRiskyAccountsRequest>,
) -> Result<Response<pb::ListRiskyAccountsResponse>, Status> {
    let tenant = tenant(&request)?;
    let query = risk_query(request.into_inner())?;
    let (accounts, next_page_token) =
        service::list_risky_accounts(db, tenant.project_id, query).await?;
    Ok(Response::new(pb::ListRiskyAccountsResponse {
        accounts: accounts.into_iter().map(account_message).collect(),
        next_page_token,
    }))
}
