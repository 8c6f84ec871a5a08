//! The `tally.v1.Runs` service. Calls not implemented yet answer `UNIMPLEMENTED` (generated stubs).

use sea_orm::DatabaseConnection;

use crate::pb::runs_server::Runs;

/// Adapter from the `Runs` contract to the domain and store.
pub struct RunsApi {
    #[allow(dead_code)]
    db: DatabaseConnection,
}

impl RunsApi {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[tonic::async_trait]
impl Runs for RunsApi {}
