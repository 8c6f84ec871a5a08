//! What every call leaves behind, as the outermost layer: a span named after its method that
//! continues the caller's W3C trace context and lasts until the last response byte; the call in
//! `rpc.server.call.duration` by service, method and code; and, when it fails, the error status
//! and `rpc.grpc.status_code` on its span and one log line (warn; error for faults of ours).
//!
//! Every code but OK marks the span as an error, refusals (`UNAUTHENTICATED`, `INVALID_ARGUMENT`)
//! included: the semantic conventions leave those unmarked on server spans, but an operator
//! looking for the calls that failed wants to find them there too.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Frame, SizeHint};
use opentelemetry::{KeyValue, propagation::Extractor};
use tonic::{Code, Status, body::Body};
use tower::{Layer, Service};
use tracing::{Instrument as _, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::telemetry::{call::CallProject, metrics::instruments};

/// Builds [`Observed`] around the routes.
#[derive(Clone, Copy, Debug, Default)]
pub struct ObserveLayer;

impl<S> Layer<S> for ObserveLayer {
    type Service = Observed<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observed { inner }
    }
}

/// Observes each call of the service it wraps.
#[derive(Clone)]
pub struct Observed<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, B> Service<Request<B>> for Observed<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let call = Call::start(&request);
        let response = call
            .span
            .in_scope(|| call.project.sync_scope(|| self.inner.call(request)));
        let response = call
            .project
            .clone()
            .scope(response)
            .instrument(call.span.clone());
        Box::pin(async move {
            let response = match response.await {
                Ok(response) => response,
                Err(error) => {
                    call.finish(Code::Unknown, "the transport failed");
                    return Err(error);
                }
            };
            // Refusals (no key, a wrong key) answer with the status in the headers and no body.
            if let Some(status) = Status::from_header_map(response.headers()) {
                call.finish(status.code(), status.message());
                return Ok(response);
            }
            Ok(response.map(|body| {
                Body::new(ObservedBody {
                    body,
                    call: Some(call),
                })
            }))
        })
    }
}

/// One call being served.
struct Call {
    /// A health probe: measured, but neither traced nor logged.
    probe: bool,
    service: String,
    method: String,
    span: tracing::Span,
    project: CallProject,
    started: Instant,
}

impl Call {
    fn start<B>(request: &Request<B>) -> Self {
        let path = request.uri().path().trim_start_matches('/');
        let (service, method) = path.split_once('/').unwrap_or((path, ""));
        let probe = service.starts_with("grpc.health.");
        let span = if probe {
            // Probes every few seconds would drown the traces that matter.
            tracing::Span::none()
        } else {
            tracing::info_span!(
                "grpc",
                otel.name = %path,
                otel.kind = "server",
                otel.status_description = Empty,
                rpc.system = "grpc",
                rpc.service = %service,
                rpc.method = %method,
                rpc.grpc.status_code = Empty,
                tally.project = Empty,
            )
        };
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&HeaderExtractor(request.headers()))
        });
        let _ = span.set_parent(parent);
        Self {
            probe,
            service: service.to_owned(),
            method: method.to_owned(),
            span,
            project: CallProject::default(),
            started: Instant::now(),
        }
    }

    fn finish(&self, code: Code, message: &str) {
        let code_number = i64::from(i32::from(code));
        instruments().rpc_duration.record(
            self.started.elapsed().as_secs_f64(),
            &[
                KeyValue::new("rpc.system", "grpc"),
                KeyValue::new("rpc.service", self.service.clone()),
                KeyValue::new("rpc.method", self.method.clone()),
                KeyValue::new("rpc.grpc.status_code", code_number),
            ],
        );
        let project = self.project.get();
        self.span.record("rpc.grpc.status_code", code_number);
        if let Some(project) = project {
            self.span.record("tally.project", project.to_string());
        }
        if code == Code::Ok || self.probe {
            return;
        }
        // The description alone sets an error status (and a second error status would not replace
        // the first's empty description).
        self.span.record("otel.status_description", message);
        let method = format!("{}/{}", self.service, self.method);
        let project = project.map(|project| project.to_string());
        let project = project.as_deref().unwrap_or("-");
        let code = code_name(code);
        let _entered = self.span.enter();
        if is_fault(code) {
            tracing::error!(code, method, project, detail = message, "call failed");
        } else {
            tracing::warn!(code, method, project, detail = message, "call failed");
        }
    }
}

/// Whether a code says the server failed (rather than refused the call or lost the caller).
fn is_fault(code: &str) -> bool {
    matches!(code, "INTERNAL" | "UNKNOWN" | "DATA_LOSS")
}

/// The canonical name of a code, as gRPC's documentation and other servers' logs spell it.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A response body that finishes its call at the status in its trailers, or as cancelled when
/// it is dropped before them (the caller went away).
struct ObservedBody {
    body: Body,
    call: Option<Call>,
}

impl ObservedBody {
    fn finish(&mut self, code: Code, message: &str) {
        if let Some(call) = self.call.take() {
            call.finish(code, message);
        }
    }
}

impl http_body::Body for ObservedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        // A streamed response does its work here: its statements belong to the call too.
        let polled = match &this.call {
            Some(call) => {
                let _entered = call.span.enter();
                call.project
                    .sync_scope(|| Pin::new(&mut this.body).poll_frame(cx))
            }
            None => Pin::new(&mut this.body).poll_frame(cx),
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(status) = frame.trailers_ref().and_then(Status::from_header_map) {
                    this.finish(status.code(), status.message());
                }
            }
            Poll::Ready(Some(Err(status))) => this.finish(status.code(), status.message()),
            Poll::Ready(None) => this.finish(Code::Unknown, "the response ended without a status"),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for ObservedBody {
    fn drop(&mut self) {
        self.finish(
            Code::Cancelled,
            "the caller went away before the response ended",
        );
    }
}

/// Reads W3C trace context from request headers.
struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_codes_as_grpc_does() {
        assert_eq!(code_name(Code::InvalidArgument), "INVALID_ARGUMENT");
        assert_eq!(code_name(Code::Unauthenticated), "UNAUTHENTICATED");
        assert!(is_fault(code_name(Code::Internal)));
        assert!(!is_fault(code_name(Code::NotFound)));
    }
}
