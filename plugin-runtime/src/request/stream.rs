//! Streamed responses: a route that returns [`EventStream<T>`] answers `text/event-stream`
//! (server-sent events), one `data:` event per item, serialized as JSON.
//!
//! What can go wrong is answered in the one envelope's terms at every stage: an error before the
//! stream exists (bad input, a declared error, the timeout) is an ordinary envelope response with
//! its status; once events flow, the status is sent, so an error ends the stream with a last
//! event, `event: error`, whose data is the envelope's `error` object (`code`, `message`,
//! `details`, `requestId`). The route's timeout bounds the wait for the first event and between
//! events, not the whole stream; comments (`: keep-alive`) are sent while it is quiet, so
//! proxies do not close it. A client that goes away drops the stream, and so whatever it was
//! waiting on: an upstream request is cancelled.

use super::error::{ApiError, FrameworkCode, RouteError};
use super::request_id::{self, RequestId};
use super::respond::RouteOutput;
use axum::response::Response;
use bytes::Bytes;
use futures_core::Stream;
use http::{HeaderValue, StatusCode, header};
use http_body::{Body, Frame, SizeHint};
use serde::Serialize;
use std::convert::Infallible;
use std::future::Future as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// How long a stream may be quiet before a keep-alive comment is sent, unless set.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

type Items<T> = Pin<Box<dyn Stream<Item = Result<T, RouteError>> + Send>>;

/// A stream of typed events, what a streaming route returns: `RouteResult<EventStream<T>>`.
/// Each `Ok(item)` is sent as one event; an `Err` ends the stream with an error event (a
/// declared code, or `INTERNAL` with the cause logged).
///
/// ```
/// use plugin_routes::EventStream;
/// use plugin_routes::prelude::*;
///
/// #[derive(Serialize, JsonSchema)]
/// struct Tick { n: u32 }
///
/// /// Count to three.
/// #[plugin_route(method = "GET", path = "/ticks", security(none))]
/// async fn ticks() -> RouteResult<EventStream<Tick>> {
///     let items = (1..=3).map(|n| Ok(Tick { n }));
///     Ok(EventStream::new(futures_util::stream::iter(items)))
/// }
/// # #[plugin(name = "clock", version = "1.0.0", routes(ticks))]
/// # struct Clock;
/// ```
pub struct EventStream<T> {
    items: Items<T>,
    keep_alive: Duration,
}

impl<T> std::fmt::Debug for EventStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("keep_alive", &self.keep_alive)
            .finish_non_exhaustive()
    }
}

impl<T> EventStream<T> {
    /// The events `items` yields, in order.
    pub fn new(items: impl Stream<Item = Result<T, RouteError>> + Send + 'static) -> Self {
        EventStream {
            items: Box::pin(items),
            keep_alive: KEEP_ALIVE,
        }
    }

    /// Sends a keep-alive comment after `every` without an event (15 s unless set).
    #[must_use]
    pub fn keep_alive(mut self, every: Duration) -> Self {
        self.keep_alive = every;
        self
    }
}

/// What a stream's events are: sent as JSON and documented by their schema.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an event of an `EventStream`",
    label = "derive `Serialize` and `JsonSchema` for `{Self}`: each event is sent as JSON and documented by its schema"
)]
pub trait StreamEvent: Serialize + schemars::JsonSchema + Send + 'static {}

impl<T: Serialize + schemars::JsonSchema + Send + 'static> StreamEvent for T {}

impl<T: StreamEvent> RouteOutput for EventStream<T> {
    const MEDIA_TYPE: &'static str = "text/event-stream";

    /// The schema of one event's data.
    fn schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<T>()
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
        let body = EventBody {
            items: self.items,
            request_id: request_id.clone(),
            span: tracing::Span::current(),
            timeout,
            idle: Box::pin(tokio::time::sleep(timeout)),
            keep_alive: self.keep_alive,
            quiet: Box::pin(tokio::time::sleep(self.keep_alive)),
            done: false,
        };
        let mut response = Response::new(axum::body::Body::new(body));
        *response.status_mut() = status;
        event_stream_headers(response.headers_mut(), request_id);
        response
    }
}

/// The headers of every event stream the server sends.
pub(crate) fn event_stream_headers(headers: &mut http::HeaderMap, request_id: &RequestId) {
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies that buffer responses (nginx) pass this one through as it comes.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    headers.insert(request_id::HEADER, request_id.header_value());
}

/// `wait` after `now`; a wait too long to add to the clock (`Duration::MAX`, a host's "no
/// timeout") is 30 years, as `tokio::time::sleep` makes it when the stream starts.
fn later(now: Instant, wait: Duration) -> Instant {
    now.checked_add(wait)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}

/// The response body: polls the items, writes each as an event, and watches the clocks.
struct EventBody<T> {
    items: Items<T>,
    request_id: RequestId,
    /// The request's span, entered while the items are polled, so their logs carry its fields.
    span: tracing::Span,
    timeout: Duration,
    /// When the wait for the next event runs out.
    idle: Pin<Box<Sleep>>,
    keep_alive: Duration,
    /// When the next keep-alive comment is due.
    quiet: Pin<Box<Sleep>>,
    done: bool,
}

impl<T: Serialize> EventBody<T> {
    fn event(&mut self, item: &T) -> Bytes {
        match serde_json::to_vec(item) {
            Ok(json) => {
                let now = Instant::now();
                self.idle.as_mut().reset(later(now, self.timeout));
                self.quiet.as_mut().reset(later(now, self.keep_alive));
                // Compact JSON has no line breaks, so it is one `data:` line.
                let mut out = Vec::with_capacity(json.len() + 8);
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(&json);
                out.extend_from_slice(b"\n\n");
                Bytes::from(out)
            }
            Err(e) => {
                tracing::error!(error = %e, "a stream event could not be serialized");
                self.last(ApiError::internal())
            }
        }
    }

    /// The error event that ends the stream.
    fn last(&mut self, error: ApiError) -> Bytes {
        self.done = true;
        let mut out = b"event: error\ndata: ".to_vec();
        out.extend_from_slice(&error.body_json(&self.request_id));
        out.extend_from_slice(b"\n\n");
        Bytes::from(out)
    }
}

impl<T: Serialize> Body for EventBody<T> {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        let span = this.span.clone();
        let _entered = span.enter();
        let polled = catch_unwind(AssertUnwindSafe(|| this.items.as_mut().poll_next(cx)));
        let bytes = match polled {
            Ok(Poll::Ready(Some(Ok(item)))) => this.event(&item),
            // The request was read before its stream began: a text value the database refuses
            // now (`U+0000`) is the server's own, a logged internal error, not the client's 400.
            Ok(Poll::Ready(Some(Err(e)))) => this.last(e.unless_sent(|| false).into_api_error()),
            Ok(Poll::Ready(None)) => {
                this.done = true;
                return Poll::Ready(None);
            }
            Err(panic) => {
                tracing::error!(
                    panic = super::panic_message(&*panic),
                    "the event stream panicked"
                );
                this.last(ApiError::internal())
            }
            Ok(Poll::Pending) => {
                if this.idle.as_mut().poll(cx).is_ready() {
                    tracing::warn!(
                        timeout_ms = this.timeout.as_millis(),
                        "no event within the route's timeout; the stream is ended"
                    );
                    let timeout = ApiError::framework(
                        FrameworkCode::Timeout,
                        format!(
                            "no event within {} ms; the stream is ended",
                            this.timeout.as_millis()
                        ),
                    );
                    this.last(timeout)
                } else if this.quiet.as_mut().poll(cx).is_ready() {
                    let next = Instant::now() + this.keep_alive;
                    this.quiet.as_mut().reset(next);
                    // Registers the waker for the next keep-alive.
                    let _ = this.quiet.as_mut().poll(cx);
                    Bytes::from_static(b": keep-alive\n\n")
                } else {
                    return Poll::Pending;
                }
            }
        };
        Poll::Ready(Some(Ok(Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
