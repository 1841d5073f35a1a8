//! Who is calling: what authentication produces and a handler reads through `Ctx::principal`.

/// Who is calling: what a handler of a non-public route sees through `Ctx::principal`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub(crate) user_id: String,
    pub(crate) email: Option<String>,
    pub(crate) scheme: &'static str,
    pub(crate) scopes: Vec<String>,
}

impl Principal {
    /// A caller: what an [`Authenticator`](crate::auth::Authenticator) returns once it has
    /// checked a credential, and what unit tests of handlers pass to `testing::with_caller`.
    /// `scheme` names the security scheme that admitted it (one its authenticator
    /// [serves](crate::auth::Authenticator::schemes)). Holding one grants nothing by itself: the
    /// framework still checks that the route admits `scheme` and that `scopes` cover the route's
    /// `scopes`.
    pub fn new(
        user_id: impl Into<String>,
        email: Option<String>,
        scheme: &'static str,
        scopes: Vec<String>,
    ) -> Self {
        Principal {
            user_id: user_id.into(),
            email,
            scheme,
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

    /// The security scheme that admitted the caller, as `security(...)` names it (`user`,
    /// `token` or `oauth` for the built-in store).
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// The scopes held, wildcards (`*`, `items:*`) included. For an API key these are the key's
    /// scopes narrowed to what its owner holds now.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// Whether the caller holds `scope` (directly or through a wildcard).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes
            .iter()
            .any(|g| plugin_routes_rules::grant_covers(g, scope))
    }
}
