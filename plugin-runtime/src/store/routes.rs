//! `/v1/auth/*`: log in and out, who am I, and API keys. They run through the same generic
//! endpoint as generated routes (request ids, limits, validation, the envelope), and their
//! metadata feeds the same documents, so the auth API is described like any plugin's.

use super::config::AuthError;
use super::handle::Auth;
use super::model::{ApiKeyInfo, CreatedApiKey, now_ms, parse_rfc3339};
use crate::declare::{
    AuthMethod, ErrorDecl, InputLocation, Method, PathParam, PluginMeta, RouteMeta, SchemaFn,
    Security, schema_ref,
};
use crate::mount::{Mounter, Plugin, Route, RouteRuntime, endpoint};
use crate::policy::{ServerConfig, SharedAuthenticator};
use crate::request::{
    JsonBody, JsonOutput, NoContent, NoInput, NoParams, PathOf, Principal, RequestId, Responder,
    RouteError, declared_error,
};
use axum::response::Response;
use axum::routing::MethodRouter;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;

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
    match scopes.iter().find(|s| !plugin_rules::is_valid_grant(s)) {
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

const fn route(handler: &'static str, method: Method, path: &'static str) -> RouteMeta {
    RouteMeta {
        handler,
        module: "plugin_runtime::auth",
        method,
        path,
        hidden: false,
        ..RouteMeta::BLANK
    }
}

const USER: Security = Security::new(true, false, false);

const LOGIN_ERRORS: &[ErrorDecl] = &[ErrorDecl {
    code: "INVALID_CREDENTIALS",
    status: 401,
    description: Some("the email or the password is wrong"),
}];
const LOGIN: &RouteMeta = &RouteMeta {
    input: InputLocation::Body,
    input_schema: Some(schema_ref::<LoginRequest> as SchemaFn),
    output_schema: Some(schema_ref::<Me> as SchemaFn),
    errors: LOGIN_ERRORS,
    summary: Some("Log in with email and password"),
    description: Some(
        "Sets the session cookie (`HttpOnly`, `SameSite=Lax`; `Secure` and `__Host-` over HTTPS) \
         with a fresh random id. The session is stored on the server: logging out or expiry ends it.",
    ),
    security: Some(Security::NONE),
    ..route("login", Method::Post, "/login")
};
const LOGOUT: &RouteMeta = &RouteMeta {
    status: 204,
    summary: Some("Log out: end the session and clear its cookie"),
    ..route("logout", Method::Post, "/logout")
};
const ME: &RouteMeta = &RouteMeta {
    output_schema: Some(schema_ref::<Me> as SchemaFn),
    summary: Some("Who is calling: user id, email, how they authenticated, and their scopes"),
    security: Some(Security::new(true, true, true)),
    ..route("me", Method::Get, "/me")
};
const LIST_KEYS: &RouteMeta = &RouteMeta {
    output_schema: Some(schema_ref::<ApiKeyList> as SchemaFn),
    summary: Some("List your API keys (never their secrets)"),
    ..route("list_api_keys", Method::Get, "/api-keys")
};
const CREATE_KEY_ERRORS: &[ErrorDecl] = &[ErrorDecl {
    code: "SCOPES_NOT_HELD",
    status: 403,
    description: Some("a key cannot have scopes its owner does not hold"),
}];
const CREATE_KEY: &RouteMeta = &RouteMeta {
    status: 201,
    input: InputLocation::Body,
    input_schema: Some(schema_ref::<CreateKeyRequest> as SchemaFn),
    output_schema: Some(schema_ref::<CreatedApiKey> as SchemaFn),
    errors: CREATE_KEY_ERRORS,
    summary: Some("Create an API key; the answer holds its secret, shown only this once"),
    ..route("create_api_key", Method::Post, "/api-keys")
};
const REVOKE_KEY_ERRORS: &[ErrorDecl] = &[ErrorDecl {
    code: "API_KEY_NOT_FOUND",
    status: 404,
    description: Some("you have no active key with this id"),
}];
const REVOKE_KEY: &RouteMeta = &RouteMeta {
    status: 204,
    path_params: &[PathParam {
        name: "id",
        schema: schema_ref::<String>,
    }],
    errors: REVOKE_KEY_ERRORS,
    summary: Some("Revoke one of your API keys"),
    description: Some(
        "It stops working on this server at once, and on every other server sharing the database \
         within the lookup cache's lifetime (10 s by default).",
    ),
    ..route("revoke_api_key", Method::Delete, "/api-keys/{id}")
};

/// What the auth routes declare; their routes default to `security(user)`.
const META: &PluginMeta = &PluginMeta {
    name: "auth",
    version: env!("CARGO_PKG_VERSION"),
    base_path: crate::declare::AUTH_BASE_PATH,
    type_name: "Auth",
    description: "Sessions and API keys: log in, see who you are, and manage your keys.",
    timeout_ms: None,
    body_limit: Some(64 * 1024),
    routes: &[LOGIN, LOGOUT, ME, LIST_KEYS, CREATE_KEY, REVOKE_KEY],
    security: Some(USER),
    permissions: None,
};

/// A JSON or empty answer with a `Set-Cookie` header.
pub(crate) struct WithCookie<R>(PhantomData<fn() -> R>);

impl<R: Responder> Responder for WithCookie<R> {
    type Output = (R::Output, String);

    fn respond(status: StatusCode, (output, cookie): Self::Output, id: &RequestId) -> Response {
        let mut response = R::respond(status, output, id);
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
        // A response that sets or clears a credential is never cached.
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

fn me(p: &Principal) -> Me {
    Me {
        user_id: p.user_id().to_owned(),
        email: p.email().map(str::to_owned),
        method: p.method(),
        scopes: p.scopes().to_vec(),
    }
}

struct Login;
struct Logout;
struct WhoAmI;
struct ListKeys;
struct CreateKey;
struct RevokeKey;

#[derive(Deserialize)]
struct KeyId {
    id: String,
}

impl Route<Auth> for Login {
    fn meta(&self) -> &'static RouteMeta {
        LOGIN
    }
    fn method_router(self, runtime: RouteRuntime<Auth>) -> MethodRouter {
        endpoint::<Auth, NoParams, JsonBody<LoginRequest>, (), WithCookie<JsonOutput<Me>>, _, _>(
            runtime,
            |ctx, (), input, ()| async move {
                match ctx.login(&input.email, &input.password).await? {
                    Some((session, user)) => {
                        let cookie = ctx.session_cookie(&session);
                        let body = Me {
                            user_id: user.id,
                            email: Some(user.email),
                            method: AuthMethod::Session,
                            scopes: user.scopes,
                        };
                        Ok((body, cookie))
                    }
                    None => Err(declared_error(&LOGIN_ERRORS[0], None)),
                }
            },
        )
    }
}

impl Route<Auth> for Logout {
    fn meta(&self) -> &'static RouteMeta {
        LOGOUT
    }
    fn method_router(self, runtime: RouteRuntime<Auth>) -> MethodRouter {
        endpoint::<Auth, NoParams, NoInput, (HeaderMap,), WithCookie<NoContent>, _, _>(
            runtime,
            |ctx, (), (), (headers,)| async move {
                if let Some(session) = super::credential::cookie(&headers, ctx.cookie_name()) {
                    ctx.logout(session).await?;
                }
                Ok(((), ctx.clear_cookie()))
            },
        )
    }
}

impl Route<Auth> for WhoAmI {
    fn meta(&self) -> &'static RouteMeta {
        ME
    }
    fn method_router(self, runtime: RouteRuntime<Auth>) -> MethodRouter {
        endpoint::<Auth, NoParams, NoInput, (), JsonOutput<Me>, _, _>(
            runtime,
            |ctx, (), (), ()| async move { Ok(me(ctx.caller()?)) },
        )
    }
}

impl Route<Auth> for ListKeys {
    fn meta(&self) -> &'static RouteMeta {
        LIST_KEYS
    }
    fn method_router(self, runtime: RouteRuntime<Auth>) -> MethodRouter {
        endpoint::<Auth, NoParams, NoInput, (), JsonOutput<ApiKeyList>, _, _>(
            runtime,
            |ctx, (), (), ()| async move {
                let keys = ctx.list_keys(ctx.caller()?.user_id()).await?;
                Ok(ApiKeyList { keys })
            },
        )
    }
}

impl Route<Auth> for CreateKey {
    fn meta(&self) -> &'static RouteMeta {
        CREATE_KEY
    }
    fn method_router(self, runtime: RouteRuntime<Auth>) -> MethodRouter {
        endpoint::<Auth, NoParams, JsonBody<CreateKeyRequest>, (), JsonOutput<CreatedApiKey>, _, _>(
            runtime,
            |ctx, (), input, ()| async move {
                let p = ctx.caller()?;
                let expires = input.expiresAt.as_deref().and_then(parse_rfc3339);
                match ctx
                    .create_key_for(p.user_id(), p.scopes(), &input.name, &input.scopes, expires)
                    .await
                {
                    Ok(created) => Ok(created),
                    Err(AuthError::ScopesNotHeld(extra)) => Err(declared_error(
                        &CREATE_KEY_ERRORS[0],
                        Some(format!("you do not hold the scopes {extra}")),
                    )),
                    Err(e) => Err(RouteError::internal(e)),
                }
            },
        )
    }
}

impl Route<Auth> for RevokeKey {
    fn meta(&self) -> &'static RouteMeta {
        REVOKE_KEY
    }
    fn method_router(self, runtime: RouteRuntime<Auth>) -> MethodRouter {
        endpoint::<Auth, PathOf<KeyId>, NoInput, (), NoContent, _, _>(
            runtime,
            |ctx, KeyId { id }, (), ()| async move {
                if ctx.revoke_key(ctx.caller()?.user_id(), &id).await? {
                    Ok(())
                } else {
                    Err(declared_error(
                        &REVOKE_KEY_ERRORS[0],
                        Some(format!("you have no active key with id {id}")),
                    ))
                }
            },
        )
    }
}

/// The built-in store's routes as a plugin: `POST /v1/auth/login`, `POST /v1/auth/logout`,
/// `GET /v1/auth/me` and `GET/POST/DELETE /v1/auth/api-keys`, plus the `/settings` page with the
/// `settings-page` feature. List it in `plugins![...]` like any plugin:
///
/// ```no_run
/// # async fn run(pool: sqlx::AnyPool) -> Result<(), Box<dyn std::error::Error>> {
/// use plugin_runtime::auth::{Auth, AuthConfig, AuthRoutes};
/// use plugin_runtime::plugins;
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

impl Plugin for AuthRoutes {
    type State = Auth;

    const META: &'static PluginMeta = META;

    fn mount(self, server: &ServerConfig, auth: Option<&SharedAuthenticator>) -> axum::Router {
        let mut m =
            Mounter::new(META, std::sync::Arc::new(self.auth), server).with_auth(auth.cloned());
        m.add(Login);
        m.add(Logout);
        m.add(WhoAmI);
        m.add(ListKeys);
        m.add(CreateKey);
        m.add(RevokeKey);
        let router = m.finish();
        #[cfg(feature = "settings-page")]
        let router = router.merge(super::settings::router());
        router
    }
}
