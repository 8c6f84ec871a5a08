//! Webhooks: budget alerts delivered, signed, at least once, to an HTTP server the test runs.
//! Thresholds are delivered once each per budget and month, retried with backoff until the
//! receiver answers 2xx, signatures verify with an HMAC computed here, a pending delivery outlives
//! the server that recorded it, and the contract refuses bad URLs and read-only keys.

mod receiver;

use std::{str::FromStr, time::Duration};

use chrono::{Datelike, TimeZone, Utc};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use tally::{
    config::Settings,
    domain::webhook::RetryPolicy,
    pb::{self, CreateBudgetRequest, CreateWebhookRequest, ListWebhookDeliveriesRequest},
    service::budget_alerts::AlertSettings,
    store,
};
use tonic::Code;

use self::receiver::{Received, Receiver};
use crate::{
    fixtures::EventRecordBuilder,
    helpers::{Backend, TestApp, TestDatabase, spawn_app_with, test_settings, violated_fields},
};

/// Longest wait for a delivery the test expects.
const PATIENCE: Duration = Duration::from_secs(20);

/// Test servers that watch and deliver every 100 ms and retry after 100 ms doubling to 800 ms.
fn quick_alerts(database_url: &str) -> Settings {
    Settings {
        alerts: AlertSettings {
            interval: Duration::from_millis(100),
            timeout: Duration::from_secs(2),
            retry: RetryPolicy {
                first: Duration::from_millis(100),
                max: Duration::from_millis(800),
                give_up_after: Duration::from_secs(3600),
            },
        },
        ..test_settings(database_url)
    }
}

async fn spawn(database: TestDatabase) -> TestApp {
    spawn_app_with(database, quick_alerts).await
}

/// What one default event costs, from the shipped price list rather than from the server:
/// gpt-4o-mini, 1,000 input and 100 output tokens.
fn step_cost() -> Decimal {
    let catalog: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/catalog/litellm_prices.json"
        ))
        .expect("catalog"),
    )
    .expect("catalog JSON");
    let price = |dimension: &str| {
        let number = catalog["gpt-4o-mini"][dimension].as_f64().expect("a price");
        // The shortest decimal that reads back as the same float: the text of the list.
        Decimal::from_str(&number.to_string()).expect("decimal price")
    };
    Decimal::from(1_000) * price("input_cost_per_token")
        + Decimal::from(100) * price("output_cost_per_token")
}

/// An amount as the API writes it: 10 decimal places.
fn usd(amount: Decimal) -> String {
    format!("{:.10}", amount)
}

/// HMAC-SHA256 (RFC 2104) written out here, so that the check does not share the server's code.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0_u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|byte| byte ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|byte| byte ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().to_vec()
}

/// Checks a request as a receiver would: content type, delivery id, and a `Tally-Signature`
/// that is the HMAC of `<t>.<body>` with a `t` within five minutes.
fn assert_signed(request: &Received, secret: &str) {
    assert_eq!(request.header("content-type"), "application/json");
    let body = request.json();
    assert_eq!(
        request.header("tally-delivery-id"),
        body["delivery_id"].as_str().expect("delivery id"),
    );
    let header = request.header("tally-signature");
    let (t, v1) = header
        .split_once(',')
        .and_then(|(t, v1)| Some((t.strip_prefix("t=")?, v1.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("Tally-Signature {header:?}"));
    let seconds: i64 = t.parse().expect("unix seconds");
    assert!(
        (Utc::now().timestamp() - seconds).abs() < 300,
        "t={seconds}"
    );
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(&request.body);
    assert_eq!(
        v1,
        hex::encode(hmac_sha256(secret.as_bytes(), &signed)),
        "signature"
    );
    // Signed with another secret, it would not verify.
    assert_ne!(v1, hex::encode(hmac_sha256(b"another secret!!", &signed)));
}

async fn create_webhook(app: &TestApp, url: &str, secret: &str) -> (pb::Webhook, String) {
    let created = app
        .webhooks(&app.secret_key)
        .create_webhook(CreateWebhookRequest {
            webhook: Some(pb::Webhook {
                url: url.to_owned(),
                ..Default::default()
            }),
            secret: secret.to_owned(),
        })
        .await
        .expect("webhook created")
        .into_inner();
    (created.webhook.expect("webhook"), created.secret)
}

async fn create_budget(
    app: &TestApp,
    name: &str,
    scope: pb::BudgetScope,
    monthly_limit: Decimal,
    enforcement: pb::BudgetEnforcement,
) -> String {
    app.budgets(&app.secret_key)
        .create_budget(CreateBudgetRequest {
            budget: Some(pb::Budget {
                name: name.to_owned(),
                scope: Some(scope),
                monthly_limit_usd: monthly_limit.normalize().to_string(),
                enforcement: enforcement as i32,
                ..Default::default()
            }),
        })
        .await
        .expect("budget created")
        .into_inner()
        .budget
        .expect("budget")
        .budget_id
}

fn customer_scope(customer: &str) -> pb::BudgetScope {
    pb::BudgetScope {
        kind: pb::BudgetScopeKind::Customer as i32,
        customer_id: customer.to_owned(),
        ..Default::default()
    }
}

/// Records `count` default events of `customer`.
async fn spend(app: &TestApp, customer: &str, count: usize) {
    let records = (0..count)
        .map(|_| EventRecordBuilder::new().customer(customer).build())
        .collect();
    let step = usd(step_cost());
    let results = app.record_all(records).await;
    assert!(results.iter().all(|result| result.total_cost_usd == step));
}

/// Every delivery of the project, newest first, read page by page with a publishable key.
async fn deliveries(app: &TestApp, webhook_id: &str) -> Vec<pb::WebhookDelivery> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = app
            .webhooks(&app.publishable_key)
            .list_webhook_deliveries(ListWebhookDeliveriesRequest {
                page_size: 2,
                page_token,
                webhook_id: webhook_id.to_owned(),
            })
            .await
            .expect("deliveries listed")
            .into_inner();
        all.extend(page.deliveries);
        if page.next_page_token.is_empty() {
            return all;
        }
        page_token = page.next_page_token;
    }
}

fn threshold_of(request: &Received) -> i64 {
    request.json()["threshold_percent"]
        .as_i64()
        .expect("a threshold")
}

async fn thresholds_are_delivered_once_each_per_budget_and_month(backend: Backend) {
    let app = spawn(TestDatabase::create(backend).await).await;
    let receiver = Receiver::start(0).await;
    let secret = "a shared secret of the test";
    let (first, returned) = create_webhook(&app, &receiver.url("/first"), secret).await;
    assert_eq!(returned, secret);
    let (second, made) = create_webhook(&app, &receiver.url("/second"), "").await;
    assert!(made.starts_with("whsec_"), "{made}");

    let step = step_cost();
    let limit = step * Decimal::from(10);
    let budget_id = create_budget(
        &app,
        "acme monthly",
        customer_scope("acme"),
        limit,
        pb::BudgetEnforcement::Alert,
    )
    .await;
    // Another customer's budget, far from its thresholds, stays silent.
    create_budget(
        &app,
        "globex monthly",
        customer_scope("globex"),
        limit * Decimal::from(1_000),
        pb::BudgetEnforcement::Alert,
    )
    .await;

    // 4 steps are 40 %; the 5th reaches 50 %, the 8th 80 %, the 10th 100 %.
    let mut recorded = 0;
    for (steps, threshold) in [(4, None), (1, Some(50)), (3, Some(80)), (2, Some(100))] {
        spend(&app, "acme", steps).await;
        spend(&app, "globex", 1).await;
        recorded += steps;
        let Some(threshold) = threshold else {
            continue;
        };
        let received = receiver
            .wait_for(
                PATIENCE,
                &format!("{threshold} % at both webhooks"),
                |got| got.iter().filter(|r| threshold_of(r) == threshold).count() == 2,
            )
            .await;
        for request in received.iter().filter(|r| threshold_of(r) == threshold) {
            let body = request.json();
            assert_eq!(body["type"], "budget.threshold_crossed");
            assert_eq!(body["budget"]["budget_id"], budget_id.as_str());
            assert_eq!(body["budget"]["name"], "acme monthly");
            assert_eq!(
                body["budget"]["scope"]["kind"],
                "BUDGET_SCOPE_KIND_CUSTOMER"
            );
            assert_eq!(body["budget"]["scope"]["customer_id"], "acme");
            assert_eq!(body["limit_usd"], usd(limit).as_str());
            assert_eq!(
                body["spent_usd"],
                usd(step * Decimal::from(recorded)).as_str()
            );
            let now = Utc::now();
            let month = Utc
                .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
                .unwrap();
            assert_eq!(
                body["month_start_time"],
                month.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            );
            let key = if request.path == "/first" {
                secret
            } else {
                made.as_str()
            };
            assert_signed(request, key);
        }
    }
    // Past 100 %, more spend and more passes of the watcher send nothing new.
    spend(&app, "acme", 3).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let received = receiver.received();
    let mut thresholds: Vec<(String, i64)> = received
        .iter()
        .map(|r| (r.path.clone(), threshold_of(r)))
        .collect();
    thresholds.sort();
    assert_eq!(
        thresholds,
        [
            ("/first".to_owned(), 50),
            ("/first".to_owned(), 80),
            ("/first".to_owned(), 100),
            ("/second".to_owned(), 50),
            ("/second".to_owned(), 80),
            ("/second".to_owned(), 100),
        ],
        "each threshold once per webhook"
    );
    assert!(received.iter().all(|r| r.status == 200));
    // Both webhooks heard of the same three alerts, each by its own delivery.
    let alerts = |path: &str| {
        let mut ids: Vec<String> = received
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.json()["alert_id"].as_str().expect("alert id").to_owned())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(alerts("/first"), alerts("/second"));

    // The record: newest first, delivered at the first try, the body exactly as sent.
    let listed = deliveries(&app, &first.webhook_id).await;
    assert_eq!(
        listed
            .iter()
            .map(|d| d.threshold_percent)
            .collect::<Vec<_>>(),
        [100, 80, 50]
    );
    for delivery in &listed {
        assert_eq!(delivery.webhook_id, first.webhook_id);
        assert_eq!(delivery.budget_id, budget_id);
        assert_eq!(
            delivery.event_type,
            pb::WebhookEventType::BudgetThresholdCrossed as i32
        );
        assert_eq!(delivery.status, pb::WebhookDeliveryStatus::Delivered as i32);
        assert_eq!(delivery.attempts, 1);
        assert_eq!(delivery.last_http_status, 200);
        assert!(delivery.last_error.is_empty());
        assert!(delivery.delivered_time.is_some() && delivery.next_attempt_time.is_none());
        let sent = received
            .iter()
            .find(|r| r.header("tally-delivery-id") == delivery.delivery_id)
            .expect("sent");
        assert_eq!(delivery.payload_json.as_bytes(), sent.body.as_slice());
    }
    assert_eq!(deliveries(&app, "").await.len(), 6);
    assert_eq!(deliveries(&app, &second.webhook_id).await.len(), 3);
}

async fn deliveries_are_retried_with_backoff_until_2xx(backend: Backend) {
    let app = spawn(TestDatabase::create(backend).await).await;
    // Three refusals, then 200.
    let receiver = Receiver::start(3).await;
    let (webhook, secret) = create_webhook(&app, &receiver.url("/hook"), "").await;
    // One step is exactly half of this limit: the 50 % threshold only.
    create_budget(
        &app,
        "half at once",
        customer_scope("acme"),
        step_cost() * Decimal::from(2),
        pb::BudgetEnforcement::Alert,
    )
    .await;
    spend(&app, "acme", 1).await;

    receiver
        .wait_for(PATIENCE, "a second try", |got| got.len() >= 2)
        .await;
    // The first failure is on record before the second try is taken.
    let pending = &deliveries(&app, &webhook.webhook_id).await[0];
    assert_eq!(pending.status, pb::WebhookDeliveryStatus::Pending as i32);
    assert!(pending.attempts >= 1, "{pending:?}");
    assert_eq!(pending.last_http_status, 500);

    let received = receiver
        .wait_for(PATIENCE, "a 2xx after three 500s", |got| {
            got.iter().any(|r| r.status == 200)
        })
        .await;
    assert_eq!(
        received.iter().map(|r| r.status).collect::<Vec<_>>(),
        [500, 500, 500, 200]
    );
    let id = received[0].header("tally-delivery-id");
    for request in &received {
        assert_eq!(request.header("tally-delivery-id"), id, "the same delivery");
        assert_eq!(request.body, received[0].body);
        assert_signed(request, &secret);
    }
    // Each pause at least the scheduled one: 100, 200, 400 ms.
    for (pause, pair) in [100, 200, 400].into_iter().zip(received.windows(2)) {
        let waited = pair[1].at - pair[0].at;
        assert!(
            waited >= Duration::from_millis(pause),
            "waited {waited:?}, expected at least {pause} ms"
        );
    }
    let delivery = wait_delivered(&app, &webhook.webhook_id).await;
    assert_eq!(delivery.attempts, 4);
    assert_eq!(delivery.last_http_status, 200);
    assert!(delivery.delivered_time.is_some());
}

/// The only delivery to `webhook_id` once it is delivered (its outcome is written just after
/// the receiver answered).
async fn wait_delivered(app: &TestApp, webhook_id: &str) -> pb::WebhookDelivery {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let listed = deliveries(app, webhook_id).await;
        if let [delivery] = listed.as_slice()
            && delivery.status == pb::WebhookDeliveryStatus::Delivered as i32
        {
            return delivery.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not delivered: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_pending_delivery_outlives_a_restart(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let mut first = spawn(database.alias()).await;
    let receiver = Receiver::start(usize::MAX).await;
    let (webhook, secret) = create_webhook(&first, &receiver.url("/hook"), "").await;
    create_budget(
        &first,
        "half at once",
        customer_scope("acme"),
        step_cost() * Decimal::from(2),
        pb::BudgetEnforcement::Alert,
    )
    .await;
    spend(&first, "acme", 1).await;
    receiver
        .wait_for(PATIENCE, "two refused tries", |got| got.len() >= 2)
        .await;
    first.stop().await.expect("clean stop");
    let tried = receiver.received().len();
    // Nothing is sent while no server runs.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), tried);

    receiver.fail_next(0);
    let second = spawn(database.alias()).await;
    let received = receiver
        .wait_for(PATIENCE, "delivered by the new server", |got| {
            got.iter().any(|r| r.status == 200)
        })
        .await;
    assert_eq!(received.len(), tried + 1);
    let id = received[0].header("tally-delivery-id");
    assert!(received.iter().all(|r| r.header("tally-delivery-id") == id));
    assert_signed(received.last().expect("a request"), &secret);
    let delivery = wait_delivered(&second, &webhook.webhook_id).await;
    assert_eq!(delivery.attempts as usize, tried + 1);
    // The new server's watcher found the alert recorded: no second alert, no second delivery.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), tried + 1);
    assert_eq!(deliveries(&second, "").await.len(), 1);
}

async fn a_denial_is_delivered_once_per_budget_and_month(backend: Backend) {
    let app = spawn(TestDatabase::create(backend).await).await;
    let receiver = Receiver::start(0).await;
    let (webhook, secret) = create_webhook(&app, &receiver.url("/hook"), "").await;
    let limit = step_cost() * Decimal::from(100);
    let budget_id = create_budget(
        &app,
        "hard cap",
        customer_scope("acme"),
        limit,
        pb::BudgetEnforcement::Block,
    )
    .await;
    spend(&app, "acme", 1).await;

    // What `CheckBudget` calls when a BLOCK budget denies: repeated denials record one alert.
    let db = app.database.connect().await;
    let (project, _) = store::api_keys::ensure_project(&db, "test")
        .await
        .expect("project");
    let now = Utc::now();
    let month = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .unwrap();
    let budget = uuid::Uuid::parse_str(&budget_id).expect("id");
    for _ in 0..3 {
        tally::service::budget_alerts::record_denials(&db, project.id, &[(budget, now)])
            .await
            .expect("recorded");
    }
    let received = receiver
        .wait_for(PATIENCE, "the denial", |got| !got.is_empty())
        .await;
    let body = received[0].json();
    assert_eq!(body["type"], "budget.denied");
    assert_eq!(body["threshold_percent"], serde_json::Value::Null);
    assert_eq!(body["budget"]["enforcement"], "BUDGET_ENFORCEMENT_BLOCK");
    assert_eq!(body["spent_usd"], usd(step_cost()).as_str());
    assert_eq!(
        body["month_start_time"],
        month.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    );
    assert_signed(&received[0], &secret);
    // Another process (no memory of it) records nothing new either.
    tally::service::budget_alerts::record_denials(&db, project.id, &[(budget, month)])
        .await
        .expect("recorded");
    db.close().await.ok();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 1);
    let listed = deliveries(&app, &webhook.webhook_id).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].event_type,
        pb::WebhookEventType::BudgetDenied as i32
    );
    assert_eq!(listed[0].threshold_percent, 0);
}

async fn webhooks_are_managed_with_a_secret_key(backend: Backend) {
    let app = spawn(TestDatabase::create(backend).await).await;
    let secret_key = app.secret_key.clone();
    let create = |url: &str, secret: &str| CreateWebhookRequest {
        webhook: Some(pb::Webhook {
            url: url.to_owned(),
            ..Default::default()
        }),
        secret: secret.to_owned(),
    };
    for (request, fields) in [
        (create("ftp://example.com/hook", ""), vec!["webhook.url"]),
        (create("example.com/hook", ""), vec!["webhook.url"]),
        (create("", ""), vec!["webhook.url"]),
        (
            create("https://example.com/hook", "too short"),
            vec!["secret"],
        ),
        (
            create("http://", "too short"),
            vec!["webhook.url", "secret"],
        ),
        (
            CreateWebhookRequest {
                webhook: None,
                secret: String::new(),
            },
            vec!["webhook"],
        ),
    ] {
        let refused = app
            .webhooks(&secret_key)
            .create_webhook(request.clone())
            .await
            .expect_err("refused");
        assert_eq!(refused.code(), Code::InvalidArgument, "{request:?}");
        assert_eq!(violated_fields(&refused), fields, "{request:?}");
    }

    let denied = app
        .webhooks(&app.publishable_key)
        .create_webhook(create("https://example.com/hook", ""))
        .await
        .expect_err("a publishable key only reads");
    assert_eq!(denied.code(), Code::PermissionDenied);

    let mut ids = Vec::new();
    for n in 0..3 {
        let created = app
            .webhooks(&secret_key)
            .create_webhook(create(&format!("HTTPS://Example.com/hook/{n}"), ""))
            .await
            .expect("created")
            .into_inner();
        let webhook = created.webhook.expect("webhook");
        assert_eq!(webhook.url, format!("https://example.com/hook/{n}"));
        ids.push(webhook.webhook_id);
    }
    let reader = app.webhooks(&app.publishable_key);
    let first = reader
        .clone()
        .list_webhooks(pb::ListWebhooksRequest {
            page_size: 2,
            page_token: String::new(),
        })
        .await
        .expect("listed with a publishable key")
        .into_inner();
    assert_eq!(
        first
            .webhooks
            .iter()
            .map(|w| &w.webhook_id)
            .collect::<Vec<_>>(),
        ids[..2].iter().collect::<Vec<_>>()
    );
    let rest = reader
        .clone()
        .list_webhooks(pb::ListWebhooksRequest {
            page_size: 2,
            page_token: first.next_page_token,
        })
        .await
        .expect("second page")
        .into_inner();
    assert_eq!(rest.webhooks.len(), 1);
    assert!(rest.next_page_token.is_empty());

    let delete = |webhook_id: &str| pb::DeleteWebhookRequest {
        webhook_id: webhook_id.to_owned(),
    };
    let denied = app
        .webhooks(&app.publishable_key)
        .delete_webhook(delete(&ids[0]))
        .await
        .expect_err("a publishable key only reads");
    assert_eq!(denied.code(), Code::PermissionDenied);
    app.webhooks(&secret_key)
        .delete_webhook(delete(&ids[0]))
        .await
        .expect("deleted");
    let again = app
        .webhooks(&secret_key)
        .delete_webhook(delete(&ids[0]))
        .await
        .expect_err("gone");
    assert_eq!(again.code(), Code::NotFound);
    let bad = app
        .webhooks(&secret_key)
        .delete_webhook(delete("not-an-id"))
        .await
        .expect_err("not an id");
    assert_eq!(violated_fields(&bad), ["webhook_id"]);
    let bad = reader
        .clone()
        .list_webhook_deliveries(ListWebhookDeliveriesRequest {
            webhook_id: "nope".to_owned(),
            ..Default::default()
        })
        .await
        .expect_err("not an id");
    assert_eq!(violated_fields(&bad), ["webhook_id"]);
    let listed = reader
        .clone()
        .list_webhooks(pb::ListWebhooksRequest::default())
        .await
        .expect("listed")
        .into_inner();
    assert_eq!(listed.webhooks.len(), 2);
}

async fn two_servers_record_and_send_each_alert_once(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let first = spawn(database.alias()).await;
    let second = spawn(database.alias()).await;
    let receiver = Receiver::start(0).await;
    create_webhook(&first, &receiver.url("/hook"), "").await;
    create_budget(
        &first,
        "both watch it",
        customer_scope("acme"),
        step_cost() * Decimal::from(2),
        pb::BudgetEnforcement::Alert,
    )
    .await;
    // Both watchers see the three thresholds at once; each is recorded and sent by one of them.
    spend(&second, "acme", 2).await;
    receiver
        .wait_for(PATIENCE, "three thresholds", |got| got.len() >= 3)
        .await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let mut thresholds: Vec<i64> = receiver.received().iter().map(threshold_of).collect();
    thresholds.sort();
    assert_eq!(thresholds, [50, 80, 100]);
    let listed = deliveries(&second, "").await;
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|d| d.attempts == 1));
}

async fn a_block_budget_denying_in_check_budget_is_delivered_once(backend: Backend) {
    let app = spawn(TestDatabase::create(backend).await).await;
    let receiver = Receiver::start(0).await;
    let (_, secret) = create_webhook(&app, &receiver.url("/hook"), "").await;
    let budget_id = create_budget(
        &app,
        "hard cap",
        customer_scope("acme"),
        step_cost() * Decimal::from(2),
        pb::BudgetEnforcement::Block,
    )
    .await;
    spend(&app, "acme", 2).await;
    for _ in 0..3 {
        let answer = app
            .budgets(&app.publishable_key)
            .check_budget(pb::CheckBudgetRequest {
                customer_id: "acme".to_owned(),
                agent_code: "writer".to_owned(),
                estimated_cost_usd: usd(step_cost()),
                ..Default::default()
            })
            .await
            .expect("checked")
            .into_inner();
        assert!(!answer.allowed);
    }
    let is_denial = |r: &Received| r.json()["type"] == "budget.denied";
    let received = receiver
        .wait_for(PATIENCE, "the denial and the three thresholds", |got| {
            got.iter().any(is_denial) && got.len() >= 4
        })
        .await;
    let denial = received.iter().find(|r| is_denial(r)).expect("a denial");
    assert_eq!(denial.json()["budget"]["budget_id"], budget_id.as_str());
    assert_eq!(
        denial.json()["spent_usd"],
        usd(step_cost() * Decimal::from(2)).as_str()
    );
    assert_signed(denial, &secret);
    // Denied three times, told once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.received().iter().filter(|r| is_denial(r)).count(),
        1
    );
    assert_eq!(receiver.received().len(), 4);
}

crate::on_both_databases!(
    thresholds_are_delivered_once_each_per_budget_and_month,
    deliveries_are_retried_with_backoff_until_2xx,
    a_pending_delivery_outlives_a_restart,
    a_denial_is_delivered_once_per_budget_and_month,
    webhooks_are_managed_with_a_secret_key,
    a_block_budget_denying_in_check_budget_is_delivered_once,
    two_servers_record_and_send_each_alert_once,
);
