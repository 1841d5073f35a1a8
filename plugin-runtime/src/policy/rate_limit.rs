//! A route's rate limits: its policies, counted in the server's [`LimitStore`], and the
//! response fields that say where a client stands.
//!
//! Every response of a limited route carries the fields of draft-ietf-httpapi-ratelimit-headers
//! revision 09 (March 2025), one item per policy, as structured-field lists:
//! `RateLimit-Policy: "minute";q=50;w=60` (quota, window in seconds) and
//! `RateLimit: "minute";r=49;t=2` (remaining, seconds until the quota is whole again). Over
//! quota, `Retry-After` gives the seconds until the next request is admitted, rounded up.
//!
//! A policy counted per caller counts a request without a principal by its address. A request
//! whose address is unknown (a router served by `axum::serve` without connect info) is not
//! counted by policies that need one; the first such request logs a warning.

use super::gcra::{Counted, Step, Unreachable, WhenUnreachable, Who, seconds_up};
use super::limit_store::LimitStore;
use crate::declare::{LimitKey, RateLimit};
use crate::request::{ApiError, Details, FrameworkCode};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::borrow::Cow;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};

const POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const STATE: HeaderName = HeaderName::from_static("ratelimit");

/// The limits of one route.
pub(crate) struct Limiter {
    policies: Cow<'static, [RateLimit]>,
    store: LimitStore,
    /// The route, as named in the store's keys, and hashed.
    scope: String,
    scope_hash: u64,
    policy_header: HeaderValue,
}

/// Whether a request without an address has been met by a policy that needed one.
static WARNED_NO_ADDRESS: AtomicBool = AtomicBool::new(false);

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
    pub(crate) violated: Option<RateLimit>,
    /// `RateLimit-Policy`, `RateLimit`, and over quota `Retry-After`.
    pub(crate) fields: LimitFields,
    /// Seconds until the request would be admitted (0 when it is).
    pub(crate) retry_after: u64,
    /// The store could not be asked, and is set to refuse then.
    pub(crate) unavailable: bool,
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
    /// The limiter of the route `scope` (`plugin/handler`) with `policies`, counting in
    /// `store`; `None` if there are no policies.
    pub(crate) fn new(
        policies: Cow<'static, [RateLimit]>,
        store: &LimitStore,
        scope: String,
    ) -> Option<Limiter> {
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
            store: store.clone(),
            scope_hash: store.scope_hash(&scope),
            scope,
            policy_header,
        })
    }

    /// Counts one request by `caller` (its user or key id, if authenticated) from `address`.
    /// Admitted only if every policy admits it; a refused request uses up nothing. Decided at
    /// once in memory; in Redis, after a round trip.
    pub(crate) fn check<'a>(
        &'a self,
        caller: Option<&'a str>,
        address: Option<IpAddr>,
    ) -> Check<'a> {
        let (steps, positions, n) = self.steps(caller, address);
        if n == 0 {
            let none = Counted {
                violated: None,
                used: [0; plugin_routes_rules::MAX_RATE_LIMITS],
            };
            return Check::Ready(self.decide(&steps[..0], &positions, Ok(none)));
        }
        match self.store.count_now(self.scope_hash, &steps[..n]) {
            Some(counted) => Check::Ready(self.decide(&steps[..n], &positions, Ok(counted))),
            None => Check::Later(Box::pin(async move {
                let counted = self
                    .store
                    .count(self.scope_hash, &self.scope, &steps[..n])
                    .await;
                self.decide(&steps[..n], &positions, counted)
            })),
        }
    }

    /// The policies that can count this request, their positions among the route's, and how
    /// many there are.
    fn steps<'a>(&'a self, caller: Option<&'a str>, address: Option<IpAddr>) -> Steps<'a> {
        let mut steps = [Step {
            policy: "",
            who: Who::Everyone,
            interval: 0,
            tolerance: 0,
        }; plugin_routes_rules::MAX_RATE_LIMITS];
        let mut positions = [0usize; plugin_routes_rules::MAX_RATE_LIMITS];
        let mut n = 0;
        for (i, p) in self.policies.iter().enumerate().take(steps.len()) {
            let who = match (p.key, caller, address) {
                (LimitKey::Caller, Some(id), _) => Who::Name(id),
                (LimitKey::Caller | LimitKey::Address, _, Some(a)) => {
                    Who::Address(a.to_canonical())
                }
                (LimitKey::Caller | LimitKey::Address, _, None) => {
                    warn_no_address();
                    continue;
                }
                (LimitKey::Route, _, _) => Who::Everyone,
            };
            steps[n] = Step::new(p, who);
            positions[n] = i;
            n += 1;
        }
        (steps, positions, n)
    }

    /// The decision and the response fields from what counting `steps` came to.
    fn decide(
        &self,
        steps: &[Step<'_>],
        positions: &[usize; plugin_routes_rules::MAX_RATE_LIMITS],
        counted: Result<Counted, Unreachable>,
    ) -> Decision {
        let Ok(counted) = counted else {
            return Decision {
                violated: None,
                unavailable: self.store.when_unreachable() == WhenUnreachable::Refuse,
                fields: LimitFields {
                    policy: self.policy_header.clone(),
                    state: None,
                    retry_after: None,
                },
                retry_after: 0,
            };
        };

        // `RateLimit`, written on the stack: the value's own copy is the one allocation.
        let mut field = Field {
            bytes: [0; 1024],
            len: 0,
            overflow: false,
        };
        for (j, step) in steps.iter().enumerate() {
            let used = counted.used[j];
            if j > 0 {
                field.push(b", ");
            }
            field.push(b"\"");
            field.push(step.policy.as_bytes());
            field.push(b"\";r=");
            field.push_u64(step.tolerance.saturating_sub(used) / step.interval.max(1));
            field.push(b";t=");
            field.push_u64(seconds_up(used));
        }
        let state = if field.overflow || steps.is_empty() {
            None
        } else {
            HeaderValue::from_bytes(&field.bytes[..field.len]).ok()
        };
        let (violated, retry_after) = match counted.violated {
            Some((j, wait)) => (Some(self.policies[positions[j]]), seconds_up(wait).max(1)),
            None => (None, 0),
        };
        Decision {
            violated,
            unavailable: false,
            fields: LimitFields {
                policy: self.policy_header.clone(),
                state,
                retry_after: violated.map(|_| retry_after),
            },
            retry_after,
        }
    }
}

/// The steps of a check, their policies' positions, and how many are in use.
type Steps<'a> = (
    [Step<'a>; plugin_routes_rules::MAX_RATE_LIMITS],
    [usize; plugin_routes_rules::MAX_RATE_LIMITS],
    usize,
);

/// A check decided at once (in memory), or once Redis answers.
pub(crate) enum Check<'a> {
    Ready(Decision),
    Later(Pin<Box<dyn Future<Output = Decision> + Send + 'a>>),
}

#[cfg(test)]
impl Check<'_> {
    /// The decision, waiting for it if needed.
    pub(crate) async fn decision(self) -> Decision {
        match self {
            Check::Ready(d) => d,
            Check::Later(f) => f.await,
        }
    }
}

/// `429 RATE_LIMITED`, naming the policy.
pub(crate) fn rate_limited(policy: &RateLimit, retry_after: u64) -> ApiError {
    over_quota(
        policy,
        retry_after,
        format!(
            "over the quota of {} requests per {} s; retry in {retry_after} s",
            policy.quota, policy.window_secs
        ),
    )
}

/// `429 RATE_LIMITED` with `message`, naming `policy` in the details.
pub(crate) fn over_quota(policy: &RateLimit, retry_after: u64, message: String) -> ApiError {
    ApiError::framework(FrameworkCode::RateLimited, message).with_details(Details::Value(
        serde_json::json!({
            "policy": policy.name,
            "quota": policy.quota,
            "windowSeconds": policy.window_secs,
            "retryAfterSeconds": retry_after,
        }),
    ))
}

pub(super) fn warn_no_address() {
    if !WARNED_NO_ADDRESS.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            "a rate limit or concurrency cap counted per address met a request whose address is \
             unknown, and did not count it: serve with plugin_routes::serve, or with axum's \
             into_make_service_with_connect_info"
        );
    }
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
        let l = Limiter::new(MINUTE.into(), &LimitStore::memory(), "test/route".into()).unwrap();
        for remaining in [2, 1, 0] {
            let d = l.check(Some("ann"), None).decision().await;
            assert!(d.violated.is_none());
            assert!(header(&d, "ratelimit").contains(&format!(";r={remaining};")));
        }
        let d = l.check(Some("ann"), None).decision().await;
        assert_eq!(d.violated.map(|p| p.name), Some("minute"));
        assert_eq!(d.retry_after, 20, "one request frees every 60 / 3 s");
        assert_eq!(header(&d, "retry-after"), "20");
        assert_eq!(header(&d, "ratelimit-policy"), "\"minute\";q=3;w=60");
        // Someone else is counted apart.
        assert!(
            l.check(Some("bob"), None)
                .decision()
                .await
                .violated
                .is_none()
        );
        // Not a moment before it said.
        tokio::time::advance(Duration::from_secs(19)).await;
        assert!(
            l.check(Some("ann"), None)
                .decision()
                .await
                .violated
                .is_some()
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(
            l.check(Some("ann"), None)
                .decision()
                .await
                .violated
                .is_none()
        );
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
        let l = Limiter::new(TWO.into(), &LimitStore::memory(), "test/route".into()).unwrap();
        assert!(l.check(None, None).decision().await.violated.is_none());
        assert!(l.check(None, None).decision().await.violated.is_none());
        assert_eq!(
            l.check(None, None)
                .decision()
                .await
                .violated
                .map(|p| p.name),
            Some("second")
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(l.check(None, None).decision().await.violated.is_none());
        // The per-minute quota is spent (the refusal above did not count).
        tokio::time::advance(Duration::from_secs(1)).await;
        let d = l.check(None, None).decision().await;
        assert_eq!(d.violated.map(|p| p.name), Some("minute"));
        assert_eq!(
            header(&d, "ratelimit-policy"),
            "\"second\";q=2;w=1, \"minute\";q=3;w=60"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn callers_without_a_principal_are_counted_by_address() {
        let l = Limiter::new(MINUTE.into(), &LimitStore::memory(), "test/route".into()).unwrap();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(None, Some(a)).decision().await.violated.is_none());
        }
        assert!(l.check(None, Some(a)).decision().await.violated.is_some());
        assert!(l.check(None, Some(b)).decision().await.violated.is_none());
    }
}
