//! The `tally.v1.Reports` service: each call a thin delegation to its adapter module.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

use super::{
    AppState, caught_up, cost_series, export, margin, needs_attention, risky_accounts, top_runs,
};
use crate::{
    pb::{self, reports_server::Reports},
    service::{fold::Folder, runs::RunsService},
};

/// Adapter from the `Reports` contract to the domain and store.
pub struct ReportsApi {
    db: DatabaseConnection,
    runs: Arc<RunsService>,
    /// Reports read the totals after the caller's queued events are folded.
    folder: Arc<Folder>,
}

impl ReportsApi {
    pub fn new(state: &AppState) -> Self {
        Self {
            db: state.db.clone(),
            runs: state.runs.clone(),
            folder: state.folder.clone(),
        }
    }
}

#[tonic::async_trait]
impl Reports for ReportsApi {
    #[tracing::instrument(skip_all)]
    async fn get_margin(
        &self,
        request: Request<pb::GetMarginRequest>,
    ) -> Result<Response<pb::GetMarginResponse>, Status> {
        caught_up(&self.folder, &request).await?;
        margin::get_margin(&self.db, request).await
    }

    #[tracing::instrument(skip_all)]
    async fn get_cost_series(
        &self,
        request: Request<pb::GetCostSeriesRequest>,
    ) -> Result<Response<pb::GetCostSeriesResponse>, Status> {
        caught_up(&self.folder, &request).await?;
        cost_series::get_cost_series(&self.db, request).await
    }

    #[tracing::instrument(skip_all)]
    async fn list_risky_accounts(
        &self,
        request: Request<pb::ListRiskyAccountsRequest>,
    ) -> Result<Response<pb::ListRiskyAccountsResponse>, Status> {
        caught_up(&self.folder, &request).await?;
        risky_accounts::list_risky_accounts(&self.db, request).await
    }

    #[tracing::instrument(skip_all)]
    async fn list_top_runs(
        &self,
        request: Request<pb::ListTopRunsRequest>,
    ) -> Result<Response<pb::ListTopRunsResponse>, Status> {
        top_runs::list_top_runs(&self.runs, request).await
    }

    #[tracing::instrument(skip_all)]
    async fn get_needs_attention(
        &self,
        request: Request<pb::GetNeedsAttentionRequest>,
    ) -> Result<Response<pb::GetNeedsAttentionResponse>, Status> {
        caught_up(&self.folder, &request).await?;
        needs_attention::get_needs_attention(&self.db, request).await
    }

    #[tracing::instrument(skip_all)]
    async fn export_events(
        &self,
        request: Request<pb::ExportEventsRequest>,
    ) -> Result<Response<export::ExportStream>, Status> {
        export::export_events(&self.db, request).await
    }
}
