//! Keys verified recently, so that a call does not cost a database round trip for its key: on the
//! hot path (`CheckBudget` before every step of an agent) that round trip is a quarter of the call.
//! Only keys that were valid are kept, for a short time (`--key-cache-ttl`): a revoked key stops
//! working within that time, a new key works at once, and an unknown key always asks the database.

use std::time::Duration;

use moka::future::Cache;
use sha2::{Digest, Sha256};

use crate::domain::tenant::Tenant;

/// Most keys remembered; past it the least useful are evicted (moka's TinyLFU).
const MAX_KEYS: u64 = 10_000;

/// Verified keys, by the SHA-256 of their text (the text itself is not kept).
pub struct KeyCache {
    /// `None` when the TTL is zero: every call asks the database.
    entries: Option<Cache<[u8; 32], Tenant>>,
}

impl KeyCache {
    /// A cache that keeps keys for `ttl` from their verification; zero keeps nothing.
    pub fn new(ttl: Duration) -> Self {
        let entries = (!ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(MAX_KEYS)
                .time_to_live(ttl)
                .build()
        });
        Self { entries }
    }

    /// The tenant of `key` if it was verified less than the TTL ago.
    pub async fn get(&self, key: &str) -> Option<Tenant> {
        self.entries.as_ref()?.get(&digest(key)).await
    }

    /// Remembers that `key` was just verified as `tenant`'s.
    pub async fn insert(&self, key: &str, tenant: &Tenant) {
        if let Some(entries) = &self.entries {
            entries.insert(digest(key), *tenant).await;
        }
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::domain::api_key::ApiKeyKind;

    fn tenant() -> Tenant {
        Tenant {
            project_id: Uuid::now_v7(),
            key_id: Uuid::now_v7(),
            key_kind: ApiKeyKind::Secret,
        }
    }

    #[tokio::test]
    async fn keeps_a_verified_key_for_the_ttl_only() {
        let cache = KeyCache::new(Duration::from_millis(50));
        let tenant = tenant();
        assert!(cache.get("sk_a").await.is_none());
        cache.insert("sk_a", &tenant).await;
        assert_eq!(cache.get("sk_a").await, Some(tenant));
        assert!(cache.get("sk_b").await.is_none());
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(cache.get("sk_a").await.is_none());
    }

    #[tokio::test]
    async fn a_zero_ttl_keeps_nothing() {
        let cache = KeyCache::new(Duration::ZERO);
        cache.insert("sk_a", &tenant()).await;
        assert!(cache.get("sk_a").await.is_none());
    }
}
