//! The per-request check every non-public route runs before anything else (before its path,
//! query or body are read): find the one credential the request presents, resolve it, refuse
//! cross-site cookie requests that change state, then check the route's scopes.
//!
//! Which credential counts is decided by its form, never by trying: an `Authorization` header
//! wins over any cookie, a Bearer value starting `plk_` is an API key, one shaped like a JWT is an
//! OAuth token, and anything else is refused. An invalid Bearer never falls back to the cookie.

use super::{Auth, AuthMethod, Principal, Security, jwt, secret};
use crate::error::{ApiError, FrameworkCode};
use http::request::Parts;
use http::{HeaderMap, header};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The answer for every failed authentication, whatever went wrong, so that nothing tells a
/// missing credential from an unknown, expired or revoked one.
fn unauthorized(security: Security) -> ApiError {
    let accepted: Vec<&str> = security
        .methods()
        .map(|m| match m {
            AuthMethod::Session => "a session cookie (POST /v1/auth/login)",
            AuthMethod::ApiKey => "an API key (Authorization: Bearer plk_...)",
            AuthMethod::OAuth => "an OAuth access token (Authorization: Bearer <JWT>)",
        })
        .collect();
    ApiError::framework(
        FrameworkCode::Unauthorized,
        format!("authentication required: send {}", accepted.join(" or ")),
    )
}

fn internal(e: &super::AuthError) -> ApiError {
    tracing::error!(error = %e, "looking up a credential failed");
    ApiError::internal()
}

/// Who is calling (`None` on a public route), or the refusal to send.
pub(crate) type Decision = Result<Option<Arc<Principal>>, ApiError>;

/// What authentication decided, or the database lookup it still needs.
pub(crate) enum Step<'a> {
    /// Decided without waiting: a public route, a refusal, or a credential found in the cache.
    Ready(Decision),
    /// A credential not in the cache: one indexed query decides. Boxed, so the request's future
    /// stays small on every other path.
    Lookup(Pin<Box<dyn Future<Output = Decision> + Send + 'a>>),
}

/// The credential a request presents, by its form.
enum Credential<'a> {
    /// An OAuth JWT, verified on the spot.
    Jwt(&'a str),
    /// An API key or a session id, looked up (cache, then store) by its digest.
    Stored(Stored<'a>),
}

#[derive(Clone, Copy)]
enum Stored<'a> {
    ApiKey(&'a str),
    Session(&'a str),
}

/// Who is calling, or why they may not. `Ready(Ok(None))` for a public route.
pub(crate) fn authenticate<'a>(
    auth: Option<&'a Auth>,
    security: Security,
    permissions: &'static [&'static str],
    unsafe_method: bool,
    parts: &'a Parts,
) -> Step<'a> {
    if security.is_public() {
        return Step::Ready(Ok(None));
    }
    let Some(auth) = auth else {
        // No authentication configured: nobody can be authenticated, so nobody gets in.
        return Step::Ready(Err(unauthorized(security)));
    };
    let credential = match credential(auth, security, &parts.headers) {
        Ok(c) => c,
        Err(e) => return Step::Ready(Err(e)),
    };
    let checks = Checks {
        security,
        permissions,
        csrf: unsafe_method && matches!(credential, Credential::Stored(Stored::Session(_))),
    };
    let stored = match credential {
        Credential::Jwt(token) => {
            let principal = auth.oauth_principal(token).map(Arc::new);
            return Step::Ready(checks.finish(principal, auth, &parts.headers));
        }
        Credential::Stored(stored) => stored,
    };
    let (secret, is_key) = match stored {
        Stored::ApiKey(key) => (key, true),
        Stored::Session(id) => (id, false),
    };
    let digest = secret::digest(secret);
    if let Some(principal) = auth.cached(&digest, is_key) {
        return Step::Ready(checks.finish(Some(principal), auth, &parts.headers));
    }
    Step::Lookup(Box::pin(async move {
        let found = match stored {
            Stored::ApiKey(key) => auth.lookup_key(key, digest).await,
            Stored::Session(_) => auth.lookup_session(digest).await,
        }
        .map_err(|e| internal(&e))?;
        checks.finish(found, auth, &parts.headers)
    }))
}

/// The one credential that counts: the `Authorization` header when present (a Bearer key or
/// JWT, of a kind the route admits), else the session cookie if the route admits sessions.
fn credential<'a>(
    auth: &Auth,
    security: Security,
    headers: &'a HeaderMap,
) -> Result<Credential<'a>, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(bearer)
            .ok_or_else(|| unauthorized(security))?;
        return if token.starts_with(secret::API_KEY_PREFIX) && security.token {
            Ok(Credential::Stored(Stored::ApiKey(token)))
        } else if !token.starts_with(secret::API_KEY_PREFIX)
            && jwt::looks_like_jwt(token)
            && security.oauth
        {
            Ok(Credential::Jwt(token))
        } else {
            Err(unauthorized(security))
        };
    }
    cookie(headers, auth.cookie_name())
        .filter(|_| security.user)
        .map(|id| Credential::Stored(Stored::Session(id)))
        .ok_or_else(|| unauthorized(security))
}

/// What is checked once the caller is known.
#[derive(Clone, Copy)]
struct Checks {
    security: Security,
    permissions: &'static [&'static str],
    /// A cookie-authenticated request that changes state: it must come from this site.
    csrf: bool,
}

impl Checks {
    fn finish(
        self,
        principal: Option<Arc<Principal>>,
        auth: &Auth,
        headers: &HeaderMap,
    ) -> Decision {
        let principal = principal.ok_or_else(|| unauthorized(self.security))?;
        if self.csrf && cross_site(headers, auth) {
            return Err(csrf_rejected());
        }
        if let Some(first) = self
            .permissions
            .iter()
            .position(|p| !principal.has_scope(p))
        {
            let missing: Vec<&str> = self.permissions[first..]
                .iter()
                .copied()
                .filter(|p| !principal.has_scope(p))
                .collect();
            return Err(forbidden(&missing));
        }
        Ok(Some(principal))
    }
}

pub(crate) fn forbidden(missing: &[&str]) -> ApiError {
    ApiError::framework(
        FrameworkCode::Forbidden,
        format!("this needs the scopes {}", missing.join(", ")),
    )
    .with_details(crate::error::Details::Value(
        serde_json::json!({ "missingScopes": missing }),
    ))
}

pub(crate) fn csrf_rejected() -> ApiError {
    ApiError::framework(
        FrameworkCode::CsrfRejected,
        "a cookie-authenticated request that changes state must come from this site",
    )
}

/// The token of `Bearer <token>` (the scheme is case-insensitive).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The value of cookie `name`, from any `Cookie` header.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// Whether a request comes from another site: the browser says so in `Sec-Fetch-Site`, or its
/// `Origin` is neither this server (its `Host`) nor an allowed origin.
pub(crate) fn cross_site(headers: &HeaderMap, auth: &Auth) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return true;
    };
    if auth.config().allowed_origins.iter().any(|o| o == origin) {
        return false;
    }
    let scheme = if auth.config().https {
        "https://"
    } else {
        "http://"
    };
    let Some(authority) = origin.strip_prefix(scheme) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    host.is_none_or(|h| !h.eq_ignore_ascii_case(authority))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_values() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
    }

    #[test]
    fn cookies() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "a=1; session=xyz"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(cookie(&h, "session"), Some("xyz"));
        assert_eq!(cookie(&h, "sess"), None);
    }
}
