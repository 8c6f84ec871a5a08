//! `grpc.health.v1.Health` for the server as a whole (the empty service name) and for each service.
//! Everything starts `NOT_SERVING`, turns `SERVING` once the database answers, and turns back for good
//! when shutdown begins.
//!
//! One more name, [`LIVENESS`], is `SERVING` for as long as the process answers at all, database or
//! not: a liveness probe on it restarts a hung process, not every pod while the database is down.
//!
//! [`DatabaseReady`] follows the same database checks for the calls themselves, but not shutdown:
//! during the drain, calls still go through while health reports `NOT_SERVING`.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use tokio::sync::Mutex;
use tonic_health::{
    ServingStatus,
    pb::health_server::{Health, HealthServer},
    server::HealthReporter,
};

/// The health service name of the liveness probe.
pub const LIVENESS: &str = "liveness";

/// The health reporter, and whether shutdown has begun (after which nothing turns `SERVING` again).
pub struct HealthState {
    reporter: HealthReporter,
    services: Vec<&'static str>,
    stopping: Mutex<bool>,
}

impl HealthState {
    /// Registers the overall status and each service's, all `NOT_SERVING`.
    pub async fn new(
        services: impl IntoIterator<Item = &'static str>,
    ) -> (Self, HealthServer<impl Health>) {
        let (reporter, server) = tonic_health::server::health_reporter();
        let mut names = vec![""];
        names.extend(services);
        let state = Self {
            reporter,
            services: names,
            stopping: Mutex::new(false),
        };
        state.set_all(ServingStatus::NotServing).await;
        state
            .reporter
            .set_service_status(LIVENESS, ServingStatus::Serving)
            .await;
        (state, server)
    }

    /// Reports every service `SERVING` or `NOT_SERVING`, unless shutdown has begun.
    pub async fn serving(&self, serving: bool) {
        let stopping = self.stopping.lock().await;
        if !*stopping {
            let status = if serving {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            self.set_all(status).await;
        }
    }

    /// Reports `NOT_SERVING` from now on.
    pub async fn stop(&self) {
        let mut stopping = self.stopping.lock().await;
        *stopping = true;
        self.set_all(ServingStatus::NotServing).await;
    }

    async fn set_all(&self, status: ServingStatus) {
        for name in &self.services {
            self.reporter.set_service_status(*name, status).await;
        }
    }
}

/// Whether the database is prepared and answered the last check; cheap to clone and to read (one
/// atomic load per call), so that calls can be refused at once while it is known down instead of each
/// waiting for a pool connection. Starts not ready.
#[derive(Clone, Debug, Default)]
pub struct DatabaseReady(Arc<AtomicBool>);

impl DatabaseReady {
    /// Whether calls that need the database may go ahead.
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Records the outcome of a check.
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Relaxed);
    }
}
