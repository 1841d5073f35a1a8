//! `RequestLayer` on routes written with plain axum: the request id, panics and timeouts answered
//! in the envelope, as generated routes answer them.

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use plugin_routes::prelude::*;
use plugin_routes::testing::TestClient;
use plugin_routes::{RequestId, RequestLayer};
use std::convert::Infallible;
use std::time::Duration;

async fn echo_id(id: RequestId) -> String {
    id.to_string()
}

async fn panics_after_await() -> &'static str {
    tokio::task::yield_now().await;
    panic!("the handler's secret state is broken");
}

async fn never_answers() -> &'static str {
    std::future::pending::<()>().await;
    "unreachable"
}

/// A service whose `call` itself panics, before any future exists.
fn panics_in_call(_: Request) -> std::future::Ready<Result<Response, Infallible>> {
    panic!("broken before the first await");
}

fn plain() -> Router {
    Router::new()
        .route("/id", get(echo_id))
        .route("/panic", get(panics_after_await))
        .route("/slow", get(never_answers))
        .route_service("/call-panic", tower::service_fn(panics_in_call))
}

fn client() -> TestClient {
    TestClient::new(plain().layer(RequestLayer::new().with_timeout(Duration::from_millis(200))))
}

#[tokio::test]
async fn an_incoming_request_id_is_kept_and_seen_by_the_handler() {
    let res = client()
        .get("/id")
        .header("x-request-id", "trace-abc.1")
        .send()
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text(), "trace-abc.1");
    assert_eq!(res.header("x-request-id"), Some("trace-abc.1"));
}

#[tokio::test]
async fn a_missing_or_malformed_id_is_generated_and_the_handler_sees_the_echoed_one() {
    for incoming in [None, Some("has space")] {
        let mut req = client().get("/id");
        if let Some(v) = incoming {
            req = req.header("x-request-id", v);
        }
        let res = req.send().await;
        let echoed = res.header("x-request-id").unwrap().to_owned();
        assert_eq!(echoed.len(), 32, "{echoed}");
        assert_eq!(res.text(), echoed);
    }
}

#[tokio::test]
async fn a_panicking_plain_handler_answers_the_envelope() {
    for path in ["/panic", "/call-panic"] {
        let res = client()
            .get(path)
            .header("x-request-id", "panic-1")
            .send()
            .await;
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert_eq!(res.header("content-type"), Some("application/json"));
        assert_eq!(res.header("x-request-id"), Some("panic-1"));
        let error = res.error();
        assert_eq!(error["code"], "INTERNAL", "{path}");
        assert_eq!(error["requestId"], "panic-1");
        assert!(
            !res.text().contains("secret") && !res.text().contains("broken"),
            "the panic message stays in the log: {}",
            res.text()
        );
    }
}

#[tokio::test]
async fn a_plain_handler_past_its_timeout_answers_504() {
    let res = client().get("/slow").send().await;
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    let error = res.error();
    assert_eq!(error["code"], "TIMEOUT");
    assert_eq!(
        error["message"],
        "the request did not complete within 200 ms"
    );
    assert_eq!(
        error["requestId"].as_str(),
        res.header("x-request-id"),
        "the body and the header name the same request"
    );
}

#[derive(Serialize, JsonSchema)]
struct Nothing {}

/// Always fails, with a declared error.
#[plugin_route(method = "GET", path = "/missing", security(none), errors(GONE = 404))]
async fn missing() -> RouteResult<Nothing> {
    Err(route_error!(GONE))
}

#[plugin(name = "layered", version = "1.0.0", routes(missing))]
struct Layered;

#[tokio::test]
async fn around_generated_routes_the_layer_and_the_route_agree_on_one_id() {
    let app = plugins![Layered::new()]
        .merge(plain())
        .layer(RequestLayer::new());
    let client = TestClient::new(app);
    let res = client.get("/v1/plugins/layered/missing").send().await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let ids: Vec<_> = res.headers().get_all("x-request-id").iter().collect();
    assert_eq!(ids.len(), 1, "one id, not one per layer");
    assert_eq!(
        res.error()["requestId"].as_str(),
        res.header("x-request-id")
    );
    let res = client.get("/panic").send().await;
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(res.error()["code"], "INTERNAL");
}
