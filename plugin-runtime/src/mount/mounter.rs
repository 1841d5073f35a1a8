//! [`Mounter`]: builds one plugin's router, each route with its limits and security resolved.

use super::endpoint::RouteRuntime;
use super::plugin::Route;
use crate::declare::{ConcurrencyLimit, PluginMeta, RouteMeta};
use crate::policy::{Capper, Limiter, ServerConfig, SharedAuthenticator};
use crate::reach::{Placeholders, Reach};
use axum::Router;
use axum::routing::MethodRouter;
use plugin_routes_rules::full_path;
use std::sync::Arc;

/// Builds one plugin's router; used by the code `#[plugin]` generates.
#[doc(hidden)]
pub struct Mounter<S> {
    plugin: &'static PluginMeta,
    state: Arc<S>,
    server: ServerConfig,
    auth: Option<SharedAuthenticator>,
    placeholders: Placeholders,
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
            server: server.clone(),
            auth: None,
            placeholders: Placeholders::new(),
            router: Router::new(),
        }
    }

    /// The authentication its routes check credentials against; without it, every route that
    /// is not public answers 401.
    #[must_use]
    pub fn with_auth(mut self, auth: Option<SharedAuthenticator>) -> Self {
        self.auth = auth;
        self
    }

    /// The values of the placeholders its routes' `permissions(...)` name.
    #[must_use]
    pub fn with_placeholders(mut self, placeholders: Placeholders) -> Self {
        self.placeholders = placeholders;
        self
    }

    /// The handle through which the route's code reaches processes, files, the network and
    /// the environment; `None` when its permissions allow nothing (the handler then gets a
    /// handle that refuses everything, made only if it asks).
    ///
    /// # Panics
    /// When a placeholder its permissions name has no value (or a value of the wrong shape):
    /// like a route conflict in axum, a mistake in assembling the application, reported before
    /// it serves.
    fn reach_for(&self, meta: &'static RouteMeta) -> Option<Reach> {
        let permissions = meta.effective_permissions(self.plugin);
        if permissions.is_empty() {
            return None;
        }
        // Says once, at start, what the kernel enforces on the programs routes start.
        crate::reach::enforcement();
        let label = meta.label(self.plugin);
        match Reach::resolve(label, permissions, &self.placeholders) {
            Ok(reach) => Some(reach),
            Err(e) => panic!(
                "plugin `{}` cannot be assembled: {e}; give it with `{}::new(..).with_placeholder(\"name\", value)`",
                self.plugin.name, self.plugin.type_name
            ),
        }
    }

    pub fn add<R: Route<S>>(&mut self, route: R) {
        let meta = route.meta();
        if meta.is_fallback() {
            return;
        }
        let runtime = self.runtime_for(meta);
        #[cfg(feature = "operations")]
        if runtime.operation.is_some() {
            let path = full_path(&self.server.base_path_of(self.plugin), meta.path);
            for resource in super::operation::Resource::ALL {
                let at = resource.template(&path);
                let served = super::operation::resource_route(
                    self.resource_runtime(&runtime, resource, &at),
                    resource,
                );
                let router = std::mem::take(&mut self.router);
                self.router = router.route(&at, served);
            }
        }
        self.install(meta, route.method_router(runtime));
    }

    /// The server's operations for a route declared `operation`.
    ///
    /// # Panics
    /// When the route is one and the server has no operations: a mistake in assembling the
    /// application, reported before it serves.
    #[cfg(feature = "operations")]
    fn operation_for(&self, meta: &'static RouteMeta) -> Option<crate::operations::RouteOperation> {
        meta.operation?;
        let Some(operations) = self.server.operations() else {
            panic!(
                "route `{}` of plugin `{}` is declared `operation`, but the server has no operations: open them with `plugin_routes::operations::Operations::open(&database, settings)` and give them to `ServerConfig::with_operations`",
                meta.handler, self.plugin.name
            );
        };
        Some(super::operation::route_operation(
            operations,
            self.plugin,
            meta,
        ))
    }

    /// What serves one resource of an operation route's operations, at `template`: the route's
    /// callers, under the server's timeout (the route's is its run's), counted and traced as a
    /// route of its own, under no rate limit; its
    /// event streams count against the server's cap on streams per caller, with every other
    /// stream.
    #[cfg(feature = "operations")]
    fn resource_runtime(
        &self,
        runtime: &RouteRuntime<S>,
        resource: super::operation::Resource,
        template: &str,
    ) -> RouteRuntime<S> {
        let mut served = runtime.clone();
        // A read of the database, not the run: the server's timeout, not the route's.
        served.timeout = self.server.timeout();
        served.limiter = None;
        served.capper = match resource {
            super::operation::Resource::Events => self.server.stream_cap().map(|policy| {
                Arc::new(Capper::new(
                    policy,
                    self.server.limit_store(),
                    ConcurrencyLimit::STREAMS.to_owned(),
                ))
            }),
            _ => None,
        };
        #[cfg(feature = "metrics")]
        {
            served.metrics = self.server.metrics().map(|m| {
                m.route(
                    crate::metrics::route::Served {
                        plugin: self.plugin.name,
                        template: template.to_owned(),
                        method: resource.method().as_str(),
                        streams: matches!(resource, super::operation::Resource::Events),
                    },
                    std::iter::empty(),
                    served.capper.as_deref().map(Capper::name).into_iter(),
                )
            });
        }
        #[cfg(feature = "otel")]
        {
            served.tracer = self.server.tracing().map(|t| {
                Arc::new(t.route(self.plugin, runtime.route, resource.method(), template))
            });
        }
        #[cfg(not(any(feature = "metrics", feature = "otel")))]
        let _ = template;
        served
    }

    /// The route's limits and security, resolved against the server's settings. Generic only
    /// in the state, like [`Mounter::install`]: each route instantiates no more than `add`.
    fn runtime_for(&self, meta: &'static RouteMeta) -> RouteRuntime<S> {
        let (security, scopes) = self.server.security_for(self.plugin, meta);
        let limits = self.server.rate_limits_for(self.plugin, meta);
        let cap = self.server.concurrency_for(self.plugin, meta);
        RouteRuntime {
            #[cfg(feature = "metrics")]
            metrics: self.server.metrics().map(|m| {
                m.route(
                    crate::metrics::route::Served {
                        plugin: self.plugin.name,
                        template: full_path(&self.server.base_path_of(self.plugin), meta.path),
                        method: meta.method.as_str(),
                        streams: meta.streams(),
                    },
                    meta.effective_errors(self.plugin).map(|e| e.code),
                    limits.iter().map(|l| l.name).chain(cap.map(|c| c.name)),
                )
            }),
            #[cfg(feature = "otel")]
            tracer: self.server.tracing().map(|t| {
                Arc::new(t.route(
                    self.plugin,
                    meta,
                    meta.method,
                    &full_path(&self.server.base_path_of(self.plugin), meta.path),
                ))
            }),
            #[cfg(feature = "operations")]
            operation: self.operation_for(meta),
            state: Arc::clone(&self.state),
            plugin: self.plugin,
            route: meta,
            timeout: self.server.timeout_for(self.plugin, meta),
            body_limit: self.server.body_limit_for(self.plugin, meta),
            security,
            scopes,
            auth: self.auth.clone(),
            reach: self.reach_for(meta),
            limiter: Limiter::new(
                limits,
                self.server.limit_store(),
                format!("{}/{}", self.plugin.name, meta.handler),
            )
            .map(Arc::new),
            capper: cap.map(|policy| {
                // The server's stream cap counts a caller's streams on every route together.
                let scope = if policy.shared {
                    ConcurrencyLimit::STREAMS.to_owned()
                } else {
                    format!("{}/{}", self.plugin.name, meta.handler)
                };
                Arc::new(Capper::new(policy, self.server.limit_store(), scope))
            }),
        }
    }

    fn install(&mut self, meta: &'static RouteMeta, method_router: MethodRouter) {
        let path = full_path(&self.server.base_path_of(self.plugin), meta.path);
        let router = std::mem::take(&mut self.router);
        self.router = router.route(&path, method_router);
    }

    pub fn finish(self) -> Router {
        self.router
    }
}
