//! Metrics: `serve --metrics-listen` serves Prometheus text at `/metrics`; after a known workload
//! the request histograms, event counters and the rest hold exactly what the workload did.

use std::collections::BTreeMap;

use nix::sys::signal::Signal;
use tally::pb::{
    CheckBudgetRequest, CreateBudgetRequest, GetMarginRequest, ListBudgetsRequest,
    RecordBatchRequest, budgets_client::BudgetsClient, ingest_client::IngestClient,
    reports_client::ReportsClient,
};
use tonic::Code;

use crate::{
    cli::{key_after, serve_with_env},
    fixtures::EventRecordBuilder,
    helpers::{ApiKey, Backend, TestDatabase},
};

/// One scrape: each series (`name{labels}`, labels as written) and its value.
struct Scrape(BTreeMap<String, f64>);

impl Scrape {
    async fn of(address: &str) -> Self {
        let text = reqwest::get(format!("http://{address}/metrics"))
            .await
            .expect("the endpoint answers")
            .error_for_status()
            .expect("200")
            .text()
            .await
            .expect("a body");
        let series = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').expect("`series value`");
                (series.to_owned(), value.parse().expect("a number"))
            })
            .collect();
        Self(series)
    }

    /// The sum over the series named `name` whose labels include every one of `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .iter()
            .filter(|(series, _)| {
                let (series_name, series_labels) =
                    series.split_once('{').unwrap_or((series.as_str(), ""));
                series_name == name
                    && labels
                        .iter()
                        .all(|(key, value)| series_labels.contains(&format!("{key}=\"{value}\"")))
            })
            .map(|(_, value)| value)
            .sum()
    }
}

/// The start of the current UTC hour plus `hours` hours.
fn an_hour_from_now(hours: i64) -> prost_types::Timestamp {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let hour = i64::try_from(now - now % 3600).expect("fits");
    prost_types::Timestamp {
        seconds: hour + 3600 * hours,
        nanos: 0,
    }
}

fn call(method: &str, code: Code) -> Vec<(&str, &str)> {
    let code: &'static str = match code {
        Code::Ok => "0",
        Code::InvalidArgument => "3",
        Code::Unauthenticated => "16",
        other => panic!("no label for {other:?}"),
    };
    let (service, method) = method.split_once('/').expect("service/method");
    vec![
        ("rpc_system", "grpc"),
        ("rpc_service", service),
        ("rpc_method", method),
        ("rpc_grpc_status_code", code),
    ]
}

async fn the_endpoint_counts_a_known_workload(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let mut served =
        serve_with_env(&database.url, &[("TALLY_METRICS_LISTEN", "127.0.0.1:0")]).await;
    let mut printed = Vec::new();
    for _ in 0..3 {
        printed.push(served.stdout_line().await);
    }
    let secret = key_after(&printed, "secret key");
    let publishable = key_after(&printed, "publishable key");
    let metrics_address = served
        .logged("metrics at /metrics")
        .and_then(|fields| fields["address"].as_str().map(str::to_owned))
        .expect("the metrics address is logged");

    let mut ingest = IngestClient::with_interceptor(served.channel(), ApiKey::bearer(&secret));
    // Batch one: three priced calls, one of a model the catalog lacks, one with no customer.
    let mut first = vec![
        EventRecordBuilder::new().key("a").build(),
        EventRecordBuilder::new().key("b").build(),
        EventRecordBuilder::new().key("c").build(),
        EventRecordBuilder::new()
            .key("d")
            .model("openai", "no-such-model-anywhere")
            .build(),
    ];
    let mut no_customer = EventRecordBuilder::new().key("e").build();
    no_customer.customer = None;
    first.push(no_customer);
    let answered = ingest
        .record_batch(RecordBatchRequest { records: first })
        .await
        .expect("batch one")
        .into_inner();
    assert_eq!(answered.results.len(), 5);
    // Batch two: "a" again, a duplicate.
    ingest
        .record_batch(RecordBatchRequest {
            records: vec![EventRecordBuilder::new().key("a").build()],
        })
        .await
        .expect("batch two");

    let mut budgets = served.budgets(&secret);
    for _ in 0..2 {
        budgets
            .list_budgets(ListBudgetsRequest::default())
            .await
            .expect("list");
    }
    let check = budgets
        .check_budget(CheckBudgetRequest {
            customer_id: "acme".into(),
            agent_code: "writer".into(),
            estimated_cost_usd: "0.001".into(),
            ..Default::default()
        })
        .await
        .expect("check")
        .into_inner();
    assert!(check.allowed);
    let refused = BudgetsClient::new(served.channel())
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect_err("no key");
    assert_eq!(refused.code(), Code::Unauthenticated);
    let denied = served
        .budgets(&publishable)
        .create_budget(CreateBudgetRequest::default())
        .await
        .expect_err("a publishable key cannot write");
    assert_eq!(denied.code(), Code::PermissionDenied);
    // A read of the totals folds what is queued (PostgreSQL).
    ReportsClient::with_interceptor(served.channel(), ApiKey::bearer(&secret))
        .get_margin(GetMarginRequest {
            start_time: Some(an_hour_from_now(-1)),
            end_time: Some(an_hour_from_now(2)),
            ..Default::default()
        })
        .await
        .expect("margin");

    let scrape = Scrape::of(&metrics_address).await;
    let calls = |method: &str, code: Code| {
        scrape.sum(
            "rpc_server_call_duration_seconds_count",
            &call(method, code),
        )
    };
    assert_eq!(calls("tally.v1.Ingest/RecordBatch", Code::Ok), 2.0);
    assert_eq!(calls("tally.v1.Budgets/ListBudgets", Code::Ok), 2.0);
    assert_eq!(calls("tally.v1.Budgets/CheckBudget", Code::Ok), 1.0);
    assert_eq!(
        calls("tally.v1.Budgets/ListBudgets", Code::Unauthenticated),
        1.0
    );
    assert_eq!(calls("tally.v1.Reports/GetMargin", Code::Ok), 1.0);
    // The histogram's buckets: every call is in the last one.
    let mut all_buckets = call("tally.v1.Budgets/ListBudgets", Code::Ok);
    all_buckets.push(("le", "+Inf"));
    assert_eq!(
        scrape.sum("rpc_server_call_duration_seconds_bucket", &all_buckets),
        2.0
    );
    assert!(
        scrape.sum(
            "rpc_server_call_duration_seconds_sum",
            &call("tally.v1.Budgets/ListBudgets", Code::Ok)
        ) > 0.0
    );

    let events = |status: &str| scrape.sum("tally_events_recorded_total", &[("status", status)]);
    assert_eq!(events("processed"), 3.0);
    assert_eq!(events("needs_cost_backfill"), 1.0);
    assert_eq!(events("invalid"), 1.0);
    assert_eq!(events("duplicate"), 1.0);
    assert_eq!(events("failed"), 0.0);
    assert_eq!(scrape.sum("tally_ingest_batch_size_count", &[]), 2.0);
    assert_eq!(scrape.sum("tally_ingest_batch_size_sum", &[]), 6.0);
    assert_eq!(
        scrape.sum(
            "tally_budget_checks_total",
            &[("outcome", "allowed"), ("hold", "false")]
        ),
        1.0
    );
    assert_eq!(
        scrape.sum("tally_budget_checks_total", &[("outcome", "denied")]),
        0.0
    );
    // Six calls carried the secret key: the first asked the database, the rest found it cached;
    // the one call with the publishable key asked the database.
    assert_eq!(
        scrape.sum("tally_auth_key_cache_lookups_total", &[("result", "miss")]),
        2.0
    );
    assert_eq!(
        scrape.sum("tally_auth_key_cache_lookups_total", &[("result", "hit")]),
        5.0
    );
    assert!(
        scrape.sum(
            "db_client_operation_duration_seconds_count",
            &[("db_operation_name", "SELECT")]
        ) > 0.0
    );
    let max_connections = if backend == Backend::Postgres {
        16.0
    } else {
        4.0
    };
    assert_eq!(scrape.sum("db_client_connection_max", &[]), max_connections);
    assert!(scrape.sum("db_client_connection_wait_time_seconds_count", &[]) >= 1.0);
    assert!(scrape.sum("tally_ingest_group_size_count", &[]) >= 1.0);
    assert!(scrape.sum("tally_ingest_write_duration_seconds_count", &[]) >= 1.0);
    if backend == Backend::Postgres {
        // The four events stored new were queued and folded, once each.
        assert_eq!(scrape.sum("tally_fold_events_total", &[]), 4.0);
        assert_eq!(scrape.sum("tally_fold_lag", &[]), 0.0);
    }

    // The parked event is counted for its gauge within one refresh (10 s).
    let parked = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let scrape = Scrape::of(&metrics_address).await;
            let parked = |status: &str| scrape.sum("tally_events_parked", &[("status", status)]);
            if parked("needs_cost_backfill") == 1.0 {
                return parked("missing_volume_data");
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    })
    .await;
    assert_eq!(
        parked,
        Ok(0.0),
        "one event parked for a price, none for a volume"
    );

    // Each failed call wrote one log line: code, method, project (once known), no key.
    let (_, logged) = served.stop_with(Signal::SIGTERM).await;
    let failures: Vec<serde_json::Value> = logged
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event["fields"]["message"] == "call failed")
        .collect();
    assert_eq!(failures.len(), 2, "{logged:#?}");
    let unauthenticated = &failures[0];
    assert_eq!(unauthenticated["level"], "WARN");
    assert_eq!(unauthenticated["fields"]["code"], "UNAUTHENTICATED");
    assert_eq!(
        unauthenticated["fields"]["method"],
        "tally.v1.Budgets/ListBudgets"
    );
    assert_eq!(unauthenticated["fields"]["project"], "-");
    let permission = &failures[1];
    assert_eq!(permission["fields"]["code"], "PERMISSION_DENIED");
    assert_eq!(
        permission["fields"]["method"],
        "tally.v1.Budgets/CreateBudget"
    );
    let project = permission["fields"]["project"].as_str().unwrap_or_default();
    assert_eq!(project.len(), 36, "the project's id: {permission}");
    assert!(
        !logged
            .iter()
            .any(|line| line.contains(&secret) || line.contains(&publishable)),
        "a key was logged"
    );
}

crate::on_both_databases!(the_endpoint_counts_a_known_workload);
