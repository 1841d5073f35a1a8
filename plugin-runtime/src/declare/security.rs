//! What `security(...)` declares: which kinds of credential admit a request to a route.

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
    /// What the caller sends, as a 401 names it: `a session cookie`, `an API key
    /// (Authorization: Bearer ...)`, `an OAuth access token (Authorization: Bearer <JWT>)`.
    pub const fn credential(self) -> &'static str {
        match self {
            AuthMethod::Session => "a session cookie",
            AuthMethod::ApiKey => "an API key (Authorization: Bearer <key>)",
            AuthMethod::OAuth => "an OAuth access token (Authorization: Bearer <JWT>)",
        }
    }

    /// The name used in `security(...)`: `user`, `token` or `oauth`.
    pub const fn keyword(self) -> &'static str {
        match self {
            AuthMethod::Session => "user",
            AuthMethod::ApiKey => "token",
            AuthMethod::OAuth => "oauth",
        }
    }
}
