//! A route's concurrency cap: how many of its requests one caller (or address) may have in
//! flight at once, counted in the server's [`LimitStore`].
//!
//! A request takes a place before its parameters are read and holds it in a [`Permit`] that
//! the endpoint ties to the response body: the place is given back when the body is finished or
//! dropped, so an event stream holds it until it ends or the client goes away, and an ordinary
//! response until it is sent. One past the cap is answered `429 RATE_LIMITED`, naming the
//! policy in `details`; without `Retry-After`, since nobody can say when a place frees.
//!
//! In memory, a place is one count in a map from key to count (keys hashed like the quotas'),
//! removed when it falls to zero. In Redis, a place is a lease that lapses unless renewed, so
//! the places of a server that dies free themselves (see `lease.rs`).

use super::limit_store::{LimitStore, Permit, Place};
use crate::declare::{ConcurrencyLimit, LimitKey};
use crate::request::{ApiError, Details, FrameworkCode};
use axum::response::Response;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::gcra::Who;

/// The concurrency cap of one route.
pub(crate) struct Capper {
    policy: ConcurrencyLimit,
    store: LimitStore,
    /// Where places are counted, as named in Redis's keys, and hashed.
    scope: String,
    scope_hash: u64,
}

impl Capper {
    /// The name of its policy (`concurrency`, or `streams` for the server's stream cap).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn name(&self) -> &'static str {
        self.policy.name
    }
}

impl std::fmt::Debug for Capper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capper")
            .field("policy", &self.policy)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// What taking a place came to.
pub(crate) enum Taken {
    /// Admitted: the permit (none when the request could not be counted: no address to count
    /// it by, or Redis unreachable and set to admit).
    Admitted(Option<Permit>),
    /// Refused: 429, or 503 when Redis is unreachable and set to refuse.
    Refused(ApiError),
}

/// Taken at once (in memory), or once Redis answers.
pub(crate) enum Take<'a> {
    Ready(Taken),
    Later(Pin<Box<dyn Future<Output = Taken> + Send + 'a>>),
}

impl Capper {
    /// The cap `policy` over `scope` (`plugin/handler`, or `streams` for the server's stream
    /// cap), counting in `store`.
    pub(crate) fn new(policy: ConcurrencyLimit, store: &LimitStore, scope: String) -> Capper {
        Capper {
            policy,
            store: store.clone(),
            scope_hash: store.scope_hash(&scope),
            scope,
        }
    }

    /// Takes a place for a request by `caller` (its user or key id, if authenticated) from
    /// `address`.
    pub(crate) fn take<'a>(&'a self, caller: Option<&'a str>, address: Option<IpAddr>) -> Take<'a> {
        let who = match (self.policy.key, caller, address) {
            (LimitKey::Caller, Some(id), _) => Who::Name(id),
            (_, _, Some(a)) => Who::Address(a.to_canonical()),
            (_, _, None) => {
                super::rate_limit::warn_no_address();
                return Take::Ready(Taken::Admitted(None));
            }
        };
        match self
            .store
            .take_place_now(self.scope_hash, who, self.policy.limit)
        {
            Some(place) => Take::Ready(self.decide(place)),
            None => Take::Later(Box::pin(async move {
                let place = self
                    .store
                    .take_place(&self.scope, who, self.policy.limit)
                    .await;
                self.decide(place)
            })),
        }
    }

    fn decide(&self, place: Place) -> Taken {
        match place {
            Place::Taken(permit) => Taken::Admitted(Some(permit)),
            Place::Full => Taken::Refused(concurrency_limited(&self.policy)),
            Place::Unreachable { refuse: false } => Taken::Admitted(None),
            Place::Unreachable { refuse: true } => Taken::Refused(ApiError::unavailable(
                "the rate-limit store cannot be reached; try again shortly",
                crate::policy::UNREACHABLE_RETRY_SECS,
            )),
        }
    }
}

/// `429 RATE_LIMITED`: `policy`'s places are all taken.
#[inline(never)]
fn concurrency_limited(policy: &ConcurrencyLimit) -> ApiError {
    let whose = match policy.key {
        LimitKey::Address => "this address",
        _ => "this caller",
    };
    let what = if policy.shared {
        "event streams"
    } else {
        "requests to this route"
    };
    ApiError::framework(
        FrameworkCode::RateLimited,
        format!(
            "{whose} already has {} {what} in flight, the most it may have at once; retry when one finishes",
            policy.limit
        ),
    )
    .with_details(Details::Value(serde_json::json!({
        "policy": policy.name,
        "limit": policy.limit,
        "key": policy.key.as_str(),
    })))
}

/// `response`, holding `guard` (a [`Permit`], a count of open streams) until its body is finished
/// or dropped.
pub(crate) fn hold<G: Send + Unpin + 'static>(response: Response, guard: G) -> Response {
    response.map(|body| {
        axum::body::Body::new(HeldBody {
            inner: body,
            permit: Some(guard),
        })
    })
}

/// A body that drops its guard (gives its permit back) once it has sent its last frame, or when
/// it is dropped.
struct HeldBody<G> {
    inner: axum::body::Body,
    permit: Option<G>,
}

impl<G: Unpin> Body for HeldBody<G> {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            self.permit = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: ConcurrencyLimit = ConcurrencyLimit {
        name: ConcurrencyLimit::DECLARED,
        limit: 2,
        key: LimitKey::Caller,
        shared: false,
    };

    fn take(c: &Capper, caller: &str) -> Taken {
        match c.take(Some(caller), None) {
            Take::Ready(t) => t,
            Take::Later(_) => panic!("memory decides at once"),
        }
    }

    #[test]
    fn places_are_counted_per_caller_and_given_back_on_drop() {
        let c = Capper::new(TWO, &LimitStore::memory(), "test/route".into());
        let Taken::Admitted(Some(first)) = take(&c, "ann") else {
            panic!("first place")
        };
        let Taken::Admitted(Some(_second)) = take(&c, "ann") else {
            panic!("second place")
        };
        let Taken::Refused(e) = take(&c, "ann") else {
            panic!("the third is over the cap")
        };
        assert_eq!(e.code(), "RATE_LIMITED");
        assert!(matches!(take(&c, "bob"), Taken::Admitted(Some(_))));
        drop(first);
        assert!(matches!(take(&c, "ann"), Taken::Admitted(Some(_))));
    }

    #[test]
    fn the_map_forgets_a_key_whose_places_are_all_given_back() {
        let store = LimitStore::memory();
        let c = Capper::new(TWO, &store, "test/route".into());
        let permits: Vec<_> = (0..50).map(|i| take(&c, &format!("caller{i}"))).collect();
        assert_eq!(store.keys_in_flight(), 50);
        drop(permits);
        assert_eq!(store.keys_in_flight(), 0);
    }
}
