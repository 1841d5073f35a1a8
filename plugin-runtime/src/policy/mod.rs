//! Floor 3, policies: who may call a route ([`Authenticator`] and the framework's checks on its
//! answer) and the limits in force for it ([`ServerConfig`] resolves route, plugin and server
//! settings). Imports the request path and the declared data below it.

mod authenticate;
mod rate_limit;
mod server_config;

pub(crate) use authenticate::unauthorized;
#[cfg(feature = "auth-store")]
pub(crate) use authenticate::unauthorized_message;
pub use authenticate::{
    Authentication, Authenticator, Refusal, Requirement, SharedAuthenticator, Verdict,
};
pub(crate) use rate_limit::{LimitFields, Limiter};
pub use server_config::ServerConfig;
