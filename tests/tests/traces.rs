//! OpenTelemetry traces (feature `otel`), as a collector receives them: `example-server`'s OTLP
//! exporter sends over HTTP to a receiver on loopback that decodes the protocol's own protobuf
//! messages. Each request is one server span named by its route's template, child of the
//! caller's `traceparent`; the trace id is in the error envelope; the AI plugin's call to its
//! provider carries the trace on.

use crate::ai::{ai_served, generate};
use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind, status::StatusCode};
use plugin_routes::otel::opentelemetry_sdk::trace::SdkTracerProvider;
use plugin_routes::prelude::*;
use plugin_routes::testing::TestClient;
use prost::Message;
use serde_json::json;
use std::sync::{Arc, Mutex};

/// A span as the receiver got it, with the service that sent it.
#[derive(Clone, Debug)]
struct Received {
    service: String,
    span: Span,
}

impl Received {
    fn attribute(&self, key: &str) -> Option<AnyValue> {
        attribute(&self.span.attributes, key)
    }

    fn text(&self, key: &str) -> String {
        match self.attribute(key) {
            Some(AnyValue::StringValue(s)) => s,
            other => panic!("`{key}` is not text: {other:?}"),
        }
    }

    fn int(&self, key: &str) -> i64 {
        match self.attribute(key) {
            Some(AnyValue::IntValue(n)) => n,
            other => panic!("`{key}` is not an integer: {other:?}"),
        }
    }
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.clone())
        .and_then(|v| v.value)
}

/// An OTLP/HTTP receiver on loopback: `POST /v1/traces` with an `ExportTraceServiceRequest` in
/// protobuf, answered as a collector answers.
struct Receiver {
    url: String,
    spans: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let spans: Arc<Mutex<Vec<Received>>> = Arc::default();
        let kept = Arc::clone(&spans);
        let app = axum::Router::new().route(
            "/v1/traces",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
                let kept = Arc::clone(&kept);
                async move {
                    assert_eq!(
                        headers.get("content-type").unwrap(),
                        "application/x-protobuf"
                    );
                    let request = ExportTraceServiceRequest::decode(body).unwrap();
                    let mut kept = kept.lock().unwrap();
                    for resource in request.resource_spans {
                        let service = resource
                            .resource
                            .as_ref()
                            .and_then(|r| attribute(&r.attributes, "service.name"));
                        let Some(AnyValue::StringValue(service)) = service else {
                            panic!("a resource without service.name")
                        };
                        for scope in resource.scope_spans {
                            for span in scope.spans {
                                kept.push(Received {
                                    service: service.clone(),
                                    span,
                                });
                            }
                        }
                    }
                    (
                        [("content-type", "application/x-protobuf")],
                        ExportTraceServiceResponse::default().encode_to_vec(),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: format!("http://127.0.0.1:{port}/v1/traces"),
            spans,
        }
    }

    /// `example-server`'s tracer provider, exporting here.
    fn provider(&self) -> SdkTracerProvider {
        items_example::otlp_tracer_provider(Some(&self.url)).unwrap()
    }

    /// Every span of trace `trace_id` (hex) received so far, after `provider` sent its batch.
    async fn spans_of(&self, provider: &SdkTracerProvider, trace_id: &str) -> Vec<Received> {
        let provider = provider.clone();
        tokio::task::spawn_blocking(move || provider.force_flush().unwrap())
            .await
            .unwrap();
        self.spans
            .lock()
            .unwrap()
            .iter()
            .filter(|r| hex(&r.span.trace_id) == trace_id)
            .cloned()
            .collect()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Serialize, JsonSchema)]
struct Thing {
    id: u32,
}

/// One thing; thing 0 is broken upstream.
#[plugin_route(
    method = "GET",
    path = "/things/{id}",
    security(none),
    errors(BROKEN_UPSTREAM = 502, NO_SUCH_THING = 404)
)]
async fn thing(id: u32) -> RouteResult<Thing> {
    match id {
        0 => Err(route_error!(BROKEN_UPSTREAM)),
        404 => Err(route_error!(NO_SUCH_THING)),
        id => Ok(Thing { id }),
    }
}

/// Never answers: a client that gives up on it drops the request.
#[plugin_route(method = "GET", path = "/forever", security(none))]
async fn forever() -> RouteResult<Thing> {
    std::future::pending().await
}

#[plugin(name = "traced", version = "1.0.0", routes(thing, forever))]
struct Traced;

const CALLER_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN: &str = "b7ad6b7169203331";

/// `GET path` sent under `traceparent`.
async fn get_under(
    c: &TestClient,
    path: &str,
    traceparent: &str,
) -> plugin_routes::testing::TestResponse {
    c.get(path).header("traceparent", traceparent).send().await
}

fn traced_app(provider: &SdkTracerProvider) -> TestClient {
    let config = ServerConfig::default().with_tracer_provider(provider);
    TestClient::new(plugins![config = config; Traced::new()])
}

#[tokio::test]
async fn a_request_is_a_server_span_named_by_its_route_under_the_callers_trace() {
    let receiver = Receiver::start().await;
    let provider = receiver.provider();
    let c = traced_app(&provider);
    let r = get_under(
        &c,
        "/v1/plugins/traced/things/7",
        &format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"),
    )
    .await;
    assert_eq!(r.status(), 200);
    let spans = receiver.spans_of(&provider, CALLER_TRACE).await;
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let s = &spans[0];
    assert_eq!(s.service, "example-server");
    // The template, never the raw path, names the span.
    assert_eq!(s.span.name, "GET /v1/plugins/traced/things/{id}");
    assert_eq!(s.span.kind, SpanKind::Server as i32);
    assert_eq!(hex(&s.span.parent_span_id), CALLER_SPAN);
    assert_eq!(s.text("http.route"), "/v1/plugins/traced/things/{id}");
    assert_eq!(s.text("http.request.method"), "GET");
    assert_eq!(s.text("url.path"), "/v1/plugins/traced/things/7");
    assert_eq!(s.text("url.scheme"), "http");
    assert_eq!(s.text("network.protocol.version"), "1.1");
    assert_eq!(s.text("plugin.name"), "traced");
    assert_eq!(s.int("http.response.status_code"), 200);
    assert!(s.attribute("error.type").is_none());
    assert_ne!(
        s.span.status.as_ref().map(|st| st.code),
        Some(StatusCode::Error as i32)
    );
    assert!(s.span.end_time_unix_nano >= s.span.start_time_unix_nano);
}

#[tokio::test]
async fn the_error_envelope_carries_the_trace_id_and_the_span_the_declared_code() {
    let receiver = Receiver::start().await;
    let provider = receiver.provider();
    let c = traced_app(&provider);
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let r = get_under(
        &c,
        "/v1/plugins/traced/things/0",
        &format!("00-{trace}-00f067aa0ba902b7-01"),
    )
    .await;
    assert_eq!(r.status(), 502);
    assert_eq!(r.error()["code"], "BROKEN_UPSTREAM");
    assert_eq!(r.error()["traceId"], trace);
    assert!(r.error()["requestId"].is_string());
    // A client error: recorded, not an error of the server.
    let r = get_under(
        &c,
        "/v1/plugins/traced/things/404",
        &format!("00-{trace}-00f067aa0ba902b7-01"),
    )
    .await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.error()["traceId"], trace);
    let spans = receiver.spans_of(&provider, trace).await;
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let failed = spans
        .iter()
        .find(|s| s.int("http.response.status_code") == 502)
        .unwrap();
    assert_eq!(failed.text("error.type"), "BROKEN_UPSTREAM");
    assert_eq!(failed.text("plugin.error.code"), "BROKEN_UPSTREAM");
    let status = failed.span.status.as_ref().unwrap();
    assert_eq!(status.code, StatusCode::Error as i32);
    let missing = spans
        .iter()
        .find(|s| s.int("http.response.status_code") == 404)
        .unwrap();
    assert_eq!(missing.text("plugin.error.code"), "NO_SUCH_THING");
    assert!(missing.attribute("error.type").is_none());
    assert_ne!(
        missing.span.status.as_ref().map(|st| st.code),
        Some(StatusCode::Error as i32)
    );
}

#[tokio::test]
async fn without_a_caller_a_trace_begins_and_a_trace_not_sampled_is_not_recorded() {
    let receiver = Receiver::start().await;
    let provider = receiver.provider();
    let c = traced_app(&provider);
    // No `traceparent`: the span is a root, in a trace of its own, and the envelope names it.
    let r = c.get("/v1/plugins/traced/things/0").send().await;
    let trace = r.error()["traceId"].as_str().unwrap().to_owned();
    assert_eq!(trace.len(), 32);
    let spans = receiver.spans_of(&provider, &trace).await;
    assert_eq!(spans.len(), 1);
    assert!(spans[0].span.parent_span_id.is_empty());
    // A malformed `traceparent` is ignored, as W3C says: a new trace, with no parent. Among
    // them, forms a lenient parser would read as ids (short, signed, uppercase, zero, `ff`).
    for malformed in [
        "00-not-a-trace-01".to_owned(),
        "00-1-2-1".to_owned(),
        format!("00-+{}-{CALLER_SPAN}-01", &CALLER_TRACE[1..]),
        format!("00-{}-{CALLER_SPAN}-01", CALLER_TRACE.to_uppercase()),
        format!("00-{}-{CALLER_SPAN}-01", "0".repeat(32)),
        format!("ff-{CALLER_TRACE}-{CALLER_SPAN}-01"),
        format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01-"),
    ] {
        let r = get_under(&c, "/v1/plugins/traced/things/0", &malformed).await;
        assert_eq!(r.status(), 502);
        let other = r.error()["traceId"].as_str().unwrap().to_owned();
        assert_ne!(other, CALLER_TRACE, "{malformed}");
        assert_ne!(other.trim_start_matches('0'), "1", "{malformed}");
        let spans = receiver.spans_of(&provider, &other).await;
        assert_eq!(spans.len(), 1, "{malformed}");
        assert!(spans[0].span.parent_span_id.is_empty(), "{malformed}");
    }
    // The caller decided not to sample: nothing is recorded, and no trace id is given out.
    let unsampled = "11111111111111111111111111111111";
    let r = get_under(
        &c,
        "/v1/plugins/traced/things/0",
        &format!("00-{unsampled}-{CALLER_SPAN}-00"),
    )
    .await;
    assert_eq!(r.status(), 502);
    assert!(r.error().get("traceId").is_none(), "{}", r.text());
    assert!(receiver.spans_of(&provider, unsampled).await.is_empty());
}

#[tokio::test]
async fn a_request_the_client_gives_up_on_ends_its_span_as_cancelled() {
    let receiver = Receiver::start().await;
    let provider = receiver.provider();
    let c = traced_app(&provider);
    let trace = "3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c";
    let request = c
        .get("/v1/plugins/traced/forever")
        .header("traceparent", format!("00-{trace}-{CALLER_SPAN}-01"))
        .send();
    // The client gives up: the request's future is dropped, as hyper drops it on a disconnect.
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(100), request)
            .await
            .is_err()
    );
    let spans = receiver.spans_of(&provider, trace).await;
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let s = &spans[0];
    assert_eq!(s.span.name, "GET /v1/plugins/traced/forever");
    assert_eq!(s.text("error.type"), "cancelled");
    assert!(s.attribute("http.response.status_code").is_none());
}

#[tokio::test]
async fn a_server_that_does_not_trace_sends_no_trace_id() {
    let c = TestClient::new(plugins![Traced::new()]);
    let r = get_under(
        &c,
        "/v1/plugins/traced/things/0",
        &format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"),
    )
    .await;
    assert_eq!(r.status(), 502);
    assert!(r.error().get("traceId").is_none(), "{}", r.text());
}

#[tokio::test]
async fn the_call_to_the_ai_provider_continues_the_trace() {
    let receiver = Receiver::start().await;
    let provider = receiver.provider();
    let ai = ai_served(
        "sqlite::memory:",
        "ai:*",
        10.0,
        ServerConfig::default().with_tracer_provider(&provider),
    )
    .await;
    let trace = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e";
    let c = ai
        .client
        .clone()
        .with_header("traceparent", format!("00-{trace}-{CALLER_SPAN}-01"))
        .with_header("tracestate", "vendor=opaque-value");
    let r = generate(&c, json!({"prompt": "hello world"})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let spans = receiver.spans_of(&provider, trace).await;
    let served = spans
        .iter()
        .find(|s| s.span.name == "POST /v1/plugins/ai/generate")
        .unwrap();
    assert_eq!(hex(&served.span.parent_span_id), CALLER_SPAN);
    // The provider saw the same trace, with the server's span as its parent.
    let sent = ai
        .upstream
        .seen
        .traceparent
        .lock()
        .unwrap()
        .clone()
        .unwrap();
    assert_eq!(
        sent,
        format!("00-{trace}-{}-01", hex(&served.span.span_id)),
        "{sent}"
    );
    // The caller's `tracestate` goes on with it, as W3C asks.
    assert_eq!(
        ai.upstream.seen.tracestate.lock().unwrap().as_deref(),
        Some("vendor=opaque-value")
    );
    // A caller that does not sample: the provider hears that too, in the same trace.
    let unsampled = "7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b";
    let r = generate(
        &ai.client
            .clone()
            .with_header("traceparent", format!("00-{unsampled}-{CALLER_SPAN}-00")),
        json!({"prompt": "hello again"}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let sent = ai
        .upstream
        .seen
        .traceparent
        .lock()
        .unwrap()
        .clone()
        .unwrap();
    assert!(
        sent.starts_with(&format!("00-{unsampled}-")) && sent.ends_with("-00"),
        "{sent}"
    );
    assert!(
        !sent.contains(CALLER_SPAN),
        "the server's span is the parent: {sent}"
    );
}

/// A git remote over HTTP: git's own smart-HTTP server (`git http-backend`, run as CGI per
/// request) behind a loopback socket, recording each request's `traceparent`.
struct HttpRemote {
    /// `http://127.0.0.1:<port>/origin.git`.
    url: String,
    bare: std::path::PathBuf,
    traceparents: Arc<Mutex<Vec<Option<String>>>>,
}

impl HttpRemote {
    async fn start(root: &std::path::Path) -> HttpRemote {
        let bare = root.join("origin.git");
        let made = std::process::Command::new("git")
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(&bare)
            .status()
            .unwrap();
        assert!(made.success());
        // Anonymous pushes over HTTP, which http-backend refuses unless told.
        crate::commit::git_in(&bare, &["config", "http.receivepack", "true"]);
        let traceparents: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let seen = Arc::clone(&traceparents);
        let project_root = root.to_owned();
        let app = axum::Router::new().fallback(
            move |method: axum::http::Method,
                  uri: axum::http::Uri,
                  headers: axum::http::HeaderMap,
                  body: Bytes| {
                let seen = Arc::clone(&seen);
                let project_root = project_root.clone();
                async move {
                    seen.lock().unwrap().push(
                        headers
                            .get("traceparent")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned),
                    );
                    http_backend(&project_root, &method, &uri, &headers, body).await
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        HttpRemote {
            url: format!("http://127.0.0.1:{port}/origin.git"),
            bare,
            traceparents,
        }
    }
}

/// One request through `git http-backend` (CGI/1.1): the request in its variables and on its
/// stdin, the response's headers and body on its stdout.
async fn http_backend(
    root: &std::path::Path,
    method: &axum::http::Method,
    uri: &axum::http::Uri,
    headers: &axum::http::HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    use tokio::io::AsyncWriteExt;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or_default())
        .env("REQUEST_METHOD", method.as_str())
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&body).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    let split = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a CGI response has a header block");
    let head = String::from_utf8_lossy(&out.stdout[..split]).into_owned();
    let mut response =
        axum::response::Response::new(axum::body::Body::from(out.stdout[split + 4..].to_vec()));
    for line in head.split("\r\n") {
        let (name, value) = line.split_once(": ").unwrap();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split(' ').next().unwrap().parse().unwrap();
            *response.status_mut() = axum::http::StatusCode::from_u16(code).unwrap();
        } else {
            response.headers_mut().insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
    }
    response
}

#[tokio::test]
async fn a_push_over_http_carries_the_trace_to_the_remote() {
    let repo = crate::commit::with_work("traced-push");
    let remote = HttpRemote::start(&repo.dir.join(".git")).await;
    repo.git(&["remote", "add", "origin", &remote.url]);
    // The test's own push, over HTTP, without a trace (off the runtime that serves the remote).
    let dir = repo.dir.clone();
    tokio::task::spawn_blocking(move || {
        crate::commit::git_in(&dir, &["push", "-q", "origin", "main"]);
    })
    .await
    .unwrap();
    assert!(
        remote
            .traceparents
            .lock()
            .unwrap()
            .iter()
            .all(Option::is_none)
    );
    remote.traceparents.lock().unwrap().clear();
    repo.git(&["commit", "-q", "-m", "chore: staged work"]);

    let receiver = Receiver::start().await;
    let provider = receiver.provider();
    let c = crate::commit::client_served(
        &repo.dir,
        "commit:*",
        "sqlite::memory:",
        &[],
        |s| s,
        ServerConfig::default().with_tracer_provider(&provider),
    )
    .await;
    let trace = "6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a6a";
    // The push is an operation: accepted under the request's span, run under a span of its own
    // in the same trace, child of the request's, which is the parent git's requests name.
    let r = c
        .post("/v1/plugins/commit/push")
        .header("traceparent", format!("00-{trace}-{CALLER_SPAN}-01"))
        .json(&json!({}))
        .send_and_wait()
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let pushed = crate::commit::git_in(&remote.bare, &["log", "-1", "--format=%s", "main"]);
    assert_eq!(pushed.trim(), "chore: staged work");
    let spans = receiver.spans_of(&provider, trace).await;
    let served = spans
        .iter()
        .find(|s| s.span.name == "POST /v1/plugins/commit/push")
        .unwrap();
    assert_eq!(hex(&served.span.parent_span_id), CALLER_SPAN);
    let run = spans
        .iter()
        .find(|s| s.span.name == "operation commit/push")
        .unwrap_or_else(|| {
            panic!(
                "no run span among {:?}",
                spans.iter().map(|s| &s.span.name).collect::<Vec<_>>()
            )
        });
    assert_eq!(hex(&run.span.parent_span_id), hex(&served.span.span_id));
    assert_eq!(run.text("plugin.name"), "commit");
    assert_eq!(run.text("http.route"), "/v1/plugins/commit/push");
    assert_eq!(run.text("plugin.operation.id").len(), 32);
    let expected = format!("00-{trace}-{}-01", hex(&run.span.span_id));
    // Every request git made (the refs, then the pack) carried the run's span.
    let seen = remote.traceparents.lock().unwrap().clone();
    assert!(seen.len() >= 2, "{seen:?}");
    assert!(
        seen.iter().all(|t| t.as_deref() == Some(&expected)),
        "{seen:?}"
    );
    // The operation's own resources are served spans named by their templates.
    let id = run.text("plugin.operation.id");
    let read = "7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b";
    let r = c
        .get(&format!("/v1/plugins/commit/push/operations/{id}"))
        .header("traceparent", format!("00-{read}-{CALLER_SPAN}-01"))
        .send()
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let spans = receiver.spans_of(&provider, read).await;
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let s = &spans[0];
    assert_eq!(
        s.span.name,
        "GET /v1/plugins/commit/push/operations/{operationId}"
    );
    assert_eq!(hex(&s.span.parent_span_id), CALLER_SPAN);
    assert_eq!(
        s.text("http.route"),
        "/v1/plugins/commit/push/operations/{operationId}"
    );
    assert_eq!(s.int("http.response.status_code"), 200);
}
