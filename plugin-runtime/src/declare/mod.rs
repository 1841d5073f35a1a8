//! Floor 1, declared data: what `#[plugin_route]` and `#[plugin]` declare, as `'static` values
//! the macros generate. Everything above reads these; this floor imports nothing else of the
//! crate (its rules come from `plugin-rules`).

mod health;
mod plugin;
mod route;
mod security;

pub(crate) use health::{HEALTH, Health, served_routes};
pub use plugin::PluginMeta;
pub(crate) use route::method_filter;
pub use route::{
    ErrorDecl, InputLocation, Method, PathParam, RouteMeta, SchemaFn, schema_inline, schema_ref,
};
pub use security::{AuthMethod, Security};

/// The base path of the built-in credential store's routes (`/v1/auth/login`, ...).
pub(crate) const AUTH_BASE_PATH: &str = "/v1/auth";
/// The path of the built-in settings page.
pub(crate) const SETTINGS_PATH: &str = "/settings";
