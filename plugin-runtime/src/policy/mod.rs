//! Floor 4, policies: who may call a route ([`Authenticator`] and the framework's checks on its
//! answer) and the limits in force for it ([`ServerConfig`] resolves route, plugin and server
//! settings; [`LimitStore`] counts quotas, and places under concurrency caps). Imports the
//! request path and the declared data below it.

mod authenticate;
mod concurrency;
mod gcra;
#[cfg(feature = "redis")]
mod lease;
mod limit_store;
mod rate_limit;
#[cfg(feature = "redis")]
mod redis;
mod scheme;
mod server_config;

pub(crate) use authenticate::unauthorized;
#[cfg(feature = "auth-store")]
pub(crate) use authenticate::unauthorized_message;
pub use authenticate::{
    AUTH_FAILURES, Authentication, Authenticator, ReadinessFuture, Refusal, Requirement,
    SharedAuthenticator, Verdict,
};
pub(crate) use concurrency::{Capper, Take, Taken, hold};
pub use gcra::WhenUnreachable;
#[cfg(feature = "auth-store")]
pub(crate) use gcra::Who;
pub use limit_store::LimitStore;
pub(crate) use limit_store::Permit;
#[cfg(feature = "auth-store")]
pub(crate) use rate_limit::over_quota;
pub(crate) use rate_limit::{Check, Decision, LimitFields, Limiter, rate_limited};
#[cfg(feature = "redis")]
pub use redis::RedisLimits;
#[cfg(all(fuzzing, feature = "redis"))]
pub(crate) use redis::parse as redis_reply;
pub use scheme::{KeyLocation, OAuthFlow, Scheme, SchemeKind};
pub use server_config::{LimitOverride, ServerConfig};

/// What `Retry-After` says, in seconds, when a shared rate-limit store that the server refuses
/// to do without cannot be reached.
pub(crate) const UNREACHABLE_RETRY_SECS: u64 = 5;
