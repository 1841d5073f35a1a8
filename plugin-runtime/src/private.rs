//! What the generated code refers to. Not public API: anything here may change in any release.

pub use crate::check::{check_plugin_route, check_plugins};
pub use crate::ctx::Ctx;
pub use crate::endpoint::{JsonOutput, NoContent, RouteRuntime, endpoint};
pub use crate::error::{declared_error, fallback_error};
pub use crate::input::{JsonBody, NoInput, NoParams, PathOf, QueryInput};
pub use crate::meta::{ErrorDecl, InputLocation, Method, PathParam, RouteMeta, SchemaFn};
pub use crate::plugin::Route;
pub use crate::server::{Assembly, Mounter};
pub use axum::Router;
pub use axum::routing::MethodRouter;
pub use plugin_macros::__undeclared_error_code as undeclared_error_code;
pub use serde;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The schema of `T` as a property or body would refer to it: a `$ref` for named types.
pub fn schema_ref<T: schemars::JsonSchema>(
    generator: &mut schemars::SchemaGenerator,
) -> schemars::Schema {
    generator.subschema_for::<T>()
}

/// The schema of `T` itself, never a `$ref`: a query input's fields become parameters.
pub fn schema_inline<T: schemars::JsonSchema>(
    generator: &mut schemars::SchemaGenerator,
) -> schemars::Schema {
    T::json_schema(generator)
}

/// The router of a route whose attribute failed to compile; never mounted.
pub fn fallback_method_router() -> MethodRouter {
    MethodRouter::new()
}

// Bound checks the macros emit, spanned on the user's types so rustc's message points there.

pub fn assert_body_deserialize<T: DeserializeOwned + Send + 'static>() {}
pub fn assert_query_deserialize<T: DeserializeOwned + Send + 'static>() {}
pub fn assert_validate<T: garde::Validate>()
where
    T::Context: Default,
{
}
pub fn assert_serialize<T: Serialize + Send + 'static>() {}
pub fn assert_path_param<T: DeserializeOwned + Send + 'static>() {}
pub fn assert_extractor<T: axum::extract::FromRequestParts<()> + Send + 'static>() {}
pub fn assert_route_error<E: IsRouteError>() {}

/// Only [`RouteError`](crate::RouteError) is a handler's error type.
#[diagnostic::on_unimplemented(
    message = "a route handler's error type must be `RouteError`, not `{Self}`",
    note = "return `RouteResult<T>`; other errors convert into `RouteError` with `?`"
)]
pub trait IsRouteError {}
impl IsRouteError for crate::RouteError {}
