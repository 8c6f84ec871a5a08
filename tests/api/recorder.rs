//! The Rust client's `Recorder` against a real `tally serve` process that is killed (SIGKILL, no
//! drain) while events stream, and started again on the same port and database: every event
//! recorded is stored exactly once, none lost and none counted twice.

use std::{process::Stdio, time::Duration};

use tally::domain::api_key::ApiKeyKind;
use tally_client::{Client, Recorder, RecorderConfig, pb};
use tokio::process::{Child, Command};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

use crate::helpers::{Backend, TestDatabase, create_key};

const EVENTS: usize = 600;

/// A free loopback port (bound, read, released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

/// Starts `tally serve` on `port` and waits until it is SERVING.
async fn serve(database_url: &str, port: u16) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", database_url)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("tally serve starts");
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("endpoint")
        .connect_lazy();
    let mut health = HealthClient::new(channel);
    for _ in 0..600 {
        let status = health
            .check(HealthCheckRequest::default())
            .await
            .map(|answer| answer.into_inner().status());
        if matches!(status, Ok(ServingStatus::Serving)) {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("tally serve did not become SERVING on port {port}");
}

fn event(number: usize) -> pb::EventRecord {
    pb::EventRecord {
        customer: Some(pb::CustomerAttribution {
            id: format!("customer_{}", number % 7),
            ..Default::default()
        }),
        agent_code: "support_reply".into(),
        usage: Some(pb::event_record::Usage::Service(pb::ServiceUsage {
            provider: "openai".into(),
            model: "gpt-4o".into(),
            input_tokens: Some(1_000 + number as u64),
            output_tokens: Some(100),
            ..Default::default()
        })),
        ..Default::default()
    }
}

async fn every_event_is_stored_exactly_once_across_a_killed_server(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let port = free_port();
    let mut server = serve(&database.url, port).await;
    let db = database.connect().await;
    let key = create_key(&db, "recorder", ApiKeyKind::Secret).await;

    let client = Client::new(&format!("http://127.0.0.1:{port}"), &key).expect("client");
    let config = RecorderConfig {
        batch_size: 25,
        linger: Duration::from_millis(20),
        max_attempts: 100,
        first_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(400),
        ..RecorderConfig::default()
    };
    let recorder = Recorder::new(client, config);
    let mut keys = Vec::with_capacity(EVENTS);
    for number in 0..EVENTS {
        keys.push(recorder.record(event(number)).expect("the buffer has room"));
        if number == EVENTS / 3 {
            // Killed without a drain, batches in flight or half-answered.
            server.start_kill().expect("kill");
            server.wait().await.expect("killed");
        }
        if number == 2 * EVENTS / 3 {
            server = serve(&database.url, port).await;
        }
        if number % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let stats = recorder.shutdown().await;
    assert_eq!(stats.recorded, EVENTS as u64);
    assert_eq!(stats.stored, EVENTS as u64, "{stats:?}");
    assert_eq!((stats.rejected, stats.dropped), (0, 0), "{stats:?}");
    assert!(
        stats.retries > 0,
        "the kill should have cost a retry: {stats:?}"
    );

    keys.sort();
    keys.dedup();
    assert_eq!(
        keys.len(),
        EVENTS,
        "every event got its own idempotency key"
    );
    let stored = sea_orm::ConnectionTrait::query_one_raw(
        &db,
        sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT CAST(COUNT(*) AS BIGINT) AS n, CAST(COUNT(DISTINCT idempotency_key) AS BIGINT) AS k FROM cost_events",
        ),
    )
    .await
    .expect("count")
    .expect("a row");
    let count: i64 = stored.try_get("", "n").expect("n");
    let distinct: i64 = stored.try_get("", "k").expect("k");
    assert_eq!((count, distinct), (EVENTS as i64, EVENTS as i64));
    drop(server);
}

crate::on_both_databases!(every_event_is_stored_exactly_once_across_a_killed_server);
