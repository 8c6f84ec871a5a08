//! The `tally.v1.Reports` service. Calls not implemented yet answer `UNIMPLEMENTED` (generated stubs).

use sea_orm::DatabaseConnection;

use crate::pb::reports_server::Reports;

/// Adapter from the `Reports` contract to the domain and store.
pub struct ReportsApi {
    #[allow(dead_code)]
    db: DatabaseConnection,
}

impl ReportsApi {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[tonic::async_trait]
impl Reports for ReportsApi {}
