//! The browser console on the gRPC port: the files of `console/dist/`, built into the binary, for
//! every request that is not gRPC or gRPC-Web (a content type that does not start
//! `application/grpc`). gRPC and gRPC-Web pass on, so the console's calls meet the same layers
//! (observe, auth, framing) as any other client's; a page load leaves no span, metric or log line.
//!
//! `/assets/NAME` is that file, or 404. Any other path whose last segment has no dot is
//! `index.html`: the console routes by path, and `/runs/<id>` reloaded must load it. The rest is 404,
//! and methods other than GET and HEAD are 405.
//!
//! Every answer carries a strict Content-Security-Policy: the console loads nothing from elsewhere
//! (no CDN, no web fonts), so nothing else is allowed. File names carry no content hash, so each file
//! is revalidated on every use (`no-cache`) against its ETag, the SHA-256 the build computed: a
//! repeat visit costs round trips answered 304, not the bytes.

use std::{
    borrow::Cow,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use rust_embed::RustEmbed;
use tonic::body::Body;
use tower::{Layer, Service};

/// The built console; `debug-embed` puts the files into debug builds too, so that a test serves
/// the bytes a release serves.
#[derive(RustEmbed)]
#[folder = "console/dist/"]
struct Dist;

/// Only this origin's scripts, styles, images and fonts, calls only to this origin, and no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The page every console route loads.
const INDEX: &str = "index.html";

/// Where the page's scripts, styles and images are in `console/dist/` (and under `/` on the port).
const ASSETS: &str = "assets/";

/// Builds [`Console`] around the gRPC stack.
#[derive(Clone, Copy, Debug)]
pub struct ConsoleLayer {
    serve: bool,
}

impl ConsoleLayer {
    /// Serves the console when `serve`; otherwise every request passes on (gRPC-Web still works).
    pub fn new(serve: bool) -> Self {
        Self { serve }
    }
}

impl<S> Layer<S> for ConsoleLayer {
    type Service = Console<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Console {
            inner,
            serve: self.serve,
        }
    }
}

/// Answers the browser's page and asset loads; passes gRPC and gRPC-Web on.
#[derive(Clone, Debug)]
pub struct Console<S> {
    inner: S,
    serve: bool,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S> Service<Request<Body>> for Console<S>
where
    S: Service<Request<Body>, Response = Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if !self.serve || is_grpc(request.headers()) {
            return Box::pin(self.inner.call(request));
        }
        let response = answer(request.method(), request.uri().path(), request.headers());
        Box::pin(std::future::ready(Ok(response)))
    }
}

/// Whether the request is gRPC or gRPC-Web (`application/grpc`, `application/grpc-web+proto`, …).
fn is_grpc(headers: &HeaderMap) -> bool {
    const GRPC: &[u8] = b"application/grpc";
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.as_bytes().get(..GRPC.len()))
        .is_some_and(|start| start.eq_ignore_ascii_case(GRPC))
}

/// The console's answer to a request that is not gRPC.
fn answer(method: &Method, path: &str, headers: &HeaderMap) -> Response<Body> {
    if method != Method::GET && method != Method::HEAD {
        let mut refused = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        refused
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return refused;
    }
    let relative = path.strip_prefix('/').unwrap_or(path);
    let name = if relative.starts_with(ASSETS) {
        relative
    } else if !relative
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .contains('.')
    {
        INDEX
    } else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    let Some(file) = Dist::get(name) else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
    let mut builder = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::CACHE_CONTROL, "no-cache");
    if is_fresh(headers, &etag) {
        builder = builder.status(StatusCode::NOT_MODIFIED);
        return hardened(builder.body(Body::empty()));
    }
    let length = file.data.len();
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::new(Full::new(match file.data {
            Cow::Borrowed(bytes) => Bytes::from_static(bytes),
            Cow::Owned(bytes) => Bytes::from(bytes),
        }))
    };
    builder = builder
        .header(
            header::CONTENT_TYPE,
            content_type(file.metadata.mimetype()).as_ref(),
        )
        .header(header::CONTENT_LENGTH, length);
    hardened(builder.body(body))
}

/// The type to send: the guessed one, with the charset the build writes for text.
fn content_type(mime: &str) -> Cow<'_, str> {
    if mime.starts_with("text/") || mime == "application/javascript" || mime == "application/json" {
        Cow::Owned(format!("{mime}; charset=utf-8"))
    } else {
        Cow::Borrowed(mime)
    }
}

/// Whether the browser's copy is current: an `If-None-Match` that names `etag` (weakly, as RFC 9110
/// compares for it) or is `*`.
fn is_fresh(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

/// A short text answer (a refusal).
fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    hardened(
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Body::new(Full::new(Bytes::from_static(text.as_bytes())))),
    )
}

/// Adds the headers every console answer carries.
fn hardened(response: http::Result<Response<Body>>) -> Response<Body> {
    // Only fixed, valid header values go into the builders above.
    let mut response = response.unwrap_or_else(|_| {
        let mut failed = Response::new(Body::empty());
        *failed.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        failed
    });
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    http::HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    #[test]
    fn grpc_and_grpc_web_pass_on() {
        for grpc in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc-web",
            "application/grpc-web+proto",
            "application/grpc-web-text",
            "Application/GRPC-Web",
        ] {
            assert!(is_grpc(&headers(&[("content-type", grpc)])), "{grpc}");
        }
        assert!(!is_grpc(&headers(&[])));
        assert!(!is_grpc(&headers(&[("content-type", "application/json")])));
        assert!(!is_grpc(&headers(&[("content-type", "application/grp")])));
    }

    #[test]
    fn routes_load_the_page_and_other_files_are_not_found() {
        let get = |path| answer(&Method::GET, path, &HeaderMap::new()).status();
        assert_eq!(get("/"), StatusCode::OK);
        assert_eq!(get("/customers"), StatusCode::OK);
        assert_eq!(get("/runs/0190a1b2-c3d4"), StatusCode::OK);
        assert_eq!(get("/assets/app.js"), StatusCode::OK);
        assert_eq!(get("/assets/nope.js"), StatusCode::NOT_FOUND);
        assert_eq!(get("/assets/"), StatusCode::NOT_FOUND);
        assert_eq!(get("/favicon.ico"), StatusCode::NOT_FOUND);
        assert_eq!(get("/runs/report.csv"), StatusCode::NOT_FOUND);
        assert_eq!(
            answer(&Method::DELETE, "/", &HeaderMap::new()).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[test]
    fn a_current_copy_is_not_sent_again() {
        let etag = "\"abc\"";
        assert!(is_fresh(&headers(&[("if-none-match", "\"abc\"")]), etag));
        assert!(is_fresh(
            &headers(&[("if-none-match", "\"x\", W/\"abc\"")]),
            etag
        ));
        assert!(is_fresh(&headers(&[("if-none-match", "*")]), etag));
        assert!(!is_fresh(&headers(&[("if-none-match", "\"abd\"")]), etag));
        assert!(!is_fresh(&HeaderMap::new(), etag));
    }

    #[test]
    fn text_says_its_charset() {
        assert_eq!(content_type("text/html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("text/javascript"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("image/svg+xml"), "image/svg+xml");
    }
}
