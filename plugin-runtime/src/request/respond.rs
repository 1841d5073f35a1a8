//! How a handler's output becomes the success response. What a handler returns says what is
//! sent: a type that derives `Serialize` and `JsonSchema` is a JSON body, [`RawJson`] one
//! serialized in advance, [`Html`] a page, [`Binary`] bytes of a media type given at run time, [`Conditional`] any of these with an
//! `ETag` (and `304 Not Modified` when the client has it already), and [`WithHeaders`] any of
//! them with headers added (a `Set-Cookie`, a policy); a `status = 204` route returns `()` (or
//! `WithHeaders<()>`) and sends no body. Each kind says what the documents show for it. Errors
//! never pass through here; they go through the envelope.

use super::error::ApiError;
use super::request_id::{self, RequestId};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use serde::Serialize;
use std::marker::PhantomData;
use std::time::Duration;

/// What a route's handler can return on success (the `T` of `RouteResult<T>`), and how it is
/// written and documented.
///
/// Implemented by every type that derives `Serialize` and `JsonSchema` (a JSON body), by
/// [`RawJson`], [`Html`] and [`Binary`], and by [`Conditional`] and [`WithHeaders`] around any
/// of them.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be what a route returns",
    label = "derive `Serialize` and `JsonSchema` for a JSON body (or for the events of an `EventStream<..>`), or return `RawJson`, `Html`, `Binary`, `Conditional<..>` or `WithHeaders<..>`"
)]
pub trait RouteOutput: Send + 'static {
    /// The success body's media type in the documents.
    const MEDIA_TYPE: &'static str;

    /// Whether the route answers conditional requests (`If-None-Match`, `304`): the documents
    /// then show the request header, the `ETag` and the `304` response.
    const CONDITIONAL: bool = false;

    /// The success body's schema in the documents.
    fn schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema;

    /// Writes the success response with the route's status.
    fn into_response(self, status: StatusCode, request_id: &RequestId) -> Response;

    /// Writes the success response of a route whose timeout is `timeout`: a stream bounds the
    /// wait for each event with it; every other kind ignores it.
    fn into_response_within(
        self,
        status: StatusCode,
        request_id: &RequestId,
        timeout: Duration,
    ) -> Response
    where
        Self: Sized,
    {
        let _ = timeout;
        self.into_response(status, request_id)
    }
}

impl<T: Serialize + schemars::JsonSchema + Send + 'static> RouteOutput for T {
    const MEDIA_TYPE: &'static str = "application/json";

    fn schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<T>()
    }

    fn into_response(self, status: StatusCode, request_id: &RequestId) -> Response {
        match serde_json::to_vec(&self) {
            Ok(bytes) => body_response(
                status,
                bytes,
                HeaderValue::from_static("application/json"),
                false,
                request_id,
            ),
            Err(e) => {
                tracing::error!(error = %e, "the handler's output could not be serialized");
                ApiError::internal().into_response(request_id)
            }
        }
    }
}

/// A success response with `body`, its `Content-Type`, `X-Content-Type-Options: nosniff` if
/// `nosniff` (for kinds a browser might otherwise guess at), and the request id. Built
/// directly: axum's `IntoResponse` for bytes would first set a `Content-Type` of its own, only
/// for it to be replaced.
#[inline]
fn body_response(
    status: StatusCode,
    body: impl Into<Bytes>,
    content_type: HeaderValue,
    nosniff: bool,
    request_id: &RequestId,
) -> Response {
    let mut response = Response::new(axum::body::Body::from(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type);
    if nosniff {
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
    }
    headers.insert(request_id::HEADER, request_id.header_value());
    response
}

/// An HTML page (`text/html; charset=utf-8`, sent with `X-Content-Type-Options: nosniff`).
#[derive(Clone, Debug)]
pub struct Html(Bytes);

impl Html {
    /// The page's markup. A `&'static str` or a shared [`Bytes`] is sent without copying.
    pub fn new(markup: impl Into<Bytes>) -> Self {
        Html(markup.into())
    }
}

impl RouteOutput for Html {
    const MEDIA_TYPE: &'static str = "text/html";

    fn schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string" })
    }

    fn into_response(self, status: StatusCode, request_id: &RequestId) -> Response {
        let html = HeaderValue::from_static("text/html; charset=utf-8");
        body_response(status, self.0, html, true, request_id)
    }
}

/// Bytes sent as they are, with a media type chosen at run time: a file, an image, a document
/// serialized in advance. Documented as a string of binary content.
#[derive(Clone, Debug)]
pub struct Binary {
    media_type: HeaderValue,
    bytes: Bytes,
}

impl Binary {
    /// `bytes`, sent with `Content-Type: media_type`. A `&'static [u8]` or a shared [`Bytes`] is
    /// sent without copying.
    pub fn new(media_type: HeaderValue, bytes: impl Into<Bytes>) -> Self {
        Binary {
            media_type,
            bytes: bytes.into(),
        }
    }
}

impl RouteOutput for Binary {
    const MEDIA_TYPE: &'static str = "application/octet-stream";

    fn schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "contentMediaType": "application/octet-stream" })
    }

    fn into_response(self, status: StatusCode, request_id: &RequestId) -> Response {
        body_response(status, self.bytes, self.media_type, true, request_id)
    }
}

/// A JSON body serialized in advance (a document built once, a cached answer): sent as it is,
/// documented as any JSON value. The bytes are trusted to be JSON; nothing checks them.
#[derive(Clone, Debug)]
pub struct RawJson(Bytes);

impl RawJson {
    /// `json`, already serialized. A `&'static [u8]` or a shared [`Bytes`] is sent without
    /// copying.
    pub fn new(json: impl Into<Bytes>) -> Self {
        RawJson(json.into())
    }
}

impl RouteOutput for RawJson {
    const MEDIA_TYPE: &'static str = "application/json";

    fn schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({})
    }

    fn into_response(self, status: StatusCode, request_id: &RequestId) -> Response {
        let json = HeaderValue::from_static("application/json");
        body_response(status, self.0, json, false, request_id)
    }
}

/// The `If-None-Match` header of a request, for a route that returns [`Conditional`]: take it
/// with `#[extract]`.
#[derive(Clone, Debug, Default)]
pub struct IfNoneMatch(Vec<HeaderValue>);

impl IfNoneMatch {
    /// Whether the request names `etag` (or `*`): the client has the current version already.
    /// Weak comparison (RFC 9110 §13.1.2), as `If-None-Match` calls for.
    pub fn matches(&self, etag: &HeaderValue) -> bool {
        let wanted = etag.as_bytes();
        let wanted = wanted.strip_prefix(b"W/").unwrap_or(wanted);
        self.0
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t.as_bytes() == wanted)
    }
}

impl<S: Sync> axum::extract::FromRequestParts<S> for IfNoneMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(IfNoneMatch(
            parts
                .headers
                .get_all(header::IF_NONE_MATCH)
                .iter()
                .cloned()
                .collect(),
        ))
    }
}

/// An output with an `ETag`: sent in full with the tag, or as `304 Not Modified` with no body
/// when the request's [`IfNoneMatch`] already names the tag. The documents show the
/// `If-None-Match` parameter, the `ETag` header and the `304`.
///
/// ```
/// use plugin_routes::{Conditional, Html, IfNoneMatch};
/// use plugin_routes::http::HeaderValue;
///
/// let etag = HeaderValue::from_static("\"v1\"");
/// let answer = Conditional::new(etag, Html::new("<p>hello</p>"), &IfNoneMatch::default());
/// # let _ = answer;
/// ```
#[derive(Clone, Debug)]
pub struct Conditional<T> {
    etag: HeaderValue,
    /// `None` when the client's copy is current.
    body: Option<T>,
}

impl<T> Conditional<T> {
    /// `body` tagged `etag` (a quoted string such as `"3f2a"`), or `304` if `request` names it.
    pub fn new(etag: HeaderValue, body: T, request: &IfNoneMatch) -> Self {
        let body = (!request.matches(&etag)).then_some(body);
        Conditional { etag, body }
    }
}

impl<T: RouteOutput> RouteOutput for Conditional<T> {
    const MEDIA_TYPE: &'static str = T::MEDIA_TYPE;
    const CONDITIONAL: bool = true;

    fn schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::schema(generator)
    }

    fn into_response(self, status: StatusCode, request_id: &RequestId) -> Response {
        self.into_response_within(status, request_id, crate::declare::DEFAULT_TIMEOUT)
    }

    fn into_response_within(
        self,
        status: StatusCode,
        request_id: &RequestId,
        timeout: Duration,
    ) -> Response {
        let mut response = match self.body {
            Some(body) => body.into_response_within(status, request_id, timeout),
            None => {
                let mut r = StatusCode::NOT_MODIFIED.into_response();
                r.headers_mut()
                    .insert(request_id::HEADER, request_id.header_value());
                r
            }
        };
        response.headers_mut().insert(header::ETAG, self.etag);
        response
    }
}

/// An output with response headers added: a cookie set or cleared, a content policy, a cache
/// directive. The body (if any) is `T`'s, documented as `T` is.
///
/// ```
/// use plugin_routes::WithHeaders;
/// use plugin_routes::http::{HeaderValue, header};
///
/// let answer = WithHeaders::new(())
///     .header(header::SET_COOKIE, HeaderValue::from_static("sid=; Max-Age=0"))
///     .header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
/// # let _ = answer;
/// ```
#[derive(Clone, Debug)]
pub struct WithHeaders<T> {
    body: T,
    headers: HeaderMap,
}

impl<T> WithHeaders<T> {
    /// `body` with no headers added yet.
    pub fn new(body: T) -> Self {
        WithHeaders {
            body,
            headers: HeaderMap::new(),
        }
    }

    /// Adds a header; a name given twice is sent twice (as `Set-Cookie` needs). It replaces a
    /// header of the same name that the body's kind would set (its `Content-Type`, say).
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }
}

impl<T: RouteOutput> RouteOutput for WithHeaders<T> {
    const MEDIA_TYPE: &'static str = T::MEDIA_TYPE;
    const CONDITIONAL: bool = T::CONDITIONAL;

    fn schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::schema(generator)
    }

    fn into_response(self, status: StatusCode, request_id: &RequestId) -> Response {
        self.into_response_within(status, request_id, crate::declare::DEFAULT_TIMEOUT)
    }

    fn into_response_within(
        self,
        status: StatusCode,
        request_id: &RequestId,
        timeout: Duration,
    ) -> Response {
        let mut response = self.body.into_response_within(status, request_id, timeout);
        // `extend` replaces a header the body's kind set and keeps repeated names apart.
        response.headers_mut().extend(self.headers);
        response
    }
}

/// What a `status = 204` route returns: `()`, or `WithHeaders<()>`.
#[diagnostic::on_unimplemented(
    message = "a `status = 204` route sends no body, so it returns `RouteResult<()>`, not `RouteResult<{Self}>`",
    label = "return `()` (or `WithHeaders<()>` to set headers), or declare another status"
)]
pub trait EmptyOutput: Send + 'static {
    /// The headers to add to the empty response.
    fn into_headers(self) -> Option<HeaderMap>;
}

impl EmptyOutput for () {
    fn into_headers(self) -> Option<HeaderMap> {
        None
    }
}

impl EmptyOutput for WithHeaders<()> {
    fn into_headers(self) -> Option<HeaderMap> {
        Some(self.headers)
    }
}

/// How the endpoint writes a handler's success: implemented by [`Output`] and [`NoContent`].
pub trait Responder: Send + 'static {
    /// The `T` of the handler's `RouteResult<T>`.
    type Output: Send;
    /// Writes the response of a route whose timeout is `timeout`.
    fn respond(
        status: StatusCode,
        output: Self::Output,
        request_id: &RequestId,
        timeout: Duration,
    ) -> Response;
}

/// A route with a body: what its output type says.
#[derive(Debug)]
pub struct Output<T>(PhantomData<fn() -> T>);

impl<T: RouteOutput> Responder for Output<T> {
    type Output = T;

    fn respond(
        status: StatusCode,
        output: T,
        request_id: &RequestId,
        timeout: Duration,
    ) -> Response {
        output.into_response_within(status, request_id, timeout)
    }
}

/// No body (`status = 204`), with the headers of a `WithHeaders<()>`.
#[derive(Debug)]
pub struct NoContent<T = ()>(PhantomData<fn() -> T>);

impl<T: EmptyOutput> Responder for NoContent<T> {
    type Output = T;

    fn respond(status: StatusCode, output: T, request_id: &RequestId, _: Duration) -> Response {
        let mut response = status.into_response();
        if let Some(headers) = output.into_headers() {
            response.headers_mut().extend(headers);
        }
        response
            .headers_mut()
            .insert(request_id::HEADER, request_id.header_value());
        response
    }
}

/// The answer that starts an operation (feature `operations`): `202 Accepted`, the operation's
/// URL in `Location`, and the operation as it stands in the body.
#[cfg(feature = "operations")]
#[derive(Debug)]
pub struct Accepted {
    pub(crate) location: String,
    pub(crate) body: Vec<u8>,
}

#[cfg(feature = "operations")]
impl Responder for Accepted {
    type Output = Accepted;

    fn respond(_: StatusCode, output: Accepted, request_id: &RequestId, _: Duration) -> Response {
        let mut response = body_response(
            StatusCode::ACCEPTED,
            output.body,
            HeaderValue::from_static("application/json"),
            false,
            request_id,
        );
        if let Ok(location) = HeaderValue::from_str(&output.location) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
    }
}
