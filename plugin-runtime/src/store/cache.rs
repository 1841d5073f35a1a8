//! A small cache of credential lookups, keyed by the credential's SHA-256 digest, so a warm API
//! key or session costs a hash and a map read instead of a query.
//!
//! An entry is trusted for at most `ttl`: that is the bound on how long a key revoked (or a
//! session ended) on *another* server keeps working here. Revocation and logout on this server
//! evict the entry at once. Unknown credentials are never cached, so a key created on another
//! server works here on its first use.

use crate::request::Principal;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// At most this many entries; when full, stale ones are dropped, and if none are, all are.
const CAPACITY: usize = 10_000;

pub(crate) struct Entry {
    pub(crate) principal: Arc<Principal>,
    /// When the credential itself expires (ms since the epoch), if it does.
    pub(crate) expires_at: Option<i64>,
    pub(crate) key_id: Option<Arc<str>>,
    /// When it was read from the store (ms since the epoch: one clock for everything here).
    fetched_ms: i64,
    /// When the key's last-used time was last written (ms since the epoch).
    pub(crate) touched: AtomicI64,
}

pub(crate) struct Cache {
    ttl: Duration,
    ttl_ms: i64,
    map: RwLock<HashMap<[u8; 32], Arc<Entry>>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Cache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Cache {
            ttl,
            ttl_ms: i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX),
            map: RwLock::new(HashMap::new()),
        }
    }

    /// The entry for `digest`, if it was fetched less than `ttl` ago and the credential has not
    /// expired by `now_ms`.
    pub(crate) fn get(&self, digest: &[u8; 32], now_ms: i64) -> Option<Arc<Entry>> {
        if self.ttl.is_zero() {
            return None;
        }
        let map = self
            .map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = map.get(digest)?;
        let fresh = now_ms.saturating_sub(entry.fetched_ms) < self.ttl_ms
            && entry.expires_at.is_none_or(|e| e > now_ms);
        fresh.then(|| Arc::clone(entry))
    }

    pub(crate) fn insert(
        &self,
        digest: [u8; 32],
        principal: Principal,
        expires_at: Option<i64>,
        key_id: Option<String>,
        now_ms: i64,
        touched: i64,
    ) -> Arc<Entry> {
        let entry = Arc::new(Entry {
            principal: Arc::new(principal),
            expires_at,
            key_id: key_id.map(Arc::from),
            fetched_ms: now_ms,
            touched: AtomicI64::new(touched),
        });
        if self.ttl.is_zero() {
            return entry;
        }
        let mut map = self
            .map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= CAPACITY {
            let ttl_ms = self.ttl_ms;
            map.retain(|_, e| now_ms.saturating_sub(e.fetched_ms) < ttl_ms);
            if map.len() >= CAPACITY {
                map.clear();
            }
        }
        map.insert(digest, Arc::clone(&entry));
        entry
    }

    pub(crate) fn evict(&self, digest: &[u8; 32]) {
        self.map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(digest);
    }

    /// Evicts the entry of the API key `key_id`, found by its id: for a revocation whose
    /// answer did not come, which the database may still have made.
    pub(crate) fn evict_key(&self, key_id: &str) {
        self.map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|_, e| e.key_id.as_deref() != Some(key_id));
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }
}

impl Entry {
    /// Whether the key's last-used time should be written now (at most once per `every_ms`); if
    /// so, records that it is being written.
    pub(crate) fn should_touch(&self, now_ms: i64, every_ms: i64) -> bool {
        let last = self.touched.load(Ordering::Relaxed);
        now_ms - last >= every_ms
            && self
                .touched
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::Cache;
    use crate::request::Principal;
    use std::time::Duration;

    fn principal() -> Principal {
        Principal {
            user_id: "u1".to_owned(),
            email: None,
            scheme: "apiKey",
            scopes: Vec::new(),
        }
    }

    #[test]
    fn a_key_is_evicted_by_its_id_and_nothing_else_is() {
        let cache = Cache::new(Duration::from_secs(10));
        cache.insert([1; 32], principal(), None, Some("k1".to_owned()), 0, 0);
        cache.insert([2; 32], principal(), None, Some("k2".to_owned()), 0, 0);
        cache.insert([3; 32], principal(), None, None, 0, 0);
        cache.evict_key("k1");
        assert!(cache.get(&[1; 32], 1).is_none());
        assert!(cache.get(&[2; 32], 1).is_some());
        assert!(cache.get(&[3; 32], 1).is_some());
    }
}
