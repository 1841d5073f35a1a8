//! [`LimitStore`]: where quotas are counted. In this process by default; in Redis (feature
//! `redis`) when several servers must share them.
//!
//! Both count with the generic cell rate algorithm (GCRA). For a policy of `quota` requests per
//! `window`, at most `burst` at once, each admitted request moves its key's "theoretical arrival
//! time" (TAT) on by `window / quota`; a request is admitted while the TAT stays within
//! `burst × window / quota` of now. One number per key is the whole state.
//!
//! In memory, a key is 8 bytes of hash and 8 of TAT, about 40 bytes with the map's own
//! overhead. Keys are hashed with SipHash under a per-process random key, so a check on a known
//! key allocates nothing and a client cannot choose colliding keys. A key whose TAT has passed
//! is at full quota, the same as absent: such keys are swept out whenever the map doubles, so
//! memory follows the keys active within a window.
//!
//! Concurrency caps count places in flight: in memory, a map from key (hashed the same way) to
//! count, a key removed when its count falls to zero; in Redis, leases that lapse (`lease.rs`).

use super::gcra::{Counted, Step, Unreachable, WhenUnreachable, Who, seconds_up};
use crate::declare::RateLimit;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::time::Instant;

const SWEEP_AT_LEAST: usize = 4096;

/// Where rate-limit quotas are counted: give one to
/// [`ServerConfig::with_limit_store`](crate::ServerConfig::with_limit_store). Cloning it shares
/// the counts.
///
/// [`LimitStore::memory`] (the default) counts in this process. With the `redis` feature,
/// `LimitStore::redis` counts in Redis, so every server using that Redis shares every quota.
#[cfg_attr(feature = "redis", doc = "", doc = "See [`LimitStore::redis`].")]
#[derive(Clone)]
pub struct LimitStore(Arc<Inner>);

struct Inner {
    backend: Backend,
    epoch: Instant,
    hasher: RandomState,
    /// Who is refused until when after too many failures: `hash(scope, who)` → nanoseconds
    /// since `epoch`. Kept here even when counting in Redis, so a blocked client is refused
    /// without asking anyone.
    blocked: Mutex<Swept>,
    /// The latest time anyone is blocked until: before it passes, [`LimitStore::blocked`]
    /// looks nothing up, so an authenticated request pays a clock read for the feature.
    blocked_until: AtomicU64,
    /// Failures counted in this process while the shared store cannot be reached, so that an
    /// outage does not lift the limit on guessing (each server then counts its own).
    failures_here: Mutex<Swept>,
    /// Until when (nanoseconds since `epoch`) a failure counted in `failures_here` still
    /// weighs: before it passes, failures are counted there too once Redis answers again.
    failures_here_until: AtomicU64,
    /// Places in flight under concurrency caps, counted in this process: `hash(scope, who)` →
    /// count. Only in-memory stores use it.
    in_flight: Mutex<HashMap<u64, u32, BuildHasherDefault<KeyHasher>>>,
}

/// A place taken under a concurrency cap (a count in this process, or a lease in Redis), given
/// back when dropped.
pub(crate) struct Permit(Held);

enum Held {
    /// A count in this process's map.
    Memory { store: LimitStore, key: u64 },
    /// A lease in Redis, renewed until dropped.
    #[cfg(feature = "redis")]
    Lease(
        #[allow(dead_code, reason = "held for its `Drop`, which gives the lease back")]
        super::lease::Lease,
    ),
}

impl Drop for Permit {
    fn drop(&mut self) {
        match &self.0 {
            Held::Memory { store, key } => store.give_back(*key),
            // The lease gives itself back.
            #[cfg(feature = "redis")]
            Held::Lease(_) => {}
        }
    }
}

/// What asking for a place under a concurrency cap came to.
pub(crate) enum Place {
    Taken(Permit),
    /// Every place is taken.
    Full,
    /// The store could not be asked; `refuse` if it is set to refuse then.
    #[cfg_attr(
        not(feature = "redis"),
        allow(dead_code, reason = "only Redis can be unreachable")
    )]
    Unreachable {
        refuse: bool,
    },
}

enum Backend {
    Memory(Mutex<Swept>),
    #[cfg(feature = "redis")]
    Redis(Arc<super::redis::RedisCounter>),
}

/// A map from key hash to a time in nanoseconds since the epoch, swept of times that have
/// passed whenever it doubles.
struct Swept {
    map: HashMap<u64, u64, BuildHasherDefault<KeyHasher>>,
    sweep_at: usize,
}

impl Swept {
    fn new() -> Self {
        Swept {
            map: HashMap::default(),
            sweep_at: SWEEP_AT_LEAST,
        }
    }

    fn insert(&mut self, key: u64, until: u64, now: u64) {
        self.map.insert(key, until);
        if self.map.len() >= self.sweep_at {
            self.map.retain(|_, t| *t > now);
            self.sweep_at = (self.map.len() * 2).max(SWEEP_AT_LEAST);
        }
    }
}

/// The map's hasher. Its keys are SipHash values already (with a random key per process):
/// hashing them again would only cost time.
#[derive(Clone, Copy, Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

impl std::fmt::Debug for LimitStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0.backend {
            Backend::Memory(_) => f.write_str("LimitStore::Memory"),
            #[cfg(feature = "redis")]
            Backend::Redis(r) => write!(f, "LimitStore::Redis({r:?})"),
        }
    }
}

impl PartialEq for LimitStore {
    /// The same store: clones of one another.
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for LimitStore {}

#[cfg(feature = "redis")]
impl From<super::redis::RedisLimits> for LimitStore {
    fn from(settings: super::redis::RedisLimits) -> Self {
        Self::with_backend(Backend::Redis(Arc::new(super::redis::RedisCounter::new(
            settings,
        ))))
    }
}

impl Default for LimitStore {
    fn default() -> Self {
        LimitStore::memory()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

impl LimitStore {
    /// Counts in this process: each server has its own quotas.
    pub fn memory() -> Self {
        Self::with_backend(Backend::Memory(Mutex::new(Swept::new())))
    }

    fn with_backend(backend: Backend) -> Self {
        LimitStore(Arc::new(Inner {
            backend,
            epoch: Instant::now(),
            hasher: RandomState::new(),
            blocked: Mutex::new(Swept::new()),
            blocked_until: AtomicU64::new(0),
            failures_here: Mutex::new(Swept::new()),
            failures_here_until: AtomicU64::new(0),
            in_flight: Mutex::new(HashMap::default()),
        }))
    }

    /// Counts in Redis at `url` (`redis://[user:password@]host[:port][/db]`, or with the
    /// `redis-tls` feature `rediss://` over TLS), shared by every server that uses the same
    /// Redis. Each check is one round trip running a script that reads Redis's own clock, so
    /// servers whose clocks disagree still agree on the quotas. Connects on first use and again
    /// after a failure.
    ///
    /// Over TLS the server's certificate is checked against the host the URL names and the
    /// system's roots, read now (`SSL_CERT_FILE` and `SSL_CERT_DIR` name others), or the roots
    /// given to [`RedisLimits::with_roots`](super::redis::RedisLimits::with_roots).
    ///
    /// # Errors
    /// When `url` is not such a URL; `rediss://` without `redis-tls`; over TLS, a host that is
    /// no name or address, or roots that cannot be read.
    #[cfg(feature = "redis")]
    pub fn redis(url: &str) -> Result<super::redis::RedisLimits, String> {
        super::redis::RedisLimits::parse(url)
    }

    /// Sends Redis a `PING` and waits for the answer: a bare round trip, which benchmarks set
    /// beside a check. Not public API.
    #[cfg(feature = "redis")]
    #[doc(hidden)]
    pub async fn ping(&self) -> Result<(), String> {
        match &self.0.backend {
            Backend::Memory(_) => Ok(()),
            Backend::Redis(r) => r.ping().await,
        }
    }

    /// Counts one request by `caller` against `policy` in `scope`, as a route's check does; for
    /// benchmarks. Whether it was admitted (`None` if the store could not be asked). Not public
    /// API.
    #[doc(hidden)]
    pub async fn count_one(&self, scope: &str, policy: &RateLimit, caller: &str) -> Option<bool> {
        let step = Step::new(policy, Who::Name(caller));
        let counted = self
            .count(self.scope_hash(scope), scope, std::slice::from_ref(&step))
            .await
            .ok()?;
        Some(counted.violated.is_none())
    }

    /// Whether the store answers now: always for a store in this process; for Redis, whether
    /// it answers a `PING`, waiting as long as a connection may take to make (the longer of the
    /// store's timeout and 5 s) and then the store's timeout. The answer is logged as a request's
    /// would be: an error saying what requests to limited routes get while Redis does not
    /// answer, or that rate limits are counted in Redis. Within a few seconds of a failed
    /// attempt to connect (one second, and as long again as an attempt may take) it answers
    /// `false` at once, as requests are answered meanwhile, having made the next attempt. A
    /// host that calls this once at start, as the example server does, says at once that a
    /// Redis URL leads nowhere, rather than at the first request to a limited route.
    pub async fn check(&self) -> bool {
        match &self.0.backend {
            Backend::Memory(_) => true,
            #[cfg(feature = "redis")]
            Backend::Redis(r) => r.check().await,
        }
    }

    /// For the readiness route: `None` for a store in this process (nothing to ask); for Redis,
    /// whether it answers a `PING`.
    pub(crate) async fn reachable(&self) -> Option<Result<(), String>> {
        match &self.0.backend {
            Backend::Memory(_) => None,
            #[cfg(feature = "redis")]
            Backend::Redis(r) => Some(r.probe().await),
        }
    }

    /// What to do when the store cannot be asked.
    pub(crate) fn when_unreachable(&self) -> WhenUnreachable {
        match &self.0.backend {
            Backend::Memory(_) => WhenUnreachable::Admit,
            #[cfg(feature = "redis")]
            Backend::Redis(r) => r.when_unreachable(),
        }
    }

    /// A number naming `scope` (a route, say) in this store's keys.
    pub(crate) fn scope_hash(&self, scope: &str) -> u64 {
        self.0.hasher.hash_one(scope)
    }

    fn key(&self, scope: u64, policy: &str, who: Who<'_>) -> u64 {
        let h = &self.0.hasher;
        match who {
            Who::Name(n) => h.hash_one((scope, policy, 0u8, n)),
            Who::Address(IpAddr::V4(a)) => h.hash_one((scope, policy, 1u8, a.octets())),
            Who::Address(IpAddr::V6(a)) => h.hash_one((scope, policy, 2u8, a.octets())),
            Who::Everyone => h.hash_one((scope, policy, 3u8)),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.0.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Counts one request against every step of `scope` (named `scope_name` in Redis, hashed
    /// `scope` in memory). Admitted only if every step admits it; a refused request uses up
    /// nothing. The wait for Redis is boxed, so the future stays small on the in-memory path.
    pub(crate) async fn count(
        &self,
        scope: u64,
        scope_name: &str,
        steps: &[Step<'_>],
    ) -> Result<Counted, Unreachable> {
        match &self.0.backend {
            Backend::Memory(tats) => {
                let _ = scope_name;
                Ok(self.count_in_memory(tats, scope, steps))
            }
            #[cfg(feature = "redis")]
            Backend::Redis(r) => Box::pin(r.count(scope_name, steps)).await,
        }
    }

    /// [`LimitStore::count`] without waiting, when the store is in memory; `None` otherwise.
    pub(crate) fn count_now(&self, scope: u64, steps: &[Step<'_>]) -> Option<Counted> {
        match &self.0.backend {
            Backend::Memory(tats) => Some(self.count_in_memory(tats, scope, steps)),
            #[cfg(feature = "redis")]
            Backend::Redis(_) => None,
        }
    }

    fn count_in_memory(&self, tats: &Mutex<Swept>, scope: u64, steps: &[Step<'_>]) -> Counted {
        let now = self.now();
        let mut keys = [0u64; plugin_routes_rules::MAX_RATE_LIMITS];
        let mut held = [0u64; plugin_routes_rules::MAX_RATE_LIMITS];
        let mut violated = None;
        let mut tats = lock(tats);
        for (i, step) in steps.iter().enumerate().take(keys.len()) {
            keys[i] = self.key(scope, step.policy, step.who);
            let tat = tats.map.get(&keys[i]).copied().unwrap_or(0).max(now);
            let next = tat.saturating_add(step.interval);
            if next - now > step.tolerance && violated.is_none() {
                violated = Some((i, next - step.tolerance - now));
            }
            held[i] = next;
        }
        if violated.is_none() {
            for (i, &key) in keys.iter().enumerate().take(steps.len()) {
                tats.insert(key, held[i], now);
            }
        } else {
            // Refused: nothing is used up, so each TAT stays where it was.
            for (i, step) in steps.iter().enumerate().take(keys.len()) {
                held[i] -= step.interval;
            }
        }
        drop(tats);
        let mut used = [0u64; plugin_routes_rules::MAX_RATE_LIMITS];
        for (u, h) in used.iter_mut().zip(held).take(steps.len()) {
            *u = h - now;
        }
        Counted { violated, used }
    }

    /// Takes one of `limit` places for `who` in `scope` (named `scope_name` in Redis, hashed
    /// `scope` in memory).
    pub(crate) async fn take_place(&self, scope_name: &str, who: Who<'_>, limit: u32) -> Place {
        match &self.0.backend {
            Backend::Memory(_) => {
                self.take_place_in_memory(self.scope_hash(scope_name), who, limit)
            }
            #[cfg(feature = "redis")]
            Backend::Redis(r) => {
                let taken = Box::pin(super::lease::Lease::take(r, scope_name, who, limit));
                match taken.await {
                    Ok(Some(lease)) => Place::Taken(Permit(Held::Lease(lease))),
                    Ok(None) => Place::Full,
                    Err(Unreachable) => Place::Unreachable {
                        refuse: r.when_unreachable() == WhenUnreachable::Refuse,
                    },
                }
            }
        }
    }

    /// [`LimitStore::take_place`] without waiting, when the store is in memory; `None`
    /// otherwise.
    pub(crate) fn take_place_now(&self, scope: u64, who: Who<'_>, limit: u32) -> Option<Place> {
        match &self.0.backend {
            Backend::Memory(_) => Some(self.take_place_in_memory(scope, who, limit)),
            #[cfg(feature = "redis")]
            Backend::Redis(_) => None,
        }
    }

    fn take_place_in_memory(&self, scope: u64, who: Who<'_>, limit: u32) -> Place {
        let key = self.key(scope, "", who);
        let mut in_flight = lock(&self.0.in_flight);
        let held = in_flight.entry(key).or_insert(0);
        if *held >= limit {
            if *held == 0 {
                in_flight.remove(&key);
            }
            return Place::Full;
        }
        *held += 1;
        drop(in_flight);
        Place::Taken(Permit(Held::Memory {
            store: self.clone(),
            key,
        }))
    }

    /// Gives back a place taken in memory.
    pub(super) fn give_back(&self, key: u64) {
        let mut in_flight = lock(&self.0.in_flight);
        if let Some(held) = in_flight.get_mut(&key) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                in_flight.remove(&key);
            }
        }
    }

    /// How many keys hold places in memory.
    #[cfg(test)]
    pub(super) fn keys_in_flight(&self) -> usize {
        lock(&self.0.in_flight).len()
    }

    /// Seconds until `who` may try again in `scope`, if too many failures have been recorded;
    /// asks no one.
    pub(crate) fn blocked(&self, scope: &str, who: Who<'_>) -> Option<u64> {
        let now = self.now();
        if self.0.blocked_until.load(Ordering::Relaxed) <= now {
            return None;
        }
        let key = self.key(self.scope_hash(scope), "", who);
        let until = lock(&self.0.blocked).map.get(&key).copied()?;
        (until > now).then(|| seconds_up(until - now).max(1))
    }

    /// Records one failure by `who` in `scope` against `policy`. Past the policy's quota, `who`
    /// is blocked until it frees again, and the seconds until then are returned. While Redis
    /// cannot be reached, failures are counted in this process instead.
    pub(crate) async fn record_failure(
        &self,
        scope: &str,
        policy: &RateLimit,
        who: Who<'_>,
    ) -> Option<u64> {
        let step = Step::new(policy, who);
        let steps = std::slice::from_ref(&step);
        let scope_hash = self.scope_hash(scope);
        // Counted here; while Redis is away (`outage`), how long that count weighs is kept.
        let here = |store: &Self, outage: bool| {
            let counted = store.count_in_memory(&store.0.failures_here, scope_hash, steps);
            if outage {
                let until = store.now().saturating_add(counted.used[0]);
                store
                    .0
                    .failures_here_until
                    .fetch_max(until, Ordering::Relaxed);
            }
            counted.violated
        };
        let violated = match self.count(scope_hash, scope, steps).await {
            // Failures counted here while Redis was away still weigh until they lapse: the
            // stricter count decides, so a Redis that comes and goes lifts no limit.
            Ok(counted) if self.now() < self.0.failures_here_until.load(Ordering::Relaxed) => {
                counted.violated.or_else(|| here(self, false))
            }
            Ok(counted) => counted.violated,
            // Admitted or refused, the request has failed already: its failure is counted here
            // until the shared store answers again.
            Err(Unreachable) => here(self, true),
        };
        let (_, wait) = violated?;
        let key = self.key(self.scope_hash(scope), "", who);
        let now = self.now();
        let until = now.saturating_add(wait);
        lock(&self.0.blocked).insert(key, until, now);
        self.0.blocked_until.fetch_max(until, Ordering::Relaxed);
        Some(seconds_up(wait).max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::declare::LimitKey;
    use std::time::Duration;

    const FIVE: RateLimit = RateLimit {
        name: "failures",
        quota: 5,
        window_secs: 60,
        burst: 5,
        key: LimitKey::Address,
    };

    #[tokio::test(start_paused = true)]
    async fn failures_past_the_quota_block_until_it_frees() {
        let store = LimitStore::memory();
        let a = Who::Address("192.0.2.7".parse().unwrap());
        for _ in 0..5 {
            assert_eq!(store.blocked("login", a), None);
            assert_eq!(store.record_failure("login", &FIVE, a).await, None);
        }
        assert_eq!(store.record_failure("login", &FIVE, a).await, Some(12));
        assert_eq!(store.blocked("login", a), Some(12));
        // Another scope, and another client, are not blocked.
        assert_eq!(store.blocked("keys", a), None);
        assert_eq!(
            store.blocked("login", Who::Address("192.0.2.8".parse().unwrap())),
            None
        );
        tokio::time::advance(Duration::from_secs(12)).await;
        assert_eq!(store.blocked("login", a), None);
    }
}
