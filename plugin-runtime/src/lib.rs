#![doc = include_str!("../README.md")]

mod check;
mod ctx;
mod endpoint;
mod error;
mod input;
mod manifest;
mod meta;
mod objects_only;
mod plugin;
mod request_id;
mod server;

pub mod auth;
pub mod database;
pub mod openapi;
pub mod testing;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use auth::{Auth, AuthConfig, AuthMethod, Principal, Security};
pub use ctx::Ctx;
pub use error::{ApiError, Details, FieldError, FrameworkCode, Location, RouteError, RouteResult};
pub use manifest::manifest;
pub use meta::{ErrorDecl, InputLocation, Method, PathParam, PluginMeta, RouteMeta, SchemaFn};
pub use plugin::Plugin;
pub use request_id::{HEADER as REQUEST_ID_HEADER, RequestId};
pub use server::ServerConfig;

#[doc = include_str!("../docs/plugin_route.md")]
pub use plugin_macros::plugin_route;

#[doc = include_str!("../docs/plugin.md")]
pub use plugin_macros::plugin;

#[doc = include_str!("../docs/plugins.md")]
pub use plugin_macros::plugins;

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
