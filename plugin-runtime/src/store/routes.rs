//! `/v1/auth/*`: log in and out, who am I, and API keys, declared with `#[plugin_route]` and
//! `#[plugin]` like any plugin's routes: the same compile-time checks, request path, documents
//! and manifest.

use super::config::AuthError;
use super::handle::{Auth, LOGIN_FAILURES_PER_EMAIL, Login};
use super::model::{ApiKeyInfo, CreatedApiKey, now_ms, parse_rfc3339};
use crate::declare::{AuthMethod, PluginMeta};
use crate::mount::Plugin;
use crate::policy::{ServerConfig, SharedAuthenticator, over_quota};
use crate::request::{Ctx, Principal, RouteError, RouteResult, WithHeaders};
use http::{HeaderMap, HeaderValue, header};
use plugin_routes_macros::{plugin, plugin_route};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What `POST /v1/auth/login` takes.
#[derive(Debug, Deserialize, JsonSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    /// The account's email.
    #[garde(length(min = 1, max = 254))]
    email: String,
    /// The account's password.
    #[garde(length(min = 1, max = 1024))]
    password: String,
}

/// Who is calling: what `GET /v1/auth/me` and a login answer.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Me {
    /// The caller's id (`oauth|<sub>` for an OAuth token).
    user_id: String,
    /// The account's email; absent for an OAuth token.
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    /// How the request was authenticated.
    method: AuthMethod,
    /// The scopes held.
    scopes: Vec<String>,
}

/// What `POST /v1/auth/api-keys` takes.
#[derive(Debug, Deserialize, JsonSchema, garde::Validate)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[allow(
    non_snake_case,
    reason = "`expiresAt` is named as in JSON, so validation errors name it right"
)]
pub(crate) struct CreateKeyRequest {
    /// A name to recognise the key by, 1 to 100 characters.
    #[garde(length(chars, min = 1, max = 100))]
    name: String,
    /// The key's scopes (`items:read`, `items:*`, `*`); never more than the caller's own.
    #[garde(custom(valid_grants))]
    scopes: Vec<String>,
    /// When the key stops working, RFC 3339 (`2030-01-31T00:00:00Z`); never, if absent.
    // Named as the client writes it: garde reports a failing field by its Rust name (its
    // `rename` is parsed but not applied in 0.23), and the report must say `expiresAt`.
    #[garde(custom(future_time))]
    #[schemars(extend("format" = "date-time"))]
    #[serde(default)]
    expiresAt: Option<String>,
}

fn valid_grants(scopes: &[String], (): &()) -> garde::Result {
    match scopes
        .iter()
        .find(|s| !plugin_routes_rules::is_valid_grant(s))
    {
        Some(bad) => Err(garde::Error::new(format!(
            "malformed scope `{bad}`: expected e.g. `items:read`, `items:*` or `*`"
        ))),
        None => Ok(()),
    }
}

fn future_time(value: &Option<String>, (): &()) -> garde::Result {
    let Some(s) = value else { return Ok(()) };
    match parse_rfc3339(s) {
        None => Err(garde::Error::new(
            "not an RFC 3339 time such as 2030-01-31T00:00:00Z",
        )),
        Some(ms) if ms <= now_ms() => Err(garde::Error::new("must be in the future")),
        Some(_) => Ok(()),
    }
}

/// `GET /v1/auth/api-keys`: the caller's keys.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ApiKeyList {
    /// Keys that are not revoked, newest first.
    keys: Vec<ApiKeyInfo>,
}

fn describe(p: &Principal) -> Me {
    Me {
        user_id: p.user_id().to_owned(),
        email: p.email().map(str::to_owned),
        // The store serves only its own three schemes.
        method: AuthMethod::of_scheme(p.scheme()).unwrap_or(AuthMethod::ApiKey),
        scopes: p.scopes().to_vec(),
    }
}

/// An answer that sets or clears the session cookie, which is never cached.
fn with_cookie<T>(body: T, cookie: &str) -> WithHeaders<T> {
    let answer =
        WithHeaders::new(body).header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    match HeaderValue::from_str(cookie) {
        Ok(v) => answer.header(header::SET_COOKIE, v),
        Err(_) => answer,
    }
}

/// Log in with email and password
///
/// Sets the session cookie (`HttpOnly`, `SameSite=Lax`; `Secure` and `__Host-` over HTTPS) with
/// a fresh random id. The session is stored on the server: logging out or expiry ends it.
///
/// Limited to 20 attempts per 15 minutes from one address, and to 5 failed attempts per
/// 15 minutes for one email (then one more every 3 minutes): past either, `429 RATE_LIMITED`
/// without the password being checked.
#[plugin_route(
    crate = "crate",
    method = "POST",
    path = "/login",
    security(none),
    rate_limit(address(20, per = "15m", key = "address")),
    errors(INVALID_CREDENTIALS = (401, "the email or the password is wrong"))
)]
async fn login(ctx: Ctx<Auth>, input: LoginRequest) -> RouteResult<WithHeaders<Me>> {
    match ctx.login(&input.email, &input.password).await? {
        Login::Admitted(session, user) => {
            let body = Me {
                user_id: user.id,
                email: Some(user.email),
                method: AuthMethod::Session,
                scopes: user.scopes,
            };
            Ok(with_cookie(body, &ctx.session_cookie(&session)))
        }
        Login::Refused => Err(route_error!(INVALID_CREDENTIALS)),
        Login::Blocked(wait) => Err(RouteError::framework(over_quota(
            &LOGIN_FAILURES_PER_EMAIL,
            wait,
            format!("too many failed logins for this email; retry in {wait} s"),
        ))),
    }
}

/// Log out: end the session and clear its cookie
#[plugin_route(crate = "crate", method = "POST", path = "/logout", status = 204)]
async fn logout(ctx: Ctx<Auth>, #[extract] headers: HeaderMap) -> RouteResult<WithHeaders<()>> {
    if let Some(session) = super::credential::cookie(&headers, ctx.cookie_name()) {
        ctx.logout(session).await?;
    }
    Ok(with_cookie((), &ctx.clear_cookie()))
}

/// Who is calling: user id, email, how they authenticated, and their scopes
#[plugin_route(
    crate = "crate",
    method = "GET",
    path = "/me",
    security(user, token, oauth)
)]
async fn me(ctx: Ctx<Auth>) -> RouteResult<Me> {
    Ok(describe(ctx.caller()?))
}

/// List your API keys (never their secrets)
#[plugin_route(crate = "crate", method = "GET", path = "/api-keys")]
async fn list_api_keys(ctx: Ctx<Auth>) -> RouteResult<ApiKeyList> {
    let keys = ctx.list_keys(ctx.caller()?.user_id()).await?;
    Ok(ApiKeyList { keys })
}

/// Create an API key; the answer holds its secret, shown only this once
#[plugin_route(
    crate = "crate",
    method = "POST",
    path = "/api-keys",
    status = 201,
    errors(SCOPES_NOT_HELD = (403, "a key cannot have scopes its owner does not hold"))
)]
async fn create_api_key(ctx: Ctx<Auth>, input: CreateKeyRequest) -> RouteResult<CreatedApiKey> {
    let p = ctx.caller()?;
    let expires = input.expiresAt.as_deref().and_then(parse_rfc3339);
    match ctx
        .create_key_for(p.user_id(), p.scopes(), &input.name, &input.scopes, expires)
        .await
    {
        Ok(created) => Ok(created),
        Err(AuthError::ScopesNotHeld(extra)) => Err(route_error!(
            SCOPES_NOT_HELD,
            "you do not hold the scopes {extra}"
        )),
        Err(e) => Err(RouteError::internal(e)),
    }
}

/// Revoke one of your API keys
///
/// It stops working on this server at once, and on every other server sharing the database
/// within the lookup cache's lifetime (10 s by default).
#[plugin_route(
    crate = "crate",
    method = "DELETE",
    path = "/api-keys/{id}",
    status = 204,
    errors(API_KEY_NOT_FOUND = (404, "you have no active key with this id"))
)]
async fn revoke_api_key(ctx: Ctx<Auth>, id: String) -> RouteResult<()> {
    if ctx.revoke_key(ctx.caller()?.user_id(), &id).await? {
        Ok(())
    } else {
        Err(route_error!(
            API_KEY_NOT_FOUND,
            "you have no active key with id {id}"
        ))
    }
}

/// Sessions and API keys: log in, see who you are, and manage your keys.
#[plugin(
    crate = "crate",
    name = "auth",
    version = "0.1.0",
    base_path = "/v1/auth",
    state = Auth,
    body_limit = 65_536,
    security(user),
    routes(login, logout, me, list_api_keys, create_api_key, revoke_api_key)
)]
struct AuthApi;

/// The built-in store's routes as a plugin: `POST /v1/auth/login`, `POST /v1/auth/logout`,
/// `GET /v1/auth/me` and `GET/POST/DELETE /v1/auth/api-keys`. List it in `plugins![...]` like
/// any plugin (and `SettingsPage` next to it for the `/settings` page, feature `settings-page`):
///
/// ```no_run
/// # async fn run(pool: sqlx::AnyPool) -> Result<(), Box<dyn std::error::Error>> {
/// use plugin_routes::auth::{Auth, AuthConfig, AuthRoutes};
/// use plugin_routes::plugins;
///
/// let auth = Auth::open(pool, AuthConfig::default()).await?;
/// let app: axum::Router = plugins![auth = auth.clone(); AuthRoutes::new(auth)];
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct AuthRoutes {
    auth: Auth,
}

impl AuthRoutes {
    /// The routes of `auth`'s store.
    pub fn new(auth: Auth) -> Self {
        AuthRoutes { auth }
    }
}

/// The routes are `AuthApi`'s, declared like any plugin's, counting failed logins in the
/// server's limit store.
impl Plugin for AuthRoutes {
    type State = Auth;

    const META: &'static PluginMeta = <AuthApi as Plugin>::META;

    fn mount(self, server: &ServerConfig, auth: Option<&SharedAuthenticator>) -> axum::Router {
        AuthApi::new(self.auth.counting_in(server.limit_store())).mount(server, auth)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_auth_plugin_has_the_crate_s_version() {
        assert_eq!(
            <super::AuthApi as crate::mount::Plugin>::META.version,
            env!("CARGO_PKG_VERSION")
        );
    }
}
