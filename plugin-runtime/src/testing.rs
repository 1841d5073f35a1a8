//! Helpers for testing plugins: an in-process client for an assembled router (no sockets), and
//! contexts for calling one handler directly.
//!
//! ```
//! # use plugin_routes::testing::TestClient;
//! # async fn demo(app: axum::Router) {
//! let client = TestClient::new(app);
//! let response = client.get("/v1/plugins/items/health").send().await;
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.json::<serde_json::Value>()["status"], "healthy");
//! # }
//! ```
//!
//! A handler is an ordinary `async fn`, so a unit test calls it with a context built here:
//!
//! ```
//! use plugin_routes::prelude::*;
//! use plugin_routes::testing::context_for;
//!
//! pub struct Counter {
//!     limit: i64,
//! }
//!
//! #[plugin_route(method = "GET", path = "/double/{n}", errors(TOO_BIG = 422))]
//! async fn double(ctx: Ctx<Counter>, n: i64) -> RouteResult<i64> {
//!     if n > ctx.limit {
//!         return Err(route_error!(TOO_BIG, "{n} is over {}", ctx.limit));
//!     }
//!     Ok(n * 2)
//! }
//!
//! #[plugin(name = "counter", version = "1.0.0", state = Counter, routes(double))]
//! pub struct CounterPlugin;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let ctx = context_for::<CounterPlugin>(Counter { limit: 10 });
//! assert_eq!(double(ctx.clone(), 4).await.unwrap(), 8);
//! let err = double(ctx, 11).await.unwrap_err();
//! assert_eq!((err.code(), err.status().as_u16()), (Some("TOO_BIG"), 422));
//! # }
//! ```

use crate::declare::{PluginMeta, RouteMeta};
use crate::mount::Plugin;
use crate::request::{Ctx, Principal, RequestId};
use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use tower::ServiceExt;

/// Sends requests to a router in-process.
#[derive(Clone, Debug)]
pub struct TestClient {
    router: Router,
    headers: Vec<(String, String)>,
    address: Option<std::net::IpAddr>,
}

impl TestClient {
    /// A client for `router`, typically the result of `plugins![...]`.
    pub fn new(router: Router) -> Self {
        TestClient {
            router,
            headers: Vec::new(),
            address: None,
        }
    }

    /// A client whose requests come from `address`, as [`ClientAddr`](crate::ClientAddr) and
    /// the rate limits see it (without one, limits counted per address do not count them).
    #[must_use]
    pub fn from_address(mut self, address: std::net::IpAddr) -> Self {
        self.address = Some(address);
        self
    }

    /// A client that adds `name: value` to every request (a credential, say:
    /// `.with_header("authorization", format!("Bearer {key}"))`).
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Starts a request with any method.
    pub fn request(&self, method: Method, uri: &str) -> TestRequest {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(address) = self.address {
            builder = builder.extension(crate::ClientAddr(address));
        }
        TestRequest {
            router: self.router.clone(),
            builder,
            body: Body::empty(),
        }
    }

    /// Starts a `GET`.
    pub fn get(&self, uri: &str) -> TestRequest {
        self.request(Method::GET, uri)
    }

    /// Starts a `POST`.
    pub fn post(&self, uri: &str) -> TestRequest {
        self.request(Method::POST, uri)
    }

    /// Starts a `PUT`.
    pub fn put(&self, uri: &str) -> TestRequest {
        self.request(Method::PUT, uri)
    }

    /// Starts a `PATCH`.
    pub fn patch(&self, uri: &str) -> TestRequest {
        self.request(Method::PATCH, uri)
    }

    /// Starts a `DELETE`.
    pub fn delete(&self, uri: &str) -> TestRequest {
        self.request(Method::DELETE, uri)
    }
}

/// A request being built; finish it with [`TestRequest::send`].
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct TestRequest {
    router: Router,
    builder: http::request::Builder,
    body: Body,
}

impl TestRequest {
    /// Adds a header.
    pub fn header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.builder = self.builder.header(name.as_ref(), value.as_ref());
        self
    }

    /// Sends `value` as a JSON body with `content-type: application/json`.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        self.builder = self
            .builder
            .header(header::CONTENT_TYPE, "application/json");
        self.body = Body::from(serde_json::to_vec(value).expect("a test body serializes"));
        self
    }

    /// Sends raw bytes (add a content type with [`TestRequest::header`] if wanted).
    pub fn body(mut self, body: impl Into<Body>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends the request and reads the whole response.
    ///
    /// # Panics
    /// If the request cannot be built (an invalid header, say) or the body cannot be read.
    pub async fn send(self) -> TestResponse {
        let request = self.builder.body(self.body).expect("a valid test request");
        read(&self.router, request).await
    }

    /// Sends the request and, when it starts an operation (a route declared `operation`
    /// answers `202 Accepted` with the operation's `Location`), follows the operation to its
    /// end through its event stream, as a client would: the response is then what the route
    /// would have answered had it run within the request, its status with its result or its
    /// error envelope. Any other response is returned as it is. Each request of the follow-up
    /// carries this request's headers (its credential), so it is read as its caller.
    ///
    /// ```
    /// # use plugin_routes::testing::TestClient;
    /// # async fn demo(client: TestClient) {
    /// let applied = client
    ///     .post("/v1/plugins/commit/apply")
    ///     .json(&serde_json::json!({}))
    ///     .send_and_wait()
    ///     .await;
    /// assert_eq!(applied.status(), 200);
    /// # }
    /// ```
    ///
    /// # Panics
    /// As [`send`](TestRequest::send), and if the operation does not end within two minutes
    /// (its server's operations never started, say). A stream that ends without saying how the
    /// operation ended is followed again from its last event, as an event-stream client does.
    pub async fn send_and_wait(self) -> TestResponse {
        let headers = self.builder.headers_ref().cloned().unwrap_or_default();
        let address = self
            .builder
            .extensions_ref()
            .and_then(|e| e.get::<crate::ClientAddr>())
            .copied();
        let router = self.router.clone();
        let accepted = self.send().await;
        let location = accepted.header(header::LOCATION).map(str::to_owned);
        let (StatusCode::ACCEPTED, Some(location)) = (accepted.status(), location) else {
            return accepted;
        };
        // An operation's `Location` ends with its id, which its body carries too.
        let id = serde_json::from_slice::<serde_json::Value>(accepted.bytes())
            .ok()
            .and_then(|body| body["id"].as_str().map(str::to_owned));
        let is_operation = id.is_some_and(|id| {
            location
                .strip_suffix(id.as_str())
                .is_some_and(|base| base.ends_with("/operations/"))
        });
        if !is_operation {
            return accepted;
        }
        // As an event-stream client does, a stream that breaks before the end is followed
        // again from the last event seen (`Last-Event-ID`).
        let deadline = tokio::time::Instant::now() + WAIT_FOR_OPERATION;
        let mut seen = String::new();
        let operation = loop {
            let mut follow = Request::get(format!("{location}/events"));
            for (name, value) in &headers {
                if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                    follow = follow.header(name, value);
                }
            }
            if let Some(last) = seen.lines().rev().find_map(|l| l.strip_prefix("id: ")) {
                follow = follow.header("last-event-id", last);
            }
            if let Some(address) = address {
                follow = follow.extension(address);
            }
            let request = follow.body(Body::empty()).expect("a valid test request");
            let Ok(events) = tokio::time::timeout_at(deadline, read(&router, request)).await else {
                panic!(
                    "the operation at {location} did not end within {} s: were the server's \
                     operations started (`Operations::start`) once its plugins were mounted? \
                     Its events: {seen}",
                    WAIT_FOR_OPERATION.as_secs()
                );
            };
            assert_eq!(
                events.status(),
                StatusCode::OK,
                "the operation's events at {location}: {}",
                events.text()
            );
            seen.push_str(&events.text());
            let end =
                events.events().into_iter().rev().find(|(name, _)| {
                    matches!(name.as_str(), "succeeded" | "failed" | "cancelled")
                });
            if let Some((_, operation)) = end {
                break operation;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the operation's event stream ended without its end, again and again: {seen}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        let status = operation["status"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or_else(|| panic!("an ended operation without a status: {operation}"));
        let body = match operation.get("result") {
            Some(result) => result.clone(),
            None => serde_json::json!({ "error": operation["error"] }),
        };
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(id) = accepted.headers().get(crate::request::REQUEST_ID_HEADER) {
            headers.insert(crate::request::REQUEST_ID_HEADER, id.clone());
        }
        TestResponse {
            status,
            headers,
            body: Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
        }
    }
}

/// How long [`TestRequest::send_and_wait`] waits for an operation to end.
const WAIT_FOR_OPERATION: std::time::Duration = std::time::Duration::from_secs(120);

/// Sends `request` to `router` and reads the whole response.
async fn read(router: &Router, request: Request<Body>) -> TestResponse {
    let response = match router.clone().oneshot(request).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let (parts, body) = response.into_parts();
    let body = body
        .collect()
        .await
        .expect("the response body is readable")
        .to_bytes();
    TestResponse {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// A response read in full.
#[derive(Clone, Debug)]
pub struct TestResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl TestResponse {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// All headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// One header as text, if present and valid.
    pub fn header(&self, name: impl TryInto<HeaderName>) -> Option<&str> {
        let name = name.try_into().ok()?;
        self.headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    }

    /// The body.
    pub fn bytes(&self) -> &Bytes {
        &self.body
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    ///
    /// # Panics
    /// If the body is not `T` in JSON; the message shows the body.
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body is not the expected JSON ({e}): {}",
                self.text()
            )
        })
    }

    /// The server-sent events of a `text/event-stream` body, in order: each event's name
    /// (`message` when it has none; `error` for the event that ends a failed stream) and its data
    /// parsed as JSON. Comments (`: keep-alive`) are left out.
    ///
    /// # Panics
    /// If an event's data is not JSON.
    pub fn events(&self) -> Vec<(String, serde_json::Value)> {
        let text = self.text();
        let mut out = Vec::new();
        for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
            let mut name = "message".to_owned();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    v.clone_into(&mut name);
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push_str(v);
                }
            }
            if data.is_empty() {
                continue;
            }
            let value = serde_json::from_str(&data)
                .unwrap_or_else(|e| panic!("event data is not JSON ({e}): {data}"));
            out.push((name, value));
        }
        out
    }

    /// The `error` member of an error envelope.
    ///
    /// # Panics
    /// If the body is not an error envelope.
    pub fn error(&self) -> serde_json::Value {
        let body: serde_json::Value = self.json();
        match body.get("error") {
            Some(e) if e.is_object() => e.clone(),
            _ => panic!("response body is not an error envelope: {}", self.text()),
        }
    }
}

const TEST_PLUGIN: &PluginMeta = &PluginMeta {
    name: "test",
    version: "0.0.0",
    base_path: "/v1/plugins/test",
    type_name: "TestPlugin",
    ..PluginMeta::BLANK
};

const TEST_ROUTE: &RouteMeta = &RouteMeta {
    handler: "<test>",
    module: "plugin_routes::testing",
    path: "/",
    ..RouteMeta::BLANK
};

/// A context holding `state`, for calling a handler directly in a unit test.
pub fn context<S>(state: S) -> Ctx<S> {
    Ctx::new(
        Arc::new(state),
        RequestId::generate(),
        TEST_PLUGIN,
        TEST_ROUTE,
        None,
    )
}

/// A context holding `state` and reporting plugin `P`, for calling one of `P`'s handlers directly.
pub fn context_for<P: Plugin>(state: P::State) -> Ctx<P::State> {
    Ctx::new(
        Arc::new(state),
        RequestId::generate(),
        P::META,
        TEST_ROUTE,
        None,
    )
}

/// `ctx` with `principal` as the caller, for calling a handler of a secured route directly:
/// `with_caller(context_for::<ItemsPlugin>(state), Principal::new("u1", None, "token", scopes))`.
pub fn with_caller<S>(ctx: Ctx<S>, principal: Principal) -> Ctx<S> {
    ctx.with_principal(Some(Arc::new(principal)))
}

/// An [`Authenticator`](crate::auth::Authenticator) that refuses every credential (401): for
/// tests and fixtures that assemble secured routes and call only the public ones, or check the
/// refusal itself. It serves the built-in store's scheme names (`user`, `token`, `oauth`), as
/// bearer tokens that nothing can present.
#[derive(Clone, Copy, Debug, Default)]
pub struct RefuseAll;

impl crate::policy::Authenticator for RefuseAll {
    fn schemes(&self) -> Vec<crate::policy::Scheme> {
        ["user", "token", "oauth"]
            .into_iter()
            .map(|name| {
                crate::policy::Scheme::bearer(name).describe(
                    "Refused, whatever is sent: this server admits nobody (`testing::RefuseAll`).",
                )
            })
            .collect()
    }

    fn authenticate<'a>(
        &'a self,
        _request: &'a http::request::Parts,
        _route: crate::policy::Requirement,
    ) -> crate::policy::Authentication<'a> {
        crate::policy::Authentication::refuse(crate::policy::Refusal::unauthorized(
            "this server admits nobody (testing::RefuseAll)",
        ))
    }
}
