//! The Prometheus endpoint of `serve --metrics-listen`: `GET /metrics` in the text exposition
//! format, on its own port so that the gRPC port stays gRPC only and the scrape needs no key.

use anyhow::Context as _;
use axum::{Router, http::header, response::IntoResponse, routing::get};
use prometheus::{Encoder as _, TextEncoder};
use tokio::{net::TcpListener, task::JoinHandle};

/// A bound metrics listener, not yet serving.
pub struct MetricsEndpoint {
    listener: TcpListener,
    registry: &'static prometheus::Registry,
}

impl MetricsEndpoint {
    /// Binds `address`; fails at once, naming it, when it is taken or metrics were not set up.
    pub async fn bind(address: std::net::SocketAddr) -> anyhow::Result<Self> {
        let registry = super::prometheus_registry().context(
            "metrics were not set up for Prometheus (telemetry::init with prometheus: true)",
        )?;
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen for metrics on {address}"))?;
        Ok(Self { listener, registry })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the task is aborted.
    pub fn spawn(self) -> JoinHandle<()> {
        let registry = self.registry;
        let router = Router::new().route("/metrics", get(move || async move { render(registry) }));
        tokio::spawn(async move {
            if let Err(error) = axum::serve(self.listener, router).await {
                tracing::error!(%error, "the metrics endpoint stopped");
            }
        })
    }
}

fn render(registry: &prometheus::Registry) -> impl IntoResponse {
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    if let Err(error) = encoder.encode(&registry.gather(), &mut body) {
        tracing::error!(%error, "cannot encode the metrics");
        return (
            http::StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            b"cannot encode the metrics\n".to_vec(),
        );
    }
    (
        http::StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
