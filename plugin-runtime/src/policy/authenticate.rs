//! Who may call a route. An [`Authenticator`] turns the credentials a request presents into a
//! [`Principal`] or a [`Refusal`]; the framework then holds the answer to what the route
//! declared: the principal's scheme must be one `security(...)` admits, and its scopes must
//! cover every scope in `scopes(...)`. All of it runs before the route reads its path,
//! query or body.
//!
//! The built-in store (feature `auth-store`) is one authenticator; any type implementing the
//! trait is another, so a server can check its own company's tokens or sessions instead.

use super::gcra::Who;
use super::limit_store::LimitStore;
use super::rate_limit::over_quota;
use super::scheme::Scheme;
use crate::declare::{LimitKey, Method, RateLimit, Security};
use crate::request::{ApiError, ClientAddr, FrameworkCode, Principal, forbidden};
use http::StatusCode;
use http::request::Parts;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Checks the credentials of requests to routes that are not `security(none)`.
///
/// It names the security [schemes](Authenticator::schemes) it serves: routes name them in
/// `security(...)`, the documents describe them in its words, and a 401 sends their challenges.
/// Return who is calling, or why not. The framework checks what the route declares on top of
/// the answer: a principal whose [`scheme`](Principal::scheme) the route's `security(...)` does
/// not admit is refused with 401, and one whose scopes miss any of the route's `scopes` with
/// `403 FORBIDDEN`. An implementation only has to say who presented the credential.
///
/// ```
/// use plugin_routes::auth::{Authentication, Authenticator, Refusal, Requirement, Scheme};
/// use plugin_routes::Principal;
///
/// /// Callers send `x-team-token: <team>.<secret>`; the team is the caller.
/// struct TeamTokens {
///     secret: String,
/// }
///
/// impl Authenticator for TeamTokens {
///     fn schemes(&self) -> Vec<Scheme> {
///         vec![Scheme::header("team", "x-team-token")
///             .describe("`<team>.<secret>`, as issued by the platform team.")]
///     }
///
///     fn authenticate<'a>(
///         &'a self,
///         request: &'a axum::http::request::Parts,
///         _route: Requirement,
///     ) -> Authentication<'a> {
///         let token = request.headers.get("x-team-token").and_then(|v| v.to_str().ok());
///         match token.and_then(|t| t.split_once('.')) {
///             Some((team, secret)) if secret == self.secret => Authentication::admit(
///                 Principal::new(team, None, "team", vec!["items:*".into()]),
///             ),
///             _ => Authentication::refuse(Refusal::unauthorized("send `x-team-token`")),
///         }
///     }
/// }
/// ```
pub trait Authenticator: Send + Sync + 'static {
    /// The security schemes this authenticator serves, each with a name unique among them:
    /// what routes may name in `security(...)` (the server refuses to start when a route names
    /// another), what the OpenAPI documents describe, and whose challenges a 401 sends. Asked
    /// once, when the app is assembled.
    fn schemes(&self) -> Vec<Scheme>;

    /// Decides who presents `request`'s credentials, for a route that admits
    /// `route.security()`. Called only for routes that are not public, before anything else of
    /// the request is read. Decide synchronously where possible ([`Authentication::admit`],
    /// [`Authentication::refuse`]); a lookup that must wait (a database, another service) goes in
    /// [`Authentication::later`].
    fn authenticate<'a>(&'a self, request: &'a Parts, route: Requirement) -> Authentication<'a>;

    /// Whether what credentials are checked against (a database, another service) answers now,
    /// for the readiness route (`GET /ready`): `None` when there is nothing to ask (the default),
    /// else a future that completes with why not. The readiness route gives it two seconds; a
    /// reason is shown to whoever asks, so say nothing secret (log the details instead).
    fn readiness(&self) -> Option<ReadinessFuture<'_>> {
        None
    }
}

/// What [`Authenticator::readiness`] returns: `Err` with why the authenticator cannot check
/// credentials now.
pub type ReadinessFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// What the route being called asks of its caller, as an [`Authenticator`] sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requirement {
    security: Security,
    method: Method,
}

impl Requirement {
    /// What `route` of a server requires: its resolved `security(...)`, and its method.
    pub const fn new(security: Security, method: Method) -> Self {
        Requirement { security, method }
    }

    /// The schemes the route admits (never `security(none)` here).
    pub const fn security(self) -> Security {
        self.security
    }

    /// The route's HTTP method.
    pub const fn method(self) -> Method {
        self.method
    }

    /// Whether the request changes state: cookie-based schemes should refuse such requests when
    /// they come from another site ([`Refusal::cross_site`]).
    pub const fn changes_state(self) -> bool {
        self.method.is_unsafe()
    }
}

/// The outcome of authenticating a request: who is calling, or a refusal.
pub type Verdict = Result<Arc<Principal>, Refusal>;

/// What [`Authenticator::authenticate`] answers: decided now, or after a lookup.
pub enum Authentication<'a> {
    /// Decided without waiting (a signature checked, a cache hit, no credential at all).
    Ready(Verdict),
    /// Decided by a lookup that must wait. Boxed, so the requests decided at once stay small.
    Later(Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>),
}

impl<'a> Authentication<'a> {
    /// The caller is `principal`.
    pub fn admit(principal: impl Into<Arc<Principal>>) -> Self {
        Authentication::Ready(Ok(principal.into()))
    }

    /// The request is refused.
    pub fn refuse(refusal: Refusal) -> Self {
        Authentication::Ready(Err(refusal))
    }

    /// Decided by `lookup`, for example a database query.
    pub fn later(lookup: impl Future<Output = Verdict> + Send + 'a) -> Self {
        Authentication::Later(Box::pin(lookup))
    }

    /// The verdict, waiting for it if needed.
    pub async fn verdict(self) -> Verdict {
        match self {
            Authentication::Ready(v) => v,
            Authentication::Later(f) => f.await,
        }
    }
}

impl fmt::Debug for Authentication<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Authentication::Ready(v) => f.debug_tuple("Ready").field(v).finish(),
            Authentication::Later(_) => f.write_str("Later(..)"),
        }
    }
}

/// Why a request is not admitted. Every refusal is sent in the one envelope.
#[derive(Debug)]
pub struct Refusal {
    error: ApiError,
    /// The scheme whose credential was refused, when the authenticator says.
    scheme: Option<&'static str>,
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Refusal {
            error,
            scheme: None,
        }
    }
}

impl Refusal {
    /// `401 UNAUTHORIZED` (with `WWW-Authenticate`): no credential, or one that is malformed,
    /// unknown, expired or revoked. Give every such case the same message, so the answer does not
    /// tell a guesser which it was; say what the caller should send instead.
    pub fn unauthorized(message: impl Into<Cow<'static, str>>) -> Self {
        ApiError::framework(FrameworkCode::Unauthorized, message).into()
    }

    /// Says for which of the authenticator's schemes (by name) the refused credential was
    /// presented. With the `metrics` feature, failed authentications are counted per scheme
    /// (`plugin_auth_failures_total`); a refusal that names none counts under `none`.
    #[must_use]
    pub fn for_scheme(mut self, scheme: &'static str) -> Self {
        self.scheme = Some(scheme);
        self
    }

    /// `403 CSRF_REJECTED`: a request authenticated by something the browser sends on its own (a
    /// cookie) that changes state and comes from another site.
    pub fn cross_site() -> Self {
        ApiError::framework(
            FrameworkCode::CsrfRejected,
            "a cookie-authenticated request that changes state must come from this site",
        )
        .into()
    }

    /// `500 INTERNAL`: checking the credential failed unexpectedly. `cause` is logged with the
    /// request id, never sent.
    pub fn internal(cause: impl fmt::Display) -> Self {
        tracing::error!(error = %cause, "checking a credential failed");
        ApiError::internal().into()
    }

    /// `503 UNAVAILABLE` with `Retry-After: {retry_after_secs}`: the credential cannot be
    /// checked now because what holds the credentials (a database, an identity provider) does
    /// not answer; it will pass by itself. `cause` is logged with the request id, never sent.
    pub fn unavailable(cause: impl fmt::Display, retry_after_secs: u64) -> Self {
        tracing::warn!(error = %cause, "a credential cannot be checked now");
        ApiError::unavailable(
            "the credential cannot be checked now; try again shortly",
            retry_after_secs,
        )
        .into()
    }

    pub(crate) fn into_api_error(self) -> ApiError {
        self.error
    }
}

/// How many failed authentications a client address may make by default: 10 a minute, then one
/// more every 6 seconds (set another with
/// [`ServerConfig::with_auth_failure_limit`](crate::ServerConfig::with_auth_failure_limit)).
/// Counted in the server's [`LimitStore`], so across every server that shares one. Past it, the
/// address is refused with 429 before its credential is looked up, whatever it presents.
pub const AUTH_FAILURES: RateLimit = RateLimit {
    name: "auth-failures",
    quota: 10,
    window_secs: 60,
    burst: 10,
    key: LimitKey::Address,
};

/// The failed-authentication counts' scope in a [`LimitStore`].
const FAILURES_SCOPE: &str = "auth-failures";

/// An [`Authenticator`] shared by every route of a server (one reference count each), with the
/// count of failed attempts per client address and the schemes it serves.
#[derive(Clone)]
pub struct SharedAuthenticator(Arc<Shared<dyn Authenticator>>);

struct Shared<A: ?Sized> {
    /// Failed authentications per scheme, once the server's metrics count them.
    #[cfg(feature = "metrics")]
    counted: std::sync::OnceLock<Arc<crate::metrics::AuthFailures>>,
    failures: LimitStore,
    policy: RateLimit,
    schemes: Vec<Scheme>,
    authenticator: A,
}

impl SharedAuthenticator {
    /// Shares `authenticator` among the routes, counting failures per address in this process
    /// under [`AUTH_FAILURES`].
    pub fn new(authenticator: impl Authenticator) -> Self {
        Self::counting_in(authenticator, LimitStore::memory(), AUTH_FAILURES)
    }

    /// Shares `authenticator` among the routes, counting failures per address in `store` under
    /// `policy`.
    ///
    /// # Panics
    /// When two of the authenticator's schemes have one name.
    pub fn counting_in(
        authenticator: impl Authenticator,
        store: LimitStore,
        policy: RateLimit,
    ) -> Self {
        let schemes = authenticator.schemes();
        for (i, s) in schemes.iter().enumerate() {
            assert!(
                !schemes[..i].iter().any(|t| t.name() == s.name()),
                "the authenticator serves two security schemes named `{s}`: give each its own name"
            );
        }
        SharedAuthenticator(Arc::new(Shared {
            #[cfg(feature = "metrics")]
            counted: std::sync::OnceLock::new(),
            failures: store,
            policy,
            schemes,
            authenticator,
        }))
    }

    /// Counts failed authentications per scheme in `metrics` (the first call wins).
    #[cfg(feature = "metrics")]
    pub(crate) fn count_failures_in(&self, metrics: &crate::metrics::Metrics) {
        let names = self.0.schemes.iter().map(Scheme::name);
        let _ = self.0.counted.set(metrics.auth_failures(names));
    }

    /// Whether what the authenticator checks against answers now ([`Authenticator::readiness`]).
    pub(crate) fn readiness(&self) -> Option<ReadinessFuture<'_>> {
        self.0.authenticator.readiness()
    }

    /// The schemes the authenticator serves.
    pub fn schemes(&self) -> &[Scheme] {
        &self.0.schemes
    }

    /// The scheme named `name`, if the authenticator serves it.
    pub(crate) fn scheme(&self, name: &str) -> Option<&Scheme> {
        self.0.schemes.iter().find(|s| s.name() == name)
    }

    /// `WWW-Authenticate` for a route admitting `security` (every scheme served, for a public
    /// route): the challenge of each of its schemes that has one, once each; if none has, the
    /// kind's challenge of the first.
    pub(crate) fn challenges(&self, security: Security) -> Option<String> {
        let served: Vec<&Scheme> = if security.is_public() {
            self.0.schemes.iter().collect()
        } else {
            security
                .schemes()
                .iter()
                .filter_map(|n| self.scheme(n))
                .collect()
        };
        let mut said: Vec<&str> = Vec::new();
        for c in served.iter().filter_map(|s| s.challenge()) {
            if !said.contains(&c) {
                said.push(c);
            }
        }
        if said.is_empty() {
            return served.first().and_then(|s| s.kind_challenge());
        }
        Some(said.join(", "))
    }

    /// Authenticates `request` for a route with `requirement` and `scopes`: the caller, or
    /// the error to send. The framework's own checks (the method admitted, the scopes held) are
    /// applied to whatever the authenticator answers. A client address with too many failures
    /// is refused with 429 before the authenticator is asked.
    pub(crate) async fn check(
        &self,
        request: &Parts,
        requirement: Requirement,
        scopes: &'static [&'static str],
    ) -> Result<Arc<Principal>, ApiError> {
        let shared = &*self.0;
        let client = ClientAddr::of(request).map(|c| Who::Address(c.0.to_canonical()));
        if let Some(who) = client
            && let Some(wait) = shared.failures.blocked(FAILURES_SCOPE, who)
        {
            return Err(too_many_failures(&shared.policy, wait));
        }
        let verdict = shared
            .authenticator
            .authenticate(request, requirement)
            .verdict()
            .await;
        let principal = match verdict {
            Ok(p) => p,
            Err(refusal) => {
                #[cfg(feature = "metrics")]
                if refusal.error.status() == StatusCode::UNAUTHORIZED
                    && let Some(counted) = shared.counted.get()
                {
                    counted.failed(refusal.scheme);
                }
                let mut error = refusal.into_api_error();
                if error.status() == StatusCode::UNAUTHORIZED {
                    error = error.with_challenge(self.challenges(requirement.security()));
                }
                if error.status() == StatusCode::UNAUTHORIZED
                    && let Some(who) = client
                    && let Some(wait) = shared
                        .failures
                        .record_failure(FAILURES_SCOPE, &shared.policy, who)
                        .await
                {
                    // The address itself, not the key it is counted under (`a:...`).
                    let client = match who {
                        Who::Address(address) => address.to_string(),
                        other => other.to_string(),
                    };
                    tracing::warn!(%client, "too many failed authentications: refused for {wait} s");
                    return Err(too_many_failures(&shared.policy, wait));
                }
                return Err(error);
            }
        };
        let security = requirement.security();
        permit(&principal, security, scopes).map_err(|e| match e {
            Some(e) => e,
            None => {
                unauthorized(security, &shared.schemes).with_challenge(self.challenges(security))
            }
        })?;
        if requirement.changes_state()
            && self
                .scheme(principal.scheme())
                .is_some_and(Scheme::framework_checks_cross_site)
            && cross_site(&request.headers)
        {
            return Err(Refusal::cross_site().into_api_error());
        }
        Ok(principal)
    }
}

/// Whether a request comes from another site: the browser says so (`Sec-Fetch-Site:
/// cross-site`), or its `Origin` names another host than the one it was sent to.
fn cross_site(headers: &http::HeaderMap) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return true;
    }
    let Some(origin) = headers.get(http::header::ORIGIN) else {
        return false;
    };
    let authority = origin.to_str().ok().and_then(|o| {
        o.strip_prefix("https://")
            .or_else(|| o.strip_prefix("http://"))
    });
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok());
    match (authority, host) {
        (Some(a), Some(h)) => !a.eq_ignore_ascii_case(h),
        _ => true,
    }
}

fn too_many_failures(policy: &RateLimit, wait: u64) -> ApiError {
    over_quota(
        policy,
        wait,
        format!("too many failed authentications from this address; retry in {wait} s"),
    )
}

impl fmt::Debug for SharedAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedAuthenticator(..)")
    }
}

/// The framework's checks on a principal, whoever authenticated it: the route admits its
/// scheme, and it holds every scope the route requires.
/// `Err(None)`: the scheme is not admitted (the caller words the 401).
fn permit(
    principal: &Principal,
    security: Security,
    scopes: &'static [&'static str],
) -> Result<(), Option<ApiError>> {
    if !security.admits(principal.scheme()) {
        return Err(None);
    }
    if let Some(first) = scopes.iter().position(|p| !principal.has_scope(p)) {
        let missing: Vec<&str> = scopes[first..]
            .iter()
            .copied()
            .filter(|p| !principal.has_scope(p))
            .collect();
        return Err(Some(forbidden(&missing)));
    }
    Ok(())
}

/// The framework's 401 for a route with `security`: what the route accepts, in the words of
/// the `schemes` served (by name alone for a scheme not among them).
pub(crate) fn unauthorized(security: Security, schemes: &[Scheme]) -> ApiError {
    ApiError::framework(
        FrameworkCode::Unauthorized,
        unauthorized_message(security, |name| {
            schemes
                .iter()
                .find(|s| s.name() == name)
                .map_or_else(|| format!("`{name}`"), Scheme::credential)
        }),
    )
}

/// "authentication required: send A or B", naming each scheme `security` admits with `name`:
/// the one wording of a 401, whoever words the credentials.
pub(crate) fn unauthorized_message(security: Security, name: impl Fn(&str) -> String) -> String {
    let accepted: Vec<String> = security.schemes().iter().map(|s| name(s)).collect();
    format!("authentication required: send {}", accepted.join(" or "))
}
