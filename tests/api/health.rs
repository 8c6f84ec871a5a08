//! Health: NOT_SERVING until the database answers, SERVING for the server and each service, NOT_SERVING
//! again once shutdown begins.

use tally::{grpc::SERVICE_NAMES, health::LIVENESS};
use tonic::Code;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

use crate::helpers::{Backend, TestApp, TestDatabase, spawn_app, start_server, test_settings};

async fn status_of(app: &TestApp, service: &str) -> ServingStatus {
    let response = app
        .health()
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .expect("health check answers")
        .into_inner();
    ServingStatus::try_from(response.status).expect("known status")
}

async fn not_serving_until_the_database_answers(backend: Backend) {
    let database = TestDatabase::pending(backend).await;
    let app = start_server(database, test_settings).await;

    assert_eq!(status_of(&app, "").await, ServingStatus::NotServing);
    assert_eq!(status_of(&app, LIVENESS).await, ServingStatus::Serving);
    for service in SERVICE_NAMES {
        assert_eq!(
            status_of(&app, service).await,
            ServingStatus::NotServing,
            "{service}"
        );
    }

    app.database.make_available().await;
    app.wait_until_serving().await;
    for service in SERVICE_NAMES {
        assert_eq!(
            status_of(&app, service).await,
            ServingStatus::Serving,
            "{service}"
        );
    }
}

async fn every_service_reports_serving(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(status_of(&app, "").await, ServingStatus::Serving);
    for service in SERVICE_NAMES {
        assert!(service.starts_with("tally.v1."), "{service}");
        assert_eq!(
            status_of(&app, service).await,
            ServingStatus::Serving,
            "{service}"
        );
    }
    let unknown = app
        .health()
        .check(HealthCheckRequest {
            service: "tally.v1.NoSuchService".to_owned(),
        })
        .await
        .expect_err("an unknown service has no health");
    assert_eq!(unknown.code(), Code::NotFound);
}

async fn health_needs_no_key(backend: Backend) {
    // The health client of the helpers sends no metadata at all.
    let app = spawn_app(backend).await;
    assert_eq!(status_of(&app, "").await, ServingStatus::Serving);
}

async fn not_serving_once_the_database_goes_away(backend: Backend) {
    let app = crate::helpers::spawn_app(backend).await;
    assert_eq!(status_of(&app, "").await, ServingStatus::Serving);
    app.database.remove().await;
    let mut watch = app
        .health()
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health watch")
        .into_inner();
    loop {
        let status = watch.message().await.expect("watch").expect("open").status;
        if status == ServingStatus::NotServing as i32 {
            break;
        }
    }
    for service in SERVICE_NAMES {
        assert_eq!(
            status_of(&app, service).await,
            ServingStatus::NotServing,
            "{service}"
        );
    }
    assert_eq!(status_of(&app, LIVENESS).await, ServingStatus::Serving);
}

async fn an_unopenable_sqlite_file_fails_at_start() {
    let database = TestDatabase::pending(Backend::Sqlite).await;
    let error = match tally::startup::App::build(test_settings(&database.url)).await {
        Ok(_) => panic!("a SQLite file in a missing directory cannot be opened"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        error.contains("cannot open database") && error.contains("not-yet"),
        "{error}"
    );
}

crate::on_both_databases!(every_service_reports_serving, health_needs_no_key);

/// A PostgreSQL server can be down or the database missing while Tally starts; a SQLite file is opened
/// at start or not at all.
mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn not_serving_until_the_database_answers() {
        super::not_serving_until_the_database_answers(crate::helpers::Backend::Postgres).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn not_serving_once_the_database_goes_away() {
        super::not_serving_once_the_database_goes_away(crate::helpers::Backend::Postgres).await
    }
}

#[tokio::test]
async fn sqlite_an_unopenable_file_fails_at_start() {
    an_unopenable_sqlite_file_fails_at_start().await
}
