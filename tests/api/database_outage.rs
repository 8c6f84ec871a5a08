//! A database outage: once health reports `NOT_SERVING`, every call of Tally's services answers
//! `UNAVAILABLE` with `RetryInfo` at once, well within a short caller deadline, instead of waiting for
//! a pool connection; health and reflection keep answering; once the database is back, calls go
//! through again.
//!
//! PostgreSQL only: the outage is a database server that stops (connections cut, new ones refused)
//! and comes back with its data, played by a TCP relay between Tally and PostgreSQL. A SQLite file
//! has no such outage: Tally holds it open, and a file that cannot be opened fails at once, never
//! after the pool's wait.

use std::{
    future::Future,
    net::SocketAddr,
    time::{Duration, Instant},
};

use tally::{domain::api_key::ApiKeyKind, pb};
use tokio::{
    net::{TcpListener, TcpStream},
    task::{JoinHandle, JoinSet},
};
use tonic::{Code, Request, Status};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
use tonic_types::StatusExt;

use crate::{
    fixtures::EventRecordBuilder,
    helpers::{Backend, TestApp, TestDatabase, create_key, start_server, test_settings},
};

/// The deadline of the callers in this test, shorter than the pool's 5 s wait for a connection.
const DEADLINE: Duration = Duration::from_secs(1);

/// A TCP relay in front of PostgreSQL that the test takes down and brings back, on the same port.
struct Relay {
    address: SocketAddr,
    target: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay binds");
        let address = listener.local_addr().expect("relay address");
        Self {
            address,
            target,
            task: Some(tokio::spawn(relay(listener, target))),
        }
    }

    /// Cuts every connection and refuses new ones, as a stopped database server does.
    async fn take_down(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Accepts and relays connections again.
    async fn bring_back(&mut self) {
        let listener = TcpListener::bind(self.address)
            .await
            .expect("relay binds its port again");
        self.task = Some(tokio::spawn(relay(listener, self.target)));
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Relays each accepted connection to `target`. Aborting the task drops the listener and, with the
/// `JoinSet`, every relayed connection.
async fn relay(listener: TcpListener, target: SocketAddr) {
    let mut connections = JoinSet::new();
    while let Ok((mut inbound, _)) = listener.accept().await {
        while connections.try_join_next().is_some() {}
        connections.spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

/// The `host[:port]` of a `postgres://[user@]host[:port]/name` URL, as written there.
fn database_host(url: &str) -> &str {
    let rest = url.split_once("://").expect("a URL").1;
    let authority = rest.split_once('/').expect("a database name").0;
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
}

fn with_deadline<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.set_timeout(DEADLINE);
    request
}

/// Checks that `call` is refused with `UNAVAILABLE`, `RetryInfo` and reason `STORAGE_UNAVAILABLE`,
/// well before the caller's deadline.
async fn assert_refused_at_once<T>(what: &str, call: impl Future<Output = Result<T, Status>>) {
    let started = Instant::now();
    let status = match tokio::time::timeout(DEADLINE, call).await {
        Err(_) => panic!("{what}: no answer within the caller's deadline"),
        Ok(Ok(_)) => panic!("{what}: served with the database down"),
        Ok(Err(status)) => status,
    };
    let elapsed = started.elapsed();
    assert_eq!(status.code(), Code::Unavailable, "{what}: {status:?}");
    assert!(elapsed < DEADLINE / 2, "{what}: answered after {elapsed:?}");
    let details = status.get_error_details();
    assert!(details.retry_info().is_some(), "{what}: RetryInfo");
    assert_eq!(
        details.error_info().map(|info| info.reason.as_str()),
        Some("STORAGE_UNAVAILABLE"),
        "{what}"
    );
}

fn event() -> pb::EventRecord {
    EventRecordBuilder::new()
        .key("outage-1")
        .customer("workspace_42")
        .agent("support_reply")
        .model("openai", "gpt-4o")
        .build()
}

async fn record(app: &TestApp) -> Result<tonic::Response<pb::RecordEventResponse>, Status> {
    app.ingest(&app.secret_key)
        .record_event(with_deadline(pb::RecordEventRequest {
            record: Some(event()),
        }))
        .await
}

async fn health_status(app: &TestApp) -> ServingStatus {
    let response = app
        .health()
        .check(HealthCheckRequest::default())
        .await
        .expect("health answers")
        .into_inner();
    ServingStatus::try_from(response.status).expect("known status")
}

/// Waits, watching health, until it reports `status` for the whole server.
async fn wait_for_health(app: &TestApp, status: ServingStatus) {
    let mut watch = app
        .health()
        .watch(HealthCheckRequest::default())
        .await
        .expect("health watch")
        .into_inner();
    tokio::time::timeout(Duration::from_secs(30), async {
        while watch.message().await.expect("watch").expect("open").status != status as i32 {}
    })
    .await
    .unwrap_or_else(|_| panic!("health not {status:?} within 30 s"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_calls_fail_fast_while_the_database_is_down_and_go_through_once_it_is_back() {
    let database = TestDatabase::create(Backend::Postgres).await;
    let db = database.connect().await;
    let host = database_host(&database.url);
    let port = if host.contains(':') { "" } else { ":5432" };
    let target = tokio::net::lookup_host(format!("{host}{port}"))
        .await
        .expect("database host resolves")
        .next()
        .expect("an address");
    let mut relay = Relay::start(target).await;
    let url = database.url.replacen(host, &relay.address.to_string(), 1);
    let mut app = start_server(database, move |_| test_settings(&url)).await;
    app.wait_until_serving().await;
    app.secret_key = create_key(&db, "test", ApiKeyKind::Secret).await;
    app.budgets(&app.secret_key)
        .list_budgets(with_deadline(pb::ListBudgetsRequest::default()))
        .await
        .expect("served while the database is up");

    // A stream opened while the database is up, its first batch answered.
    let (batches, waiting) = tokio::sync::mpsc::channel(4);
    let mut open_stream = app
        .ingest(&app.secret_key)
        .record_events(tokio_stream::wrappers::ReceiverStream::new(waiting))
        .await
        .expect("stream opens")
        .into_inner();
    let batch = |key: &str| pb::RecordEventsRequest {
        records: vec![pb::EventRecord {
            idempotency_key: key.to_owned(),
            ..event()
        }],
        ..Default::default()
    };
    batches.send(batch("stream-1")).await.expect("batch sent");
    let first = open_stream.message().await.expect("answer").expect("one");
    assert!(first.results[0].stored, "{first:?}");

    relay.take_down().await;
    wait_for_health(&app, ServingStatus::NotServing).await;

    // Its next batch gets past the call's own check: the write refuses it at once.
    batches.send(batch("stream-2")).await.expect("batch sent");
    assert_refused_at_once("a batch on a stream opened before", open_stream.message()).await;

    let key = app.secret_key.clone();
    assert_refused_at_once("RecordEvent", record(&app)).await;
    assert_refused_at_once(
        "RecordEvents (a stream)",
        app.ingest(&key)
            .record_events(with_deadline(tokio_stream::iter([
                pb::RecordEventsRequest {
                    records: vec![event()],
                    ..Default::default()
                },
            ]))),
    )
    .await;
    assert_refused_at_once(
        "ListRuns",
        app.runs(&key)
            .list_runs(with_deadline(pb::ListRunsRequest::default())),
    )
    .await;
    assert_refused_at_once(
        "ListBudgets",
        app.budgets(&key)
            .list_budgets(with_deadline(pb::ListBudgetsRequest::default())),
    )
    .await;
    assert_refused_at_once(
        "ListPrices",
        app.pricing(&key)
            .list_prices(with_deadline(pb::ListPricesRequest::default())),
    )
    .await;
    assert_refused_at_once(
        "ListCustomers",
        app.directory(&key)
            .list_customers(with_deadline(pb::ListCustomersRequest::default())),
    )
    .await;
    assert_refused_at_once(
        "GetMargin",
        app.reports(&key)
            .get_margin(with_deadline(pb::GetMarginRequest::default())),
    )
    .await;
    assert_refused_at_once(
        "ExportEvents (a stream)",
        app.reports(&key)
            .export_events(with_deadline(pb::ExportEventsRequest::default())),
    )
    .await;

    // Probes and tooling keep their answers.
    assert_eq!(health_status(&app).await, ServingStatus::NotServing);
    {
        use tonic_reflection::pb::v1::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest,
        };
        let mut answers = ServerReflectionClient::new(app.channel.clone())
            .server_reflection_info(tokio_stream::iter([ServerReflectionRequest {
                host: String::new(),
                message_request: Some(MessageRequest::ListServices(String::new())),
            }]))
            .await
            .expect("reflection answers during the outage")
            .into_inner();
        answers
            .message()
            .await
            .expect("a reflection answer")
            .expect("one message");
    }

    // Back: the refused event, sent again, is stored, once.
    let back = Instant::now();
    relay.bring_back().await;
    wait_for_health(&app, ServingStatus::Serving).await;
    let result = record(&app)
        .await
        .expect("served once the database is back")
        .into_inner()
        .result
        .expect("a result");
    assert!(
        back.elapsed() < Duration::from_secs(5),
        "calls went through {:?} after the database came back",
        back.elapsed()
    );
    assert!(result.stored, "{result:?}");
    // The stream's first batch and the event sent again: the refused batch was not stored.
    assert_eq!(app.count_events().await, 2);
    db.close().await.ok();
    app.stop().await.expect("clean stop");
}
