//! Traces and metrics: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, every call becomes a span exported
//! over OTLP/gRPC, continuing the caller's W3C trace context, with its database statements as child
//! spans and, when it fails, an error status; the metrics go to the same collector. (With it unset,
//! `cli.rs` shows a clean run.)

use nix::sys::signal::Signal;
use opentelemetry_proto::tonic::{
    collector::{
        metrics::v1::{
            ExportMetricsServiceRequest, ExportMetricsServiceResponse,
            metrics_service_server::{MetricsService, MetricsServiceServer},
        },
        trace::v1::{
            ExportTraceServiceRequest, ExportTraceServiceResponse,
            trace_service_server::{TraceService, TraceServiceServer},
        },
    },
    common::v1::{AnyValue, KeyValue, any_value::Value},
    trace::v1::{Span, status::StatusCode},
};
use tally::pb::{ListBudgetsRequest, budgets_client::BudgetsClient};
use tokio::sync::mpsc;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status, metadata::MetadataValue};

use crate::{
    cli::{key_after, serve_with_env},
    helpers::{Backend, TestDatabase},
};

/// An OTLP collector that hands over what it receives.
struct Collector(mpsc::UnboundedSender<ExportTraceServiceRequest>);

/// The metrics side of the collector: hands over the names of the metrics it receives.
struct MetricsCollector(mpsc::UnboundedSender<Vec<String>>);

#[tonic::async_trait]
impl MetricsService for MetricsCollector {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let names = request
            .into_inner()
            .resource_metrics
            .into_iter()
            .flat_map(|resource| resource.scope_metrics)
            .flat_map(|scope| scope.metrics)
            .map(|metric| metric.name)
            .collect();
        let _ = self.0.send(names);
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let _ = self.0.send(request.into_inner());
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

async fn calls_are_exported_as_spans(backend: Backend) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let collector_address = listener.local_addr().expect("address");
    let (sender, mut received) = mpsc::unbounded_channel();
    let (metric_sender, mut metric_names) = mpsc::unbounded_channel();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(sender)))
            .add_service(MetricsServiceServer::new(MetricsCollector(metric_sender)))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );

    let database = TestDatabase::create(backend).await;
    let endpoint = format!("http://{collector_address}");
    let mut served = serve_with_env(
        &database.url,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SERVICE_NAME", "tally-under-test"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
        ],
    )
    .await;
    let mut printed = Vec::new();
    for _ in 0..3 {
        printed.push(served.stdout_line().await);
    }
    let secret = key_after(&printed, "secret key");

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut request = Request::new(ListBudgetsRequest::default());
    request.metadata_mut().insert(
        "traceparent",
        MetadataValue::try_from(format!("00-{trace_id}-00f067aa0ba902b7-01")).expect("ascii"),
    );
    served
        .budgets(&secret)
        .list_budgets(request)
        .await
        .expect("call");
    let refused = BudgetsClient::new(served.channel())
        .list_budgets(ListBudgetsRequest::default())
        .await
        .expect_err("a call with no key is refused");
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    // The metrics reach the collector too, every 200 ms.
    let exported = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(names) = metric_names.recv().await {
            if names.iter().any(|name| name == "rpc.server.call.duration") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(exported, Ok(true), "no rpc.server.call.duration over OTLP");
    // Stopping flushes the exporter.
    served.stop_with(Signal::SIGTERM).await;

    let mut spans = Vec::new();
    while let Ok(export) = received.try_recv() {
        for resource_spans in export.resource_spans {
            let service_name = resource_spans
                .resource
                .iter()
                .flat_map(|resource| resource.attributes.iter())
                .find(|attribute| attribute.key == "service.name")
                .and_then(|attribute| attribute.value.as_ref())
                .map(|value| format!("{value:?}"))
                .unwrap_or_default();
            assert!(service_name.contains("tally-under-test"), "{service_name}");
            for scope_spans in resource_spans.scope_spans {
                spans.extend(scope_spans.spans);
            }
        }
    }
    let call = spans
        .iter()
        .find(|span| span.name == "tally.v1.Budgets/ListBudgets")
        .unwrap_or_else(|| {
            panic!(
                "no span for the call among {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        });
    assert_eq!(
        hex(&call.trace_id),
        trace_id,
        "the caller's trace continues"
    );
    assert!(
        call.attributes
            .iter()
            .any(|attribute| attribute.key == "rpc.system"),
        "{:?}",
        call.attributes
    );
    let ok = call.status.as_ref().map_or(0, |status| status.code);
    assert_ne!(
        ok,
        StatusCode::Error as i32,
        "a call that succeeded is no error"
    );
    assert_eq!(
        attribute(call, "rpc.grpc.status_code"),
        Some(Value::IntValue(0))
    );

    // Its statements are in its trace (under the handler's span); those after the key's lookup
    // carry the project.
    let statements: Vec<&Span> = spans
        .iter()
        .filter(|span| span.trace_id == call.trace_id)
        .filter(|span| attribute(span, "db.system.name").is_some())
        .filter(|span| {
            !matches!(attribute(span, "db.query.text"), Some(Value::StringValue(ref text)) if text.contains("api_keys"))
        })
        .collect();
    assert!(
        !statements.is_empty(),
        "no statement spans under the call: {:#?}",
        spans
            .iter()
            .map(|span| (
                &span.name,
                hex(&span.span_id),
                hex(&span.parent_span_id),
                attribute(span, "db.query.text")
            ))
            .collect::<Vec<_>>()
    );
    for statement in &statements {
        assert!(
            matches!(attribute(statement, "tally.project"), Some(Value::StringValue(ref project)) if !project.is_empty()),
            "{:?}",
            statement.attributes
        );
        assert!(attribute(statement, "db.query.text").is_some());
    }

    // The refused call's span says it failed, and how.
    let refused = spans
        .iter()
        .filter(|span| span.name == "tally.v1.Budgets/ListBudgets")
        .find(|span| hex(&span.trace_id) != trace_id)
        .expect("a span for the refused call");
    let status = refused.status.as_ref().expect("a status");
    assert_eq!(status.code, StatusCode::Error as i32);
    assert!(status.message.contains("missing API key"), "{status:?}");
    assert_eq!(
        attribute(refused, "rpc.grpc.status_code"),
        Some(Value::IntValue(16))
    );
}

/// The value of a span's attribute.
fn attribute(span: &Span, key: &str) -> Option<Value> {
    span.attributes
        .iter()
        .find(|attribute: &&KeyValue| attribute.key == key)
        .and_then(|attribute| attribute.value.clone())
        .and_then(|value: AnyValue| value.value)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

crate::on_both_databases!(calls_are_exported_as_spans);
