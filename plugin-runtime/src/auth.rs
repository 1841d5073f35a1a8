//! Authentication and scopes: who may call a route, checked before its handler runs (and
//! before its body is read), and said in the OpenAPI documents.
//!
//! A route (or its plugin, or the server) declares `security(gateway, token)` — any listed
//! security scheme admits a request — or `security(none)`, and `scopes("items:write", ...)`,
//! the scopes a caller must all hold. What checks a credential is an [`Authenticator`]: give one
//! to `plugins![auth = ...; ...]`. It names the [`Scheme`]s it serves, which the documents
//! describe in its words; a route naming a scheme it does not serve stops the server at start.
//! The framework holds its answer to the declaration (the scheme admitted, every scope held),
//! so a custom authenticator cannot loosen a route.
//!
//! With the `auth-store` feature the crate brings its own, [`Auth`]: users with argon2id
//! passwords, and three schemes: session cookies (`user`), API keys `plk_...` (`token`) and
//! OAuth JWTs (`oauth`),
//! stored in SQLite or PostgreSQL, with the `/v1/auth/*` routes as the plugin [`AuthRoutes`], and
//! with `settings-page` a page to manage API keys, [`SettingsPage`].

pub use crate::declare::{AuthMethod, Security};
pub use crate::policy::{
    AUTH_FAILURES, Authentication, Authenticator, KeyLocation, OAuthFlow, ReadinessFuture, Refusal,
    Requirement, Scheme, SchemeKind, SharedAuthenticator, Verdict,
};
pub use crate::request::Principal;
pub use plugin_routes_rules::{is_valid_grant, is_valid_scope};

#[cfg(feature = "auth-store")]
pub use crate::store::{
    ApiKeyInfo, Auth, AuthConfig, AuthError, AuthRoutes, CreatedApiKey, LOGIN_FAILURES_PER_EMAIL,
    OAuthConfig, OAuthError, User, grants_within, parse_grants,
};

#[cfg(feature = "settings-page")]
pub use crate::store::SettingsPage;

#[cfg(not(feature = "settings-page"))]
pub use crate::gates::SettingsPage;
#[cfg(not(feature = "auth-store"))]
pub use crate::gates::{Auth, AuthConfig, AuthRoutes};
