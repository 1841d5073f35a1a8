//! The request path's guarantees for routes the macros did not generate: a tower layer that gives
//! a plain axum route (or a whole router) the request id, the tracing span, the timeout and
//! panic catching that every `#[plugin_route]` has, with failures answered in the one envelope.

use super::catch::{CatchUnwind, panic_message};
use super::error::{ApiError, FrameworkCode};
use super::request_id::{self, RequestId};
use axum::extract::Request;
use axum::response::Response;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::instrument::Instrumented;

/// A tower layer for routes written with plain axum next to `plugins![...]`.
///
/// Each request gets what a generated route does:
///
/// - **a request id**: a well-formed incoming `x-request-id` is kept, otherwise one is
///   generated; it is written into the request's headers (so handlers, extractors such as
///   [`RequestId`] and generated routes further in see the same one) and echoed in the response;
/// - **a tracing span** `request` with the method, the path and the request id;
/// - **the timeout** (60 s unless set): past it the handler is dropped and the client gets `504`
///   `TIMEOUT`;
/// - **panic catching**: a panicking handler gets `500` `INTERNAL` with the request id, the panic
///   is logged, and the connection lives on.
///
/// ```
/// use axum::{Router, routing::get};
/// use plugin_routes::RequestLayer;
/// use std::time::Duration;
///
/// async fn status() -> &'static str {
///     "ok"
/// }
///
/// let app: Router = Router::new()
///     .route("/status", get(status))
///     .layer(RequestLayer::new().with_timeout(Duration::from_secs(5)));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RequestLayer {
    timeout: Duration,
}

impl RequestLayer {
    /// The layer with the framework's default timeout, 60 s.
    pub fn new() -> Self {
        RequestLayer {
            timeout: crate::declare::DEFAULT_TIMEOUT,
        }
    }

    /// Sets the timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl Default for RequestLayer {
    fn default() -> Self {
        RequestLayer::new()
    }
}

impl<S> Layer<S> for RequestLayer {
    type Service = RequestService<S>;

    fn layer(&self, inner: S) -> RequestService<S> {
        RequestService {
            inner,
            timeout: self.timeout,
        }
    }
}

/// The service [`RequestLayer`] wraps around a route or router.
#[derive(Clone, Debug)]
pub struct RequestService<S> {
    inner: S,
    timeout: Duration,
}

impl<S> Service<Request> for RequestService<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = RequestFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> RequestFuture<S::Future> {
        let request_id = RequestId::from_headers(request.headers());
        request
            .headers_mut()
            .insert(request_id::HEADER, request_id.header_value());
        let span = tracing::info_span!(
            "request",
            method = %request.method(),
            path = request.uri().path(),
            request_id = %request_id,
        );
        // A handler that panics before its first await panics here, inside `call`.
        let inner = {
            let _entered = span.enter();
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.inner.call(request)))
        };
        let state = match inner {
            Ok(future) => State::Running {
                future: CatchUnwind::new(tokio::time::timeout(
                    self.timeout,
                    future.instrument(span.clone()),
                )),
            },
            Err(panic) => State::Panicked { panic: Some(panic) },
        };
        RequestFuture {
            state,
            request_id,
            timeout: self.timeout,
            span,
        }
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F> {
        Running { #[pin] future: CatchUnwind<tokio::time::Timeout<Instrumented<F>>> },
        Panicked { panic: Option<Box<dyn std::any::Any + Send>> },
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`RequestService`].
    pub struct RequestFuture<F> {
        #[pin]
        state: State<F>,
        request_id: RequestId,
        timeout: Duration,
        span: tracing::Span,
    }
}

impl<F> std::fmt::Debug for RequestFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestFuture")
            .field("request_id", &self.request_id)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<F, E> Future for RequestFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let panic = match this.state.project() {
            StateProj::Running { future } => match ready!(future.poll(cx)) {
                Ok(Ok(Ok(mut response))) => {
                    // A generated route has set it already; a plain handler has not.
                    response
                        .headers_mut()
                        .entry(request_id::HEADER)
                        .or_insert_with(|| this.request_id.header_value());
                    return Poll::Ready(Ok(response));
                }
                Ok(Ok(Err(e))) => return Poll::Ready(Err(e)),
                Ok(Err(_elapsed)) => {
                    let _entered = this.span.enter();
                    tracing::warn!(
                        timeout_ms = this.timeout.as_millis(),
                        "the handler timed out and was cancelled"
                    );
                    let error = ApiError::framework(
                        FrameworkCode::Timeout,
                        format!(
                            "the request did not complete within {} ms",
                            this.timeout.as_millis()
                        ),
                    );
                    return Poll::Ready(Ok(error.into_response(this.request_id)));
                }
                Err(panic) => panic,
            },
            StateProj::Panicked { panic } => panic
                .take()
                .unwrap_or_else(|| Box::new("a request future polled after it completed")),
        };
        let _entered = this.span.enter();
        tracing::error!(panic = panic_message(&*panic), "the handler panicked");
        Poll::Ready(Ok(ApiError::internal().into_response(this.request_id)))
    }
}
