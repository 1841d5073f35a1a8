#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod assembly;
mod declare;
#[cfg(not(all(feature = "auth-store", feature = "settings-page")))]
mod gates;
mod hex;
mod lifecycle;
mod manifest;
#[cfg(feature = "metrics")]
mod metrics;
mod mount;
#[cfg(feature = "operations")]
#[cfg_attr(docsrs, doc(cfg(feature = "operations")))]
pub mod operations;
#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub mod otel;
mod policy;
mod redact;
mod request;
#[cfg(feature = "serve")]
mod serve;
#[cfg(feature = "auth-store")]
mod store;
#[cfg(any(feature = "client-tls", feature = "redis-tls"))]
mod tls;

pub mod auth;

pub mod openapi;

/// A plugin's typed configuration (`#[plugin(config = T)]`), read from prefixed environment
/// variables and files and checked whole before the server listens.
#[cfg(feature = "config")]
pub mod config {
    pub use crate::lifecycle::Secret;
    pub use crate::lifecycle::config::*;
}
pub mod reach;
pub mod testing;

/// Opening the database the built-in store (and a server's plugins) share: SQLite or PostgreSQL.
#[cfg(feature = "auth-store")]
pub mod database;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The parsers the fuzz targets in `tests/fuzz` drive directly (built with `--cfg fuzzing` only;
/// not an API).
#[doc(hidden)]
#[cfg(fuzzing)]
pub mod __fuzz {
    /// One Redis reply from the front of `buf`: the bytes it took, `None` if more are needed.
    #[cfg(feature = "redis")]
    pub fn redis_reply(buf: &[u8]) -> Result<Option<usize>, String> {
        crate::policy::redis_reply(buf).map(|parsed| parsed.map(|(_, used)| used))
    }

    /// Every whole event in `bytes`, as the typed client splits a stream: name and data.
    #[cfg(feature = "client")]
    pub fn events(bytes: &[u8]) -> Vec<(String, String)> {
        crate::client::split_events(bytes)
    }
}

#[cfg(feature = "client")]
pub mod client;

/// Emits its tokens when the `client` feature is on, and nothing otherwise: the generated
/// clients exist only where a build asked for one.
#[doc(hidden)]
#[cfg(feature = "client")]
#[macro_export]
macro_rules! __if_client {
    ($($t:tt)*) => { $($t)* };
}

/// Emits its tokens when the `config` feature is on; otherwise a compile error saying so.
#[doc(hidden)]
#[cfg(feature = "config")]
#[macro_export]
macro_rules! __if_config {
    ($($t:tt)*) => { $($t)* };
}

/// See the other definition.
#[doc(hidden)]
#[cfg(not(feature = "config"))]
#[macro_export]
macro_rules! __if_config {
    ($($t:tt)*) => {
        ::core::compile_error!(
            "`config = ...` on #[plugin] needs plugin-routes's `config` feature"
        );
    };
}

/// See the other definition.
#[doc(hidden)]
#[cfg(not(feature = "client"))]
#[macro_export]
macro_rules! __if_client {
    ($($t:tt)*) => {};
}

pub use assembly::App;
pub use auth::{Auth, AuthConfig, AuthMethod, Principal, Security};
pub use declare::{
    Concurrency, ConcurrencyLimit, ErrorDecl, InputLocation, LimitKey, Method, OperationDecl,
    PathParam, Permissions, PluginMeta, RateLimit, RouteMeta, SchemaFn,
};
pub use lifecycle::{Lifecycle, Missing, Readiness, ReadyCheck, StartFailed, Starting};
pub use manifest::manifest;
#[cfg(feature = "metrics")]
pub use metrics::Metrics;
pub use mount::Plugin;
#[cfg(feature = "redis")]
pub use policy::RedisLimits;
pub use policy::{LimitOverride, LimitStore, ServerConfig, WhenUnreachable};
pub use redact::redacted_url;
pub use request::{
    ApiError, Ctx, Details, FieldError, FrameworkCode, Location, REQUEST_ID_HEADER, RequestFuture,
    RequestId, RequestLayer, RequestService, RouteError, RouteResult,
};
pub use request::{
    Binary, ClientAddr, Conditional, EmptyOutput, EventStream, Html, IfNoneMatch, RawJson,
    RouteOutput, StreamEvent, TrustedProxies, WithHeaders,
};
#[cfg(feature = "serve")]
pub use serve::{Serve, serve};

/// The W3C `traceparent` to send on a call made for the request being served, with its server
/// span as the caller's parent: the header an outbound HTTP call (to an upstream API, a git
/// remote) carries so the trace continues there. `None` outside a handler of a traced request,
/// and always without the `otel` feature, so a plugin calls it whatever the host's features.
///
/// It reads the current OpenTelemetry context, which is the request's while its handler runs;
/// in a stream's body, which runs after the handler returned, use
/// [`Ctx::traceparent`](crate::Ctx::traceparent).
pub fn traceparent() -> Option<http::HeaderValue> {
    #[cfg(feature = "otel")]
    return otel::current_traceparent();
    #[cfg(not(feature = "otel"))]
    None
}

/// The caller's W3C `tracestate`, to send with [`traceparent`] on a call made for the request
/// being served (the specification asks that it be passed on); `None` when the caller sent none,
/// outside a traced request, and without the `otel` feature.
pub fn tracestate() -> Option<http::HeaderValue> {
    #[cfg(feature = "otel")]
    return otel::current_tracestate();
    #[cfg(not(feature = "otel"))]
    None
}

/// `future`, kept in the trace of the request being served wherever it is polled: wrap a future
/// before `tokio::spawn`, so the calls it makes ([`traceparent`]) continue the request's trace
/// and the host's own spans nest under the request's. Without the `otel` feature, or outside a
/// traced request, it is `future` as it was.
///
/// ```
/// # async fn ask_upstream() {}
/// # async fn handler() {
/// let call = tokio::spawn(plugin_routes::in_current_trace(async move {
///     ask_upstream().await
/// }));
/// # let _ = call.await;
/// # }
/// ```
pub fn in_current_trace<F: std::future::Future>(
    future: F,
) -> impl std::future::Future<Output = F::Output> {
    #[cfg(feature = "otel")]
    return opentelemetry::context::FutureExt::with_current_context(future);
    #[cfg(not(feature = "otel"))]
    future
}

/// The `http` crate's types (`HeaderName`, `HeaderValue`, `StatusCode`, `header::*`), as
/// [`WithHeaders`] takes them.
pub use http;

#[doc = include_str!("../docs/plugin_route.md")]
pub use plugin_routes_macros::plugin_route;

#[doc = include_str!("../docs/plugin.md")]
pub use plugin_routes_macros::plugin;

/// [`plugins!`], giving the assembled [`App`] instead of its router alone: the router, and the
/// OpenAPI documents and manifest it serves, to export from the same program.
///
/// ```
/// # use plugin_routes::prelude::*;
/// # #[plugin_route(method = "GET", path = "/ping", status = 204)]
/// # async fn ping() -> RouteResult<()> { Ok(()) }
/// # #[plugin(name = "a", version = "1.0.0", security(none), routes(ping))]
/// # pub struct APlugin;
/// let app = plugin_routes::app![APlugin::new()];
/// assert!(app.documents().iter().any(|(name, _)| name == "plugins/a.json"));
/// assert_eq!(app.manifest()["plugins"][0]["name"], "a");
/// let router: axum::Router = app.into_router();
/// # let _ = router;
/// ```
pub use plugin_routes_macros::app;
#[doc = include_str!("../docs/plugins.md")]
pub use plugin_routes_macros::plugins;

/// Everything a plugin author usually needs, plus the derives for input and output types.
pub mod prelude {
    pub use crate::{
        AuthMethod, Ctx, Plugin, Principal, RouteError, RouteResult, ServerConfig, plugin,
        plugin_route, plugins,
    };
    pub use garde::Validate;
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
}
