//! Rate limits, in memory: the generic cell rate algorithm (GCRA) per policy and key.
//!
//! For a policy of `quota` requests per `window`, at most `burst` at once, each request moves
//! its key's "theoretical arrival time" (TAT) on by `window / quota`; a request is admitted
//! while the TAT stays within `burst × window / quota` of now. One number per key is the whole
//! state: 8 bytes of TAT and 8 of key hash, about 40 bytes with the map's own overhead. Keys
//! are hashed (SipHash with a per-process random key), so a check on a known key allocates
//! nothing. A key whose TAT has passed is at full quota, the same as absent: such keys are
//! swept out whenever the map doubles, so memory follows the keys active within a window.
//!
//! Every response of a limited route carries the fields of draft-ietf-httpapi-ratelimit-headers
//! revision 09 (March 2025), one item per policy, as structured-field lists:
//! `RateLimit-Policy: "minute";q=50;w=60` (quota, window in seconds) and
//! `RateLimit: "minute";r=49;t=2` (remaining, seconds until the quota is whole again). Over
//! quota, `Retry-After` gives the seconds until the next request is admitted, rounded up.

use crate::declare::{LimitKey, RateLimit};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use tokio::time::Instant;

const POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const STATE: HeaderName = HeaderName::from_static("ratelimit");
const SWEEP_AT_LEAST: usize = 4096;
const NANOS: u128 = 1_000_000_000;

/// The limits of one route.
pub(crate) struct Limiter {
    policies: &'static [RateLimit],
    /// `(policy index, key hash)` → TAT in nanoseconds since `epoch`.
    tats: Mutex<Tats>,
    epoch: Instant,
    hasher: RandomState,
    policy_header: HeaderValue,
}

struct Tats {
    map: HashMap<(usize, u64), u64, BuildHasherDefault<KeyHasher>>,
    sweep_at: usize,
}

/// The map's hasher. Its keys are SipHash values already (with a random key per process, so a
/// client cannot choose colliding ones): hashing them again would only cost time.
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
    fn write_usize(&mut self, n: usize) {
        self.0 = self.0.rotate_left(5) ^ n as u64;
    }
}

/// The `RateLimit` value, written on the stack.
struct Field {
    bytes: [u8; 1024],
    len: usize,
    overflow: bool,
}

impl Field {
    fn push(&mut self, s: &[u8]) {
        match self.bytes.get_mut(self.len..self.len + s.len()) {
            Some(dst) => {
                dst.copy_from_slice(s);
                self.len += s.len();
            }
            None => self.overflow = true,
        }
    }

    fn push_u64(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("policies", &self.policies)
            .finish_non_exhaustive()
    }
}

/// What a check decided, and the fields the response carries either way.
pub(crate) struct Decision {
    /// The policy the request is over, if any.
    pub(crate) violated: Option<&'static RateLimit>,
    /// `RateLimit-Policy`, `RateLimit`, and over quota `Retry-After`.
    pub(crate) fields: LimitFields,
    /// Seconds until the request would be admitted (0 when it is).
    pub(crate) retry_after: u64,
}

/// The rate-limit fields of one response.
pub(crate) struct LimitFields {
    policy: HeaderValue,
    state: Option<HeaderValue>,
    retry_after: Option<u64>,
}

impl LimitFields {
    /// Adds the fields to a response's headers.
    pub(crate) fn apply(self, headers: &mut HeaderMap) {
        headers.insert(POLICY, self.policy);
        if let Some(state) = self.state {
            headers.insert(STATE, state);
        }
        if let Some(secs) = self.retry_after {
            headers.insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
    }
}

impl Limiter {
    /// The limiter of a route with `policies`; `None` if there are none.
    pub(crate) fn new(policies: &'static [RateLimit]) -> Option<Limiter> {
        if policies.is_empty() {
            return None;
        }
        let items: Vec<String> = policies
            .iter()
            .map(|p| format!("\"{}\";q={};w={}", p.name, p.quota, p.window_secs))
            .collect();
        let policy_header = HeaderValue::from_str(&items.join(", "))
            .unwrap_or(HeaderValue::from_static("\"default\""));
        Some(Limiter {
            policies,
            tats: Mutex::new(Tats {
                map: HashMap::default(),
                sweep_at: SWEEP_AT_LEAST,
            }),
            epoch: Instant::now(),
            hasher: RandomState::new(),
            policy_header,
        })
    }

    fn key(&self, policy: &RateLimit, caller: Option<&str>, address: Option<IpAddr>) -> u64 {
        let by_address = |a: Option<IpAddr>| match a {
            Some(IpAddr::V4(v4)) => self.hasher.hash_one((1u8, v4.octets())),
            Some(IpAddr::V6(v6)) => self.hasher.hash_one((2u8, v6.octets())),
            None => self.hasher.hash_one(3u8),
        };
        match (policy.key, caller) {
            (LimitKey::Caller, Some(id)) => self.hasher.hash_one((0u8, id)),
            (LimitKey::Caller | LimitKey::Address, _) => by_address(address_of(address)),
            (LimitKey::Route, _) => 0,
        }
    }

    /// Counts one request by `caller` (its user or key id, if authenticated) from `address`.
    /// Admitted only if every policy admits it; a refused request uses up nothing.
    pub(crate) fn check(&self, caller: Option<&str>, address: Option<IpAddr>) -> Decision {
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut tats = match self.tats.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        };
        // (key, TAT before, TAT after if admitted, interval, tolerance) per policy; the macros
        // allow at most `MAX_POLICIES`.
        let mut steps = [(0u64, 0u64, 0u64, 0u64, 0u64); plugin_rules::MAX_RATE_LIMITS];
        let mut violated: Option<(usize, u64)> = None;
        for (i, p) in self.policies.iter().enumerate().take(steps.len()) {
            let key = self.key(p, caller, address);
            let interval = interval_nanos(p);
            let tolerance = interval.saturating_mul(u64::from(p.burst));
            let tat = tats.map.get(&(i, key)).copied().unwrap_or(0).max(now);
            let next = tat.saturating_add(interval);
            if next - now > tolerance && violated.is_none() {
                violated = Some((i, next - tolerance - now));
            }
            steps[i] = (key, tat, next, interval, tolerance);
        }
        let admitted = violated.is_none();
        if admitted {
            for (i, &(key, _, next, _, _)) in steps.iter().enumerate().take(self.policies.len()) {
                tats.map.insert((i, key), next);
            }
            if tats.map.len() >= tats.sweep_at {
                tats.map.retain(|_, tat| *tat > now);
                tats.sweep_at = (tats.map.len() * 2).max(SWEEP_AT_LEAST);
            }
        }
        drop(tats);

        // `RateLimit`, written on the stack: the value's own copy is the one allocation.
        let mut field = Field {
            bytes: [0; 1024],
            len: 0,
            overflow: false,
        };
        for (i, (p, &(_, tat, next, interval, tolerance))) in
            self.policies.iter().zip(steps.iter()).enumerate()
        {
            let held = if admitted { next } else { tat };
            let used = held - now;
            if i > 0 {
                field.push(b", ");
            }
            field.push(b"\"");
            field.push(p.name.as_bytes());
            field.push(b"\";r=");
            field.push_u64(tolerance.saturating_sub(used) / interval.max(1));
            field.push(b";t=");
            field.push_u64(seconds_up(used));
        }
        let state = if field.overflow {
            None
        } else {
            HeaderValue::from_bytes(&field.bytes[..field.len]).ok()
        };
        let (violated, retry_after) = match violated {
            Some((i, wait)) => (Some(&self.policies[i]), seconds_up(wait).max(1)),
            None => (None, 0),
        };
        Decision {
            violated,
            fields: LimitFields {
                policy: self.policy_header.clone(),
                state,
                retry_after: violated.map(|_| retry_after),
            },
            retry_after,
        }
    }
}

fn address_of(address: Option<IpAddr>) -> Option<IpAddr> {
    address.map(|a| a.to_canonical())
}

/// `window / quota`, in nanoseconds.
fn interval_nanos(p: &RateLimit) -> u64 {
    let window = u128::from(p.window_secs) * NANOS;
    u64::try_from(window / u128::from(p.quota.max(1))).unwrap_or(u64::MAX)
}

/// Nanoseconds as whole seconds, rounded up: never earlier than the quota really frees.
fn seconds_up(nanos: u64) -> u64 {
    nanos.div_ceil(1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MINUTE: &[RateLimit] = &[RateLimit {
        name: "minute",
        quota: 3,
        window_secs: 60,
        burst: 3,
        key: LimitKey::Caller,
    }];

    fn header(d: &Decision, name: &str) -> String {
        let mut headers = HeaderMap::new();
        LimitFields {
            policy: d.fields.policy.clone(),
            state: d.fields.state.clone(),
            retry_after: d.fields.retry_after,
        }
        .apply(&mut headers);
        headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }

    #[tokio::test(start_paused = true)]
    async fn a_quota_admits_its_burst_then_one_per_interval() {
        let l = Limiter::new(MINUTE).unwrap();
        for remaining in [2, 1, 0] {
            let d = l.check(Some("ann"), None);
            assert!(d.violated.is_none());
            assert!(header(&d, "ratelimit").contains(&format!(";r={remaining};")));
        }
        let d = l.check(Some("ann"), None);
        assert_eq!(d.violated.map(|p| p.name), Some("minute"));
        assert_eq!(d.retry_after, 20, "one request frees every 60 / 3 s");
        assert_eq!(header(&d, "retry-after"), "20");
        assert_eq!(header(&d, "ratelimit-policy"), "\"minute\";q=3;w=60");
        // Someone else is counted apart.
        assert!(l.check(Some("bob"), None).violated.is_none());
        // Not a moment before it said.
        tokio::time::advance(Duration::from_secs(19)).await;
        assert!(l.check(Some("ann"), None).violated.is_some());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(l.check(Some("ann"), None).violated.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn every_policy_must_admit_and_a_refusal_uses_up_nothing() {
        const TWO: &[RateLimit] = &[
            RateLimit {
                name: "second",
                quota: 2,
                window_secs: 1,
                burst: 2,
                key: LimitKey::Route,
            },
            RateLimit {
                name: "minute",
                quota: 3,
                window_secs: 60,
                burst: 3,
                key: LimitKey::Route,
            },
        ];
        let l = Limiter::new(TWO).unwrap();
        assert!(l.check(None, None).violated.is_none());
        assert!(l.check(None, None).violated.is_none());
        assert_eq!(l.check(None, None).violated.map(|p| p.name), Some("second"));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(l.check(None, None).violated.is_none());
        // The per-minute quota is spent (the refusal above did not count).
        tokio::time::advance(Duration::from_secs(1)).await;
        let d = l.check(None, None);
        assert_eq!(d.violated.map(|p| p.name), Some("minute"));
        assert_eq!(
            header(&d, "ratelimit-policy"),
            "\"second\";q=2;w=1, \"minute\";q=3;w=60"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn callers_without_a_principal_are_counted_by_address() {
        let l = Limiter::new(MINUTE).unwrap();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(None, Some(a)).violated.is_none());
        }
        assert!(l.check(None, Some(a)).violated.is_some());
        assert!(l.check(None, Some(b)).violated.is_none());
    }
}
