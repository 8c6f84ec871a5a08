//! `Reports.GetMargin` on the wire, and the conversions of dimensions, filters and windows that the
//! margin, cost series and risky accounts reports share.

use std::collections::HashMap;

use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

use super::{convert::time, status::tenant};
use crate::{
    domain::{
        DomainError, Violations,
        ledger::Tokens,
        money::Usd,
        report::{self, Dimension, Filter, Window, percent_text},
    },
    pb,
    service::margin::{self as service, MarginLine, MarginOrder, MarginQuery},
};

/// A dimension of the wire; `None` for UNSPECIFIED or an unknown value.
pub(super) fn dimension(value: i32) -> Option<Dimension> {
    use pb::ReportDimension as D;
    match D::try_from(value).ok()? {
        D::Unspecified => None,
        D::Customer => Some(Dimension::Customer),
        D::Plan => Some(Dimension::Plan),
        D::Agent => Some(Dimension::Agent),
        D::Signal => Some(Dimension::Signal),
        D::Provider => Some(Dimension::Provider),
        D::Model => Some(Dimension::Model),
        D::User => Some(Dimension::User),
    }
}

/// A dimension as the wire shows it.
pub(super) fn dimension_message(value: Dimension) -> pb::ReportDimension {
    use pb::ReportDimension as D;
    match value {
        Dimension::Customer => D::Customer,
        Dimension::Plan => D::Plan,
        Dimension::Agent => D::Agent,
        Dimension::Signal => D::Signal,
        Dimension::Provider => D::Provider,
        Dimension::Model => D::Model,
        Dimension::User => D::User,
    }
}

/// Reads the filters of a request.
pub(super) fn filters(raw: Vec<pb::DimensionFilter>, violations: &mut Violations) -> Vec<Filter> {
    report::filters(
        raw.into_iter()
            .map(
                |pb::DimensionFilter {
                     dimension: d,
                     values,
                 }| (dimension(d), values),
            )
            .collect(),
        violations,
    )
}

/// Reads the window of a request.
pub(super) fn window(
    start_time: Option<prost_types::Timestamp>,
    end_time: Option<prost_types::Timestamp>,
    violations: &mut Violations,
) -> Option<Window> {
    let start = start_time.and_then(|value| violations.check(time(&value, "start_time")));
    let end = end_time.and_then(|value| violations.check(time(&value, "end_time")));
    let (start_set, end_set) = (start_time.is_some(), end_time.is_some());
    if (start_set && start.is_none()) || (end_set && end.is_none()) {
        return None;
    }
    Window::parse(start, end, violations)
}

/// A group value as the wire shows it.
pub(super) fn dimension_value(
    dimension: Dimension,
    value: &str,
    display_names: &HashMap<String, String>,
) -> pb::DimensionValue {
    pb::DimensionValue {
        dimension: dimension_message(dimension) as i32,
        value: value.to_owned(),
        display_name: if dimension == Dimension::Customer {
            display_names.get(value).cloned().unwrap_or_default()
        } else {
            String::new()
        },
    }
}

/// Money of a report, empty when not available.
pub(super) fn usd(value: Option<i64>) -> String {
    value.map_or_else(String::new, |e10| Usd::from_e10(e10).to_string())
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

pub(super) fn token_usage(tokens: Tokens) -> pb::TokenUsage {
    pb::TokenUsage {
        input_tokens: count(tokens.input),
        output_tokens: count(tokens.output),
        cached_input_tokens: count(tokens.cached_input),
        cache_creation_tokens: count(tokens.cache_creation),
        reasoning_tokens: count(tokens.reasoning),
    }
}

fn order(value: i32) -> Option<MarginOrder> {
    use pb::MarginOrderBy as O;
    Some(match O::try_from(value).ok()? {
        O::Unspecified | O::Group => MarginOrder::Group,
        O::Revenue => MarginOrder::Revenue,
        O::Cost => MarginOrder::Cost,
        O::Margin => MarginOrder::Margin,
        O::MarginPercent => MarginOrder::MarginPercent,
        O::CostPercentOfRevenue => MarginOrder::CostPercentOfRevenue,
        O::EventCount => MarginOrder::EventCount,
    })
}

fn margin_query(request: pb::GetMarginRequest) -> Result<MarginQuery, DomainError> {
    let pb::GetMarginRequest {
        start_time,
        end_time,
        group_by,
        filters: raw_filters,
        order_by,
        descending,
        page_size,
        page_token,
    } = request;
    let mut violations = Violations::default();
    let window = window(start_time, end_time, &mut violations);
    let group_by = report::group_by(
        group_by.into_iter().map(dimension).collect(),
        &mut violations,
    );
    let filters = filters(raw_filters, &mut violations);
    let order = order(order_by);
    if order.is_none() {
        violations.add("order_by", "not a MarginOrderBy value");
    }
    if page_size < 0 {
        violations.add("page_size", "must not be negative");
    }
    violations.into_result()?;
    match (window, order) {
        (Some(window), Some(order)) => Ok(MarginQuery {
            window,
            group_by,
            filters,
            order,
            descending,
            page_size,
            page_token,
        }),
        _ => Err(DomainError::Invalid(Vec::new())),
    }
}

fn row_message(
    line: MarginLine,
    group_by: &[Dimension],
    report: &service::MarginReport,
) -> pb::MarginRow {
    let caps = report.capabilities;
    pb::MarginRow {
        group_values: group_by
            .iter()
            .zip(&line.key)
            .map(|(dimension, value)| dimension_value(*dimension, value, &report.display_names))
            .collect(),
        revenue_available: caps.revenue,
        revenue_note: report.revenue_note.clone(),
        revenue_usd: usd(line.revenue_e10),
        plan_revenue_usd: usd(line.plan_revenue_e10),
        usage_revenue_usd: usd(line.usage_revenue_e10),
        cost_usd: Usd::from_e10(line.cost_e10).to_string(),
        margin_usd: usd(line.margin_e10),
        margin_percent: percent_text(line.margin_percent),
        cost_percent_of_revenue: percent_text(line.cost_percent),
        event_count: count(line.events),
        run_count: count(line.runs),
        unpriced_event_count: count(line.unpriced),
        tokens: Some(token_usage(line.tokens)),
        run_count_available: caps.runs,
    }
}

/// Answers `GetMargin`.
pub async fn get_margin(
    db: &DatabaseConnection,
    request: Request<pb::GetMarginRequest>,
) -> Result<Response<pb::GetMarginResponse>, Status> {
    let tenant = tenant(&request)?;
    let query = margin_query(request.into_inner())?;
    let group_by = query.group_by.clone();
    let mut report = service::get_margin(db, tenant.project_id, query).await?;
    let rows = std::mem::take(&mut report.rows);
    let totals = report.totals.clone();
    Ok(Response::new(pb::GetMarginResponse {
        rows: rows
            .into_iter()
            .map(|line| row_message(line, &group_by, &report))
            .collect(),
        totals: Some(row_message(totals, &[], &report)),
        next_page_token: report.next_page_token.clone(),
    }))
}
