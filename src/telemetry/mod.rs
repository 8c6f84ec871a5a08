//! Logs through `tracing` (text or JSON); when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, OpenTelemetry
//! traces and metrics exported over OTLP/gRPC; and, for `serve --metrics-listen`, the same metrics
//! read by a Prometheus registry. With no endpoint nothing is exported and nothing complains.

pub mod call;
pub mod endpoint;
pub mod gauges;
pub mod metrics;
pub mod statements;

use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::{
    Resource,
    metrics::SdkMeterProvider,
    propagation::TraceContextPropagator,
    trace::{SdkTracer, SdkTracerProvider},
};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

use crate::config::LogFormat;

/// The tracer of the spans made outside `tracing` (database statements), when traces are exported.
static TRACER: OnceLock<SdkTracer> = OnceLock::new();
/// The registry the metrics endpoint serves, when one was asked for.
static PROMETHEUS: OnceLock<prometheus::Registry> = OnceLock::new();
/// Whether anything reads the metrics (a meter provider was installed).
static METRICS_ON: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Which metrics the process keeps.
#[derive(Clone, Copy, Debug, Default)]
pub struct MetricsSetup {
    /// Record metrics at all (the server does; admin commands do not).
    pub enabled: bool,
    /// Keep them for a Prometheus endpoint (`serve --metrics-listen`).
    pub prometheus: bool,
}

/// Keeps the exporters alive; dropping it flushes the spans and metrics not yet sent.
#[must_use = "dropping the guard stops telemetry export"]
pub struct TelemetryGuard {
    traces: Option<SdkTracerProvider>,
    metrics: Option<SdkMeterProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.traces.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("tally: trace exporter did not shut down cleanly: {error}");
        }
        if let Some(provider) = self.metrics.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("tally: metric exporter did not shut down cleanly: {error}");
        }
    }
}

/// Installs the global subscriber and meter provider. `RUST_LOG` filters (default `info`).
pub fn init(format: LogFormat, metrics: MetricsSetup) -> anyhow::Result<TelemetryGuard> {
    // OpenTelemetry's own info lines ("Global meter provider is set") say nothing to an operator.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,opentelemetry=warn,opentelemetry_sdk=warn"));
    let fmt_layer = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let traces = otlp_traces()?;
    let otel_layer = traces.as_ref().map(|provider| {
        let tracer = provider.tracer("tally");
        let _ = TRACER.set(tracer.clone());
        tracing_opentelemetry::layer().with_tracer(tracer)
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(otel_layer)
        .try_init()?;
    let metrics = meter_provider(metrics)?;
    if let Some(provider) = &metrics {
        opentelemetry::global::set_meter_provider(provider.clone());
        METRICS_ON.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(TelemetryGuard { traces, metrics })
}

/// Whether metrics are read (Prometheus or OTLP): work done only for them can be skipped if not.
pub fn metrics_enabled() -> bool {
    METRICS_ON.load(std::sync::atomic::Ordering::Relaxed)
}

/// The tracer for spans made by hand, when traces are exported.
pub(crate) fn tracer() -> Option<&'static SdkTracer> {
    TRACER.get()
}

/// The registry of the metrics endpoint, when [`init`] was asked for one.
pub fn prometheus_registry() -> Option<&'static prometheus::Registry> {
    PROMETHEUS.get()
}

fn configured(names: [&str; 2]) -> bool {
    names
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|value| !value.trim().is_empty()))
}

/// `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` are read by the default resource detectors.
fn resource() -> Resource {
    match std::env::var("OTEL_SERVICE_NAME") {
        Ok(_) => Resource::builder().build(),
        Err(_) => Resource::builder().with_service_name("tally").build(),
    }
}

/// Builds the OTLP trace exporter when an endpoint is configured through the standard `OTEL_*`
/// variables.
fn otlp_traces() -> anyhow::Result<Option<SdkTracerProvider>> {
    if !configured([
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]) {
        return Ok(None);
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource())
        .build();
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    Ok(Some(provider))
}

/// Builds the meter provider with a reader per destination: the Prometheus registry, and an OTLP
/// exporter every `OTEL_METRIC_EXPORT_INTERVAL` (default 60 s) when an endpoint is configured.
fn meter_provider(setup: MetricsSetup) -> anyhow::Result<Option<SdkMeterProvider>> {
    let otlp = configured([
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    ]);
    if !setup.enabled || !(otlp || setup.prometheus) {
        return Ok(None);
    }
    let mut builder = SdkMeterProvider::builder().with_resource(resource());
    if setup.prometheus {
        let registry = prometheus::Registry::new();
        let reader = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .scope_info_enabled(false)
            .build()?;
        builder = builder.with_reader(reader);
        let _ = PROMETHEUS.set(registry);
    }
    if otlp {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .build()?;
        builder = builder.with_periodic_exporter(exporter);
    }
    Ok(Some(builder.build()))
}
