//! The `tally.v1.Directory` service. Calls not implemented yet answer `UNIMPLEMENTED` (generated stubs).

use sea_orm::DatabaseConnection;

use crate::pb::directory_server::Directory;

/// Adapter from the `Directory` contract to the domain and store.
pub struct DirectoryApi {
    #[allow(dead_code)]
    db: DatabaseConnection,
}

impl DirectoryApi {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[tonic::async_trait]
impl Directory for DirectoryApi {}
