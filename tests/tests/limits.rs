//! Limits resolve route first, then plugin, then server; a plugin's own `GET /health` replaces the
//! default one.

use plugin_routes::prelude::*;
use plugin_routes::testing::TestClient;
use serde_json::json;
use std::time::Duration;

#[derive(Debug, Serialize, JsonSchema)]
struct Done {
    ok: bool,
}

#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(transparent)]
struct Blob {
    #[garde(skip)]
    value: serde_json::Value,
}

/// Sleeps 30 s under the plugin's 40 ms default.
#[plugin_route(method = "GET", path = "/plugin-default")]
async fn plugin_default() -> RouteResult<Done> {
    tokio::time::sleep(Duration::from_secs(30)).await;
    Ok(Done { ok: true })
}

/// Overrides the plugin's timeout with a generous one of its own.
#[plugin_route(method = "GET", path = "/route-override", timeout_ms = 60_000)]
async fn route_override() -> RouteResult<Done> {
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(Done { ok: true })
}

/// Takes the plugin's 32-byte body limit.
#[plugin_route(method = "POST", path = "/small")]
async fn small(input: Blob) -> RouteResult<Done> {
    Ok(Done {
        ok: !input.value.is_null(),
    })
}

/// A health check of the plugin's own.
#[plugin_route(method = "GET", path = "/health")]
async fn own_health() -> RouteResult<serde_json::Value> {
    Ok(json!({"status": "degraded"}))
}

#[plugin(
    name = "limited",
    version = "1.0.0",
    timeout_ms = 40,
    body_limit = 32,
    security(none),
    routes(plugin_default, route_override, small, own_health)
)]
struct LimitedPlugin;

/// Sleeps 30 s with no timeout of its own or of its plugin's.
#[plugin_route(method = "GET", path = "/server-default")]
async fn server_default() -> RouteResult<Done> {
    tokio::time::sleep(Duration::from_secs(30)).await;
    Ok(Done { ok: true })
}

/// Takes the server's body limit.
#[plugin_route(method = "POST", path = "/server-limit")]
async fn server_limit(input: Blob) -> RouteResult<Done> {
    Ok(Done {
        ok: !input.value.is_null(),
    })
}

#[plugin(
    name = "plain",
    version = "1.0.0",
    security(none),
    routes(server_default, server_limit)
)]
struct PlainPlugin;

fn client() -> TestClient {
    let config = ServerConfig::default()
        .with_timeout(Duration::from_millis(40))
        .with_body_limit(64);
    TestClient::new(plugins![config = config; LimitedPlugin::new(), PlainPlugin::new()])
}

#[tokio::test]
async fn timeouts_resolve_route_then_plugin_then_server() {
    let c = client();
    let r = c.get("/v1/plugins/limited/plugin-default").send().await;
    assert_eq!(
        (r.status().as_u16(), r.error()["code"].as_str()),
        (504, Some("TIMEOUT"))
    );
    assert_eq!(
        r.error()["message"],
        "the request did not complete within 40 ms"
    );
    let r = c.get("/v1/plugins/limited/route-override").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let r = c.get("/v1/plugins/plain/server-default").send().await;
    assert_eq!(
        (r.status().as_u16(), r.error()["code"].as_str()),
        (504, Some("TIMEOUT"))
    );
}

/// A host that means "no timeout" may write the longest one there is: it arms no timer, and
/// adding it to the request's start does not overflow the clock.
#[tokio::test]
async fn the_longest_timeout_is_none() {
    let config = ServerConfig::default().with_timeout(Duration::MAX);
    let c = TestClient::new(plugins![config = config; PlainPlugin::new()]);
    let r = c
        .post("/v1/plugins/plain/server-limit")
        .json(&json!({"text": "x"}))
        .send()
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
}

#[tokio::test]
async fn body_limits_resolve_plugin_then_server() {
    let c = client();
    let forty_bytes = json!({"text": "01234567890123456789012345678"});
    assert_eq!(forty_bytes.to_string().len(), 40);
    let r = c
        .post("/v1/plugins/limited/small")
        .json(&forty_bytes)
        .send()
        .await;
    assert_eq!(r.status(), 413, "{}", r.text());
    let r = c
        .post("/v1/plugins/plain/server-limit")
        .json(&forty_bytes)
        .send()
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let r = c
        .post("/v1/plugins/plain/server-limit")
        .json(&json!({"text": "x".repeat(80)}))
        .send()
        .await;
    assert_eq!(r.status(), 413, "{}", r.text());
}

#[tokio::test]
async fn a_declared_health_route_replaces_the_default() {
    let c = client();
    assert_eq!(
        c.get("/v1/plugins/limited/health").send().await.text(),
        r#"{"status":"degraded"}"#
    );
    assert_eq!(
        c.get("/v1/plugins/plain/health")
            .send()
            .await
            .json::<serde_json::Value>()["plugin"],
        "plain"
    );
}

#[test]
fn garde_attributes_reach_the_json_schema() {
    let schema = serde_json::to_value(schemars::schema_for!(items_example::CreateItem)).unwrap();
    let name = &schema["properties"]["name"];
    assert_eq!(
        (name["minLength"].as_u64(), name["maxLength"].as_u64()),
        (Some(1), Some(100)),
        "{schema}"
    );
    let query = serde_json::to_value(schemars::schema_for!(items_example::ListQuery)).unwrap();
    let limit = &query["properties"]["limit"];
    assert_eq!(
        (limit["minimum"].as_u64(), limit["maximum"].as_u64()),
        (Some(1), Some(100)),
        "{query}"
    );
    assert_eq!(limit["description"], "Items per page, 1 to 100.");
}
