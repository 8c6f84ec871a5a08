//! The `tally.v1.Ingest` service. Calls not implemented yet answer `UNIMPLEMENTED` (generated stubs).

use sea_orm::DatabaseConnection;

use crate::pb::ingest_server::Ingest;

/// Adapter from the `Ingest` contract to the domain and store.
pub struct IngestApi {
    #[allow(dead_code)]
    db: DatabaseConnection,
}

impl IngestApi {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[tonic::async_trait]
impl Ingest for IngestApi {}
