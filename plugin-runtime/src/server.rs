//! Mounting plugins into one axum `Router`: limits resolved per route (route, then plugin, then
//! server), the default health endpoint, and the framework's 404 and 405 in the one envelope.

use crate::auth::{Auth, Security};
use crate::endpoint::RouteRuntime;
use crate::error::{ApiError, FrameworkCode};
use crate::meta::{PluginMeta, RouteMeta};
use crate::plugin::{Plugin, Route};
use crate::request_id::{self, RequestId};
use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderValue, header};
use plugin_rules::full_path;
use std::sync::Arc;
use std::time::Duration;

/// Server-wide defaults for routes that set neither their own value nor their plugin's.
/// Also what the OpenAPI documents say about the API as a whole, and whether Swagger UI is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    timeout: Duration,
    body_limit: usize,
    title: &'static str,
    api_version: &'static str,
    docs: bool,
    security: Security,
}

impl Default for ServerConfig {
    /// 60 s timeout, 1 MiB body limit, documents titled "API" at version 1.0.0, Swagger UI on,
    /// routes that declare nothing need `security(user, token)`.
    fn default() -> Self {
        ServerConfig {
            timeout: Duration::from_secs(60),
            body_limit: 1024 * 1024,
            title: "API",
            api_version: "1.0.0",
            docs: true,
            security: Security::DEFAULT,
        }
    }
}

impl ServerConfig {
    /// Sets the default route timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the default body limit in bytes.
    #[must_use]
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Sets the title and version in the `info` of the OpenAPI documents.
    #[must_use]
    pub fn with_api_info(mut self, title: &'static str, version: &'static str) -> Self {
        self.title = title;
        self.api_version = version;
        self
    }

    /// Leaves out Swagger UI (`/docs`); the documents are still served.
    #[must_use]
    pub fn without_docs(mut self) -> Self {
        self.docs = false;
        self
    }

    /// Sets the security of routes whose route and plugin declare none (`security(user, token)`
    /// by default).
    #[must_use]
    pub fn with_default_security(mut self, security: Security) -> Self {
        self.security = security;
        self
    }

    /// The security in force for `route` of `plugin` and the scopes it requires: the route's
    /// `security`, else the plugin's, else this default; the route's `permissions`, else the
    /// plugin's. A public route requires no scopes.
    pub fn security_for(
        &self,
        plugin: &PluginMeta,
        route: &RouteMeta,
    ) -> (Security, &'static [&'static str]) {
        let security = route.security.or(plugin.security).unwrap_or(self.security);
        if security.is_public() {
            return (security, &[]);
        }
        (
            security,
            route.permissions.or(plugin.permissions).unwrap_or(&[]),
        )
    }

    /// The API's title in the documents.
    pub fn title(&self) -> &'static str {
        self.title
    }

    /// The API's version in the documents.
    pub fn api_version(&self) -> &'static str {
        self.api_version
    }

    /// Whether Swagger UI is served at `/docs`.
    pub fn docs(&self) -> bool {
        self.docs
    }

    /// The timeout in force for `route` of `plugin`: the route's `timeout_ms`, else the plugin's,
    /// else this default. Mounting, the documents and the manifest all ask here.
    pub fn timeout_for(&self, plugin: &PluginMeta, route: &RouteMeta) -> Duration {
        route
            .timeout_ms
            .or(plugin.timeout_ms)
            .map_or(self.timeout, Duration::from_millis)
    }

    /// The body limit in force for `route` of `plugin`, in bytes, resolved like
    /// [`ServerConfig::timeout_for`].
    pub fn body_limit_for(&self, plugin: &PluginMeta, route: &RouteMeta) -> usize {
        route
            .body_limit
            .or(plugin.body_limit)
            .map_or(self.body_limit, |b| {
                usize::try_from(b).unwrap_or(usize::MAX)
            })
    }

    /// The default route timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The default body limit in bytes.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }
}

/// Builds one plugin's router; used by the code `#[plugin]` generates.
#[doc(hidden)]
pub struct Mounter<S> {
    plugin: &'static PluginMeta,
    state: Arc<S>,
    server: ServerConfig,
    auth: Option<Auth>,
    router: Router,
}

impl<S> std::fmt::Debug for Mounter<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mounter")
            .field("plugin", &self.plugin.name)
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync + 'static> Mounter<S> {
    pub fn new(plugin: &'static PluginMeta, state: Arc<S>, server: &ServerConfig) -> Self {
        Mounter {
            plugin,
            state,
            server: *server,
            auth: None,
            router: Router::new(),
        }
    }

    /// The authentication its routes check credentials against; without it, every route that
    /// is not public answers 401.
    #[must_use]
    pub fn with_auth(mut self, auth: Option<Auth>) -> Self {
        self.auth = auth;
        self
    }

    pub fn add<R: Route<S>>(&mut self, route: R) {
        let meta = route.meta();
        if meta.is_fallback() {
            return;
        }
        let (security, permissions) = self.server.security_for(self.plugin, meta);
        let runtime = RouteRuntime {
            state: Arc::clone(&self.state),
            plugin: self.plugin,
            route: meta,
            timeout: self.server.timeout_for(self.plugin, meta),
            body_limit: self.server.body_limit_for(self.plugin, meta),
            security,
            permissions,
            auth: self.auth.clone(),
        };
        let path = full_path(self.plugin.base_path, meta.path);
        let router = std::mem::take(&mut self.router);
        self.router = router.route(&path, route.method_router(runtime));
    }

    pub fn finish(self) -> Router {
        if self.plugin.declares_health() {
            return self.router;
        }
        let health_body = Health {
            status: "healthy",
            plugin: self.plugin.name,
            version: self.plugin.version,
        };
        // Serialized once here; each request clones the bytes (a reference count).
        let body = Bytes::from(serde_json::to_vec(&health_body).unwrap_or_default());
        let path = full_path(self.plugin.base_path, "/health");
        self.router.route(
            &path,
            axum::routing::get(move |request: Request| async move { health(&request, body) }),
        )
    }
}

fn health(request: &Request, body: Bytes) -> Response {
    let request_id = RequestId::from_headers(request.headers());
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(request_id::HEADER, request_id.header_value());
    response
}

/// What the default `GET <base>/health` answers.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub(crate) struct Health {
    /// Always `healthy` while the plugin is mounted.
    status: &'static str,
    /// The plugin's name.
    plugin: &'static str,
    /// The plugin's version.
    version: &'static str,
}

/// Collects plugins into one router; used by `plugins![]`.
#[doc(hidden)]
#[derive(Debug)]
pub struct Assembly {
    config: ServerConfig,
    auth: Option<Auth>,
    router: Router,
    plugins: Vec<&'static PluginMeta>,
}

impl Assembly {
    pub fn new(config: ServerConfig) -> Self {
        Assembly {
            config,
            auth: None,
            router: Router::new(),
            plugins: Vec::new(),
        }
    }

    /// Checks credentials with `auth` and serves its routes under `/v1/auth` and the settings
    /// page at `/settings`.
    #[must_use]
    pub fn with_auth(mut self, auth: &Auth) -> Self {
        self.router = self.router.merge(crate::auth::router(auth, &self.config));
        self.plugins.push(crate::auth::META);
        self.auth = Some(auth.clone());
        self
    }

    #[must_use]
    pub fn mount<P: Plugin>(mut self, plugin: P) -> Self {
        self.router = self
            .router
            .merge(plugin.mount(&self.config, self.auth.as_ref()));
        self.plugins.push(P::META);
        self
    }

    /// The router, with the OpenAPI documents (built here, once) and Swagger UI.
    pub fn finish(self) -> Router {
        let specs = crate::openapi::Specs::build(&self.config, &self.plugins);
        self.router
            .merge(specs.router(self.config.docs()))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
    }
}

async fn not_found(request: Request) -> Response {
    let request_id = RequestId::from_headers(request.headers());
    ApiError::framework(
        FrameworkCode::NotFound,
        format!("no route for {} {}", request.method(), request.uri().path()),
    )
    .into_response(&request_id)
}

/// axum adds the `Allow` header listing the methods the path does serve.
async fn method_not_allowed(request: Request) -> Response {
    let request_id = RequestId::from_headers(request.headers());
    ApiError::framework(
        FrameworkCode::MethodNotAllowed,
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
    .into_response(&request_id)
}
