//! [`Assembly`]: what `plugins![...]` expands to. It mounts each plugin with the server's
//! defaults and authenticator, builds the OpenAPI documents once from what the plugins declare,
//! and answers everything no route matches (404, 405) in the one envelope.

use crate::declare::{PluginMeta, served_routes};
use crate::mount::Plugin;
use crate::policy::{Authenticator, ServerConfig, SharedAuthenticator};
use crate::request::{ApiError, FrameworkCode, RequestId};
use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use plugin_rules::full_path;

/// Collects plugins into one router; used by `plugins![]`.
#[doc(hidden)]
#[derive(Debug)]
pub struct Assembly {
    config: ServerConfig,
    auth: Option<SharedAuthenticator>,
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

    /// Checks the credentials of requests to every route that is not public with `auth`, and
    /// counts its failures per client address in the configuration's limit store.
    #[must_use]
    pub fn with_auth(mut self, auth: impl Authenticator) -> Self {
        self.auth = Some(SharedAuthenticator::counting_in(
            auth,
            self.config.limit_store().clone(),
            *self.config.auth_failure_limit(),
        ));
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
    ///
    /// # Panics
    /// When no authenticator was given and a route needs one through the server's default
    /// security (the compile-time check cannot see a `ServerConfig` built at run time): the
    /// server refuses to start, naming the routes and the two ways to fix it.
    pub fn finish(self) -> Router {
        if self.auth.is_none() {
            let unprotected = self.needing_authentication();
            assert!(
                unprotected.is_empty(),
                "these routes need authentication, but plugins![...] has nothing to check credentials with: {}; \
                 add `auth = <an Authenticator>;` to plugins![...] (the built-in store is `plugin_runtime::auth::Auth`), \
                 or declare `security(none)` on the routes or their plugins if they are public",
                unprotected.join(", ")
            );
        }
        let specs = crate::openapi::Specs::build(&self.config, &self.plugins);
        self.router
            .merge(specs.router(self.config.docs()))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
    }

    /// `GET /v1/plugins/items/items`, ... for every route whose security is not public.
    fn needing_authentication(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.plugins {
            for r in served_routes(p) {
                if !self.config.security_for(p, r).0.is_public() {
                    out.push(format!(
                        "{} {}",
                        r.method.as_str(),
                        full_path(p.base_path, r.path)
                    ));
                }
            }
        }
        out
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
