//! What the generated code refers to: every path the macros emit goes through here, so users
//! never need axum, serde or this crate's public paths in their own `Cargo.toml` or scope for the
//! macros to work. Not public API: anything here may change in any release.

use std::marker::PhantomData;

pub use crate::assembly::Assembly;
pub use crate::declare::{
    Concurrency, ConfigMeta, ErrorDecl, Health, Hooks, InputLocation, LimitKey, Method,
    OperationDecl, PathParam, Permissions, PluginMeta, RateLimit, RouteMeta, SchemaFn, Security,
    schema_inline, schema_ref,
};
pub use crate::mount::check::{
    Msg, RouteFingerprint, check_authenticator_needed, check_plugin_route, check_plugins,
    route_fingerprints,
};
pub use crate::mount::{
    Mounter, Plugin, Route, RouteRuntime, ServeFn, ServeFuture, endpoint, serve,
};
#[cfg(feature = "operations")]
pub use crate::mount::{RunFn, accept_operation, operation_endpoint, run_operation};
pub use crate::policy::{ServerConfig, SharedAuthenticator};
pub use crate::reach::Placeholders;
#[cfg(feature = "operations")]
pub use crate::request::Accepted;
pub use crate::request::Location;
pub use crate::request::{
    Ctx, IsValidated, JsonBody, NoContent, NoInput, NoParams, Output, PathOf, QueryInput,
    RouteOutput, RouteResult, declared_error, fallback_error,
};
pub use crate::request::{Responder, StreamEvent};
pub use axum::Router;
pub use axum::routing::MethodRouter;
pub use serde;
pub use serde_json;

pub use crate::__if_client as if_client;
pub use crate::__if_config as if_config;
#[cfg(feature = "config")]
pub use crate::lifecycle::config::{Configured, schema_of_config as config_schema};
pub use crate::lifecycle::hooks::__within_start;
pub use crate::lifecycle::{Lifecycle, Readiness, ReadyCheck, StartFailed};

/// A boxed future, as the generated hooks return.
pub type BoxFuture<T> =
    ::core::pin::Pin<::std::boxed::Box<dyn ::core::future::Future<Output = T> + Send + 'static>>;

/// Where the `config` feature is off, a declaration with `config = T` fails at `if_config!`;
/// this stand-in keeps that the only error.
#[cfg(not(feature = "config"))]
pub trait Configured {
    const CONFIG: &'static ConfigMeta;
}

#[cfg(not(feature = "config"))]
impl<T> Configured for T {
    const CONFIG: &'static ConfigMeta = &ConfigMeta {
        env_prefix: "",
        type_name: "",
        schema: schemars::Schema::default,
    };
}
#[cfg(feature = "client")]
pub use crate::client;

use serde::de::DeserializeOwned;

/// The router of a route whose attribute failed to compile; never mounted.
pub fn fallback_method_router() -> MethodRouter {
    MethodRouter::new()
}

// Bound checks the macros emit, spanned on the user's types so rustc's message points there.

pub fn assert_responder<R: Responder>() {}
pub fn assert_empty_output<T: crate::request::EmptyOutput>() {}
pub fn assert_path_param<T: DeserializeOwned + Send + 'static>() {}
pub fn assert_extractor<T: axum::extract::FromRequestParts<()> + Send + 'static>() {}
pub fn assert_route_error<E: IsRouteError>() {}
pub fn assert_operations_enabled<T: OperationsEnabled>() {}
pub fn assert_stored<T: Stored>() {}
pub fn assert_operation_result<T: OperationResult>() {}

/// Implemented when the crate can run operations: a route declared `operation` in a build
/// without them fails here, once, at the key.
#[diagnostic::on_unimplemented(
    message = "a route declared `operation` needs the feature `operations-sqlite` or `operations-postgres` of plugin-routes",
    label = "this route is an operation",
    note = "add `features = [\"operations-sqlite\"]` (or `operations-postgres`) to plugin-routes in Cargo.toml"
)]
pub trait OperationsEnabled {}
#[cfg(feature = "operations")]
impl OperationsEnabled for () {}

/// What an operation keeps between its request and its run: written and read back as JSON.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is stored with the operation until it runs, so it must implement `Serialize` as well as `Deserialize`",
    label = "derive `Serialize` for it too"
)]
pub trait Stored: serde::Serialize + DeserializeOwned + Send + 'static {}
impl<T: serde::Serialize + DeserializeOwned + Send + 'static> Stored for T {}

/// What an operation's result can be: stored as JSON until its client reads it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the result of an operation",
    label = "an operation's result waits in the database as JSON: derive `Serialize` and `JsonSchema` (a stream, headers, HTML or bytes cannot wait there)"
)]
pub trait OperationResult: serde::Serialize + schemars::JsonSchema + Send + 'static {}
impl<T: serde::Serialize + schemars::JsonSchema + Send + 'static> OperationResult for T {}

/// Stand-ins where operations are off: the route fails at `assert_operations_enabled` alone.
#[cfg(not(feature = "operations"))]
mod no_operations {
    use super::{Ctx, MethodRouter, RouteResult, RouteRuntime, ServeFn};

    #[derive(Debug)]
    pub struct Accepted;

    impl crate::request::Responder for Accepted {
        type Output = Accepted;
        fn respond(
            _: http::StatusCode,
            _: Accepted,
            _: &crate::RequestId,
            _: std::time::Duration,
        ) -> axum::response::Response {
            axum::response::Response::default()
        }
    }

    pub type RunFn<S> = fn(Ctx<S>, String) -> super::BoxFuture<()>;

    pub async fn accept_operation<S, P, I>(_: Ctx<S>, _: P, _: I) -> RouteResult<Accepted> {
        Ok(Accepted)
    }

    pub fn run_operation<S, P, I, T, F, Fut>(
        _: Ctx<S>,
        _: String,
        _: u16,
        _: F,
    ) -> super::BoxFuture<()> {
        Box::pin(async {})
    }

    pub fn operation_endpoint<S>(_: RouteRuntime<S>, _: ServeFn<S>, _: RunFn<S>) -> MethodRouter {
        MethodRouter::new()
    }
}
#[cfg(not(feature = "operations"))]
pub use no_operations::*;

/// The output type, once it is known to be one: the macros write the handler's output type as
/// `<T as CheckedOutput>::Output` wherever they use it, so a type that is no `RouteOutput` is
/// one error at the type (rustc reports the same failure at the same span once), and every use
/// after it sees an error type and says nothing more.
pub trait CheckedOutput {
    type Output;
}
impl<T: crate::request::RouteOutput> CheckedOutput for T {
    type Output = T;
}

/// The responder of a route returning `EventStream<T>`, bounded on `T` alone: an event type
/// that is no `StreamEvent` is then one error naming it (where `Output<EventStream<T>>` would be
/// reported as the stream not being a `RouteOutput`, as well).
#[derive(Debug)]
pub struct Events<T>(PhantomData<fn() -> T>);

impl<T: StreamEvent> Responder for Events<T> {
    type Output = crate::EventStream<T>;

    fn respond(
        status: http::StatusCode,
        output: Self::Output,
        request_id: &crate::RequestId,
        timeout: std::time::Duration,
    ) -> axum::response::Response {
        RouteOutput::into_response_within(output, status, request_id, timeout)
    }
}

/// The input type, once it is known to be read from the request: the macros name a route's
/// input as `<<T as CheckedInput>::Input as IsValidated>::Input` where its source is named, so
/// an input that does not deserialize is one error at the type (rustc's, naming the bound that
/// failed), one that does but does not validate is one error there too, and the uses after it
/// see an error type and say nothing more (as [`CheckedOutput`]).
pub trait CheckedInput {
    type Input;
}
impl<T: DeserializeOwned + Send + 'static> CheckedInput for T {
    type Input = T;
}

/// The event type, once it is known to be one: `Events<<T as CheckedEvent>::Event>`, as
/// `CheckedOutput` for other outputs.
pub trait CheckedEvent {
    type Event;
}
impl<T: StreamEvent> CheckedEvent for T {
    type Event = T;
}

/// What the documents say of a responder's success: the metadata of `#[plugin_route]` reads it
/// from the same responder the endpoint writes with, so both name one type.
pub trait Described {
    const MEDIA_TYPE: &'static str;
    const CONDITIONAL: bool;
    fn schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema;
}

impl<T: RouteOutput> Described for Output<T> {
    const MEDIA_TYPE: &'static str = T::MEDIA_TYPE;
    const CONDITIONAL: bool = T::CONDITIONAL;
    fn schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::schema(generator)
    }
}

impl<T: StreamEvent> Described for Events<T> {
    const MEDIA_TYPE: &'static str = <crate::EventStream<T> as RouteOutput>::MEDIA_TYPE;
    const CONDITIONAL: bool = false;
    fn schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        <crate::EventStream<T> as RouteOutput>::schema(generator)
    }
}

/// Implemented by `#[plugin]` for each route it lists: for its own type by a plugin without
/// `errors(...)`, for every type by one with. A route may be listed by several plugins (the same
/// handler under other security or limits), but one whose plugin shares error codes by that
/// plugin alone, since the codes become the route's: a second is rustc's "conflicting
/// implementations of trait `SharedErrorsNeedOnePlugin<_>`", naming both listings.
pub trait SharedErrorsNeedOnePlugin<P> {}

/// Only [`RouteError`](crate::RouteError) is a handler's error type.
#[diagnostic::on_unimplemented(
    message = "a route handler's error type must be `RouteError`, not `{Self}`",
    note = "return `RouteResult<T>`; other errors convert into `RouteError` with `?`"
)]
pub trait IsRouteError {}
impl IsRouteError for crate::RouteError {}
