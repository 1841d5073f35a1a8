//! What `security(...)` declares: which security schemes admit a request to a route, by name.

use serde::Serialize;

/// Which security schemes admit a request to a route, by name: any one of them does.
/// `Security::NONE` is `security(none)`: public.
///
/// A name is one an [`Authenticator`](crate::auth::Authenticator) serves (its
/// [`schemes`](crate::auth::Authenticator::schemes)); the server refuses to start when a route
/// names a scheme that nothing serves. `user`, `token` and `oauth` are the built-in store's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Security {
    schemes: &'static [&'static str],
}

impl Security {
    /// `security(none)`: anyone may call the route.
    pub const NONE: Security = Security::of(&[]);
    /// `security(user, token)`: the server's default, unless
    /// [`ServerConfig::with_default_security`](crate::ServerConfig::with_default_security) sets
    /// another.
    pub const DEFAULT: Security = Security::of(&["user", "token"]);

    /// Admits a credential of any of the schemes named (none: a public route), as
    /// `security(gateway, mtls)` does.
    pub const fn of(schemes: &'static [&'static str]) -> Self {
        Security { schemes }
    }

    /// Whether the route is public.
    pub const fn is_public(self) -> bool {
        self.schemes.is_empty()
    }

    /// Whether a credential of the scheme named `scheme` admits the request.
    pub fn admits(self, scheme: &str) -> bool {
        self.schemes.contains(&scheme)
    }

    /// The schemes admitted, in the order declared.
    pub const fn schemes(self) -> &'static [&'static str] {
        self.schemes
    }
}

/// How a caller authenticated with the built-in store: what `GET /v1/auth/me` answers. Each is
/// one of the store's security schemes: `user`, `token` and `oauth`.
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
    /// The store's scheme of this method, as `security(...)` names it: `user`, `token` or
    /// `oauth`.
    pub const fn scheme(self) -> &'static str {
        match self {
            AuthMethod::Session => "user",
            AuthMethod::ApiKey => "token",
            AuthMethod::OAuth => "oauth",
        }
    }

    /// The method of the store's scheme named `scheme`, if it is one.
    pub fn of_scheme(scheme: &str) -> Option<Self> {
        [AuthMethod::Session, AuthMethod::ApiKey, AuthMethod::OAuth]
            .into_iter()
            .find(|m| m.scheme() == scheme)
    }
}
