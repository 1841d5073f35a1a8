//! The per-request path of every generated route. Every route of a state is one tower service,
//! [`Endpoint`]: its resolved settings behind one `Arc`, and a function pointer to the route's
//! typed work, [`serve`], the one part compiled per route (gate, parameters, extractors, input,
//! handler, the success response). The request id, the span, the timeout, catching a panic, the
//! error response, the challenges of a 401 and the rate-limit fields reach that work through
//! `Pin<&mut dyn Future>` and are compiled once. A request allocates what the same work written
//! by hand in axum does: the one boxed future axum's own handlers make, which axum's router
//! boxes once more (`BENCHMARKS.md`, issue 28).

use crate::declare::{Method, PluginMeta, RouteMeta, Security, method_filter};
use crate::policy::{
    Capper, Check, Decision, LimitFields, Limiter, Permit, Requirement, SharedAuthenticator, Take,
    Taken, hold, rate_limited, unauthorized,
};
use crate::request::{
    ApiError, CatchUnwind, ClientAddr, Ctx, Extractors, FrameworkCode, InputSource, PathParams,
    Principal, RequestId, Responder, RouteError, RouteResult, json_bytes, panic_message,
};
use axum::extract::Request;
use axum::response::Response;
use axum::routing::MethodRouter;
use bytes::Bytes;
use http::StatusCode;
use std::convert::Infallible;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tracing::Instrument;

/// What a mounted route needs at request time: its plugin's state and its resolved limits.
pub struct RouteRuntime<S> {
    pub(crate) state: Arc<S>,
    pub(crate) plugin: &'static PluginMeta,
    pub(crate) route: &'static RouteMeta,
    pub(crate) timeout: Duration,
    pub(crate) body_limit: usize,
    pub(crate) security: Security,
    pub(crate) scopes: &'static [&'static str],
    pub(crate) auth: Option<SharedAuthenticator>,
    /// What the handler's code may reach; `None` when its permissions allow nothing.
    pub(crate) reach: Option<crate::reach::Reach>,
    /// The route's rate limits, if it has any.
    pub(crate) limiter: Option<Arc<Limiter>>,
    /// The route's concurrency cap, if it has one.
    pub(crate) capper: Option<Arc<Capper>>,
    /// Where its requests are counted (`None`: the server records no metrics).
    #[cfg(feature = "metrics")]
    pub(crate) metrics: Option<Arc<crate::metrics::RecordTo>>,
    /// What its requests' server spans are made by (`None`: the server does not trace).
    #[cfg(feature = "otel")]
    pub(crate) tracer: Option<Arc<crate::otel::RouteTracer>>,
    /// The server's operations, on a route declared `operation`.
    #[cfg(feature = "operations")]
    pub(crate) operation: Option<crate::operations::RouteOperation>,
}

impl<S> Clone for RouteRuntime<S> {
    fn clone(&self) -> Self {
        RouteRuntime {
            state: Arc::clone(&self.state),
            plugin: self.plugin,
            route: self.route,
            timeout: self.timeout,
            body_limit: self.body_limit,
            security: self.security,
            scopes: self.scopes,
            auth: self.auth.clone(),
            reach: self.reach.clone(),
            limiter: self.limiter.clone(),
            capper: self.capper.clone(),
            #[cfg(feature = "metrics")]
            metrics: self.metrics.clone(),
            #[cfg(feature = "otel")]
            tracer: self.tracer.clone(),
            #[cfg(feature = "operations")]
            operation: self.operation.clone(),
        }
    }
}

impl<S> std::fmt::Debug for RouteRuntime<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteRuntime")
            .field("plugin", &self.plugin.name)
            .field("route", &self.route.handler)
            .field("timeout", &self.timeout)
            .field("body_limit", &self.body_limit)
            .field("security", &self.security)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

pub(super) enum Failure {
    Framework(ApiError),
    Route(RouteError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Framework(e)
    }
}

/// The per-request entry of one route: a plain function pointer, the same type for every route
/// of a state, so axum's router, its boxed service and the endpoint's `Service` are compiled once
/// per state rather than once per route. The future it returns is the one allocation axum's own
/// handlers make per request.
pub type ServeFn<S> = fn(Arc<RouteRuntime<S>>, Request) -> ServeFuture;

/// The future of one request through a route.
pub type ServeFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send + 'static>>;

/// The axum handler for one route: `serve` is the route's [`serve`] instance, written by the
/// code `#[plugin_route]` generates as a closure that captures nothing.
pub fn endpoint<S: Send + Sync + 'static>(
    runtime: RouteRuntime<S>,
    serve: ServeFn<S>,
) -> MethodRouter {
    let filter = method_filter(runtime.route.method);
    axum::routing::on_service(
        filter,
        Endpoint {
            runtime: Arc::new(runtime),
            serve,
        },
    )
}

/// One route as a tower service: its resolved runtime, shared by every request (one reference
/// count a request), and its typed entry.
struct Endpoint<S> {
    runtime: Arc<RouteRuntime<S>>,
    serve: ServeFn<S>,
}

impl<S> Clone for Endpoint<S> {
    fn clone(&self) -> Self {
        Endpoint {
            runtime: Arc::clone(&self.runtime),
            serve: self.serve,
        }
    }
}

impl<S: Send + Sync + 'static> tower::Service<Request> for Endpoint<S> {
    type Response = Response;
    type Error = Infallible;
    type Future = ServeFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> ServeFuture {
        (self.serve)(Arc::clone(&self.runtime), request)
    }
}

/// What one route does with a request, from reading its pieces to writing its answer; the only
/// part of the request path compiled once per route. Everything around it (the request id, the
/// span, the timeout, catching a panic, the error response, the rate-limit fields) is plain code
/// that reaches the route's work through `dyn Future`, compiled once.
pub fn serve<S, P, I, E, R, F, Fut>(
    runtime: Arc<RouteRuntime<S>>,
    request: Request,
    handler: F,
) -> ServeFuture
where
    S: Send + Sync + 'static,
    P: PathParams,
    I: InputSource,
    E: Extractors,
    R: Responder,
    F: FnOnce(Ctx<S>, P::Value, I::Value, E) -> Fut + Send + 'static,
    Fut: Future<Output = RouteResult<R::Output>> + Send,
{
    Box::pin(async move {
        let started = tokio::time::Instant::now();
        let recording = runtime.begin(started);
        let (mut parts, body) = request.into_parts();
        let begun = Begun::new(runtime.plugin, runtime.route, &parts, runtime.tracer());
        // What the gate leaves for the response: the rate-limit fields, set once the request is
        // counted (every answer carries them), and the place it holds under a concurrency cap
        // (until the response body is finished).
        let mut admitted = Admitted::default();
        let outcome = {
            let rt = &*runtime;
            let slot = &mut admitted;
            let request_id = &begun.request_id;
            let work = pin!(async move {
                let gate = rt.gate();
                // A public route without limits has nothing to decide: it skips the gate's future.
                let principal = if gate.is_open() {
                    None
                } else {
                    gate.admit(&parts, slot).await?
                };
                let params = P::extract(&mut parts, rt.route.path_params)?;
                let extracted = E::extract(&mut parts).await?;
                let bytes = if I::BODY {
                    json_bytes(&parts, body, rt.body_limit).await?
                } else {
                    Bytes::new()
                };
                let input = I::parse(&parts, &bytes)?;
                let ctx = rt.ctx(request_id.clone(), principal);
                #[cfg(feature = "operations")]
                let ctx = rt.accepting(ctx, &parts);
                let output = handler(ctx, params, input, extracted)
                    .await
                    .map_err(|e| route_failure(e, &parts, &bytes))?;
                Ok(R::respond(begun.status, output, request_id, rt.timeout))
            });
            run(work, started, rt.timeout, &begun.span, &begun.trace).await
        };
        Ok(finish(
            begun,
            runtime.timeout,
            runtime.auth.as_ref(),
            runtime.security,
            outcome,
            admitted,
            recording,
        ))
    })
}

/// How a handler failed. A text value the database refused as holding `U+0000` is blamed on
/// the request only if it sent one: escaped in its JSON body (`\u0000`), or as `%00` in its
/// path or query.
#[cold]
fn route_failure(e: RouteError, parts: &http::request::Parts, body: &[u8]) -> Failure {
    Failure::Route(e.unless_sent(|| sent_nul(&parts.uri, body)))
}

/// Whether a request may have sent `U+0000`: escaped in its JSON body, or as `%00` in its path
/// or query. (An escaped backslash before `u0000`, or a NUL in a field the input ignores,
/// counts too: the client is blamed, as before, rather than a server fault logged for a
/// client's trick.)
fn sent_nul(uri: &http::Uri, body: &[u8]) -> bool {
    const ESCAPED: &[u8] = b"\\u0000";
    body.windows(ESCAPED.len()).any(|w| w == ESCAPED)
        || uri.path().contains("%00")
        || uri.query().is_some_and(|q| q.contains("%00"))
}

impl<S> RouteRuntime<S> {
    /// A request begins at `started`: counted in flight, its latency and its timeout both
    /// taken from that one read of the clock (about 20 ns a read here, the largest part of what
    /// recording metrics costs a request: BENCHMARKS.md, issue 29).
    pub(super) fn begin(&self, started: tokio::time::Instant) -> Recording<'_> {
        #[cfg(feature = "metrics")]
        return Recording(self.metrics.as_deref().map(|m| m.begin(started)));
        #[cfg(not(feature = "metrics"))]
        {
            let _ = started;
            Recording(std::marker::PhantomData)
        }
    }

    /// What this route's server spans are made by.
    pub(super) fn tracer(&self) -> TracerRef<'_> {
        #[cfg(feature = "otel")]
        return self.tracer.as_deref();
        #[cfg(not(feature = "otel"))]
        std::marker::PhantomData
    }

    /// The gate of this route's requests.
    fn gate(&self) -> Gate<'_> {
        self.gate_for(self.route.method)
    }

    /// The gate of requests made with `method` (the route's own, or that of one of its
    /// operations' resources).
    pub(super) fn gate_for(&self, method: Method) -> Gate<'_> {
        Gate {
            #[cfg(feature = "metrics")]
            metrics: self.metrics.as_deref().map(|m| &*m.route),
            security: self.security,
            auth: self.auth.as_ref(),
            scopes: self.scopes,
            limiter: self.limiter.as_deref(),
            capper: self.capper.as_deref(),
            method,
        }
    }

    /// An operation route's context carries what accepts its request, and the path it came to.
    #[cfg(feature = "operations")]
    fn accepting(&self, ctx: Ctx<S>, parts: &http::request::Parts) -> Ctx<S> {
        match &self.operation {
            None => ctx,
            Some(op) => ctx.with_operation(Some(crate::request::OperationCx::Accepting(
                Arc::clone(&op.acceptor),
                Arc::from(parts.uri.path()),
            ))),
        }
    }

    /// The handler's context for one request.
    pub(crate) fn ctx(&self, request_id: RequestId, principal: Option<Arc<Principal>>) -> Ctx<S> {
        Ctx::new(
            Arc::clone(&self.state),
            request_id,
            self.plugin,
            self.route,
            principal,
        )
        .with_reach(self.reach.clone())
    }
}

/// What every request starts with, whatever its route: its id, its span and the status of a
/// success. Not generic.
pub(super) struct Begun {
    pub(super) request_id: RequestId,
    pub(super) span: tracing::Span,
    status: StatusCode,
    /// The context carrying the request's server span, when it is traced.
    pub(super) trace: Trace,
}

/// A route's tracer (feature `otel`), or nothing.
#[cfg(feature = "otel")]
pub(super) type TracerRef<'a> = Option<&'a crate::otel::RouteTracer>;
#[cfg(not(feature = "otel"))]
pub(super) type TracerRef<'a> = std::marker::PhantomData<&'a ()>;

/// The server span of a traced request (feature `otel`), or nothing.
#[cfg(feature = "otel")]
pub(super) type Trace = Option<crate::otel::ServerSpan>;
#[cfg(not(feature = "otel"))]
pub(super) type Trace = ();

impl Begun {
    pub(super) fn new(
        plugin: &PluginMeta,
        route: &RouteMeta,
        parts: &http::request::Parts,
        tracer: TracerRef<'_>,
    ) -> Self {
        let request_id = RequestId::from_headers(&parts.headers);
        #[cfg(feature = "otel")]
        let (trace, request_id) = {
            let trace = tracer.map(|t| t.start(parts));
            let ids = trace
                .as_ref()
                .map(crate::otel::ServerSpan::context)
                .and_then(crate::otel::TraceIds::of);
            (trace, request_id.with_trace(ids))
        };
        #[cfg(not(feature = "otel"))]
        let _ = tracer;
        let span = request_span(plugin, route, &request_id);
        Begun {
            request_id,
            span,
            status: StatusCode::from_u16(route.status).unwrap_or(StatusCode::OK),
            #[cfg(feature = "otel")]
            trace,
            #[cfg(not(feature = "otel"))]
            trace: (),
        }
    }
}

/// The work of one route under its timeout (counted from `started`, the request's start, as its
/// latency is) and span, a panic caught: reached through `dyn`, so these adapters are compiled
/// once rather than once per route.
pub(super) async fn run(
    work: Pin<&mut (dyn Future<Output = Result<Response, Failure>> + Send + '_)>,
    started: tokio::time::Instant,
    timeout: Duration,
    span: &tracing::Span,
    trace: &Trace,
) -> Outcome {
    // A timeout too long to add to the clock (`Duration::MAX`, as a host may write for "none")
    // arms no timer at all, as tokio's own `timeout` does with it.
    let work = match started.checked_add(timeout) {
        Some(due) => tokio::time::timeout_at(due, work),
        None => tokio::time::timeout(timeout, work),
    };
    let work = CatchUnwind::new(work).instrument(span.clone());
    // The handler's code sees the request's span as the current OpenTelemetry context, made so
    // for each poll from the request's own (borrowed, not cloned into a wrapper).
    #[cfg(feature = "otel")]
    if let Some(cx) = trace.as_ref().map(crate::otel::ServerSpan::context) {
        let mut work = pin!(work);
        return std::future::poll_fn(|task| {
            let _current = cx.clone().attach();
            work.as_mut().poll(task)
        })
        .await;
    }
    #[cfg(not(feature = "otel"))]
    let () = *trace;
    work.await
}

/// The response: the route's own, or the error of how it failed, with the challenges of a 401,
/// the rate-limit fields, and the place under a concurrency cap held by its body.
pub(super) fn finish(
    begun: Begun,
    timeout: Duration,
    auth: Option<&SharedAuthenticator>,
    security: Security,
    outcome: Outcome,
    admitted: Admitted,
    recording: Recording<'_>,
) -> Response {
    let _entered = begun.span.enter();
    let (mut response, code) = match outcome {
        Ok(Ok(Ok(response))) => (response, None),
        Ok(Ok(Err(failure))) => {
            failed_response(Failed::Failure(failure), timeout, &begun.request_id)
        }
        Ok(Err(_elapsed)) => failed_response(Failed::TimedOut, timeout, &begun.request_id),
        Err(panic) => failed_response(Failed::Panicked(panic), timeout, &begun.request_id),
    };
    if response.status() == StatusCode::UNAUTHORIZED {
        challenge(&mut response, auth, security);
    }
    if let Some(fields) = admitted.fields {
        fields.apply(response.headers_mut());
    }
    #[cfg(feature = "otel")]
    if let Some(span) = begun.trace {
        span.end(response.status(), code);
    }
    match (admitted.permit, recording.answered(&response, code)) {
        (None, None) => response,
        held => hold(response, held),
    }
}

/// What the metrics keep of a request in flight: nothing without the `metrics` feature, or when
/// the server records none.
#[cfg(feature = "metrics")]
pub(super) struct Recording<'a>(Option<crate::metrics::InFlight<'a>>);

#[cfg(feature = "metrics")]
impl Recording<'_> {
    /// Counts the answer; an event stream is counted open while the guard returned lives.
    #[inline(always)]
    fn answered(
        self,
        response: &Response,
        code: Option<&'static str>,
    ) -> Option<crate::metrics::StreamOpen> {
        self.0.and_then(|r| r.answered(response, code))
    }
}

/// See the other definition.
#[cfg(not(feature = "metrics"))]
pub(super) struct Recording<'a>(std::marker::PhantomData<&'a ()>);

#[cfg(not(feature = "metrics"))]
impl Recording<'_> {
    #[inline(always)]
    fn answered(self, _: &Response, _: Option<&'static str>) -> Option<()> {
        None
    }
}

/// RFC 9110: every 401 names how to authenticate. Authentication's own refusals carry the
/// route's challenges; a 401 the route answers itself (a login's wrong password) gets them here,
/// or, on a public route, those of every scheme the server serves.
#[cold]
fn challenge(response: &mut Response, auth: Option<&SharedAuthenticator>, security: Security) {
    if response
        .headers()
        .contains_key(http::header::WWW_AUTHENTICATE)
    {
        return;
    }
    if let Some(value) = auth
        .and_then(|a| a.challenges(security))
        .and_then(|c| http::HeaderValue::from_str(&c).ok())
    {
        response
            .headers_mut()
            .insert(http::header::WWW_AUTHENTICATE, value);
    }
}

/// What the gate leaves for the response.
#[derive(Default)]
pub(super) struct Admitted {
    /// `RateLimit-Policy`, `RateLimit` (and over quota `Retry-After`), on a limited route.
    fields: Option<LimitFields>,
    /// The place taken under the route's concurrency cap, held by the response body.
    permit: Option<Permit>,
}

/// How a route failed to produce its output.
enum Failed {
    Failure(Failure),
    TimedOut,
    Panicked(Box<dyn std::any::Any + Send>),
}

/// The error response for a route that failed. Not generic, like everything below: the code
/// each route's endpoint instantiates is kept to what depends on its own types.
fn failed_response(
    failed: Failed,
    timeout: Duration,
    request_id: &RequestId,
) -> (Response, Option<&'static str>) {
    let error = match failed {
        Failed::Failure(Failure::Framework(e)) => e,
        Failed::Failure(Failure::Route(e)) => e.into_api_error(),
        Failed::TimedOut => {
            tracing::warn!(
                timeout_ms = timeout.as_millis(),
                "the handler timed out and was cancelled"
            );
            ApiError::framework(
                FrameworkCode::Timeout,
                format!(
                    "the request did not complete within {} ms",
                    timeout.as_millis()
                ),
            )
        }
        Failed::Panicked(panic) => {
            tracing::error!(panic = panic_message(&*panic), "the handler panicked");
            ApiError::internal()
        }
    };
    let code = error.code();
    (error.into_response(request_id), Some(code))
}

/// The span every request runs in.
fn request_span(plugin: &PluginMeta, route: &RouteMeta, request_id: &RequestId) -> tracing::Span {
    let span = tracing::info_span!(
        "request",
        plugin = plugin.name,
        route = route.handler,
        request_id = %request_id,
        trace_id = tracing::field::Empty,
    );
    // Every log line of a sampled request names its trace too.
    #[cfg(feature = "otel")]
    if let Some(trace_id) = request_id.trace_id() {
        span.record("trace_id", trace_id.as_str());
    }
    span
}

/// What is decided about a request before its parameters are read: who is calling, and
/// whether that is within the route's quotas.
pub(super) struct Gate<'a> {
    #[cfg(feature = "metrics")]
    metrics: Option<&'a crate::metrics::route::RouteMetrics>,
    security: Security,
    auth: Option<&'a SharedAuthenticator>,
    scopes: &'static [&'static str],
    limiter: Option<&'a Limiter>,
    capper: Option<&'a Capper>,
    /// The method the caller's credentials must allow.
    method: Method,
}

impl Gate<'_> {
    /// Counts a refusal by the policy `name`.
    #[inline(always)]
    fn refused(&self, name: &'static str) {
        #[cfg(feature = "metrics")]
        if let Some(metrics) = self.metrics {
            metrics.refused(name);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = name;
    }
    /// Whether every request passes: public, counted against no quota and under no cap.
    pub(super) fn is_open(&self) -> bool {
        self.security.is_public() && self.limiter.is_none() && self.capper.is_none()
    }

    /// The caller (`None` on a public route), or the refusal to send.
    pub(super) async fn admit(
        &self,
        parts: &http::request::Parts,
        slot: &mut Admitted,
    ) -> Result<Option<Arc<Principal>>, Failure> {
        // Who is calling is settled first: an unauthenticated request is refused before its
        // parameters are parsed or a byte of its body is read.
        let principal = if self.security.is_public() {
            None
        } else {
            let Some(auth) = self.auth else {
                // Nothing can check credentials, so nobody is authenticated: fail closed.
                return Err(Failure::Framework(unauthorized(self.security, &[])));
            };
            let requirement = Requirement::new(self.security, self.method);
            Some(auth.check(parts, requirement, self.scopes).await?)
        };
        // Counted after authentication (to count per caller) and before a byte of the body.
        let caller = principal.as_deref().map(Principal::user_id);
        let address = ClientAddr::of(parts).map(|c| c.0);
        // A place first: a request refused for want of one uses up no quota, and one refused
        // over quota gives its place back at once.
        if let Some(capper) = self.capper {
            let taken = match capper.take(caller, address) {
                Take::Ready(t) => t,
                Take::Later(f) => f.await,
            };
            match taken {
                Taken::Admitted(permit) => slot.permit = permit,
                Taken::Refused(e) => {
                    // A full cap (429), not a store that cannot be reached (503).
                    if e.status() == http::StatusCode::TOO_MANY_REQUESTS {
                        self.refused(capper.name());
                    }
                    return Err(Failure::Framework(e));
                }
            }
        }
        if let Some(limiter) = self.limiter {
            let decision = match limiter.check(caller, address) {
                Check::Ready(d) => d,
                Check::Later(f) => f.await,
            };
            if let Some(policy) = &decision.violated {
                self.refused(policy.name);
            }
            admit(decision, &mut slot.fields)?;
        }
        Ok(principal)
    }
}

/// Keeps a check's response fields in `slot`, and refuses the request if the check did: over
/// quota (429), or the shared store unreachable and set to refuse (503). Out of line: it is the
/// same for every route, and only limited routes call it.
#[inline(never)]
fn admit(decision: Decision, slot: &mut Option<LimitFields>) -> Result<(), Failure> {
    *slot = Some(decision.fields);
    if decision.unavailable {
        return Err(Failure::Framework(ApiError::unavailable(
            "the rate-limit store cannot be reached; try again shortly",
            crate::policy::UNREACHABLE_RETRY_SECS,
        )));
    }
    match decision.violated {
        Some(policy) => Err(Failure::Framework(rate_limited(
            &policy,
            decision.retry_after,
        ))),
        None => Ok(()),
    }
}

/// What running a route produced: its response or failure, or the timeout, or a panic.
type Outcome = Result<
    Result<Result<Response, Failure>, tokio::time::error::Elapsed>,
    Box<dyn std::any::Any + Send>,
>;

#[cfg(test)]
mod tests {
    use super::sent_nul;

    #[test]
    fn a_nul_is_sent_in_the_body_the_path_or_the_query() {
        let uri = |u: &str| u.parse::<http::Uri>().unwrap();
        let plain = uri("/v1/plugins/notes/notes?tag=a");
        assert!(!sent_nul(&plain, br#"{"text": "hello \\n"}"#));
        assert!(sent_nul(&plain, br#"{"text": "a\u0000b"}"#));
        assert!(sent_nul(&uri("/v1/plugins/notes/a%00b"), b""));
        assert!(sent_nul(&uri("/v1/plugins/notes/notes?tag=a%00"), b""));
        // `%2500` is a `%` then `00`: no NUL.
        assert!(!sent_nul(&uri("/v1/plugins/notes/a%2500?tag=%2500"), b"{}"));
    }
}
