//! The most expensive runs started in a window (`Reports.ListTopRuns`): the runs listing sorted by
//! cost, so that a top run is the very summary `GetRun` shows, flags included.

use chrono::{DateTime, Utc};

use crate::{
    domain::{DomainError, page_token::PageLimits, tenant::Tenant},
    service::runs::RunsService,
    store::runs::{RunFilter, RunRecord},
};

/// Runs per answer: 10 unless asked, at most 100.
pub const TOP_RUNS_LIMITS: PageLimits = PageLimits {
    default: 10,
    max: 100,
};

/// Which runs to rank.
#[derive(Clone, Debug)]
pub struct TopRunsQuery {
    /// Runs started at or after this time…
    pub start_time: DateTime<Utc>,
    /// …and before this one.
    pub end_time: DateTime<Utc>,
    /// As asked: 0 means the default.
    pub limit: i32,
    pub customer_id: Option<String>,
    pub agent_code: Option<String>,
}

/// Lists the most expensive runs of the query, most expensive first.
pub async fn top_runs(
    runs: &RunsService,
    tenant: Tenant,
    query: TopRunsQuery,
) -> Result<Vec<RunRecord>, DomainError> {
    let TopRunsQuery {
        start_time,
        end_time,
        limit,
        customer_id,
        agent_code,
    } = query;
    let filter = RunFilter {
        customer_id,
        agent_code,
        start_time: Some(start_time),
        end_time: Some(end_time),
        by_cost: true,
        descending: true,
        ..RunFilter::default()
    };
    let size = TOP_RUNS_LIMITS.size(limit);
    // The first page of the cost-sorted listing is the answer; its next-page token is not needed.
    let (runs, _) = runs
        .list(tenant, filter, i32::try_from(size).unwrap_or(i32::MAX), "")
        .await?;
    Ok(runs)
}
