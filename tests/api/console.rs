//! The browser console on the gRPC port, as a browser meets it on plain http (HTTP/1.1): the page at
//! `/` and at every console route, the assets with their types and ETags, a strict
//! Content-Security-Policy on every answer, 404 for what is not there and 405 for what is not a load.
//! gRPC-Web calls (frames made by hand) reach the same services through the same key checks as gRPC,
//! and are observed like them, while page loads leave no call behind (no rpc metric, no `call failed`
//! line: both come from the span a call opens). `--no-console` takes the page away and leaves
//! gRPC-Web; over TLS the console comes over HTTP/2, which browsers negotiate there.

use std::path::Path;

use bytes::{Buf, Bytes};
use http_body_util::BodyExt as _;
use nix::sys::signal::Signal;
use prost::Message;
use reqwest::{StatusCode, Version, header};
use tally::domain::api_key::ApiKeyKind;
use tally::pb::{self, CreateBudgetRequest, ListBudgetsRequest, ListBudgetsResponse};
use tonic_health::pb::health_check_response::ServingStatus;
use tower::ServiceExt as _;

use crate::{
    cli::{key_after, serve, serve_with_env},
    helpers::{Backend, TestDatabase, create_key, spawn_app},
    tls::{Pki, connect, serving, tls_app},
};

const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// A file of the built console, as the repository holds it.
fn dist(name: &str) -> Bytes {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("console/dist")
        .join(name);
    std::fs::read(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .into()
}

/// The value of a header, or "" when it is missing.
fn header_of(headers: &header::HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

/// Checks the headers every console answer carries.
fn assert_hardened(headers: &header::HeaderMap) {
    assert_eq!(
        header_of(headers, header::CONTENT_SECURITY_POLICY),
        CONTENT_SECURITY_POLICY
    );
    assert_eq!(
        header_of(headers, header::X_CONTENT_TYPE_OPTIONS),
        "nosniff"
    );
    assert_eq!(header_of(headers, header::REFERRER_POLICY), "no-referrer");
    assert_eq!(header_of(headers, header::X_FRAME_OPTIONS), "DENY");
}

fn a_budget() -> pb::Budget {
    pb::Budget {
        name: "from the browser".to_owned(),
        scope: Some(pb::BudgetScope {
            kind: pb::BudgetScopeKind::Project as i32,
            ..Default::default()
        }),
        monthly_limit_usd: "100".to_owned(),
        enforcement: pb::BudgetEnforcement::Block as i32,
        ..Default::default()
    }
}

/// What a gRPC-Web call answered.
#[derive(Debug)]
struct WebAnswer {
    http: StatusCode,
    headers: header::HeaderMap,
    messages: Vec<Bytes>,
    /// The trailer frame's text (`grpc-status:0\r\n…`), when there was one.
    trailers: Option<String>,
}

impl WebAnswer {
    /// The body's frames: a flag byte (0x80: trailers), a 4-byte big-endian length, the bytes.
    fn read(http: StatusCode, headers: header::HeaderMap, mut body: Bytes) -> Self {
        let (mut messages, mut trailers) = (Vec::new(), None);
        while body.remaining() >= 5 {
            let flag = body.get_u8();
            let length = body.get_u32() as usize;
            assert!(length <= body.remaining(), "a whole frame");
            let bytes = body.split_to(length);
            if flag & 0x80 == 0 {
                messages.push(bytes);
            } else {
                trailers = Some(String::from_utf8(bytes.to_vec()).expect("text trailers"));
            }
        }
        assert!(body.is_empty(), "nothing after the last frame");
        Self {
            http,
            headers,
            messages,
            trailers,
        }
    }

    /// The call's grpc-status: from the trailer frame, or from the headers of an answer that has
    /// no body (a refusal).
    fn code(&self) -> i32 {
        let from_trailers = self.trailers.as_deref().and_then(|text| {
            text.split("\r\n")
                .find_map(|line| line.strip_prefix("grpc-status:"))
                .map(str::trim)
        });
        from_trailers
            .or_else(|| self.headers.get("grpc-status")?.to_str().ok())
            .unwrap_or_else(|| panic!("no grpc-status: {self:?}"))
            .parse()
            .expect("a number")
    }
}

/// A gRPC-Web request body: one uncompressed frame holding `message`.
fn web_frame(message: &impl Message) -> Vec<u8> {
    let message = message.encode_to_vec();
    let mut body = vec![0];
    body.extend_from_slice(&u32::try_from(message.len()).expect("small").to_be_bytes());
    body.extend_from_slice(&message);
    body
}

/// Calls `path` as a browser's gRPC-Web client does, on plain http (HTTP/1.1), with `key` if any.
async fn grpc_web(
    address: &str,
    path: &str,
    key: Option<&str>,
    message: &impl Message,
) -> WebAnswer {
    let mut call = reqwest::Client::new()
        .post(format!("http://{address}{path}"))
        .header(header::CONTENT_TYPE, "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(web_frame(message));
    if let Some(key) = key {
        call = call.bearer_auth(key);
    }
    let response = call.send().await.expect("answered");
    assert_eq!(response.version(), Version::HTTP_11);
    let (http, headers) = (response.status(), response.headers().clone());
    WebAnswer::read(http, headers, response.bytes().await.expect("body"))
}

async fn the_console_loads_at_every_route(backend: Backend) {
    let app = spawn_app(backend).await;
    let base = format!("http://{}", app.address);
    let browser = reqwest::Client::new();
    let get = |path: &str| browser.get(format!("{base}{path}"));

    for route in [
        "/",
        "/customers?start=2026-01-01T00:00:00Z",
        "/customers/acme",
        "/runs/0190c2a4-77e1-7cc2-9b0e-5f3a2d1e4c55",
    ] {
        let page = get(route).send().await.expect("answered");
        assert_eq!(page.version(), Version::HTTP_11);
        assert_eq!(page.status(), StatusCode::OK, "{route}");
        assert_hardened(page.headers());
        assert_eq!(
            header_of(page.headers(), header::CONTENT_TYPE),
            "text/html; charset=utf-8"
        );
        assert_eq!(header_of(page.headers(), header::CACHE_CONTROL), "no-cache");
        assert_eq!(
            page.bytes().await.expect("body"),
            dist("index.html"),
            "{route}"
        );
    }

    let script = get("/assets/app.js").send().await.expect("answered");
    assert_eq!(script.status(), StatusCode::OK);
    assert_hardened(script.headers());
    assert!(
        header_of(script.headers(), header::CONTENT_TYPE).starts_with("text/javascript"),
        "{:?}",
        script.headers()
    );
    assert_eq!(
        header_of(script.headers(), header::CACHE_CONTROL),
        "no-cache"
    );
    let etag = header_of(script.headers(), header::ETAG).to_owned();
    assert!(etag.starts_with('"') && etag.len() > 2, "{etag:?}");
    assert_eq!(script.bytes().await.expect("body"), dist("assets/app.js"));
    let again = get("/assets/app.js")
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .expect("answered");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_hardened(again.headers());
    assert_eq!(header_of(again.headers(), header::ETAG), etag);
    assert!(again.bytes().await.expect("body").is_empty());

    for (asset, content_type) in [
        ("/assets/app.css", "text/css"),
        ("/assets/favicon.svg", "image/svg+xml"),
    ] {
        let file = get(asset).send().await.expect("answered");
        assert_eq!(file.status(), StatusCode::OK, "{asset}");
        assert!(
            header_of(file.headers(), header::CONTENT_TYPE).starts_with(content_type),
            "{asset}: {:?}",
            file.headers()
        );
    }

    let head = browser.head(&base).send().await.expect("answered");
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.bytes().await.expect("body").is_empty());

    for missing in ["/assets/nope.js", "/favicon.ico"] {
        let answer = get(missing).send().await.expect("answered");
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{missing}");
        assert_hardened(answer.headers());
    }
    let posted = browser
        .post(&base)
        .header(header::CONTENT_TYPE, "text/plain")
        .body("hello")
        .send()
        .await
        .expect("answered");
    assert_eq!(posted.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header_of(posted.headers(), header::ALLOW), "GET, HEAD");
    assert_hardened(posted.headers());

    // gRPC on the same port is untouched.
    app.budgets(&app.secret_key)
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect("a gRPC call");
}

async fn grpc_web_calls_meet_the_same_services_and_key_checks(backend: Backend) {
    let app = spawn_app(backend).await;
    let address = app.address.to_string();
    let create = CreateBudgetRequest {
        budget: Some(a_budget()),
    };

    let created = grpc_web(
        &address,
        "/tally.v1.Budgets/CreateBudget",
        Some(&app.secret_key),
        &create,
    )
    .await;
    assert_eq!(
        (created.http, created.code()),
        (StatusCode::OK, 0),
        "{created:?}"
    );
    assert_eq!(
        header_of(&created.headers, header::CONTENT_TYPE),
        "application/grpc-web+proto"
    );
    assert!(
        created
            .headers
            .get(header::CONTENT_SECURITY_POLICY)
            .is_none(),
        "calls are not console answers"
    );
    // What gRPC-Web wrote, gRPC reads.
    let listed = app
        .budgets(&app.publishable_key)
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect("listed over gRPC")
        .into_inner();
    assert_eq!(listed.budgets.len(), 1);
    assert_eq!(listed.budgets[0].name, "from the browser");

    let read = grpc_web(
        &address,
        "/tally.v1.Budgets/ListBudgets",
        Some(&app.publishable_key),
        &ListBudgetsRequest::default(),
    )
    .await;
    assert_eq!(read.code(), 0, "{read:?}");
    assert_eq!(read.messages.len(), 1, "one data frame: {read:?}");
    let page = ListBudgetsResponse::decode(read.messages[0].clone()).expect("a response");
    assert_eq!(page.budgets, listed.budgets);
    let trailers = read.trailers.expect("a trailer frame");
    assert!(trailers.contains("grpc-status:0"), "{trailers:?}");

    let no_key = grpc_web(
        &address,
        "/tally.v1.Budgets/ListBudgets",
        None,
        &ListBudgetsRequest::default(),
    )
    .await;
    assert_eq!(
        no_key.code(),
        tonic::Code::Unauthenticated as i32,
        "{no_key:?}"
    );
    let wrong_key = grpc_web(
        &address,
        "/tally.v1.Budgets/ListBudgets",
        Some("sk_not_a_key_of_this_server"),
        &ListBudgetsRequest::default(),
    )
    .await;
    assert_eq!(wrong_key.code(), tonic::Code::Unauthenticated as i32);
    let read_only = grpc_web(
        &address,
        "/tally.v1.Budgets/CreateBudget",
        Some(&app.publishable_key),
        &create,
    )
    .await;
    assert_eq!(
        read_only.code(),
        tonic::Code::PermissionDenied as i32,
        "{read_only:?}"
    );
}

/// The binary with metrics on: the console's line follows the listening line; page loads, refused
/// ones included, neither count as calls nor log `call failed`; gRPC-Web calls do both.
async fn page_loads_leave_no_call_behind(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let mut served =
        serve_with_env(&database.url, &[("TALLY_METRICS_LISTEN", "127.0.0.1:0")]).await;
    let mut printed = Vec::new();
    for _ in 0..3 {
        printed.push(served.stdout_line().await);
    }
    let secret = key_after(&printed, "secret key");
    let address = served.address().to_owned();
    let console = served
        .logged(&format!("console at http://{address}/"))
        .expect("the console's address is logged");
    assert_eq!(console["url"], format!("http://{address}/"));
    let metrics_address = served
        .logged("metrics at /metrics")
        .and_then(|fields| fields["address"].as_str().map(str::to_owned))
        .expect("the metrics address is logged");

    let browser = reqwest::Client::new();
    for path in ["/", "/customers/acme", "/assets/app.js", "/assets/nope.js"] {
        browser
            .get(format!("http://{address}{path}"))
            .send()
            .await
            .expect("answered");
    }
    let posted = browser
        .post(format!("http://{address}/"))
        .send()
        .await
        .expect("answered");
    assert_eq!(posted.status(), StatusCode::METHOD_NOT_ALLOWED);
    let path = "/tally.v1.Budgets/ListBudgets";
    let request = ListBudgetsRequest::default();
    assert_eq!(
        grpc_web(&address, path, Some(&secret), &request)
            .await
            .code(),
        0
    );
    assert_eq!(grpc_web(&address, path, None, &request).await.code(), 16);

    // A call is counted as its response ends; wait for both, then check nothing else was counted.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let counted = loop {
        let counted = counted_calls(&metrics_address).await;
        if counted.len() >= 2 || tokio::time::Instant::now() > deadline {
            break counted;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(
        counted.len(),
        2,
        "only the two gRPC-Web calls: {counted:#?}"
    );
    for (code, line) in ["0", "16"].iter().zip(&counted) {
        assert!(
            line.contains("rpc_service=\"tally.v1.Budgets\"")
                && line.contains("rpc_method=\"ListBudgets\"")
                && line.contains(&format!("rpc_grpc_status_code=\"{code}\""))
                && line.ends_with(" 1"),
            "{counted:#?}"
        );
    }

    let (_, stderr) = served.stop_with(Signal::SIGTERM).await;
    let failed: Vec<&String> = stderr
        .iter()
        .filter(|line| line.contains("call failed"))
        .collect();
    assert_eq!(failed.len(), 1, "only the call with no key: {failed:#?}");
    assert!(
        failed[0].contains("UNAUTHENTICATED") && failed[0].contains("tally.v1.Budgets/ListBudgets"),
        "{failed:#?}"
    );
}

/// The `rpc.server.call.duration` count series with a count above zero, ordered by status code.
async fn counted_calls(metrics_address: &str) -> Vec<String> {
    let text = reqwest::get(format!("http://{metrics_address}/metrics"))
        .await
        .expect("the endpoint answers")
        .text()
        .await
        .expect("a body");
    let mut counted: Vec<String> = text
        .lines()
        .filter(|line| line.starts_with("rpc_server_call_duration_seconds_count"))
        .filter(|line| !line.ends_with(" 0"))
        .map(str::to_owned)
        .collect();
    counted.sort_by_key(|line| line.contains("rpc_grpc_status_code=\"16\""));
    counted
}

/// `TALLY_NO_CONSOLE` (as the chart could set it): no page and no console line, gRPC-Web still on.
async fn no_console_leaves_grpc_web_on(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let mut served = serve_with_env(&database.url, &[("TALLY_NO_CONSOLE", "true")]).await;
    let mut printed = Vec::new();
    for _ in 0..3 {
        printed.push(served.stdout_line().await);
    }
    let secret = key_after(&printed, "secret key");
    let address = served.address().to_owned();
    assert!(
        served
            .logged(&format!("console at http://{address}/"))
            .is_none()
    );

    let page = reqwest::get(format!("http://{address}/"))
        .await
        .expect("answered");
    assert_ne!(page.status(), StatusCode::OK);
    assert!(
        page.headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .is_none()
    );
    let listed = grpc_web(
        &address,
        "/tally.v1.Budgets/ListBudgets",
        Some(&secret),
        &ListBudgetsRequest::default(),
    )
    .await;
    assert_eq!(listed.code(), 0, "{listed:?}");
    served.stop_with(Signal::SIGTERM).await;

    // And on by default, as the first start's line says.
    let served = serve(&database.url).await;
    assert!(
        served
            .logged(&format!("console at http://{}/", served.address()))
            .is_some()
    );
    served.kill_now().await;
}

/// Over TLS, tonic offers only HTTP/2 in ALPN, which every browser accepts there: the page and
/// gRPC-Web both come over HTTP/2.
async fn over_tls_the_console_comes_over_http2(backend: Backend) {
    let pki = Pki::new();
    let app = tls_app(backend, pki.files(false)).await;
    let channel = connect(&app, &pki.ca_pem, None)
        .await
        .expect("TLS connects");
    let send = |request: http::Request<tonic::body::Body>| {
        let channel = channel.clone();
        async move {
            let response = channel.oneshot(request).await.expect("answered");
            let (parts, body) = response.into_parts();
            let body = body.collect().await.expect("body").to_bytes();
            (parts, body)
        }
    };

    let (page, body) = send(
        http::Request::get(format!("https://{}/customers/acme", app.address))
            .body(tonic::body::Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(page.version, http::Version::HTTP_2);
    assert_eq!(page.status, StatusCode::OK);
    assert_hardened(&page.headers);
    assert_eq!(body, dist("index.html"));

    assert_eq!(
        serving(channel.clone()).await.expect("health over TLS"),
        ServingStatus::Serving
    );
    let db = app.database.connect().await;
    let secret = create_key(&db, "test", ApiKeyKind::Secret).await;
    db.close().await.ok();
    let (call, body) = send(
        http::Request::post(format!(
            "https://{}/tally.v1.Budgets/ListBudgets",
            app.address
        ))
        .header(header::CONTENT_TYPE, "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .header(header::AUTHORIZATION, format!("Bearer {secret}"))
        .body(tonic::body::Body::new(http_body_util::Full::new(
            Bytes::from(web_frame(&ListBudgetsRequest::default())),
        )))
        .expect("request"),
    )
    .await;
    let answer = WebAnswer::read(call.status, call.headers, body);
    assert_eq!(answer.code(), 0, "{answer:?}");
}

crate::on_both_databases!(
    the_console_loads_at_every_route,
    grpc_web_calls_meet_the_same_services_and_key_checks,
    page_loads_leave_no_call_behind,
    no_console_leaves_grpc_web_on,
    over_tls_the_console_comes_over_http2,
);
