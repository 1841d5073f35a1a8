//! OpenTelemetry traces (feature `otel`): one server span per request of a generated route,
//! named and attributed by the HTTP semantic conventions, child of the caller's W3C
//! `traceparent`.
//!
//! The host builds the [`SdkTracerProvider`] with
//! the exporter and sampler it wants and gives it to
//! [`ServerConfig::with_tracer_provider`](crate::ServerConfig::with_tracer_provider). What a
//! route does per request is decided at mount: its span's name (`GET /v1/plugins/items/items/{id}`)
//! and its `http.route` are made once and shared by every request. The attributes are set after
//! the sampler decided, so a request it drops allocates one block (the context that carries the
//! span's ids to the handler), and a sampled one five (its attribute list, grown once,
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

use crate::declare::{Method, PluginMeta, RouteMeta};
use http::{HeaderMap, HeaderValue, StatusCode};
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{
    Span as _, SpanBuilder, SpanContext, SpanKind, Status, TraceContextExt, Tracer as _,
    TracerProvider as _,
};
use opentelemetry::{Context, InstrumentationScope, Key, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use std::borrow::Cow;
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
#[cfg(feature = "operations")]
const OPERATION_ID: Key = Key::from_static_str("plugin.operation.id");
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

    /// What the requests to `method template` are traced with: route `meta`'s own (`template` is
    /// its full path), or those of its operations' resources.
    pub(crate) fn route(
        &self,
        plugin: &'static PluginMeta,
        meta: &'static RouteMeta,
        method: Method,
        template: &str,
    ) -> RouteTracer {
        let method = method.as_str();
        #[cfg(not(feature = "operations"))]
        let _ = meta;
        RouteTracer {
            tracer: SdkTracer::clone(&self.tracer),
            name: intern(format!("{method} {template}")),
            #[cfg(feature = "operations")]
            run_name: intern(format!("operation {}/{}", plugin.name, meta.handler)),
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
    /// The span of an operation's run: `operation <plugin>/<handler>`.
    #[cfg(feature = "operations")]
    run_name: &'static str,
    route: &'static str,
    method: &'static str,
    plugin: &'static str,
}

impl RouteTracer {
    /// Starts the server span of a request, child of its `traceparent` when it has a well-formed
    /// one (W3C Trace Context: anything else starts a new trace).
    pub(crate) fn start(&self, parts: &http::request::Parts) -> ServerSpan {
        // Most requests come without a trace: one lookup by a known name, not the propagator's
        // two by text.
        let parent = match parts.headers.get(TRACEPARENT) {
            Some(value) if well_formed(value.as_bytes()) => TraceContextPropagator::new()
                .extract_with_context(&Context::new(), &Headers(&parts.headers)),
            _ => Context::new(),
        };
        // The attributes are set once the sampler has decided, so a request it drops makes none
        // of them (a sampler sees the span's name, which holds the method and the route).
        // Most requests are not sampled where traffic is heavy: this is what they cost least
        // with (BENCHMARKS.md, issue 29).
        let mut span = self.tracer.build_with_context(
            SpanBuilder {
                name: Cow::Borrowed(self.name),
                span_kind: Some(SpanKind::Server),
                ..SpanBuilder::default()
            },
            &parent,
        );
        if !span.is_recording() {
            return ServerSpan::dropped(&parent, &span);
        }
        let version = match parts.version {
            http::Version::HTTP_10 => "1.0",
            http::Version::HTTP_2 => "2",
            http::Version::HTTP_3 => "3",
            _ => "1.1",
        };
        // Under a host's `Router::nest`, the path (like the route) is the nested one: axum keeps
        // the original only with its `original-uri` feature, which costs every request a copy
        // of it.
        let path = parts.uri.path();
        let scheme = match parts.uri.scheme_str() {
            Some("https") => "https",
            _ => "http",
        };
        span.set_attributes([
            KeyValue::new(HTTP_REQUEST_METHOD, self.method),
            KeyValue::new(HTTP_ROUTE, self.route),
            KeyValue::new(URL_PATH, path.to_owned()),
            KeyValue::new(URL_SCHEME, scheme),
            KeyValue::new(NETWORK_PROTOCOL_VERSION, version),
            KeyValue::new(PLUGIN_NAME, self.plugin),
        ]);
        ServerSpan::recording(parent.with_span(span))
    }

    /// Starts the span of one run of an operation (a consumer's, as of work taken from a
    /// queue), child of the span of the request that started it (`traceparent`, as stored), so
    /// the run is in the caller's trace however long after, on whichever server.
    #[cfg(feature = "operations")]
    pub(crate) fn start_run(&self, traceparent: Option<&str>, operation: &str) -> ServerSpan {
        let parent = match traceparent {
            Some(value) if well_formed(value.as_bytes()) => {
                let mut headers = HeaderMap::new();
                if let Ok(value) = HeaderValue::from_str(value) {
                    headers.insert(TRACEPARENT, value);
                }
                TraceContextPropagator::new()
                    .extract_with_context(&Context::new(), &Headers(&headers))
            }
            _ => Context::new(),
        };
        let mut span = self
            .tracer
            .span_builder(self.run_name)
            .with_kind(SpanKind::Consumer)
            .start_with_context(&self.tracer, &parent);
        if !span.is_recording() {
            return ServerSpan::dropped(&parent, &span);
        }
        span.set_attributes([
            KeyValue::new(HTTP_ROUTE, self.route),
            KeyValue::new(PLUGIN_NAME, self.plugin),
            KeyValue::new(OPERATION_ID, operation.to_owned()),
        ]);
        ServerSpan::recording(parent.with_span(span))
    }
}

/// A request's server span, in the context that carries it to the handler. Ended with the
/// response by [`ServerSpan::end`]; a request dropped before it has one (the client went away)
/// ends it on drop, with `error.type` `cancelled`, so the span neither looks answered nor waits
/// for whatever still holds its context.
#[derive(Debug)]
pub(crate) struct ServerSpan {
    cx: Context,
    /// Whether the span records and is not ended yet. A span the sampler dropped has nothing
    /// to end: ending it anyway would read the clock for the end time it then throws away, the
    /// largest part of what ending costs (BENCHMARKS.md, issue 29).
    recording: bool,
}

impl ServerSpan {
    /// A span the sampler kept, in `cx`.
    fn recording(cx: Context) -> Self {
        ServerSpan {
            cx,
            recording: true,
        }
    }

    /// The context of a span the sampler dropped: only its ids and flags, which are all that a
    /// span recording nothing has to give (to the handler's own spans, and to `traceparent` on
    /// the calls it makes). Carrying the SDK's span object instead would cost a request an
    /// allocation and a lock more, for an `end` that does nothing.
    fn dropped(parent: &Context, span: &opentelemetry_sdk::trace::Span) -> Self {
        // Despite the method's name, the span context is kept as it is: the SDK made it local
        // (`is_remote` false), so a `ParentBased` sampler of the handler's own spans still sees
        // a local parent that was not sampled.
        ServerSpan {
            cx: parent.with_remote_span_context(span.span_context().clone()),
            recording: false,
        }
    }

    /// The context carrying the span.
    pub(crate) fn context(&self) -> &Context {
        &self.cx
    }

    /// Ends the span with the response's status, and with the error code of a failure
    /// (`error.type` and an error status for a 5xx, as the conventions ask; a 4xx is the
    /// client's).
    pub(crate) fn end(mut self, status: StatusCode, code: Option<&'static str>) {
        if !std::mem::replace(&mut self.recording, false) {
            return;
        }
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(
            HTTP_RESPONSE_STATUS_CODE,
            i64::from(status.as_u16()),
        ));
        if let Some(code) = code {
            span.set_attribute(KeyValue::new(PLUGIN_ERROR_CODE, code));
        }
        if status.is_server_error() {
            let kind = code.unwrap_or_else(|| server_error_text(status));
            span.set_attribute(KeyValue::new(ERROR_TYPE, kind));
            // The conventions leave the description out: the status code says it.
            span.set_status(Status::error(""));
        }
        span.end();
    }
}

impl Drop for ServerSpan {
    fn drop(&mut self) {
        if self.recording {
            let span = self.cx.span();
            span.set_attribute(KeyValue::new(ERROR_TYPE, "cancelled"));
            span.end();
        }
    }
}

/// A 5xx status as the conventions' `error.type` names one without a code of its own.
fn server_error_text(status: StatusCode) -> &'static str {
    match status.as_u16() {
        500 => "500",
        501 => "501",
        502 => "502",
        503 => "503",
        504 => "504",
        505 => "505",
        506 => "506",
        507 => "507",
        508 => "508",
        510 => "510",
        511 => "511",
        _ => "_OTHER",
    }
}

/// Whether `value` is a `traceparent` W3C Trace Context accepts: `version-traceid-parentid-flags`
/// in lowercase hex, version `00` exactly 55 characters, a later version at least that with
/// anything more after a `-`, version `ff` and all-zero ids refused. The SDK's parser is more
/// lenient (a short id, a sign, whitespace), and what a caller sends must not set a trace id
/// the specification would not.
fn well_formed(value: &[u8]) -> bool {
    let hex = |b: &[u8]| b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    let not_zero = |b: &[u8]| b.iter().any(|&c| c != b'0');
    if value.len() < 55 || !hex(&value[..2]) || &value[..2] == b"ff" {
        return false;
    }
    let fits = match &value[..2] {
        b"00" => value.len() == 55,
        _ => value.len() == 55 || value[55] == b'-',
    };
    fits && value[2] == b'-'
        && value[35] == b'-'
        && value[52] == b'-'
        && hex(&value[3..35])
        && not_zero(&value[3..35])
        && hex(&value[36..52])
        && not_zero(&value[36..52])
        && hex(&value[53..55])
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
        let mut out = [b'0'; N];
        crate::hex::write_hex(bytes, &mut out);
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

/// The caller's `tracestate`, to pass on with [`current_traceparent`]; `None` when it sent
/// none.
pub(crate) fn current_tracestate() -> Option<HeaderValue> {
    let cx = Context::current();
    let span = cx.span();
    let state = span.span_context().trace_state().header();
    HeaderValue::from_str(&state).ok().filter(|v| !v.is_empty())
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
    fn only_a_well_formed_traceparent_is_read() {
        let good = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        assert!(well_formed(good.as_bytes()));
        // A later version may carry more, after a dash.
        assert!(well_formed(
            b"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-more"
        ));
        for bad in [
            "00-1-2-1",
            "00-+af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x",
            " 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g",
        ] {
            assert!(!well_formed(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn names_are_made_once() {
        let a = intern("GET /a/{id}".to_owned());
        let b = intern("GET /a/{id}".to_owned());
        assert!(std::ptr::eq(a, b));
    }
}
