//! Mounting a route declared `operation`: its request is admitted and read like any route's,
//! then stored and queued instead of run ([`accept_operation`], answering `202 Accepted`); its
//! handler is registered with the server's [`Operations`] to run later ([`RunFn`]); and its
//! operations are served beside it, under the same security and scopes:
//!
//! - `GET {path}/operations/{operationId}`: the operation as it stands;
//! - `GET {path}/operations/{operationId}/events`: its progress as events, ending with it;
//! - `POST {path}/operations/{operationId}/cancel`: asks it to stop.
//!
//! An operation belongs to the caller who started it: to anyone else, and under another path
//! than its own, it does not exist (`404`).

use super::endpoint::{Admitted, Begun, Failure, RouteRuntime, ServeFn, endpoint, finish, run};
use crate::declare::{Method, PluginMeta, RouteMeta};
use crate::operations::{
    Job, OperationRow, Operations, Outcome, RouteOperation, RunFuture, Runner, State, View,
};
use crate::request::{
    Accepted, Acceptor, ApiError, Ctx, Details, FrameworkCode, OperationCx, Principal, RequestId,
    RouteError, RouteResult,
};
use axum::extract::Request;
use axum::response::Response;
use axum::routing::MethodRouter;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;

/// A route's handler as its operations run it: the context, and the path parameters and input
/// as stored (JSON). Written by `#[plugin_route]` as a closure that captures nothing.
pub type RunFn<S> = fn(Ctx<S>, String) -> RunFuture;

/// What accepts the requests of route `route`.
pub(crate) fn route_operation(
    operations: &Operations,
    plugin: &'static PluginMeta,
    route: &'static RouteMeta,
) -> RouteOperation {
    RouteOperation {
        operations: operations.clone(),
        acceptor: Arc::new(RouteAcceptor {
            operations: operations.clone(),
            plugin,
            route,
        }),
    }
}

/// The axum handler of an operation route: `accept` is the route's [`serve`](super::serve)
/// with [`accept_operation`] as its handler; `run` runs the handler itself, later.
pub fn operation_endpoint<S: Send + Sync + 'static>(
    runtime: RouteRuntime<S>,
    accept: ServeFn<S>,
    run: RunFn<S>,
) -> MethodRouter {
    if let Some(op) = &runtime.operation {
        let key = key(runtime.plugin, runtime.route);
        let rerun = runtime.route.operation.is_some_and(|o| o.rerun);
        // A run's context is given its progress, never the acceptor, which holds the engine:
        // the engine holding its runners' acceptors would keep itself, and its database pools
        // with their connections, alive once the application is dropped.
        let mut runs = runtime.clone();
        runs.operation = None;
        op.operations.register(
            key,
            Arc::new(TypedRunner {
                runtime: runs,
                run,
                rerun,
            }),
        );
    }
    endpoint(runtime, accept)
}

/// `plugin/handler`: the name of a route's runner and of its queue.
fn key(plugin: &PluginMeta, route: &RouteMeta) -> String {
    format!("{}/{}", plugin.name, route.handler)
}

/// The handler of an operation route's request: stores the path parameters and input the
/// request carried (read and validated as for any route) and queues the operation.
///
/// # Errors
/// `429 RATE_LIMITED` past the per-caller cap, `503 UNAVAILABLE` when the database cannot be
/// reached.
pub async fn accept_operation<S, P: Serialize, I: Serialize>(
    ctx: Ctx<S>,
    params: P,
    input: I,
) -> RouteResult<Accepted> {
    let Some((acceptor, path)) = ctx.acceptor() else {
        return Err(RouteError::internal(
            "an operation route was served without the server's operations",
        ));
    };
    let input = serde_json::to_string(&(params, input)).map_err(RouteError::internal)?;
    acceptor
        .accept(ctx.principal(), ctx.request_id_value(), path, input)
        .await
        .map_err(RouteError::framework)
}

/// Runs the handler on the stored input: `handler` is the route's function with its arguments
/// put back in order; `status` is the route's success status.
pub fn run_operation<S, P, I, T, F, Fut>(
    ctx: Ctx<S>,
    input: String,
    status: u16,
    handler: F,
) -> RunFuture
where
    S: Send + Sync + 'static,
    P: DeserializeOwned + Send + 'static,
    I: DeserializeOwned + Send + 'static,
    T: Serialize,
    F: FnOnce(Ctx<S>, P, I) -> Fut + Send + 'static,
    Fut: Future<Output = RouteResult<T>> + Send + 'static,
{
    Box::pin(async move {
        let (params, read): (P, I) = match serde_json::from_str(&input) {
            Ok(read) => read,
            Err(e) => {
                // Stored by an older build whose input had another shape.
                tracing::error!(error = %e, "an operation's stored input no longer reads as its route's input");
                return Outcome::Failed(RouteError::internal(e).into_api_error());
            }
        };
        match handler(ctx, params, read).await {
            Ok(output) => match serde_json::to_string(&output) {
                Ok(result) => Outcome::Succeeded { status, result },
                Err(e) => Outcome::Failed(RouteError::internal(e).into_api_error()),
            },
            // Its input is what the request that started it sent.
            Err(e) => Outcome::Failed(e.unless_sent(|| input.contains("\\u0000")).into_api_error()),
        }
    })
}

/// Runs one route's operations on this server.
struct TypedRunner<S> {
    runtime: RouteRuntime<S>,
    run: RunFn<S>,
    rerun: bool,
}

impl<S: Send + Sync + 'static> Runner for TypedRunner<S> {
    fn run(&self, job: Job) -> RunFuture {
        let caller = job
            .caller
            .as_deref()
            .and_then(|c| StoredCaller::restore(c, self.runtime.security.schemes()))
            .map(Arc::new);
        // Traced, the run has a span of its own in the trace of the request that started it.
        #[cfg(feature = "otel")]
        let span = self
            .runtime
            .tracer
            .as_ref()
            .map(|t| t.start_run(job.traceparent.as_deref(), &job.id));
        #[cfg(feature = "otel")]
        let request_id = job.request_id.with_trace(
            span.as_ref()
                .map(crate::otel::ServerSpan::context)
                .and_then(crate::otel::TraceIds::of),
        );
        #[cfg(not(feature = "otel"))]
        let request_id = {
            let _untraced = (job.id, job.traceparent);
            job.request_id
        };
        let ctx = self
            .runtime
            .ctx(request_id, caller)
            .with_operation(Some(OperationCx::Running(job.progress)));
        let run = (self.run)(ctx, job.input);
        #[cfg(feature = "otel")]
        if let Some(span) = span {
            return Box::pin(traced(run, span));
        }
        run
    }

    fn timeout(&self) -> Duration {
        self.runtime.timeout
    }

    fn rerun(&self) -> bool {
        self.rerun
    }
}

/// A run under its span, the current OpenTelemetry context while it runs, ended with the
/// status and error code the route would have answered (dropped, a cancelled run's span ends
/// as `cancelled`).
#[cfg(feature = "otel")]
async fn traced(run: RunFuture, span: crate::otel::ServerSpan) -> Outcome {
    let outcome =
        opentelemetry::context::FutureExt::with_context(run, span.context().clone()).await;
    let (status, code) = match &outcome {
        Outcome::Succeeded { status, .. } => (
            StatusCode::from_u16(*status).unwrap_or(StatusCode::OK),
            None,
        ),
        Outcome::Failed(error) => (error.status(), Some(error.code())),
    };
    span.end(status, code);
    outcome
}

/// The caller of an operation, as stored with it: the run sees who started it.
#[derive(Serialize, Deserialize)]
struct StoredCaller {
    user_id: String,
    email: Option<String>,
    scheme: String,
    scopes: Vec<String>,
}

impl StoredCaller {
    fn of(p: &Principal) -> String {
        let stored = StoredCaller {
            user_id: p.user_id().to_owned(),
            email: p.email().map(str::to_owned),
            scheme: p.scheme().to_owned(),
            scopes: p.scopes().to_vec(),
        };
        serde_json::to_string(&stored).unwrap_or_default()
    }

    /// The principal again; its scheme must be one the route still admits.
    fn restore(json: &str, schemes: &'static [&'static str]) -> Option<Principal> {
        let stored: StoredCaller = serde_json::from_str(json).ok()?;
        let scheme = schemes.iter().find(|s| **s == stored.scheme)?;
        Some(Principal::new(
            stored.user_id,
            stored.email,
            scheme,
            stored.scopes,
        ))
    }
}

/// Accepts one route's requests: the cap, the row, the queue.
struct RouteAcceptor {
    operations: Operations,
    plugin: &'static PluginMeta,
    route: &'static RouteMeta,
}

impl Acceptor for RouteAcceptor {
    fn accept<'a>(
        &'a self,
        caller: Option<&'a Principal>,
        request_id: &'a RequestId,
        path: &'a str,
        input: String,
    ) -> Pin<Box<dyn Future<Output = Result<Accepted, ApiError>> + Send + 'a>> {
        Box::pin(async move {
            let engine = &self.operations.0;
            let owner = caller.map_or("", Principal::user_id);
            let max = engine.settings.max_active_per_caller;
            // Callers are capped; a public route's are not told apart (rate-limit it).
            let cap = if caller.is_some() {
                u64::from(max)
            } else {
                u64::MAX
            };
            let id = new_id().map_err(|_| ApiError::internal())?;
            let row = OperationRow {
                location: format!("{path}/operations/{id}"),
                id,
                plugin: self.plugin.name.to_owned(),
                route: self.route.handler.to_owned(),
                owner: owner.to_owned(),
                caller: caller.map(StoredCaller::of),
                request_id: request_id.as_str().to_owned(),
                traceparent: request_id
                    .traceparent()
                    .and_then(|v| v.to_str().ok().map(str::to_owned)),
                taken_by: None,
                input,
                state: State::Queued,
                attempts: 0,
                cancel_requested: false,
                progress: None,
                message: None,
                last_event: 0,
                status: None,
                result: None,
                error: None,
                created_at: crate::operations::now_ms(),
                started_at: None,
                finished_at: None,
            };
            match engine.submit(&row, cap).await {
                Ok(true) => {}
                Ok(false) => return Err(over_cap(max)),
                Err(e) => return Err(database(e)),
            }
            Ok(Accepted {
                body: View::of(&row).to_json(),
                location: row.location,
            })
        })
    }
}

/// `429 RATE_LIMITED`: the caller has `max` operations queued or running.
fn over_cap(max: u32) -> ApiError {
    ApiError::framework(
        FrameworkCode::RateLimited,
        format!("you have {max} operations queued or running, the most allowed; wait for one to end or cancel one"),
    )
    .with_details(Details::Value(serde_json::json!({
        "policy": "operations",
        "maxActiveOperations": max,
        "retryAfterSeconds": 1,
    })))
}

/// An operation id: 128 random bits, 32 hex digits.
fn new_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// The database failing: `503` when it cannot be reached now, else `500` (logged).
fn database(e: sqlx::Error) -> ApiError {
    RouteError::internal(e).into_api_error()
}

/// Which of an operation's resources a request asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resource {
    Operation,
    Events,
    Cancel,
}

impl Resource {
    pub(crate) const ALL: [Resource; 3] = [Resource::Operation, Resource::Events, Resource::Cancel];

    const fn suffix(self) -> &'static str {
        match self {
            Resource::Operation => "",
            Resource::Events => "/events",
            Resource::Cancel => "/cancel",
        }
    }

    pub(crate) const fn method(self) -> Method {
        match self {
            Resource::Operation | Resource::Events => Method::Get,
            Resource::Cancel => Method::Post,
        }
    }

    /// Its path template, for an operation route at `path` (the route's full path template).
    pub(crate) fn template(self, path: &str) -> String {
        format!("{path}/operations/{{operationId}}{}", self.suffix())
    }
}

/// The route serving `resource`, with `runtime` resolved for it (its own metrics, tracer and,
/// for event streams, the server's stream cap).
pub(crate) fn resource_route<S: Send + Sync + 'static>(
    runtime: RouteRuntime<S>,
    resource: Resource,
) -> MethodRouter {
    let runtime = Arc::new(runtime);
    let serve = move |request: Request| {
        let rt = Arc::clone(&runtime);
        async move { Ok::<_, Infallible>(serve_resource(&rt, request, resource).await) }
    };
    axum::routing::on_service(
        crate::declare::method_filter(resource.method()),
        tower::service_fn(serve),
    )
}

/// One request to a resource of an operation route's operations (its status, its events, its
/// cancel): the same request id, span, gate, timeout, error response, metrics and trace as a
/// route's own requests, the route's caller checked for the resource's method.
async fn serve_resource<S: Send + Sync + 'static>(
    runtime: &RouteRuntime<S>,
    request: Request,
    resource: Resource,
) -> Response {
    let started = tokio::time::Instant::now();
    let recording = runtime.begin(started);
    let (parts, _body) = request.into_parts();
    let begun = Begun::new(runtime.plugin, runtime.route, &parts, runtime.tracer());
    let mut admitted = Admitted::default();
    let outcome = {
        let slot = &mut admitted;
        let request_id = &begun.request_id;
        let parts = &parts;
        let work = pin!(async move {
            let gate = runtime.gate_for(resource.method());
            let caller = if gate.is_open() {
                None
            } else {
                gate.admit(parts, slot).await?
            };
            resource_response(runtime, parts, resource, request_id, caller)
                .await
                .map_err(Failure::Framework)
        });
        run(work, started, runtime.timeout, &begun.span, &begun.trace).await
    };
    finish(
        begun,
        runtime.timeout,
        runtime.auth.as_ref(),
        runtime.security,
        outcome,
        admitted,
        recording,
    )
}

/// What a resource answers a caller (`None` on a public route) the gate let through.
async fn resource_response<S>(
    rt: &RouteRuntime<S>,
    parts: &http::request::Parts,
    resource: Resource,
    request_id: &RequestId,
    caller: Option<Arc<Principal>>,
) -> Result<Response, ApiError> {
    let Some(op) = &rt.operation else {
        return Err(ApiError::internal());
    };
    let engine = &op.operations.0;
    let path = parts.uri.path();
    let location = path.strip_suffix(resource.suffix()).unwrap_or(path);
    let id = location.rsplit('/').next().unwrap_or_default();
    let not_found = || {
        ApiError::framework(
            FrameworkCode::NotFound,
            "no operation of yours has this id here",
        )
    };
    let row = engine.store.get(id).await.map_err(database)?;
    let Some(row) = row.filter(|row| {
        row.plugin == rt.plugin.name
            && row.route == rt.route.handler
            && row.location == location
            && row.owner == caller.as_deref().map_or("", Principal::user_id)
    }) else {
        return Err(not_found());
    };
    match resource {
        Resource::Operation => Ok(json(StatusCode::OK, View::of(&row).to_json(), request_id)),
        Resource::Cancel => {
            engine
                .cancel(&row.id, &row.request_id)
                .await
                .map_err(database)?;
            let row = engine
                .store
                .get(&row.id)
                .await
                .map_err(database)?
                .ok_or_else(not_found)?;
            Ok(json(
                StatusCode::ACCEPTED,
                View::of(&row).to_json(),
                request_id,
            ))
        }
        Resource::Events => {
            let after = parts
                .headers
                .get("last-event-id")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0);
            Ok(events(
                Arc::clone(&op.operations.0),
                row.id,
                after,
                request_id,
            ))
        }
    }
}

fn json(status: StatusCode, body: Vec<u8>, request_id: &RequestId) -> Response {
    let mut response = Response::new(axum::body::Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(crate::request::REQUEST_ID_HEADER, request_id.header_value());
    response
}

/// The operation's events after `after`: each progress report (`event: progress`, its `id`
/// the report's number, for `Last-Event-ID`), then one event naming how it ended
/// (`succeeded`, `failed`, `cancelled`) whose data is the operation, result or error included.
fn events(
    engine: Arc<crate::operations::Engine>,
    id: String,
    after: i64,
    request_id: &RequestId,
) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        if let Err(e) = feed(&engine, &id, after, &tx).await {
            tracing::warn!(operation = %id, error = %e, "an operation's event stream ended early");
        }
    });
    let mut response = Response::new(axum::body::Body::from_stream(Frames(rx)));
    crate::request::event_stream_headers(response.headers_mut(), request_id);
    response
}

/// How often a stream looks for what another server wrote; changes made here wake it at once.
const STREAM_POLL: Duration = Duration::from_millis(250);
/// A comment line after this long without an event keeps proxies from closing the stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

async fn feed(
    engine: &crate::operations::Engine,
    id: &str,
    mut after: i64,
    tx: &tokio::sync::mpsc::Sender<Bytes>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut changes = engine.changes();
    // When the stream last sent anything; a comment follows after KEEP_ALIVE without.
    let mut sent = tokio::time::Instant::now();
    let mut unreachable = false;
    loop {
        let before = after;
        // A read may take long (a database that went away is waited for up to
        // `CONNECTION_WAIT`, one that stopped answering longer): the comments go on meanwhile.
        let looked = {
            let look = pin!(look(engine, id, &mut after, tx));
            keep_alive(look, &mut sent, tx).await?
        };
        match looked {
            Some(Ok(true)) | None => return Ok(()),
            Some(Ok(false)) => unreachable = false,
            // The database is away for a while (a connection cut, SQLite busy): the operation
            // goes on without it, so the stream waits for it to come back rather than end
            // without saying how the operation ended. A pool closed by the application does
            // not come back.
            Some(Err(e))
                if e.downcast_ref().is_some_and(|e| {
                    !matches!(e, sqlx::Error::PoolClosed) && crate::database::is_unavailable(e)
                }) =>
            {
                if !unreachable {
                    tracing::warn!(operation = %id, error = %e, "an operation's event stream waits for the database");
                }
                unreachable = true;
            }
            Some(Err(e)) => return Err(e),
        }
        if after != before {
            sent = tokio::time::Instant::now();
        }
        let wait = pin!(async {
            tokio::select! {
                _ = changes.changed() => {}
                () = tokio::time::sleep(STREAM_POLL) => {}
            }
        });
        if keep_alive(wait, &mut sent, tx).await?.is_none() {
            return Ok(());
        }
    }
}

/// Runs `work`, sending a comment each KEEP_ALIVE the stream has sent nothing meanwhile;
/// `None` once the client has gone.
async fn keep_alive<T>(
    mut work: Pin<&mut impl Future<Output = T>>,
    sent: &mut tokio::time::Instant,
    tx: &tokio::sync::mpsc::Sender<Bytes>,
) -> Result<Option<T>, Box<dyn std::error::Error + Send + Sync>> {
    loop {
        tokio::select! {
            out = &mut work => return Ok(Some(out)),
            () = tokio::time::sleep_until(*sent + KEEP_ALIVE) => {
                tx.send(Bytes::from_static(b": keep-alive\n\n")).await?;
                *sent = tokio::time::Instant::now();
            }
            () = tx.closed() => return Ok(None),
        }
    }
}

/// Sends what is new since `after`, and the end once the operation has ended (or is gone):
/// `true` once the stream is complete.
async fn look(
    engine: &crate::operations::Engine,
    id: &str,
    after: &mut i64,
    tx: &tokio::sync::mpsc::Sender<Bytes>,
) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    send_progress(engine, id, after, tx).await?;
    let Some(row) = engine.store.get(id).await? else {
        tracing::warn!(operation = %id, "an operation's event stream found the operation gone");
        return Ok(true);
    };
    if !row.state.is_finished() {
        return Ok(false);
    }
    // Reports written before it ended, read after the last look.
    send_progress(engine, id, after, tx).await?;
    let data = String::from_utf8(View::of(&row).to_json())?;
    tx.send(Bytes::from(format!(
        "event: {}\ndata: {data}\n\n",
        row.state.as_str()
    )))
    .await?;
    Ok(true)
}

/// Sends the progress reported after `after`, moving it to the last one sent.
async fn send_progress(
    engine: &crate::operations::Engine,
    id: &str,
    after: &mut i64,
    tx: &tokio::sync::mpsc::Sender<Bytes>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    for event in engine.store.events_after(id, *after).await? {
        *after = event.seq;
        let data = serde_json::to_string(&crate::operations::Progress::from(&event))?;
        tx.send(Bytes::from(format!(
            "id: {}\nevent: progress\ndata: {data}\n\n",
            event.seq
        )))
        .await?;
    }
    Ok(())
}

/// The stream's frames as a body.
struct Frames(tokio::sync::mpsc::Receiver<Bytes>);

impl futures_core::Stream for Frames {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|frame| frame.map(Ok))
    }
}
