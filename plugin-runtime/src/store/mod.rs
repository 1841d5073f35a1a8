//! The built-in credential store (feature `auth-store`): users with argon2id passwords, sessions,
//! API keys and OAuth JWTs, kept in SQLite or PostgreSQL through sqlx, with a lookup cache. It is
//! one [`Authenticator`](crate::auth::Authenticator) among any a server may bring; its routes
//! (`/v1/auth/*`) are a plugin, [`AuthRoutes`], and with `settings-page` the `/settings` page is
//! another, [`SettingsPage`].

mod cache;
mod config;
mod credential;
mod handle;
mod jwt;
pub(crate) mod model;
mod routes;
mod scope;
mod secret;
#[cfg(feature = "settings-page")]
mod settings;
mod sql;

pub use config::{AuthConfig, AuthError};
pub use handle::{Auth, LOGIN_FAILURES_PER_EMAIL};
pub use jwt::{OAuthConfig, OAuthError};
pub use model::{ApiKeyInfo, CreatedApiKey, User};
pub use routes::AuthRoutes;
pub use scope::{grants_within, parse_grants};
#[cfg(feature = "settings-page")]
pub use settings::SettingsPage;
