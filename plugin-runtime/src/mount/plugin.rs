//! The traits the macros implement: [`Plugin`] for a `#[plugin]` struct, [`Route`] for the
//! companion of each `#[plugin_route]`.

use super::endpoint::RouteRuntime;
use crate::declare::{PluginMeta, RouteMeta};
use crate::lifecycle::ReadyCheck;
use crate::policy::{ServerConfig, SharedAuthenticator};
use axum::Router;
use axum::routing::MethodRouter;

/// A plugin: a named, versioned set of routes sharing one state. Implemented by `#[plugin]`.
pub trait Plugin: Send + Sized + 'static {
    /// The state its handlers receive through `Ctx<State>`.
    type State: Send + Sync + 'static;

    /// What the plugin declares.
    const META: &'static PluginMeta;

    /// Builds the plugin's routes (and its default health endpoint) with `server`'s defaults,
    /// checking credentials with `auth` (without it, routes that are not public answer 401).
    /// `plugins![]` calls this; call it yourself only to mount a plugin by hand.
    fn mount(self, server: &ServerConfig, auth: Option<&SharedAuthenticator>) -> Router;

    /// Its `ready` hook bound to its state, if it declares one: what the readiness route asks.
    fn ready_check(&self) -> Option<ReadyCheck> {
        None
    }
}

/// A route a plugin with state `S` can mount. Implemented by `#[plugin_route]` on a hidden
/// companion of the handler; not meant to be implemented by hand.
#[diagnostic::on_unimplemented(
    message = "route `{Self}` cannot be mounted by a plugin whose state is `{S}`",
    label = "this handler's `Ctx<...>` names another state type",
    note = "a handler taking `Ctx<T>` can only be listed by a plugin declared with `state = T`"
)]
pub trait Route<S>: Sized + 'static {
    /// What the route declares.
    fn meta(&self) -> &'static RouteMeta;

    /// The axum handler for the route, with limits resolved.
    fn method_router(self, runtime: RouteRuntime<S>) -> MethodRouter;
}
