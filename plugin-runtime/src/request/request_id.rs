//! Request ids: an incoming well-formed `x-request-id` is kept, otherwise one is generated.
//! Generating one allocates nothing: it is 32 hex digits in an inline buffer.

use http::{HeaderMap, HeaderName, HeaderValue};
use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The header carrying the request id, in both directions.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of one request, in every log line of that request and in every error body.
#[derive(Clone)]
pub struct RequestId {
    repr: Repr,
    /// The ids of the request's server span, when it is traced (feature `otel`).
    #[cfg(feature = "otel")]
    trace: Option<crate::otel::TraceIds>,
}

#[derive(Clone)]
enum Repr {
    Generated([u8; 32]),
    Incoming(HeaderValue),
}

impl RequestId {
    /// The incoming `x-request-id` if it is well formed (1–128 characters of `A-Za-z0-9-_.:`),
    /// else a new id.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        match headers.get(HEADER) {
            Some(v) if is_well_formed(v.as_bytes()) => RequestId::of(Repr::Incoming(v.clone())),
            _ => RequestId::generate(),
        }
    }

    /// A new id: unique within the process, unpredictable across processes.
    pub fn generate() -> Self {
        static SEED: OnceLock<(u64, u64)> = OnceLock::new();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let (a, b) = *SEED.get_or_init(|| {
            use std::hash::{BuildHasher, Hasher};
            let state = std::collections::hash_map::RandomState::new();
            let mut h1 = state.build_hasher();
            h1.write_u64(u64::from(std::process::id()));
            let mut h2 = state.build_hasher();
            h2.write_u64(h1.finish());
            (h1.finish(), h2.finish())
        });
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let hi = mix(a ^ n);
        let lo = mix(b.wrapping_add(n));
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&hi.to_be_bytes());
        bytes[8..].copy_from_slice(&lo.to_be_bytes());
        let mut buf = [0u8; 32];
        crate::hex::write_hex(&bytes, &mut buf);
        RequestId::of(Repr::Generated(buf))
    }

    /// The id of a request stored earlier (an operation's), or a new one if it is not well
    /// formed.
    #[cfg(feature = "operations")]
    pub(crate) fn restored(id: &str) -> Self {
        match HeaderValue::from_str(id) {
            Ok(v) if is_well_formed(v.as_bytes()) => RequestId::of(Repr::Incoming(v)),
            _ => RequestId::generate(),
        }
    }

    fn of(repr: Repr) -> Self {
        RequestId {
            repr,
            #[cfg(feature = "otel")]
            trace: None,
        }
    }

    /// Keeps the ids of the request's server span with its id.
    #[cfg(feature = "otel")]
    pub(crate) fn with_trace(mut self, trace: Option<crate::otel::TraceIds>) -> Self {
        self.trace = trace;
        self
    }

    /// The request's trace id for the error envelope: 32 hex digits, when the request is traced
    /// and sampled.
    #[cfg(feature = "otel")]
    pub(crate) fn trace_id(&self) -> Option<crate::otel::Hex<32>> {
        self.trace.and_then(|t| t.sampled_trace_hex())
    }

    /// `traceparent` for a call made on behalf of this request (feature `otel`).
    pub(crate) fn traceparent(&self) -> Option<HeaderValue> {
        #[cfg(feature = "otel")]
        return self.trace.map(|t| t.traceparent());
        #[cfg(not(feature = "otel"))]
        None
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        match &self.repr {
            // Both are checked ASCII.
            Repr::Generated(buf) => std::str::from_utf8(buf).unwrap_or_default(),
            Repr::Incoming(v) => v.to_str().unwrap_or_default(),
        }
    }

    pub(crate) fn header_value(&self) -> HeaderValue {
        match &self.repr {
            Repr::Generated(buf) => {
                HeaderValue::from_bytes(buf).unwrap_or(HeaderValue::from_static("invalid"))
            }
            Repr::Incoming(v) => v.clone(),
        }
    }
}

/// In a plain axum handler: the request's id, as [`RequestLayer`](crate::RequestLayer) set it
/// (without the layer, the incoming one if well formed, else a new one that is not echoed).
impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(RequestId::from_headers(&parts.headers))
    }
}

/// splitmix64's finaliser: spreads a counter into well-mixed bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn is_well_formed(v: &[u8]) -> bool {
    (1..=128).contains(&v.len())
        && v.iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequestId").field(&self.as_str()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_well_formed_incoming_ids_only() {
        let mut h = HeaderMap::new();
        h.insert(HEADER, HeaderValue::from_static("abc-123.x_y:z"));
        assert_eq!(RequestId::from_headers(&h).as_str(), "abc-123.x_y:z");
        h.insert(HEADER, HeaderValue::from_static("has space"));
        let generated = RequestId::from_headers(&h);
        assert_eq!(generated.as_str().len(), 32);
        assert_ne!(generated.as_str(), "has space");
    }

    #[test]
    fn generated_ids_differ() {
        let a = RequestId::generate();
        let b = RequestId::generate();
        assert_ne!(a.as_str(), b.as_str());
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
