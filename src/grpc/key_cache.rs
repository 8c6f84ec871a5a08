//! Keys verified recently, so that a call does not cost a database round trip for its key: on the
//! hot path (`CheckBudget` before every step of an agent) that round trip is a quarter of the call.
//! Only keys that were valid are kept, for a short time (`--key-cache-ttl`): a revoked key stops
//! working within that time, a new key works at once, and an unknown key always asks the database.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};

use crate::domain::tenant::Tenant;

/// Most keys remembered; past it the cache starts over (a burst of distinct keys is not a workload
/// worth a smarter policy).
const MAX_KEYS: usize = 10_000;

/// Verified keys, by the SHA-256 of their text (the text itself is not kept).
pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], (Tenant, Instant)>>,
}

impl KeyCache {
    /// A cache that keeps keys for `ttl`; zero keeps nothing.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant of `key` if it was verified less than the TTL ago.
    pub fn get(&self, key: &str) -> Option<Tenant> {
        if self.ttl.is_zero() {
            return None;
        }
        let digest = digest(key);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(&digest) {
            Some((tenant, verified)) if verified.elapsed() < self.ttl => Some(*tenant),
            Some(_) => {
                entries.remove(&digest);
                None
            }
            None => None,
        }
    }

    /// Remembers that `key` was just verified as `tenant`'s.
    pub fn insert(&self, key: &str, tenant: &Tenant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_KEYS {
            entries.clear();
        }
        entries.insert(digest(key), (*tenant, Instant::now()));
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

    #[test]
    fn keeps_a_verified_key_for_the_ttl_only() {
        let cache = KeyCache::new(Duration::from_millis(50));
        let tenant = tenant();
        assert!(cache.get("sk_a").is_none());
        cache.insert("sk_a", &tenant);
        assert_eq!(cache.get("sk_a"), Some(tenant));
        assert!(cache.get("sk_b").is_none());
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get("sk_a").is_none());
    }

    #[test]
    fn a_zero_ttl_keeps_nothing() {
        let cache = KeyCache::new(Duration::ZERO);
        cache.insert("sk_a", &tenant());
        assert!(cache.get("sk_a").is_none());
    }
}
