//! Floor 1, declared data: what `#[plugin_route]` and `#[plugin]` declare, as `'static` values
//! the macros generate. Everything above reads these; this floor imports nothing else of the
//! crate (its rules come from `plugin-routes-rules`).

mod health;
mod lifecycle;
mod limits;
#[cfg(any(feature = "client", feature = "operations"))]
mod operation;
mod permissions;
mod plugin;
mod route;
mod security;

pub use health::Health;
pub(crate) use health::{is_default_health, served_routes};
pub use lifecycle::{ConfigMeta, Hooks};
pub use limits::{Concurrency, ConcurrencyLimit, LimitKey, RateLimit};
#[cfg(any(feature = "client", feature = "operations"))]
pub use operation::{Operation, OperationState, Progress};
pub use permissions::Permissions;
pub use plugin::PluginMeta;
pub(crate) use route::method_filter;
pub use route::{
    ErrorDecl, InputLocation, Method, OperationDecl, PathParam, RouteMeta, SchemaFn, schema_inline,
    schema_ref,
};
pub use security::{AuthMethod, Security};

/// A route's timeout when neither it, its plugin nor the server sets one.
pub(crate) const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
