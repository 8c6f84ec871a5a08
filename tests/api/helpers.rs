//! `spawn_app()`: the real server on `127.0.0.1:0` over a fresh database (a temporary SQLite file, or a
//! new PostgreSQL database named by a UUID), with typed clients that carry an API key.

use std::{net::SocketAddr, path::PathBuf, sync::OnceLock, time::Duration};

use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, TransactionTrait,
};
use tally::{
    config::Settings,
    domain::api_key::{ApiKeyKind, GeneratedKey},
    grpc::in_flight::InFlight,
    pb::{
        budgets_client::BudgetsClient, directory_client::DirectoryClient,
        ingest_client::IngestClient, pricing_client::PricingClient, reports_client::ReportsClient,
        runs_client::RunsClient, webhooks_client::WebhooksClient,
    },
    startup::App,
    store,
};
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::{
    Request, Status,
    metadata::MetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// The server the PostgreSQL tests use; each test makes its own database on it.
fn postgres_admin_url() -> String {
    std::env::var("TALLY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Runs one statement on the PostgreSQL server's admin database (create or drop a test database).
async fn postgres_admin(statement: &str) {
    let admin = Database::connect(postgres_admin_url())
        .await
        .expect("PostgreSQL reachable for tests");
    admin
        .execute_unprepared(statement)
        .await
        .unwrap_or_else(|error| panic!("{statement}: {error}"));
    admin.close().await.ok();
}

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Logs only when `TEST_LOG` is set, once for the whole binary.
fn init_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter("info,sqlx=warn")
                .with_test_writer()
                .try_init();
        }
    });
}

/// A fresh, empty database that disappears when dropped.
pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    postgres_name: Option<String>,
}

impl TestDatabase {
    /// Creates an empty database (nothing migrated).
    pub async fn create(backend: Backend) -> Self {
        let database = Self::pending(backend).await;
        database.make_available().await;
        database
    }

    /// A database the server cannot reach yet: a PostgreSQL database not created, or a SQLite file in a
    /// directory that does not exist. [`TestDatabase::make_available`] brings it into being.
    pub async fn pending(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let path: PathBuf = dir.path().join("not-yet").join("tally.db");
                Self {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    backend,
                    _dir: Some(dir),
                    postgres_name: None,
                }
            }
            Backend::Postgres => {
                let name = format!("tally_test_{}", uuid::Uuid::new_v4().simple());
                let admin = postgres_admin_url();
                let base = admin
                    .rsplit_once('/')
                    .map_or(admin.as_str(), |(base, _)| base);
                Self {
                    url: format!("{base}/{name}"),
                    backend,
                    _dir: None,
                    postgres_name: Some(name),
                }
            }
        }
    }

    /// Creates what [`TestDatabase::pending`] left missing.
    pub async fn make_available(&self) {
        match (&self.postgres_name, &self._dir) {
            (Some(name), _) => postgres_admin(&format!("CREATE DATABASE \"{name}\"")).await,
            (None, Some(dir)) => {
                std::fs::create_dir_all(dir.path().join("not-yet")).expect("create directory")
            }
            (None, None) => unreachable!("a test database is either PostgreSQL or a SQLite file"),
        }
    }

    /// Removes a PostgreSQL database under a running server (its connections are cut).
    pub async fn remove(&self) {
        let name = self
            .postgres_name
            .as_deref()
            .expect("a PostgreSQL test database");
        postgres_admin(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
    }

    /// Another handle on the same database that does not remove it when dropped, for a second server.
    pub fn alias(&self) -> TestDatabase {
        Self {
            url: self.url.clone(),
            backend: self.backend,
            _dir: None,
            postgres_name: None,
        }
    }

    /// Holds the write lock of the `budgets` table in an open transaction until it is dropped or
    /// finished, so that a write of the server waits (a call held in flight).
    pub async fn hold_budgets_lock(&self, db: &DatabaseConnection) -> DatabaseTransaction {
        let txn = db.begin().await.expect("begin");
        let statement = match self.backend {
            // Any write statement takes SQLite's single write lock, even one that changes no row.
            Backend::Sqlite => "DELETE FROM budgets WHERE 1 = 0",
            Backend::Postgres => "LOCK TABLE budgets IN EXCLUSIVE MODE",
        };
        txn.execute_unprepared(statement).await.expect("lock taken");
        txn
    }

    /// A direct connection, for what a test must arrange outside the API (keys, locks).
    pub async fn connect(&self) -> DatabaseConnection {
        store::connect(&self.url)
            .await
            .expect("test database connection")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else {
            return;
        };
        // Drop runs outside async; a short-lived runtime on its own thread removes the database.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let admin = Database::connect(postgres_admin_url()).await.ok()?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        })
        .join();
    }
}

/// Test settings: port 0, quick retries, no first-start keys printed.
/// How long test servers trust a verified key: short, so that revocation tests wait little.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(1);

/// The one integer a query over the test database answers (a count or a sum).
pub async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql,
    ))
    .await
    .expect(sql)
    .expect("a row")
    .try_get_by_index::<i64>(0)
    .expect(sql)
}

/// Waits until no event waits to be folded into the running totals (PostgreSQL folds them soon
/// after they are stored; SQLite as it stores them), so that the stored totals can be compared
/// with the events.
pub async fn wait_folded(db: &DatabaseConnection) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let queued = scalar(db, "SELECT CAST(COUNT(*) AS BIGINT) FROM fold_queue").await;
        if queued == 0 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{queued} transactions' events still wait to be folded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn test_settings(database_url: &str) -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().expect("address"),
        bootstrap: false,
        database_retry: Duration::from_millis(100),
        database_check_interval: Duration::from_millis(100),
        shutdown_grace: Duration::from_secs(10),
        key_cache_ttl: KEY_CACHE_TTL,
        ..Settings::with_database(database_url)
    }
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub address: SocketAddr,
    pub channel: Channel,
    pub in_flight: InFlight,
    /// A read-write key of the app's project.
    pub secret_key: String,
    /// A read-only key of the same project.
    pub publishable_key: String,
    pub database: TestDatabase,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Starts the server over a fresh database, waits until it reports SERVING, and makes a project with a
/// secret and a publishable key.
pub async fn spawn_app(backend: Backend) -> TestApp {
    let database = TestDatabase::create(backend).await;
    spawn_app_on(database).await
}

/// Starts the server over the given database (migrations applied by the server itself).
pub async fn spawn_app_on(database: TestDatabase) -> TestApp {
    spawn_app_with(database, test_settings).await
}

/// Like [`spawn_app_on`], with adjusted settings.
pub async fn spawn_app_with(
    database: TestDatabase,
    settings: impl FnOnce(&str) -> Settings,
) -> TestApp {
    let mut app = start_server(database, settings).await;
    app.wait_until_serving().await;
    let db = app.database.connect().await;
    app.secret_key = create_key(&db, "test", ApiKeyKind::Secret).await;
    app.publishable_key = create_key(&db, "test", ApiKeyKind::Publishable).await;
    db.close().await.ok();
    app
}

/// Starts the server with adjusted settings and returns at once, without waiting for readiness.
pub async fn start_server(
    database: TestDatabase,
    settings: impl FnOnce(&str) -> Settings,
) -> TestApp {
    init_logs();
    let app = App::build(settings(&database.url))
        .await
        .expect("server builds");
    let address = app.local_addr();
    let in_flight = app.in_flight();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    let channel = Endpoint::from_shared(format!("http://{address}"))
        .expect("endpoint")
        .connect_lazy();
    TestApp {
        address,
        channel,
        in_flight,
        secret_key: String::new(),
        publishable_key: String::new(),
        database,
        shutdown: Some(shutdown),
        server: Some(server),
    }
}

/// Creates a key in the named project the way `tally keys create` does.
pub async fn create_key(db: &DatabaseConnection, project: &str, kind: ApiKeyKind) -> String {
    let (project, _) = store::api_keys::ensure_project(db, project)
        .await
        .expect("project");
    let key = GeneratedKey::generate(kind);
    store::api_keys::insert_key(db, project.id, &key, Some("test"))
        .await
        .expect("key");
    key.plaintext
}

impl TestApp {
    /// Health of the whole server.
    pub fn health(&self) -> HealthClient<Channel> {
        HealthClient::new(self.channel.clone())
    }

    /// The Budgets client, calling with `key`.
    pub fn budgets(&self, key: &str) -> BudgetsClient<InterceptedService<Channel, ApiKey>> {
        BudgetsClient::with_interceptor(self.channel.clone(), ApiKey::bearer(key))
    }

    /// The Ingest client, calling with `key`.
    pub fn ingest(&self, key: &str) -> IngestClient<InterceptedService<Channel, ApiKey>> {
        IngestClient::with_interceptor(self.channel.clone(), ApiKey::bearer(key))
            .max_decoding_message_size(16 * 1024 * 1024)
    }

    /// The Pricing client, calling with `key`.
    pub fn pricing(&self, key: &str) -> PricingClient<InterceptedService<Channel, ApiKey>> {
        PricingClient::with_interceptor(self.channel.clone(), ApiKey::bearer(key))
    }

    /// The stored event `event_id`, read with `GetEvent` (the publishable key reads).
    pub async fn event(&self, event_id: &str) -> tally::pb::CostEvent {
        self.ingest(&self.publishable_key)
            .get_event(tally::pb::GetEventRequest {
                event_id: event_id.to_owned(),
            })
            .await
            .expect("event found")
            .into_inner()
            .event
            .expect("event")
    }

    /// How many events the project of the secret key holds, read page by page with `ListEvents`.
    pub async fn count_events(&self) -> usize {
        let mut stored = 0;
        let mut token = String::new();
        loop {
            let page = self
                .ingest(&self.secret_key)
                .list_events(tally::pb::ListEventsRequest {
                    page_size: 100,
                    page_token: token,
                    ..Default::default()
                })
                .await
                .expect("list events")
                .into_inner();
            stored += page.events.len();
            if page.next_page_token.is_empty() {
                return stored;
            }
            token = page.next_page_token;
        }
    }

    /// Checks that the running totals equal what the stored events add up to: the hourly and monthly
    /// aggregates and the run totals against sums over `cost_events` and `service_lines`, events and
    /// lines of unknown cost (no price or no volume) included.
    pub async fn assert_totals_match_events(&self) {
        let db = self.database.connect().await;
        wait_folded(&db).await;
        let one = |sql: &'static str| scalar(&db, sql);
        let pairs = [
            (
                "SELECT CAST(COALESCE(SUM(total_cost_e10), 0) AS BIGINT) FROM cost_events",
                "SELECT CAST(COALESCE(SUM(cost_e10), 0) AS BIGINT) FROM event_hourly",
            ),
            (
                "SELECT CAST(COUNT(*) AS BIGINT) FROM cost_events",
                "SELECT CAST(COALESCE(SUM(events), 0) AS BIGINT) FROM event_hourly",
            ),
            // Events of unknown cost, as the reports count them: no price or no volume.
            (
                "SELECT CAST(COUNT(*) AS BIGINT) FROM cost_events WHERE status <> 'PROCESSED'",
                "SELECT CAST(COALESCE(SUM(unpriced_events + missing_volume_events), 0) AS BIGINT) FROM event_hourly",
            ),
            (
                "SELECT CAST(COUNT(*) AS BIGINT) FROM cost_events WHERE status = 'NEEDS_COST_BACKFILL'",
                "SELECT CAST(COALESCE(SUM(unpriced_events), 0) AS BIGINT) FROM event_hourly",
            ),
            (
                "SELECT CAST(COUNT(*) AS BIGINT) FROM cost_events WHERE status <> 'PROCESSED'",
                "SELECT CAST(COALESCE(SUM(unpriced_events + missing_volume_events), 0) AS BIGINT) FROM event_monthly",
            ),
            (
                "SELECT CAST(COUNT(*) AS BIGINT) FROM service_lines WHERE cost_e10 IS NULL",
                "SELECT CAST(COALESCE(SUM(unpriced_lines + missing_volume_lines), 0) AS BIGINT) FROM line_hourly",
            ),
            (
                "SELECT CAST(COUNT(*) AS BIGINT) FROM service_lines WHERE cost_e10 IS NULL",
                "SELECT CAST(COALESCE(SUM(unpriced_lines + missing_volume_lines), 0) AS BIGINT) FROM line_daily",
            ),
            (
                "SELECT CAST(COALESCE(SUM(cost_e10), 0) AS BIGINT) FROM service_lines",
                "SELECT CAST(COALESCE(SUM(cost_e10), 0) AS BIGINT) FROM line_hourly",
            ),
            (
                "SELECT CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT) FROM service_lines",
                "SELECT CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT) FROM line_hourly",
            ),
            (
                "SELECT CAST(COALESCE(SUM(total_cost_e10), 0) AS BIGINT) FROM cost_events",
                "SELECT CAST(COALESCE(SUM(cost_e10), 0) AS BIGINT) FROM monthly_spend WHERE customer_id = '' AND agent_code <> ''",
            ),
            (
                "SELECT CAST(COALESCE(SUM(total_cost_e10), 0) AS BIGINT) FROM cost_events",
                "SELECT CAST(COALESCE(SUM(cost_e10), 0) AS BIGINT) FROM monthly_spend WHERE customer_id = '' AND agent_code = ''",
            ),
            (
                "SELECT CAST(COALESCE(SUM(total_cost_e10), 0) AS BIGINT) FROM cost_events",
                "SELECT CAST(COALESCE(SUM(cost_e10), 0) AS BIGINT) FROM event_monthly",
            ),
            (
                "SELECT CAST(COUNT(*) AS BIGINT) FROM monthly_spend WHERE customer_id <> ''",
                "SELECT CAST(0 AS BIGINT)",
            ),
            (
                "SELECT CAST(COALESCE(SUM(total_cost_e10), 0) AS BIGINT) FROM cost_events WHERE run_ref IS NOT NULL",
                "SELECT CAST(COALESCE(SUM(total_cost_e10), 0) AS BIGINT) FROM runs",
            ),
            (
                "SELECT CAST(COALESCE(SUM(cost_e10), 0) AS BIGINT) FROM service_lines l JOIN cost_events e ON e.id = l.event_ref WHERE e.run_ref IS NOT NULL",
                "SELECT CAST(COALESCE(SUM(cost_e10), 0) AS BIGINT) FROM run_model_totals",
            ),
            (
                "SELECT CAST(COUNT(*) AS BIGINT) FROM service_lines l JOIN cost_events e ON e.id = l.event_ref WHERE e.run_ref IS NOT NULL AND l.cost_e10 IS NULL",
                "SELECT CAST(COALESCE(SUM(unpriced_lines), 0) AS BIGINT) FROM runs",
            ),
        ];
        for (events, totals) in pairs {
            assert_eq!(
                one(events).await,
                one(totals).await,
                "{events}  vs  {totals}"
            );
        }
        db.close().await.ok();
    }

    /// The Directory client, calling with `key`.
    pub fn directory(&self, key: &str) -> DirectoryClient<InterceptedService<Channel, ApiKey>> {
        DirectoryClient::with_interceptor(self.channel.clone(), ApiKey::bearer(key))
    }

    /// Checks that the hourly totals of each plan equal what the events stored under that plan add
    /// up to (events, cost, lines), and returns per plan name (`''` for none) the events and the
    /// runs started that the hourly totals count.
    pub async fn assert_plan_totals_match_events(
        &self,
    ) -> std::collections::BTreeMap<String, (i64, i64)> {
        let db = self.database.connect().await;
        wait_folded(&db).await;
        let rows = |sql: &'static str| {
            let db = db.clone();
            async move {
                db.query_all_raw(sea_orm::Statement::from_string(
                    db.get_database_backend(),
                    sql,
                ))
                .await
                .expect(sql)
                .into_iter()
                .map(|row| {
                    let plan: String = row.try_get_by_index(0).expect(sql);
                    let a: i64 = row.try_get_by_index(1).expect(sql);
                    let b: i64 = row.try_get_by_index(2).expect(sql);
                    (plan, (a, b))
                })
                .filter(|(_, figures)| *figures != (0, 0))
                .collect::<std::collections::BTreeMap<_, _>>()
            }
        };
        let stored = rows(
            "SELECT COALESCE(plan_name, ''), CAST(COUNT(*) AS BIGINT), \
             CAST(COALESCE(SUM(total_cost_e10), 0) AS BIGINT) FROM cost_events \
             GROUP BY COALESCE(plan_name, '')",
        )
        .await;
        let hourly = rows(
            "SELECT plan_name, CAST(SUM(events) AS BIGINT), CAST(SUM(cost_e10) AS BIGINT) \
             FROM event_hourly GROUP BY plan_name",
        )
        .await;
        assert_eq!(stored, hourly, "events and cost per plan");
        let lines = rows(
            "SELECT COALESCE(e.plan_name, ''), CAST(COUNT(*) AS BIGINT), \
             CAST(COALESCE(SUM(l.input_tokens), 0) AS BIGINT) FROM service_lines l \
             JOIN cost_events e ON e.id = l.event_ref GROUP BY COALESCE(e.plan_name, '')",
        )
        .await;
        let hourly_lines = rows(
            "SELECT plan_name, CAST(SUM(lines) AS BIGINT), CAST(SUM(input_tokens) AS BIGINT) \
             FROM line_hourly GROUP BY plan_name",
        )
        .await;
        assert_eq!(lines, hourly_lines, "lines and tokens per plan");
        let counted = rows(
            "SELECT plan_name, CAST(SUM(events) AS BIGINT), CAST(SUM(runs_started) AS BIGINT) \
             FROM event_hourly GROUP BY plan_name",
        )
        .await;
        db.close().await.ok();
        counted
    }

    /// The Webhooks client, calling with `key`.
    pub fn webhooks(&self, key: &str) -> WebhooksClient<InterceptedService<Channel, ApiKey>> {
        WebhooksClient::with_interceptor(self.channel.clone(), ApiKey::bearer(key))
    }

    /// The Runs client, calling with `key`.
    pub fn runs(&self, key: &str) -> RunsClient<InterceptedService<Channel, ApiKey>> {
        RunsClient::with_interceptor(self.channel.clone(), ApiKey::bearer(key))
    }

    /// The Reports client, calling with `key`; it accepts messages up to the server's 4 MiB cap.
    pub fn reports(&self, key: &str) -> ReportsClient<InterceptedService<Channel, ApiKey>> {
        ReportsClient::with_interceptor(self.channel.clone(), ApiKey::bearer(key))
            .max_decoding_message_size(16 * 1024 * 1024)
    }

    /// Waits (watching health, not sleeping) until the server reports SERVING.
    pub async fn wait_until_serving(&self) {
        let mut watch = self
            .health()
            .watch(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .expect("health watch")
            .into_inner();
        let deadline = tokio::time::sleep(Duration::from_secs(30));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                message = watch.message() => {
                    let status = message.expect("health stream").expect("health stream open").status;
                    if status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32 {
                        return;
                    }
                }
                () = &mut deadline => panic!("server not SERVING within 30 s"),
            }
        }
    }

    /// Triggers the shutdown that SIGTERM triggers in the binary, without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Triggers shutdown and waits for the server to stop; returns what it returned.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.begin_shutdown();
        let server = self.server.take().expect("server still running");
        tokio::time::timeout(Duration::from_secs(30), server)
            .await
            .expect("server stops within 30 s")
            .expect("server task")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.begin_shutdown();
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// Adds an API key to every call, as a caller would.
#[derive(Clone)]
pub struct ApiKey {
    header: &'static str,
    value: MetadataValue<tonic::metadata::Ascii>,
}

impl ApiKey {
    /// `authorization: Bearer <key>`.
    pub fn bearer(key: &str) -> Self {
        Self {
            header: "authorization",
            value: format!("Bearer {key}").parse().expect("ascii key"),
        }
    }

    /// `x-api-key: <key>`.
    pub fn x_api_key(key: &str) -> Self {
        Self {
            header: "x-api-key",
            value: key.parse().expect("ascii key"),
        }
    }

    /// No key at all.
    pub fn none() -> Self {
        Self {
            header: "x-not-a-key",
            value: MetadataValue::from_static(""),
        }
    }
}

impl Interceptor for ApiKey {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request
            .metadata_mut()
            .insert(self.header, self.value.clone());
        Ok(request)
    }
}

/// Generates one test per backend for each named async fn taking a [`Backend`] (quickwit's
/// metastore test-suite pattern): the same behaviour suite on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

/// The fields a `BadRequest` error detail names, in order.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .bad_request()
        .map(|bad| {
            bad.field_violations
                .iter()
                .map(|v| v.field.clone())
                .collect()
        })
        .unwrap_or_default()
}
