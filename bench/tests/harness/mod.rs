//! A real server for the benchmarks to run against: `tally`'s `App` on `127.0.0.1:0` over a fresh
//! database (a temporary SQLite file, or a new PostgreSQL database named by a UUID), with a project
//! and its keys, as the server's own `tests/api` suite makes it (a smaller copy of its helpers).

use std::{net::SocketAddr, time::Duration};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use tally::{
    config::Settings,
    domain::api_key::{ApiKeyKind, GeneratedKey},
    startup::App,
    store,
};
use tally_client::Client;
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::transport::Endpoint;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

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

/// A fresh, empty database that disappears when dropped.
pub struct TestDatabase {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres_name: Option<String>,
}

impl TestDatabase {
    async fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("tally.db").display()
                );
                Self {
                    url,
                    _dir: Some(dir),
                    postgres_name: None,
                }
            }
            Backend::Postgres => {
                let name = format!("tally_bench_test_{}", uuid::Uuid::new_v4().simple());
                postgres_admin(&format!("CREATE DATABASE \"{name}\"")).await;
                let admin = postgres_admin_url();
                let base = admin
                    .rsplit_once('/')
                    .map_or(admin.as_str(), |(base, _)| base);
                Self {
                    url: format!("{base}/{name}"),
                    _dir: None,
                    postgres_name: Some(name),
                }
            }
        }
    }

    /// A direct connection, for what a test reads outside the API.
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

/// A running server, a project named `test` with a secret and a publishable key, and its database.
pub struct TestApp {
    pub address: SocketAddr,
    pub secret_key: String,
    pub publishable_key: String,
    pub database: TestDatabase,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

/// Starts the server over a fresh database (migrated by the server), waits until it reports
/// SERVING, and makes the project's keys.
pub async fn spawn_app(backend: Backend) -> TestApp {
    let database = TestDatabase::create(backend).await;
    let settings = Settings {
        listen: "127.0.0.1:0".parse().expect("address"),
        bootstrap: false,
        database_retry: Duration::from_millis(100),
        database_check_interval: Duration::from_millis(100),
        ..Settings::with_database(&database.url)
    };
    let app = App::build(settings).await.expect("server builds");
    let address = app.local_addr();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    wait_until_serving(address).await;
    let db = database.connect().await;
    let secret_key = create_key(&db, ApiKeyKind::Secret).await;
    let publishable_key = create_key(&db, ApiKeyKind::Publishable).await;
    db.close().await.ok();
    TestApp {
        address,
        secret_key,
        publishable_key,
        database,
        shutdown: Some(shutdown),
        server: Some(server),
    }
}

impl TestApp {
    /// The typed client of `tally-client`, calling with `key`.
    pub fn client(&self, key: &str) -> Client {
        Client::new(&format!("http://{}", self.address), key).expect("client")
    }

    /// Where the benchmarks connect.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::from_shared(format!("http://{}", self.address)).expect("endpoint")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// Waits (watching health, not sleeping) until the server reports SERVING.
async fn wait_until_serving(address: SocketAddr) {
    let channel = Endpoint::from_shared(format!("http://{address}"))
        .expect("endpoint")
        .connect_lazy();
    let mut watch = HealthClient::new(channel)
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health watch")
        .into_inner();
    let serving = async {
        while let Some(message) = watch.message().await.expect("health stream") {
            if message.status == ServingStatus::Serving as i32 {
                return;
            }
        }
        panic!("health stream ended before SERVING");
    };
    tokio::time::timeout(Duration::from_secs(30), serving)
        .await
        .expect("server SERVING within 30 s");
}

/// Creates a key in the project `test` the way `tally keys create` does.
async fn create_key(db: &DatabaseConnection, kind: ApiKeyKind) -> String {
    let (project, _) = store::api_keys::ensure_project(db, "test")
        .await
        .expect("project");
    let key = GeneratedKey::generate(kind);
    store::api_keys::insert_key(db, project.id, &key, Some("test"))
        .await
        .expect("key");
    key.plaintext
}

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
/// after they are stored; SQLite as it stores them).
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

/// Checks that the running totals equal what the stored events add up to: the hourly and monthly
/// aggregates and the run totals against sums over `cost_events` and `service_lines`, events and
/// lines of unknown cost (no price or no volume) included.
pub async fn assert_totals_match_events(database: &TestDatabase) {
    let db = database.connect().await;
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

/// Generates one test per backend for each named async fn taking a [`Backend`].
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::harness::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::harness::Backend::Postgres).await
                }
            )*
        }
    };
}
