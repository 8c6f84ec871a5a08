//! The `tally.v1.Pricing` service. Calls not implemented yet answer `UNIMPLEMENTED` (generated stubs).

use sea_orm::DatabaseConnection;

use crate::pb::pricing_server::Pricing;

/// Adapter from the `Pricing` contract to the domain and store.
pub struct PricingApi {
    #[allow(dead_code)]
    db: DatabaseConnection,
}

impl PricingApi {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[tonic::async_trait]
impl Pricing for PricingApi {}
