//! Thin gRPC adapters over the domain and store, the auth and in-flight layers, and error mapping.

pub mod auth;
mod budgets;
mod convert;
mod cost_series;
mod directory;
mod export;
pub mod framing;
pub mod in_flight;
mod ingest;
mod ingest_convert;
mod ingest_results;
mod ingest_stream;
mod key_cache;
mod margin;
mod needs_attention;
pub mod observe;
mod pricing;
mod reports;
mod risky_accounts;
mod runs;
mod signal_prices;
pub mod status;
mod top_runs;
mod webhooks;

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tonic::{server::NamedService, transport::server::Router};
use tower::layer::util::Stack;

use crate::pb::{
    budgets_server::BudgetsServer, directory_server::DirectoryServer, ingest_server::IngestServer,
    pricing_server::PricingServer, reports_server::ReportsServer, runs_server::RunsServer,
    webhooks_server::WebhooksServer,
};
use crate::{
    domain::run_flags::FlagSettings,
    health::DatabaseReady,
    service::{
        fold::Folder, ingest::IngestService, price_book::PriceBook, pricing::PricingService,
        runs::RunsService,
    },
};

/// The largest message a caller may send: 4 MiB (a full 100-record batch with metadata fits).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// The full names of Tally's services, as health and reflection know them.
pub const SERVICE_NAMES: [&str; 7] = [
    <IngestServer<ingest::IngestApi> as NamedService>::NAME,
    <RunsServer<runs::RunsApi> as NamedService>::NAME,
    <BudgetsServer<budgets::BudgetsApi> as NamedService>::NAME,
    <PricingServer<pricing::PricingApi> as NamedService>::NAME,
    <DirectoryServer<directory::DirectoryApi> as NamedService>::NAME,
    <ReportsServer<reports::ReportsApi> as NamedService>::NAME,
    <WebhooksServer<webhooks::WebhooksApi> as NamedService>::NAME,
];

type Layers = Stack<
    framing::FramingLayer,
    Stack<
        auth::AuthLayer,
        Stack<
            in_flight::InFlight,
            Stack<
                observe::ObserveLayer,
                Stack<
                    tonic_web::GrpcWebLayer,
                    Stack<crate::console::ConsoleLayer, tower::layer::util::Identity>,
                >,
            >,
        >,
    >,
>;

/// What the services share: the database pool, the price book and the ingest path.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub prices: Arc<PriceBook>,
    pub ingest: Arc<IngestService>,
    pub pricing: Arc<PricingService>,
    pub runs: Arc<RunsService>,
    /// Whether the database answered its last check (set by the readiness watcher).
    pub ready: DatabaseReady,
    /// Folds queued events into the running totals.
    pub folder: Arc<Folder>,
}

impl AppState {
    /// The state over a pool; the price book stays empty until [`PriceBook::reload`].
    pub fn new(db: DatabaseConnection, run_flags: FlagSettings, fold_in_background: bool) -> Self {
        let prices = Arc::new(PriceBook::empty());
        let ready = DatabaseReady::default();
        let folder = Folder::new(db.clone(), run_flags, fold_in_background);
        let ingest = Arc::new(IngestService::new(
            db.clone(),
            prices.clone(),
            run_flags,
            ready.clone(),
            folder.clone(),
        ));
        let pricing = Arc::new(PricingService::new(db.clone(), prices.clone()));
        let runs = Arc::new(RunsService::new(db.clone(), run_flags, folder.clone()));
        Self {
            db,
            prices,
            ingest,
            pricing,
            runs,
            ready,
            folder,
        }
    }
}

/// Folds the caller's queued events into the running totals, so that the read that follows sees
/// every event already answered (`service::fold`).
async fn caught_up<T>(folder: &Folder, request: &tonic::Request<T>) -> Result<(), tonic::Status> {
    let tenant = status::tenant(request)?;
    folder
        .catch_up(tenant.project_id)
        .await
        .map_err(crate::domain::DomainError::from)?;
    Ok(())
}

/// Adds Tally's seven services to the router.
pub fn add_services(router: Router<Layers>, state: &AppState) -> Router<Layers> {
    let db = &state.db;
    router
        .add_service(
            IngestServer::new(ingest::IngestApi::new(
                db.clone(),
                state.ingest.clone(),
                state.pricing.clone(),
            ))
            .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            RunsServer::new(runs::RunsApi::new(state.runs.clone()))
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            BudgetsServer::new(budgets::BudgetsApi::new(db.clone()))
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            PricingServer::new(pricing::PricingApi::new(
                db.clone(),
                state.pricing.clone(),
                state.prices.clone(),
            ))
            .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            DirectoryServer::new(directory::DirectoryApi::new(
                db.clone(),
                state.folder.clone(),
            ))
            .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            ReportsServer::new(reports::ReportsApi::new(state))
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
        .add_service(
            WebhooksServer::new(webhooks::WebhooksApi::new(db.clone()))
                .max_decoding_message_size(MAX_MESSAGE_BYTES),
        )
}

/// Server reflection v1, over Tally's descriptors and health's.
pub fn reflection_v1() -> anyhow::Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
> {
    Ok(reflection_builder().build_v1()?)
}

/// Server reflection v1alpha, for older clients such as grpcurl 1.8.
pub fn reflection_v1alpha() -> anyhow::Result<
    tonic_reflection::server::v1alpha::ServerReflectionServer<
        impl tonic_reflection::server::v1alpha::ServerReflection,
    >,
> {
    Ok(reflection_builder().build_v1alpha()?)
}

fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}
