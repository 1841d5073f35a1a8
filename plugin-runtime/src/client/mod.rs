//! Typed clients, generated from the same declarations as the routes (feature `client`).
//!
//! A plugin declared with `#[plugin(..., client = ItemsClient)]` gets, when this feature is on,
//! a client with one `async fn` per route: path parameters and the input by their Rust types, the
//! output as its Rust type, and an error enum per route (`GetItemError`) with one variant per
//! declared code, one per framework code the route can answer, `Unexpected` for an answer the
//! declaration does not allow and `Transport` for a request that got no answer.
//!
//! The HTTP client is hyper-util's, over HTTP/1.1: hyper is already what the server runs on, so
//! `client` adds no crate of its own beyond hyper's client half, and speaks plain `http://`.
//! `client-tls` adds `https://` through hyper-rustls (rustls on ring, the system's root
//! certificates, or the roots given to [`Client::with_roots`]). Without it an `https://` base URL
//! is refused with [`ClientError`] at construction rather than failing later.
//!
//! The base URL is the server's root (`http://127.0.0.1:8080`, or with the path a proxy puts in
//! front: `https://example.com/gateway`); each method adds its plugin's base path and the route's
//! own (`/v1/plugins/items/items/{id}`), as its documentation shows. A host's own
//! authentication is sent with [`Client::header`] (any header, on every request) or with a tower
//! layer around the HTTP service ([`Client::layer`]: signing, tracing, retries), beside or instead
//! of [`Client::bearer`].

mod events;
#[cfg(fuzzing)]
pub(crate) use events::split_events;
mod generated;
mod operation;

pub use crate::declare::{Operation, OperationState, Progress};
pub use events::{EventError, Events};
pub use generated::{ClientOutput, Failure, RouteErrors, call};
pub use operation::{Pending, start};

use crate::declare::{Method, RouteMeta};
use crate::request::{FieldError, Location};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as Hyper;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use std::time::Duration;
use tower::util::BoxCloneSyncService;
use tower::{Layer, Service, ServiceExt};

#[cfg(feature = "client-tls")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "client-tls"))]
type Connector = HttpConnector;

/// Any error a layer's service may fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response's body as the client reads it, whatever layers wrap the HTTP service.
pub type ClientBody = BoxBody<Bytes, BoxError>;

/// The HTTP service requests go through: hyper's client, inside the layers given to
/// [`Client::layer`]. What a layer wraps and must answer like.
pub type HttpService = BoxCloneSyncService<Request<Full<Bytes>>, Response<ClientBody>, BoxError>;

/// A connection to a server, shared by the plugin clients made from it (cheap to clone).
#[derive(Clone)]
pub struct Client {
    http: HttpService,
    /// `http://host:port`, without a trailing `/`.
    base: String,
    bearer: Option<HeaderValue>,
    /// Sent with every request, after the client's own.
    headers: HeaderMap,
    validate: bool,
    /// The server's plugin prefix, when it is not `/v1/plugins`.
    plugin_prefix: Option<String>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values are marked sensitive, so `Debug` of the map does not show them.
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("bearer", &self.bearer.is_some())
            .field("headers", &self.headers)
            .field("validate", &self.validate)
            .finish_non_exhaustive()
    }
}

/// A base URL the client cannot use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientError(String);

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ClientError {}

impl Client {
    /// A client of the server at `base_url` (`http://127.0.0.1:8080`; `https://` with the
    /// `client-tls` feature, trusting the system's root certificates).
    ///
    /// # Errors
    /// A URL that is not `http://host[:port]` or, with `client-tls`, `https://host[:port]`
    /// (either with an optional path prefix); with `client-tls`, no root certificates to read.
    pub fn new(base_url: &str) -> Result<Self, ClientError> {
        let base = checked_base(base_url)?;
        Ok(Client::over(connector(None)?, base))
    }

    /// A client of the server at `base_url` trusting only the certificate authorities in `pem`
    /// (one or more PEM certificates): a private CA, say.
    ///
    /// # Errors
    /// A URL the client cannot use, or `pem` holding no certificate it can read.
    #[cfg(feature = "client-tls")]
    pub fn with_roots(base_url: &str, pem: &[u8]) -> Result<Self, ClientError> {
        let base = checked_base(base_url)?;
        let roots = crate::tls::roots_from_pem(pem).map_err(ClientError)?;
        Ok(Client::over(connector(Some(roots))?, base))
    }

    fn over(connector: Connector, base: String) -> Self {
        let hyper: Hyper<Connector, Full<Bytes>> =
            Hyper::builder(TokioExecutor::new()).build(connector);
        let http = hyper
            .map_response(|r| r.map(|body| body.map_err(BoxError::from).boxed()))
            .map_err(BoxError::from);
        Client {
            http: BoxCloneSyncService::new(http),
            base,
            bearer: None,
            headers: HeaderMap::new(),
            validate: true,
            plugin_prefix: None,
        }
    }

    /// Sends the header `name: value` with every request (a gateway's `x-user-id`, a tenant, an
    /// API key in a header of the host's own); given again, the header is sent with each value.
    /// The value is marked sensitive: it is not shown by `Debug`, nor indexed by HTTP/2.
    ///
    /// # Errors
    /// A name or value a header cannot have (a space in a name, a line break in a value).
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, ClientError> {
        let header = HeaderName::try_from(name)
            .map_err(|_| ClientError(format!("`{name}` cannot be a header's name")))?;
        let mut value = HeaderValue::try_from(value)
            .map_err(|_| ClientError(format!("the value of `{name}` cannot be a header's")))?;
        value.set_sensitive(true);
        self.headers.append(header, value);
        Ok(self)
    }

    /// Sends every request through `layer` (any tower layer: one that signs requests, adds a
    /// header it computes, traces, retries); layers given later wrap those given before, so the
    /// last one sees each request first. What the layer's service answers is read as the
    /// server's answer; its errors are [`Transport`] failures.
    #[must_use]
    pub fn layer<L, S, B>(mut self, layer: L) -> Self
    where
        L: Layer<HttpService, Service = S>,
        S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
        B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<BoxError>,
    {
        let wrapped = layer
            .layer(self.http)
            .map_response(|r: Response<B>| r.map(|body| body.map_err(Into::into).boxed()))
            .map_err(Into::into);
        self.http = BoxCloneSyncService::new(wrapped);
        self
    }

    /// Sends `Authorization: Bearer <token>` (an API key or an OAuth access token).
    ///
    /// # Panics
    /// If `token` holds characters a header cannot (a line break): no credential does.
    #[must_use]
    pub fn bearer(mut self, token: &str) -> Self {
        let mut value = HeaderValue::try_from(format!("Bearer {token}"))
            .unwrap_or_else(|_| panic!("a bearer token is printable ASCII"));
        value.set_sensitive(true);
        self.bearer = Some(value);
        self
    }

    /// Calls a server that serves its plugins under its own prefix
    /// ([`ServerConfig::with_plugin_prefix`](crate::ServerConfig::with_plugin_prefix)): a
    /// plugin of the default layout, `/v1/plugins/notes`, is called at `<prefix>/notes`.
    ///
    /// # Errors
    /// A prefix a server could not have (see `with_plugin_prefix`).
    pub fn with_plugin_prefix(mut self, prefix: &str) -> Result<Self, ClientError> {
        plugin_routes_rules::check_plugin_prefix(prefix).map_err(ClientError)?;
        self.plugin_prefix = Some(prefix.to_owned());
        Ok(self)
    }

    /// Whether inputs are validated with their garde rules before they are sent (on by default):
    /// an invalid one is answered `InvalidInput` with the server's field errors, without a
    /// round trip.
    #[must_use]
    pub fn validate_before_sending(mut self, on: bool) -> Self {
        self.validate = on;
        self
    }
}

/// `base_url` without its trailing `/`, if the client can reach it.
fn checked_base(base_url: &str) -> Result<String, ClientError> {
    let base = base_url.trim_end_matches('/');
    let uri: http::Uri = base
        .parse()
        .map_err(|e| ClientError(format!("`{base_url}` is not a URL: {e}")))?;
    match uri.scheme_str() {
        Some("http") => {}
        #[cfg(feature = "client-tls")]
        Some("https") => {}
        #[cfg(not(feature = "client-tls"))]
        Some("https") => {
            return Err(ClientError(format!(
                "`{base_url}`: `https://` needs plugin-routes's `client-tls` feature"
            )));
        }
        _ => return Err(ClientError(format!("`{base_url}` is not an http:// URL"))),
    }
    if uri.host().is_none() {
        return Err(ClientError(format!("`{base_url}` has no host")));
    }
    Ok(base.to_owned())
}

#[cfg(not(feature = "client-tls"))]
#[allow(clippy::unnecessary_wraps, reason = "the TLS connector can fail")]
fn connector(_: Option<()>) -> Result<Connector, ClientError> {
    Ok(HttpConnector::new())
}

/// rustls on ring, trusting `roots` or else the system's certificates; `http://` still works.
#[cfg(feature = "client-tls")]
fn connector(roots: Option<rustls::RootCertStore>) -> Result<Connector, ClientError> {
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match roots {
        Some(roots) => {
            builder.with_tls_config(crate::tls::client_config(roots).map_err(ClientError)?)
        }
        None => builder
            .with_provider_and_native_roots(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .map_err(|e| ClientError(format!("the system's root certificates: {e}")))?,
    };
    Ok(builder.https_or_http().enable_http1().build())
}

/// The envelope's `error` object, for a declared code and most framework codes.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// The code (`ITEM_NOT_FOUND`).
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
    /// More, as the route documents it.
    #[serde(default)]
    pub details: Option<serde_json::Value>,
    /// The id the server logged the request under.
    #[serde(default)]
    pub request_id: Option<String>,
    /// The request's trace id, when the server traces requests and this one was sampled.
    #[serde(default)]
    pub trace_id: Option<String>,
}

/// `400 INVALID_INPUT`: what was wrong, field by field.
#[derive(Clone, Debug, PartialEq)]
pub struct InvalidInput {
    /// The summary.
    pub message: String,
    /// Each problem, where it was found.
    pub fields: Vec<FieldError>,
    /// The request's id; absent when the client refused the input before sending it.
    pub request_id: Option<String>,
}

/// `403 FORBIDDEN`: the credential lacks scopes.
#[derive(Clone, Debug, PartialEq)]
pub struct Forbidden {
    /// The summary.
    pub message: String,
    /// The scopes the route needs that the credential does not hold.
    pub missing_scopes: Vec<String>,
    /// The request's id.
    pub request_id: Option<String>,
}

/// `429 RATE_LIMITED`: over a quota.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimited {
    /// The summary.
    pub message: String,
    /// When to come back, from `Retry-After`.
    pub retry_after: Option<Duration>,
    /// The request's id.
    pub request_id: Option<String>,
}

/// An answer the route's declaration does not allow: another status, a code it does not
/// declare, or a success body that is not its output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unexpected {
    /// The status.
    pub status: u16,
    /// The body, as sent (lossily UTF-8).
    pub body: String,
    /// Why it does not fit.
    pub why: String,
}

/// No answer: the connection failed or broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transport(pub String);

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no answer: {}", self.0)
    }
}

/// What the server answered, before it is sorted into a route's output or error.
#[doc(hidden)]
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: ClientBody,
}

/// A refusal, read from an answer's envelope.
#[doc(hidden)]
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub error: ErrorBody,
    pub retry_after: Option<Duration>,
    pub raw: String,
}

impl Refusal {
    /// As `INVALID_INPUT`'s payload.
    pub fn invalid_input(self) -> InvalidInput {
        let fields = self
            .error
            .details
            .and_then(|d| serde_json::from_value(d).ok())
            .unwrap_or_default();
        InvalidInput {
            message: self.error.message,
            fields,
            request_id: self.error.request_id,
        }
    }

    /// As `FORBIDDEN`'s payload.
    pub fn forbidden(self) -> Forbidden {
        let missing_scopes = self
            .error
            .details
            .as_ref()
            .and_then(|d| d.get("missingScopes"))
            .and_then(|m| serde_json::from_value(m.clone()).ok())
            .unwrap_or_default();
        Forbidden {
            message: self.error.message,
            missing_scopes,
            request_id: self.error.request_id,
        }
    }

    /// As `RATE_LIMITED`'s payload.
    pub fn rate_limited(self) -> RateLimited {
        RateLimited {
            message: self.error.message,
            retry_after: self.retry_after,
            request_id: self.error.request_id,
        }
    }

    /// As an answer the declaration does not allow.
    pub fn unexpected(self) -> Unexpected {
        Unexpected {
            why: format!(
                "the route does not declare {} {}",
                self.status, self.error.code
            ),
            status: self.status,
            body: self.raw,
        }
    }
}

/// What a route's method sends: the route, the values of its path parameters in the order the
/// path names them, and its input.
#[doc(hidden)]
#[derive(Debug)]
pub struct Call<'a> {
    pub route: &'static RouteMeta,
    pub base_path: &'static str,
    pub params: &'a [serde_json::Value],
    pub input: Input,
}

/// A route's input, encoded.
#[doc(hidden)]
#[derive(Debug)]
pub enum Input {
    None,
    Json(Vec<u8>),
    Query(String),
}

impl Client {
    /// Whether inputs are checked before sending.
    #[doc(hidden)]
    pub fn validates(&self) -> bool {
        self.validate
    }

    /// Sends `call`; the answer, or why there is none.
    #[doc(hidden)]
    pub async fn send(&self, call: Call<'_>) -> Result<Answer, Transport> {
        let mut path = String::from(&self.base);
        let moved = self
            .plugin_prefix
            .as_deref()
            .and_then(|prefix| plugin_routes_rules::rebase(call.base_path, prefix));
        path.push_str(
            moved
                .as_deref()
                .unwrap_or(call.base_path)
                .trim_end_matches('/'),
        );
        let mut params = call.params.iter();
        for piece in split_template(call.route.path) {
            match piece {
                Piece::Text(t) => path.push_str(t),
                Piece::Param => {
                    let value = params.next().map(param_text).unwrap_or_default();
                    encode_segment(&mut path, &value);
                }
            }
        }
        let (body, query, json) = match call.input {
            Input::None => (Bytes::new(), None, false),
            Input::Json(b) => (Bytes::from(b), None, true),
            Input::Query(q) => (Bytes::new(), Some(q), false),
        };
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            path.push('?');
            path.push_str(&q);
        }
        let mut request = Request::builder()
            .method(http_method(call.route.method))
            .uri(&path);
        if json {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        self.exchange(request, body).await
    }

    /// Sends a request to `path` (an absolute path on the server, as a `Location` names one)
    /// with `headers`, without a body.
    pub(crate) async fn to_path(
        &self,
        method: http::Method,
        path: &str,
        headers: &[(http::HeaderName, HeaderValue)],
    ) -> Result<Answer, Transport> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        self.exchange(request, Bytes::new()).await
    }

    /// Adds the client's credentials and headers to `request`, sends it, and takes the answer.
    async fn exchange(
        &self,
        request: http::request::Builder,
        body: Bytes,
    ) -> Result<Answer, Transport> {
        let mut request = request.header(header::ACCEPT, "application/json, text/event-stream");
        if let Some(b) = &self.bearer {
            request = request.header(header::AUTHORIZATION, b.clone());
        }
        let mut request = request
            .body(Full::new(body))
            .map_err(|e| Transport(format!("the request cannot be built: {e}")))?;
        for (name, value) in &self.headers {
            request.headers_mut().append(name, value.clone());
        }
        let response = self
            .http
            .clone()
            .oneshot(request)
            .await
            .map_err(|e| Transport(describe(&*e)))?;
        let (parts, body) = response.into_parts();
        Ok(Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }
}

impl Answer {
    /// The whole body.
    ///
    /// # Errors
    /// The connection breaking before it ends.
    pub async fn bytes(self) -> Result<Bytes, Transport> {
        self.body
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .map_err(|e| Transport(describe(&*e)))
    }

    /// A failed answer read as the envelope, or as unexpected if it is not one.
    ///
    /// # Errors
    /// No envelope (the [`Unexpected`]), or the connection breaking.
    pub async fn refusal(self) -> Result<Result<Refusal, Unexpected>, Transport> {
        let status = self.status;
        let retry_after = self
            .headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok())
            .map(Duration::from_secs);
        let raw = self.bytes().await?;
        #[derive(Deserialize)]
        struct Envelope {
            error: ErrorBody,
        }
        let text = String::from_utf8_lossy(&raw).into_owned();
        Ok(match serde_json::from_slice::<Envelope>(&raw) {
            Ok(e) => Ok(Refusal {
                status,
                error: e.error,
                retry_after,
                raw: text,
            }),
            Err(e) => Err(Unexpected {
                status,
                body: text,
                why: format!("the body is not the error envelope ({e})"),
            }),
        })
    }
}

/// The input's garde problems, as the server would list them.
#[doc(hidden)]
pub fn check_input<T: crate::request::IsValidated>(
    input: &T,
    location: Location,
) -> Result<(), InvalidInput> {
    match input.check() {
        Ok(()) => Ok(()),
        Err(report) => Err(InvalidInput {
            message: "the input failed validation".to_owned(),
            fields: crate::request::field_errors(&report, location),
            request_id: None,
        }),
    }
}

/// A body input as JSON.
#[doc(hidden)]
pub fn encode_json<T: ClientInput>(input: &T) -> Vec<u8> {
    serde_json::to_vec(input).unwrap_or_default()
}

/// What a client sends as a route's input: the handler's own input type, serialized.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is the input of a route of a plugin with a `client`, so it must derive `Serialize` as well as `Deserialize`",
    label = "add `Serialize` to the derives of `{Self}`"
)]
pub trait ClientInput: serde::Serialize {}
impl<T: serde::Serialize> ClientInput for T {}

/// A query input as the query string.
#[doc(hidden)]
pub fn encode_query<T: ClientInput>(input: &T) -> String {
    crate::request::query::to_string(input).unwrap_or_default()
}

/// A path parameter's value as its text: a string as it is, a number or boolean as printed.
fn param_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

enum Piece<'a> {
    Text(&'a str),
    Param,
}

fn split_template(template: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push(Piece::Text(&rest[..open]));
        let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
        out.push(Piece::Param);
        rest = &rest[close.min(rest.len())..];
    }
    out.push(Piece::Text(rest));
    out
}

/// Percent-encodes `value` as one path segment (everything but RFC 3986's unreserved bytes).
fn encode_segment(out: &mut String, value: &str) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn http_method(m: Method) -> http::Method {
    match m {
        Method::Get => http::Method::GET,
        Method::Post => http::Method::POST,
        Method::Put => http::Method::PUT,
        Method::Patch => http::Method::PATCH,
        Method::Delete => http::Method::DELETE,
    }
}

/// An error and its causes, on one line.
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_are_filled_in_and_encoded() {
        let mut out = String::new();
        for piece in split_template("/items/{id}/tags/{tag}") {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Param => encode_segment(&mut out, "a b/é"),
            }
        }
        assert_eq!(out, "/items/a%20b%2F%C3%A9/tags/a%20b%2F%C3%A9");
    }

    #[test]
    fn base_urls_are_checked() {
        assert!(Client::new("http://127.0.0.1:8080/").is_ok());
        assert_eq!(
            Client::new("https://example.com").is_ok(),
            cfg!(feature = "client-tls")
        );
        assert!(Client::new("not a url").is_err());
        assert!(Client::new("ftp://example.com").is_err());
    }
}
