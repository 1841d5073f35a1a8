//! The one error envelope, and the error types that produce it.
//!
//! Every error body the framework sends, for a framework rejection or for a handler's declared
//! error, is built by [`ApiError::into_response`]:
//!
//! ```json
//! {"error":{"code":"ITEM_NOT_FOUND","message":"item 7 does not exist","details":null,"requestId":"…"}}
//! ```
//! (`details` is left out when there are none.)

use super::request_id::RequestId;
use crate::declare::ErrorDecl;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use std::borrow::Cow;
use std::fmt;

pub use plugin_routes_rules::FrameworkCode;

/// Where a piece of invalid input was found.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Location {
    /// The JSON body.
    Body,
    /// The query string.
    Query,
    /// A path parameter.
    Path,
    /// A header or other part of the request read by an extractor.
    Header,
}

/// One problem with the input, as listed in `details` of an `INVALID_INPUT` error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct FieldError {
    /// Where the value was read from.
    pub location: Location,
    /// The field's path inside that location, e.g. `options.timeout` or `tags[1]`; empty for the
    /// whole body.
    pub path: String,
    /// What is wrong, for a person to read.
    pub message: String,
}

/// The `details` of an error body.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Details {
    /// No `details` member.
    #[default]
    None,
    /// A list of input problems (`INVALID_INPUT`).
    Fields(Vec<FieldError>),
    /// Anything a handler attached.
    Value(serde_json::Value),
}

impl Details {
    fn is_none(&self) -> bool {
        matches!(self, Details::None)
    }
}

impl Serialize for Details {
    fn serialize<Ser: serde::Serializer>(&self, s: Ser) -> Result<Ser::Ok, Ser::Error> {
        match self {
            Details::None => s.serialize_none(),
            Details::Fields(f) => f.serialize(s),
            Details::Value(v) => v.serialize(s),
        }
    }
}

/// An error response: status, code, message and details. The only type that writes error bodies.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: Cow<'static, str>,
    details: Details,
    /// `WWW-Authenticate` of a 401 from authentication: the challenges of the route's schemes.
    challenge: Option<Box<str>>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Details::is_none")]
    details: &'a Details,
    request_id: &'a str,
    /// The request's trace, when it is traced and sampled (feature `otel`).
    #[cfg(feature = "otel")]
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<crate::otel::Hex<32>>,
}

impl ApiError {
    /// A framework error with its code's status.
    pub fn framework(code: FrameworkCode, message: impl Into<Cow<'static, str>>) -> Self {
        ApiError {
            status: status_of(code),
            code: code.as_str(),
            message: message.into(),
            details: Details::None,
            challenge: None,
        }
    }

    /// An error with any status and code, for axum routes written by hand next to the plugins
    /// that should answer in the same envelope.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Details::None,
            challenge: None,
        }
    }

    /// `500 INTERNAL` with the one message every unexpected failure gets; the cause is logged by
    /// whoever calls this, never sent.
    pub(crate) fn internal() -> Self {
        ApiError::framework(FrameworkCode::Internal, INTERNAL_MESSAGE)
    }

    /// `503 UNAVAILABLE` with `Retry-After: {retry_after_secs}` (sent as
    /// `details.retryAfterSeconds` too): something the request needs cannot be reached now.
    pub(crate) fn unavailable(message: &'static str, retry_after_secs: u64) -> Self {
        ApiError::framework(FrameworkCode::Unavailable, message).with_details(Details::Value(
            serde_json::json!({ "retryAfterSeconds": retry_after_secs }),
        ))
    }

    /// `INVALID_INPUT` listing every problem found.
    pub fn invalid_input(message: impl Into<Cow<'static, str>>, fields: Vec<FieldError>) -> Self {
        ApiError::framework(FrameworkCode::InvalidInput, message)
            .with_details(Details::Fields(fields))
    }

    /// Replaces the details.
    pub fn with_details(mut self, details: Details) -> Self {
        self.details = details;
        self
    }

    /// Sets what a 401 sends in `WWW-Authenticate` (nothing, with `None`).
    pub(crate) fn with_challenge(mut self, challenge: Option<String>) -> Self {
        self.challenge = challenge.map(String::into_boxed_str);
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The error code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The details.
    pub fn details(&self) -> &Details {
        &self.details
    }

    /// The envelope's `error` object alone as JSON (`code`, `message`, `details`, `requestId`):
    /// the data of the error event that ends a stream.
    pub(crate) fn body_json(&self, request_id: &RequestId) -> Vec<u8> {
        let body = Body {
            code: self.code,
            message: &self.message,
            details: &self.details,
            request_id: request_id.as_str(),
            #[cfg(feature = "otel")]
            trace_id: request_id.trace_id(),
        };
        // Serializing these plain strings and JSON values cannot fail.
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// Renders the envelope, with the request id in the body and in `x-request-id`.
    pub fn into_response(self, request_id: &RequestId) -> Response {
        let body = Envelope {
            error: Body {
                code: self.code,
                message: &self.message,
                details: &self.details,
                request_id: request_id.as_str(),
                #[cfg(feature = "otel")]
                trace_id: request_id.trace_id(),
            },
        };
        // Serializing these plain strings and JSON values cannot fail.
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(super::request_id::HEADER, request_id.header_value());
        if self.status == StatusCode::TOO_MANY_REQUESTS
            || self.status == StatusCode::SERVICE_UNAVAILABLE
        {
            retry_after(headers, &self.details);
        }
        // RFC 9110: a 401 names the schemes the client can authenticate with; authentication
        // sets the route's (a route's own 401 codes are not about credentials).
        if let Some(challenge) = self.challenge
            && let Ok(value) = HeaderValue::from_str(&challenge)
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// RFC 9110's `Retry-After`, in seconds, from a 429's or a 503's `details.retryAfterSeconds`.
#[cold]
fn retry_after(headers: &mut http::HeaderMap, details: &Details) {
    if let Details::Value(details) = details
        && let Some(secs) = details
            .get("retryAfterSeconds")
            .and_then(serde_json::Value::as_u64)
    {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
}

/// The error a handler returns: one of the codes its route declares, or an unexpected failure.
///
/// Declared errors are made with `route_error!(CODE)` or `route_error!(CODE, "message {}", x)`
/// inside the handler; `#[plugin_route]` defines that macro from the route's `errors(...)`, so
/// naming a code the route did not declare does not compile.
///
/// Any other error converts with `?` (like `anyhow`) and becomes an opaque `500 INTERNAL`: the
/// cause is logged with the request id and never sent to the client. One kind is told apart: an
/// error whose chain of sources holds a [`sqlx::Error`] saying the database cannot answer now
/// (see [`database::is_unavailable`](crate::database::is_unavailable)) becomes
/// `503 UNAVAILABLE` with `Retry-After`, as it passes by itself; one saying PostgreSQL cannot
/// store a text value holding `U+0000` becomes `400 INVALID_INPUT` when the request sent one
/// (escaped in its JSON body, or `%00` in its path or query), and stays a `500` when it did not:
/// then the server's own text held it.
///
/// An `anyhow::Error` made from an error directly (`?` in a function returning
/// `anyhow::Result`) hides that error's type: anyhow boxes it in a wrapper of its own, which
/// answers for its first error's message and sources but not for its type. Give it a context
/// (`.context("reading the items")?`), after which the error is a source again and is
/// recognised, or convert the `sqlx::Error` itself.
pub struct RouteError(Repr);

enum Repr {
    Declared {
        decl: &'static ErrorDecl,
        message: Option<String>,
        details: Option<serde_json::Value>,
    },
    Internal(Box<dyn std::error::Error + Send + Sync>),
    /// One of the framework's own answers (a 429 the built-in login gives); boxed, as it is
    /// rare, to keep every route's result small.
    Framework(Box<ApiError>),
    /// A text value holding `U+0000` refused by the database: `400 INVALID_INPUT` when the
    /// request sent one, an internal error when it did not (the server's own text held it).
    #[cfg_attr(not(feature = "auth-store"), allow(dead_code))]
    Unstorable(Box<dyn std::error::Error + Send + Sync>),
}

/// A handler's result: `Ok(output)` or a [`RouteError`].
pub type RouteResult<T> = Result<T, RouteError>;

impl RouteError {
    /// An unexpected failure (500 `INTERNAL`); `cause` is logged, never sent. A database that
    /// cannot answer now is `503 UNAVAILABLE` instead (see the type's docs).
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        let cause = cause.into();
        #[cfg(feature = "auth-store")]
        if super::outage::unavailable_in(&*cause) {
            return RouteError::framework(database_unavailable(&*cause));
        }
        #[cfg(feature = "auth-store")]
        if super::outage::unstorable_text_in(&*cause) {
            return RouteError(Repr::Unstorable(cause));
        }
        RouteError(Repr::Internal(cause))
    }

    /// One of the framework's own answers, sent as it is.
    #[cfg_attr(not(feature = "auth-store"), allow(dead_code))]
    pub(crate) fn framework(error: ApiError) -> Self {
        RouteError(Repr::Framework(Box::new(error)))
    }

    /// Attaches `details` to a declared error; they are sent in the envelope. Does nothing to an
    /// internal error, whose details are never sent.
    pub fn with_details(mut self, details: impl Serialize) -> Self {
        if let Repr::Declared { details: d, .. } = &mut self.0 {
            *d = Some(serde_json::to_value(details).unwrap_or(serde_json::Value::Null));
        }
        self
    }

    /// The declared code, or `None` for an internal error.
    ///
    /// A text value the database refused for holding `U+0000` reads as `INVALID_INPUT` (400)
    /// here and in [`status`](Self::status) and [`message`](Self::message); it is sent so only
    /// if the request sent such a character, and as `500 INTERNAL` otherwise (see the type's
    /// docs), which a handler cannot know from the error alone.
    pub fn code(&self) -> Option<&'static str> {
        match &self.0 {
            Repr::Declared { decl, .. } => Some(decl.code),
            Repr::Framework(e) => Some(e.code()),
            Repr::Unstorable(_) => Some("INVALID_INPUT"),
            Repr::Internal(_) => None,
        }
    }

    /// The status the error is sent with (but see [`code`](Self::code) for a text value
    /// holding `U+0000`).
    pub fn status(&self) -> StatusCode {
        match &self.0 {
            Repr::Declared { decl, .. } => {
                StatusCode::from_u16(decl.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Repr::Framework(e) => e.status(),
            Repr::Unstorable(_) => StatusCode::BAD_REQUEST,
            Repr::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The message a client would see.
    pub fn message(&self) -> &str {
        match &self.0 {
            Repr::Declared { decl, message, .. } => {
                message.as_deref().unwrap_or_else(|| default_message(decl))
            }
            Repr::Framework(e) => e.message(),
            Repr::Unstorable(_) => UNSTORABLE_MESSAGE,
            Repr::Internal(_) => INTERNAL_MESSAGE,
        }
    }

    /// The details a client would see.
    pub fn details(&self) -> Option<&serde_json::Value> {
        match &self.0 {
            Repr::Declared { details, .. } => details.as_ref(),
            Repr::Framework(e) => match e.details() {
                Details::Value(v) => Some(v),
                Details::None | Details::Fields(_) => None,
            },
            Repr::Unstorable(_) | Repr::Internal(_) => None,
        }
    }

    /// A text value the database refused as holding `U+0000` is the client's fault only if the
    /// request sent one (`sent` tells): otherwise the server's own text held it, and it is an
    /// internal error, logged, not a `400` that would hide it.
    pub(crate) fn unless_sent(self, sent: impl FnOnce() -> bool) -> Self {
        match self.0 {
            Repr::Unstorable(cause) if !sent() => RouteError(Repr::Internal(cause)),
            repr => RouteError(repr),
        }
    }

    /// Whether this is an unexpected failure rather than a declared error (`false` for a text
    /// value holding `U+0000`: see [`code`](Self::code)).
    pub fn is_internal(&self) -> bool {
        matches!(self.0, Repr::Internal(_))
    }

    /// Converts to the envelope's model, logging an internal cause (in the current span, which
    /// carries plugin, route and request id).
    pub(crate) fn into_api_error(self) -> ApiError {
        match self.0 {
            Repr::Declared {
                decl,
                message,
                details,
            } => ApiError {
                status: StatusCode::from_u16(decl.status)
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                code: decl.code,
                message: match message {
                    Some(m) => Cow::Owned(m),
                    None => Cow::Borrowed(default_message(decl)),
                },
                details: details.map_or(Details::None, Details::Value),
                challenge: None,
            },
            Repr::Framework(e) => *e,
            Repr::Unstorable(cause) => {
                tracing::debug!(error = %cause, "the database refused a text value");
                ApiError::invalid_input(UNSTORABLE_MESSAGE, Vec::new())
            }
            Repr::Internal(cause) => {
                // A refusal by the route's permissions was logged where it was made, naming the
                // route, the kind and what was asked: once is enough.
                let refused = std::iter::successors(
                    Some(&*cause as &(dyn std::error::Error + 'static)),
                    |e| e.source(),
                )
                .any(|e| e.is::<crate::reach::Refused>());
                if !refused {
                    tracing::error!(error = %cause, "handler failed");
                }
                ApiError::internal()
            }
        }
    }
}

/// `503 UNAVAILABLE` for a database that cannot answer now; `cause` is logged, never sent (it may
/// name the database's address).
#[cfg(feature = "auth-store")]
#[cold]
fn database_unavailable(cause: &dyn std::fmt::Display) -> ApiError {
    tracing::warn!(error = %cause, "the database cannot answer");
    ApiError::unavailable(
        "the database cannot be reached; try again shortly",
        super::outage::RETRY_AFTER_SECS,
    )
}

/// The HTTP status a framework code is sent with.
fn status_of(code: FrameworkCode) -> StatusCode {
    StatusCode::from_u16(code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

const INTERNAL_MESSAGE: &str = "internal error; quote the request id when reporting it";

const UNSTORABLE_MESSAGE: &str =
    "a text value holds the character U+0000 (NUL), which the database cannot store";

fn default_message(decl: &'static ErrorDecl) -> &'static str {
    decl.description.unwrap_or(decl.code)
}

impl<E: Into<Box<dyn std::error::Error + Send + Sync>>> From<E> for RouteError {
    fn from(e: E) -> Self {
        RouteError::internal(e)
    }
}

impl fmt::Debug for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Declared {
                decl,
                message,
                details,
            } => f
                .debug_struct("RouteError")
                .field("code", &decl.code)
                .field("status", &decl.status)
                .field("message", message)
                .field("details", details)
                .finish(),
            Repr::Framework(e) => f.debug_tuple("RouteError::Framework").field(e).finish(),
            Repr::Unstorable(cause) => f
                .debug_tuple("RouteError::Unstorable")
                .field(cause)
                .finish(),
            Repr::Internal(cause) => f.debug_tuple("RouteError::Internal").field(cause).finish(),
        }
    }
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Declared { decl, .. } => write!(f, "{}: {}", decl.code, self.message()),
            Repr::Framework(e) => write!(f, "{}: {}", e.code(), e.message()),
            Repr::Unstorable(_) => write!(f, "INVALID_INPUT: {UNSTORABLE_MESSAGE}"),
            Repr::Internal(cause) => write!(f, "internal error: {cause}"),
        }
    }
}

/// Used by `route_error!`; not public API.
#[doc(hidden)]
pub fn declared_error(decl: &'static ErrorDecl, message: Option<String>) -> RouteError {
    RouteError(Repr::Declared {
        decl,
        message,
        details: None,
    })
}

/// Stands in for `route_error!` while the route's attribute has errors; never runs.
#[doc(hidden)]
pub fn fallback_error() -> RouteError {
    RouteError::internal("route attribute failed to compile")
}

#[cfg(all(test, feature = "auth-store"))]
mod tests {
    use super::RouteError;

    #[test]
    fn an_outage_is_recognised_through_anyhow_with_a_context_and_not_without() {
        let with = anyhow::Error::from(sqlx::Error::PoolTimedOut).context("reading the items");
        assert_eq!(RouteError::from(with).status(), 503);
        // As the type's docs say: anyhow's own wrapper hides the error's type.
        let without = anyhow::Error::from(sqlx::Error::PoolTimedOut);
        assert_eq!(RouteError::from(without).status(), 500);
    }
}
