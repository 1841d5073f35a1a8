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
    ApiError::framework(
        FrameworkCode::Internal,
        "internal error; quote the request id when reporting it",
    )
}

/// Who is calling, or why they may not. `Ok(None)` for a public route.
pub(crate) async fn authenticate(
    auth: Option<&Auth>,
    security: Security,
    permissions: &[&str],
    unsafe_method: bool,
    parts: &Parts,
) -> Result<Option<Arc<Principal>>, ApiError> {
    if security.is_public() {
        return Ok(None);
    }
    let Some(auth) = auth else {
        // No authentication configured: nobody can be authenticated, so nobody gets in.
        return Err(unauthorized(security));
    };
    let principal = match parts.headers.get(header::AUTHORIZATION) {
        Some(value) => {
            let token = value
                .to_str()
                .ok()
                .and_then(bearer)
                .ok_or_else(|| unauthorized(security))?;
            if token.starts_with(secret::API_KEY_PREFIX) {
                if !security.token {
                    return Err(unauthorized(security));
                }
                auth.key_principal(token)
                    .await
                    .map_err(|e| internal(&e))?
                    .ok_or_else(|| unauthorized(security))?
            } else if jwt::looks_like_jwt(token) {
                if !security.oauth {
                    return Err(unauthorized(security));
                }
                Arc::new(
                    auth.oauth_principal(token)
                        .ok_or_else(|| unauthorized(security))?,
                )
            } else {
                return Err(unauthorized(security));
            }
        }
        None => {
            let session = cookie(&parts.headers, auth.cookie_name())
                .filter(|_| security.user)
                .ok_or_else(|| unauthorized(security))?;
            let principal = auth
                .session_principal(session)
                .await
                .map_err(|e| internal(&e))?
                .ok_or_else(|| unauthorized(security))?;
            if unsafe_method && cross_site(&parts.headers, auth) {
                return Err(csrf_rejected());
            }
            principal
        }
    };
    let missing: Vec<&str> = permissions
        .iter()
        .copied()
        .filter(|p| !principal.has_scope(p))
        .collect();
    if !missing.is_empty() {
        return Err(forbidden(&missing));
    }
    Ok(Some(principal))
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
