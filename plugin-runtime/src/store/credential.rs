//! The built-in store as an [`Authenticator`]: find the one credential the request presents,
//! resolve it (cache, then database), and refuse cross-site cookie requests that change state.
//! The framework then checks the route's method and scopes on the principal.
//!
//! Which credential counts is decided by its form, never by trying: an `Authorization` header
//! wins over any cookie, a Bearer value starting `plk_` is an API key, one shaped like a JWT is an
//! OAuth token, and anything else is refused. An invalid Bearer never falls back to the cookie.

use super::config::AuthError;
use super::handle::Auth;
use super::{jwt, secret};
use crate::declare::{AuthMethod, Security};
use crate::policy::{
    Authentication, Authenticator, Refusal, Requirement, Scheme, Verdict, unauthorized_message,
};
use crate::request::Principal;
use http::request::Parts;
use http::{HeaderMap, header};
use std::sync::Arc;

/// The answer for every failed authentication, whatever went wrong, so that nothing tells a
/// missing credential from an unknown, expired or revoked one.
/// The store names where each credential comes from.
fn unauthorized(security: Security) -> Refusal {
    Refusal::unauthorized(unauthorized_message(
        security,
        |scheme| match AuthMethod::of_scheme(scheme) {
            Some(AuthMethod::Session) => "a session cookie (POST /v1/auth/login)".to_owned(),
            Some(AuthMethod::ApiKey) => "an API key (Authorization: Bearer plk_...)".to_owned(),
            Some(AuthMethod::OAuth) => {
                "an OAuth access token (Authorization: Bearer <JWT>)".to_owned()
            }
            None => format!("`{scheme}`"),
        },
    ))
}

/// The credential a request presents, by its form.
enum Credential<'a> {
    /// An OAuth JWT, verified on the spot.
    Jwt(&'a str),
    /// An API key, looked up (cache, then store) by its digest.
    ApiKey(&'a str),
    /// A session id from the cookie, looked up likewise.
    Session(&'a str),
}

impl Authenticator for Auth {
    /// `user` (the session cookie), `token` (API keys) and `oauth` (JWTs from the configured
    /// issuer; every one refused while none is configured).
    fn schemes(&self) -> Vec<Scheme> {
        vec![
            Scheme::cookie(AuthMethod::Session.scheme(), self.cookie_name())
                .describe(
                    "The session cookie `POST /v1/auth/login` sets (named `__Host-session` when the server runs over HTTPS). Requests that change state must come from this site.",
                )
                // Where a route also takes keys, a 401 asks for a Bearer token alone.
                .without_challenge()
                // With the configured allowed origins, below.
                .checks_cross_site_itself(),
            Scheme::bearer_format(AuthMethod::ApiKey.scheme(), "plk_...").describe(
                "An API key, `Authorization: Bearer plk_...`: made with `POST /v1/auth/api-keys`, on the settings page, or with `example-server api-keys create`.",
            ),
            Scheme::bearer_format(AuthMethod::OAuth.scheme(), "JWT").describe(
                "An OAuth 2 access token (a JWT from the configured issuer, for the configured audience); its `scope` claim lists the scopes.",
            ),
        ]
    }

    /// The database answers, and on PostgreSQL takes writes.
    fn readiness(&self) -> Option<crate::policy::ReadinessFuture<'_>> {
        Some(Box::pin(self.database_answers()))
    }

    fn authenticate<'a>(&'a self, request: &'a Parts, route: Requirement) -> Authentication<'a> {
        let security = route.security();
        let credential = match credential(self, security, &request.headers) {
            Ok(c) => c,
            Err(e) => return Authentication::refuse(e),
        };
        // A cookie-authenticated request that changes state must come from this site.
        let csrf = route.changes_state() && matches!(credential, Credential::Session(_));
        let scheme = match credential {
            Credential::Jwt(_) => AuthMethod::OAuth,
            Credential::ApiKey(_) => AuthMethod::ApiKey,
            Credential::Session(_) => AuthMethod::Session,
        }
        .scheme();
        let finish = move |found: Option<Arc<Principal>>| -> Verdict {
            let principal = found.ok_or_else(|| unauthorized(security).for_scheme(scheme))?;
            if csrf && cross_site(&request.headers, self) {
                return Err(Refusal::cross_site());
            }
            Ok(principal)
        };
        let (secret, is_key) = match credential {
            Credential::Jwt(token) => {
                return Authentication::Ready(finish(self.oauth_principal(token).map(Arc::new)));
            }
            Credential::ApiKey(key) => (key, true),
            Credential::Session(id) => (id, false),
        };
        let digest = secret::digest(secret);
        if let Some(principal) = self.cached(&digest, is_key) {
            return Authentication::Ready(finish(Some(principal)));
        }
        Authentication::later(async move {
            let found = if is_key {
                self.lookup_key(secret, digest).await
            } else {
                self.lookup_session(digest).await
            };
            finish(found.map_err(refused_by_store)?)
        })
    }
}

/// A lookup that failed: `503` while the database cannot answer (told apart as a handler's error
/// is, down its chain of sources), `500` otherwise.
#[cold]
fn refused_by_store(e: AuthError) -> Refusal {
    if crate::request::outage::unavailable_in(&e) {
        Refusal::unavailable(e, crate::database::RETRY_AFTER_SECS)
    } else {
        Refusal::internal(e)
    }
}

/// The one credential that counts: the `Authorization` header when present (a Bearer key or
/// JWT, of a kind the route admits), else the session cookie if the route admits sessions.
fn credential<'a>(
    auth: &Auth,
    security: Security,
    headers: &'a HeaderMap,
) -> Result<Credential<'a>, Refusal> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(bearer)
            .ok_or_else(|| unauthorized(security))?;
        let is_key = token.starts_with(secret::API_KEY_PREFIX);
        return if is_key && security.admits(AuthMethod::ApiKey.scheme()) {
            Ok(Credential::ApiKey(token))
        } else if !is_key
            && jwt::looks_like_jwt(token)
            && security.admits(AuthMethod::OAuth.scheme())
        {
            Ok(Credential::Jwt(token))
        } else if is_key {
            // A key where the route admits none: a failure of the key's scheme.
            Err(unauthorized(security).for_scheme(AuthMethod::ApiKey.scheme()))
        } else if jwt::looks_like_jwt(token) {
            Err(unauthorized(security).for_scheme(AuthMethod::OAuth.scheme()))
        } else {
            Err(unauthorized(security))
        };
    }
    cookie(headers, auth.cookie_name())
        .filter(|_| security.admits(AuthMethod::Session.scheme()))
        .map(Credential::Session)
        .ok_or_else(|| unauthorized(security))
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
fn cross_site(headers: &HeaderMap, auth: &Auth) -> bool {
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
