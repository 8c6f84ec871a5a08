//! Traces: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, every call becomes a span exported over OTLP/gRPC,
//! continuing the caller's W3C trace context. (With it unset, `cli.rs` shows a clean run.)

use nix::sys::signal::Signal;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
    trace_service_server::{TraceService, TraceServiceServer},
};
use tally::pb::ListBudgetsRequest;
use tokio::sync::mpsc;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status, metadata::MetadataValue};

use crate::{
    cli::{key_after, serve_with_env},
    helpers::{Backend, TestDatabase},
};

/// An OTLP collector that hands over what it receives.
struct Collector(mpsc::UnboundedSender<ExportTraceServiceRequest>);

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
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(Collector(sender)))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );

    let database = TestDatabase::create(backend).await;
    let endpoint = format!("http://{collector_address}");
    let mut served = serve_with_env(
        &database.url,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SERVICE_NAME", "tally-under-test"),
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
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

crate::on_both_databases!(calls_are_exported_as_spans);
