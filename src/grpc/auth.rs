//! Authentication and the read/write rule, as a tower layer in front of every service.
//!
//! The key comes from `authorization: Bearer <key>` or `x-api-key: <key>`. No key, an unknown key or a
//! revoked key: `UNAUTHENTICATED`. A publishable key on a method that changes data:
//! `PERMISSION_DENIED`. Health and reflection need no key. The established [`Tenant`] travels to the
//! handlers in the request extensions.
//!
//! Until the database is ready, and while it is known down (the readiness watcher says so), every
//! call but health and reflection answers `UNAVAILABLE` with `RetryInfo` at once: neither the key
//! nor the call can be served without the database, and waiting for a pool connection would run
//! past the caller's deadline.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use std::sync::Arc;

use http::{HeaderMap, Request, Response};
use sea_orm::DatabaseConnection;
use tonic::{Status, body::Body};
use tower::{Layer, Service};

use super::{key_cache::KeyCache, status::storage_unavailable};
use crate::{
    domain::{api_key::PresentedKey, tenant::Tenant},
    health::DatabaseReady,
    store::{self, StoreError},
    telemetry::{call, metrics},
};

/// Path prefixes served without a key: probes and tooling must work with no secret at hand.
const PUBLIC_PREFIXES: [&str; 3] = [
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

/// Method name prefixes of the calls that only read. Every other call changes data and needs a secret
/// key; a new method is a write unless it is named like a read (safe by default).
const READ_METHOD_PREFIXES: [&str; 5] = ["Get", "List", "Check", "Quote", "Export"];

/// Whether the gRPC method at `path` (`/tally.v1.Budgets/ListBudgets`) only reads.
pub fn is_read_only(path: &str) -> bool {
    let method = path.rsplit('/').next().unwrap_or_default();
    READ_METHOD_PREFIXES
        .iter()
        .any(|prefix| method.starts_with(prefix))
}

/// Builds [`Authenticate`] around the routes.
#[derive(Clone)]
pub struct AuthLayer {
    db: DatabaseConnection,
    keys: Arc<KeyCache>,
    ready: DatabaseReady,
}

impl AuthLayer {
    /// Checks keys against `db`, keeping verified ones for `key_cache_ttl`; lets calls through only
    /// while `ready` says the database answers.
    pub fn new(
        db: DatabaseConnection,
        key_cache_ttl: std::time::Duration,
        ready: DatabaseReady,
    ) -> Self {
        Self {
            db,
            keys: Arc::new(KeyCache::new(key_cache_ttl)),
            ready,
        }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Authenticate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticate {
            inner,
            db: self.db.clone(),
            keys: self.keys.clone(),
            ready: self.ready.clone(),
        }
    }
}

/// Checks the caller's key before the call reaches its service.
#[derive(Clone)]
pub struct Authenticate<S> {
    inner: S,
    db: DatabaseConnection,
    keys: Arc<KeyCache>,
    ready: DatabaseReady,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S> Service<Request<Body>> for Authenticate<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        // The clone that was polled ready handles this call (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let path = request.uri().path();
        if PUBLIC_PREFIXES
            .iter()
            .any(|prefix| path.starts_with(prefix))
        {
            return Box::pin(inner.call(request));
        }
        if !self.ready.get() {
            let refused = storage_unavailable().into_http();
            return Box::pin(async move { Ok(refused) });
        }
        let read_only = is_read_only(path);
        let (db, keys) = (self.db.clone(), self.keys.clone());
        Box::pin(async move {
            let tenant = match authenticate(&db, &keys, request.headers()).await {
                Ok(tenant) => tenant,
                Err(status) => return Ok(status.into_http()),
            };
            call::note_project(tenant.project_id);
            if !read_only && !tenant.key_kind.can_write() {
                let status = Status::permission_denied(
                    "a publishable key can only read; use a secret key (sk_…) for this call",
                );
                return Ok(status.into_http());
            }
            request.extensions_mut().insert(tenant);
            inner.call(request).await
        })
    }
}

async fn authenticate(
    db: &DatabaseConnection,
    keys: &KeyCache,
    headers: &HeaderMap,
) -> Result<Tenant, Status> {
    let Some(text) = presented_key(headers) else {
        return Err(Status::unauthenticated(
            "missing API key: send it as the header 'authorization: Bearer sk_...' or 'x-api-key: sk_...'",
        ));
    };
    if let Some(tenant) = keys.get(text).await {
        metrics::key_lookup(true);
        return Ok(tenant);
    }
    metrics::key_lookup(false);
    let invalid = || Status::unauthenticated("invalid API key: unknown or revoked");
    let key = PresentedKey::parse(text).ok_or_else(invalid)?;
    let candidates = store::api_keys::active_candidates(db, key.prefix())
        .await
        .map_err(|error| match error {
            StoreError::Unavailable(_) => {
                tracing::warn!(%error, "api key lookup failed");
                storage_unavailable()
            }
            _ => {
                tracing::error!(%error, "api key lookup failed");
                Status::internal("internal error")
            }
        })?;
    let tenant = candidates
        .into_iter()
        .find(|candidate| key.matches(&candidate.digest))
        .map(|candidate| Tenant {
            project_id: candidate.project_id,
            key_id: candidate.id,
            key_kind: candidate.kind,
        })
        .ok_or_else(invalid)?;
    keys.insert(text, &tenant).await;
    Ok(tenant)
}

/// The key text from `authorization: Bearer …` (scheme case-insensitive) or `x-api-key`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, key) = value.trim().split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| key.trim());
    }
    headers
        .get("x-api-key")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_named_like_reads() {
        assert!(is_read_only("/tally.v1.Budgets/ListBudgets"));
        assert!(is_read_only("/tally.v1.Budgets/CheckBudget"));
        assert!(is_read_only("/tally.v1.Reports/ExportEvents"));
        assert!(!is_read_only("/tally.v1.Budgets/CreateBudget"));
        assert!(!is_read_only("/tally.v1.Ingest/RecordBatch"));
        assert!(!is_read_only("/tally.v1.Pricing/MapModel"));
    }

    #[test]
    fn finds_the_key_in_either_header() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "bearer sk_abc".parse().unwrap());
        assert_eq!(presented_key(&headers), Some("sk_abc"));
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", " pk_abc ".parse().unwrap());
        assert_eq!(presented_key(&headers), Some("pk_abc"));
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Basic dXNlcg==".parse().unwrap());
        assert_eq!(presented_key(&headers), None);
    }
}
