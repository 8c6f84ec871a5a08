//! Graceful shutdown: health turns NOT_SERVING at once, the listener closes, and a call already in
//! flight still completes before the server stops.

use std::time::Duration;

use tally::pb::{self, CreateBudgetRequest};
use tonic::transport::Endpoint;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

use crate::helpers::{Backend, spawn_app};

/// Waits for a condition the server reaches on its own, checking every few milliseconds.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn shutdown_finishes_calls_in_flight(backend: Backend) {
    let mut app = spawn_app(backend).await;
    let mut watch = app
        .health()
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("watch")
        .into_inner();
    let first = watch
        .message()
        .await
        .expect("watch open")
        .expect("a status");
    assert_eq!(first.status, ServingStatus::Serving as i32);

    // A create that waits on the database lock: a unary call held in flight.
    let db = app.database.connect().await;
    let lock = app.database.hold_budgets_lock(&db).await;
    let mut client = app.budgets(&app.secret_key);
    let call = tokio::spawn(async move {
        client
            .create_budget(CreateBudgetRequest {
                budget: Some(pb::Budget {
                    name: "in flight".to_owned(),
                    scope: Some(pb::BudgetScope {
                        kind: pb::BudgetScopeKind::Project as i32,
                        ..Default::default()
                    }),
                    monthly_limit_usd: "5".to_owned(),
                    enforcement: pb::BudgetEnforcement::Block as i32,
                    ..Default::default()
                }),
            })
            .await
    });
    let in_flight = app.in_flight.clone();
    // The health watch stream and the create.
    eventually("the create is in flight", || in_flight.count() >= 2).await;

    app.begin_shutdown();
    let next = watch
        .message()
        .await
        .expect("watch still open")
        .expect("a status");
    assert_eq!(
        next.status,
        ServingStatus::NotServing as i32,
        "NOT_SERVING as soon as shutdown begins"
    );

    let address = app.address;
    let mut refused = false;
    for _ in 0..400 {
        let endpoint = Endpoint::from_shared(format!("http://{address}")).expect("endpoint");
        if endpoint
            .connect_timeout(Duration::from_millis(200))
            .connect()
            .await
            .is_err()
        {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(refused, "new connections are refused once shutdown begins");
    assert!(!call.is_finished(), "the create still waits on the lock");

    lock.rollback().await.expect("lock released");
    let created = call
        .await
        .expect("task")
        .expect("the call in flight completes");
    assert_eq!(
        created.into_inner().budget.expect("budget").name,
        "in flight"
    );

    drop(watch);
    app.stop()
        .await
        .expect("the server stops cleanly once its calls are done");
    assert_eq!(app.in_flight.count(), 0);
}

crate::on_both_databases!(shutdown_finishes_calls_in_flight);
