//! OpenTelemetry traces (feature `otel`): one server span per request of a generated route,
//! named and attributed by the HTTP semantic conventions, child of the caller's W3C
//! `traceparent`.
//!
//! The host builds the [`SdkTracerProvider`] with
//! the exporter and sampler it wants and gives it to
//! [`ServerConfig::with_tracer_provider`](crate::ServerConfig::with_tracer_provider). What a
//! route does per request is decided at mount: its span's name (`GET /v1/plugins/items/items/{id}`)
//! and its `http.route` are made once and shared by every request. The attributes are set after
//! the sampler decided, so a request it drops allocates two blocks (the context that carries the
//! span to the handler, and the SDK's), and a sampled one five (its attribute list, grown once,
//! and its `url.path` besides); the batch processor then takes the span off the request's path.
//! `cargo xtask bench-metrics` measures both (BENCHMARKS.md).
//!
//! While the handler runs, its span is the current OpenTelemetry context: the host's own
//! instrumentation nests under it, and [`traceparent`](crate::traceparent) gives the header for
//! a call the handler makes.
//!
//! This module re-exports the two crates at the versions this crate uses, so a host builds its
//! tracer provider with the same ones: [`opentelemetry_sdk`] (the provider, samplers, the
//! batch processor) and [`opentelemetry`] (the API).

use crate::declare::{PluginMeta, RouteMeta};
use http::{HeaderMap, HeaderValue, StatusCode};
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{
    Span as _, SpanContext, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, InstrumentationScope, Key, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use std::collections::HashSet;
use std::sync::Mutex;

pub use opentelemetry;
pub use opentelemetry_sdk;

const HTTP_REQUEST_METHOD: Key = Key::from_static_str("http.request.method");
const HTTP_ROUTE: Key = Key::from_static_str("http.route");
const HTTP_RESPONSE_STATUS_CODE: Key = Key::from_static_str("http.response.status_code");
const URL_PATH: Key = Key::from_static_str("url.path");
const URL_SCHEME: Key = Key::from_static_str("url.scheme");
const NETWORK_PROTOCOL_VERSION: Key = Key::from_static_str("network.protocol.version");
const ERROR_TYPE: Key = Key::from_static_str("error.type");
const PLUGIN_NAME: Key = Key::from_static_str("plugin.name");
const PLUGIN_ERROR_CODE: Key = Key::from_static_str("plugin.error.code");
const TRACEPARENT: http::HeaderName = http::HeaderName::from_static("traceparent");

/// The server's tracer: every route's spans are made by it. Two are equal when they are the
/// same tracer (a configuration cloned).
#[derive(Clone, Debug)]
pub(crate) struct Tracing {
    tracer: std::sync::Arc<SdkTracer>,
}

impl PartialEq for Tracing {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.tracer, &other.tracer)
    }
}

impl Eq for Tracing {}

impl Tracing {
    pub(crate) fn new(provider: &SdkTracerProvider) -> Self {
        let scope = InstrumentationScope::builder("plugin-routes")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        Tracing {
            tracer: std::sync::Arc::new(provider.tracer_with_scope(scope)),
        }
    }

    /// What one route's requests are traced with; `template` is its full path.
    pub(crate) fn route(
        &self,
        plugin: &'static PluginMeta,
        meta: &'static RouteMeta,
        template: &str,
    ) -> RouteTracer {
        let method = meta.method.as_str();
        RouteTracer {
            tracer: SdkTracer::clone(&self.tracer),
            name: intern(format!("{method} {template}")),
            route: intern(template.to_owned()),
            method,
            plugin: plugin.name,
        }
    }
}

/// The names spans and routes are known by, made once per distinct route for the life of the
/// process (a route mounted again, by another app, reuses them).
fn intern(s: String) -> &'static str {
    static NAMES: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut names = NAMES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let names = names.get_or_insert_with(HashSet::new);
    if let Some(known) = names.get(s.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(s.into_boxed_str());
    names.insert(leaked);
    leaked
}

/// One route's tracer, with its span's name and attributes made at mount.
#[derive(Debug)]
pub(crate) struct RouteTracer {
    tracer: SdkTracer,
    name: &'static str,
    route: &'static str,
    method: &'static str,
    plugin: &'static str,
}

impl RouteTracer {
    /// Starts the server span of a request, child of its `traceparent` when it has a valid one;
    /// the context returned carries it.
    pub(crate) fn start(&self, parts: &http::request::Parts) -> Context {
        // Most requests come without a trace: one lookup by a known name, not the propagator's
        // two by text.
        let parent = if parts.headers.contains_key(TRACEPARENT) {
            TraceContextPropagator::new()
                .extract_with_context(&Context::new(), &Headers(&parts.headers))
        } else {
            Context::new()
        };
        let version = match parts.version {
            http::Version::HTTP_10 => "1.0",
            http::Version::HTTP_2 => "2",
            http::Version::HTTP_3 => "3",
            _ => "1.1",
        };
        // The attributes are set once the sampler has decided, so a request it drops makes none
        // of them (a sampler sees the span's name, which holds the method and the route).
        // Most requests are not sampled where traffic is heavy: this is what they cost least
        // with (BENCHMARKS.md, issue 29).
        let mut span = self
            .tracer
            .span_builder(self.name)
            .with_kind(SpanKind::Server)
            .start_with_context(&self.tracer, &parent);
        if span.is_recording() {
            span.set_attributes([
                KeyValue::new(HTTP_REQUEST_METHOD, self.method),
                KeyValue::new(HTTP_ROUTE, self.route),
                KeyValue::new(URL_PATH, parts.uri.path().to_owned()),
                KeyValue::new(URL_SCHEME, "http"),
                KeyValue::new(NETWORK_PROTOCOL_VERSION, version),
                KeyValue::new(PLUGIN_NAME, self.plugin),
            ]);
        }
        parent.with_span(span)
    }
}

/// Ends a request's server span with the response's status, and with the error code of a
/// failure (`error.type` and an error status for a 5xx, as the conventions ask).
pub(crate) fn end(cx: &Context, status: StatusCode, code: Option<&'static str>) {
    let span = cx.span();
    if span.is_recording() {
        span.set_attribute(KeyValue::new(
            HTTP_RESPONSE_STATUS_CODE,
            i64::from(status.as_u16()),
        ));
        if let Some(code) = code {
            span.set_attribute(KeyValue::new(PLUGIN_ERROR_CODE, code));
        }
        if status.is_server_error() {
            let kind = code.unwrap_or("_OTHER");
            span.set_attribute(KeyValue::new(ERROR_TYPE, kind));
            span.set_status(Status::error(kind));
        }
    }
    span.end();
}

/// The ids of a request's span, kept with its request id: the trace id for the error envelope,
/// the span id as the parent of the calls its handler makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TraceIds {
    trace: [u8; 16],
    span: [u8; 8],
    sampled: bool,
}

impl TraceIds {
    /// The ids of the span `cx` carries, if it is valid.
    pub(crate) fn of(cx: &Context) -> Option<Self> {
        let span = cx.span();
        let sc: &SpanContext = span.span_context();
        sc.is_valid().then(|| TraceIds {
            trace: sc.trace_id().to_bytes(),
            span: sc.span_id().to_bytes(),
            sampled: sc.is_sampled(),
        })
    }

    /// The trace id in lowercase hex, for the error envelope; `None` for a trace not sampled
    /// (nothing of it is recorded, so there is nothing to look up).
    pub(crate) fn sampled_trace_hex(&self) -> Option<Hex<32>> {
        self.sampled.then(|| Hex::of(&self.trace))
    }

    /// `traceparent` for a call made on behalf of this request: this span as the parent, its
    /// sampling decision passed on.
    pub(crate) fn traceparent(&self) -> HeaderValue {
        let mut buf = [0u8; 55];
        buf[..3].copy_from_slice(b"00-");
        buf[3..35].copy_from_slice(&Hex::<32>::of(&self.trace).0);
        buf[35] = b'-';
        buf[36..52].copy_from_slice(&Hex::<16>::of(&self.span).0);
        buf[52] = b'-';
        buf[53..].copy_from_slice(if self.sampled { b"01" } else { b"00" });
        // Hex digits and dashes are valid header bytes.
        HeaderValue::from_bytes(&buf).unwrap_or(HeaderValue::from_static(""))
    }
}

/// `N` lowercase hex digits in an inline buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hex<const N: usize>([u8; N]);

impl<const N: usize> Hex<N> {
    fn of(bytes: &[u8]) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [b'0'; N];
        for (i, b) in bytes.iter().take(N / 2).enumerate() {
            out[2 * i] = DIGITS[usize::from(b >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(b & 0xf)];
        }
        Hex(out)
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII hex digits are written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl<const N: usize> serde::Serialize for Hex<N> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The `traceparent` to send on a call made for the request being served: its server span as
/// the parent. `None` outside a traced request (or without the `otel` feature).
pub(crate) fn current_traceparent() -> Option<HeaderValue> {
    TraceIds::of(&Context::current()).map(|ids| ids.traceparent())
}

/// A request's headers, as the propagator reads them.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_the_w3c_form() {
        let ids = TraceIds {
            trace: [0xab; 16],
            span: [0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef],
            sampled: true,
        };
        assert_eq!(
            ids.traceparent(),
            "00-abababababababababababababababab-0123456789abcdef-01"
        );
        let unsampled = TraceIds {
            sampled: false,
            ..ids
        };
        assert!(unsampled.traceparent().to_str().unwrap().ends_with("-00"));
        assert!(unsampled.sampled_trace_hex().is_none());
        assert_eq!(
            ids.sampled_trace_hex().unwrap().as_str(),
            "abababababababababababababababab"
        );
    }

    #[test]
    fn names_are_made_once() {
        let a = intern("GET /a/{id}".to_owned());
        let b = intern("GET /a/{id}".to_owned());
        assert!(std::ptr::eq(a, b));
    }
}
