//! Authentication and permissions: who may call a route, checked before its handler runs (and
//! before its body is read), and said in the OpenAPI documents.
//!
//! A route (or its plugin, or the server) declares `security(user, token, oauth)` — any listed
//! method admits a request — or `security(none)`, and `permissions("items:write", ...)`, scopes
//! the caller must all hold. Three kinds of credential exist:
//!
//! - `user`: a session cookie set by `POST /v1/auth/login`, stored server-side.
//! - `token`: an API key, `Authorization: Bearer plk_...`, stored as a SHA-256 hash.
//! - `oauth`: a JWT, `Authorization: Bearer eyJ...`, verified against configured keys.
//!
//! The [`Auth`] handle holds the store (SQLite or PostgreSQL through sqlx), the lookup cache and
//! the OAuth verifier; hand it to `plugins![auth = ...; ...]`.

mod cache;
mod config;
mod guard;
mod jwt;
mod model;
mod routes;
mod scope;
mod secret;
mod service;
mod settings;
mod store;

pub use config::{AuthConfig, AuthError};
pub use jwt::{OAuthConfig, OAuthError};
pub use model::{ApiKeyInfo, CreatedApiKey, User};
pub use scope::{grants_within, is_valid_grant, is_valid_scope, parse_grants};
pub use service::Auth;

pub(crate) use guard::{Step, authenticate};
pub use routes::META;
pub(crate) use routes::router;
pub(crate) use settings::PATH as SETTINGS_PATH;

use serde::Serialize;

/// Which credentials admit a request to a route. `Security::NONE` is `security(none)`: public.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Security {
    user: bool,
    token: bool,
    oauth: bool,
}

impl Security {
    /// `security(none)`: anyone may call the route.
    pub const NONE: Security = Security::new(false, false, false);
    /// `security(user, token)`: the server's default.
    pub const DEFAULT: Security = Security::new(true, true, false);

    /// Admits a session cookie (`user`), an API key (`token`) and/or an OAuth JWT (`oauth`).
    pub const fn new(user: bool, token: bool, oauth: bool) -> Self {
        Security { user, token, oauth }
    }

    /// Whether the route is public.
    pub const fn is_public(self) -> bool {
        !(self.user || self.token || self.oauth)
    }

    /// Whether a credential of this kind admits the request.
    pub const fn admits(self, method: AuthMethod) -> bool {
        match method {
            AuthMethod::Session => self.user,
            AuthMethod::ApiKey => self.token,
            AuthMethod::OAuth => self.oauth,
        }
    }

    /// The admitted methods, in the order `user`, `token`, `oauth`.
    pub fn methods(self) -> impl Iterator<Item = AuthMethod> {
        [AuthMethod::Session, AuthMethod::ApiKey, AuthMethod::OAuth]
            .into_iter()
            .filter(move |m| self.admits(*m))
    }
}

/// How the caller authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AuthMethod {
    /// A session cookie (`security(user)`).
    Session,
    /// An API key (`security(token)`).
    ApiKey,
    /// An OAuth bearer JWT (`security(oauth)`).
    #[serde(rename = "oauth")]
    OAuth,
}

impl AuthMethod {
    /// The name used in `security(...)`: `user`, `token` or `oauth`.
    pub const fn keyword(self) -> &'static str {
        match self {
            AuthMethod::Session => "user",
            AuthMethod::ApiKey => "token",
            AuthMethod::OAuth => "oauth",
        }
    }
}

/// Who is calling: what a handler of a non-public route sees through `Ctx::principal`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub(crate) user_id: String,
    pub(crate) email: Option<String>,
    pub(crate) method: AuthMethod,
    pub(crate) scopes: Vec<String>,
}

impl Principal {
    /// A caller made by hand: for unit tests of handlers (`testing::context_as`) and for
    /// authenticators written outside this crate. Holding one grants nothing by itself.
    pub fn new(
        user_id: impl Into<String>,
        email: Option<String>,
        method: AuthMethod,
        scopes: Vec<String>,
    ) -> Self {
        Principal {
            user_id: user_id.into(),
            email,
            method,
            scopes,
        }
    }

    /// A stable id of the caller: the user's id for sessions and API keys, `oauth|<sub>` for an
    /// OAuth token. Use it to own data (items belong to the user who created them).
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// The user's email; `None` for an OAuth token.
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    /// How the caller authenticated.
    pub fn method(&self) -> AuthMethod {
        self.method
    }

    /// The scopes held, wildcards (`*`, `items:*`) included. For an API key these are the key's
    /// scopes narrowed to what its owner holds now.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether the caller holds `scope` (directly or through a wildcard).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|g| scope::grant_covers(g, scope))
    }
}
