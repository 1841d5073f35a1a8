//! `rate_limit(...)`: declared on routes and plugins, enforced after authentication and before
//! the body, answered with 429 and `Retry-After`, carried in the `RateLimit` fields of every
//! response of a limited route, and documented. Time is tokio's paused clock, never a sleep.

use axum::http::StatusCode;
use plugin_routes::prelude::*;
use plugin_routes::testing::TestClient;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Serialize, JsonSchema)]
struct Pong {
    ok: bool,
}

#[derive(Deserialize, JsonSchema, Validate)]
struct Upload {
    #[garde(length(max = 10))]
    name: String,
}

/// Three a minute, counted per caller (here, by address: the route is public).
#[plugin_route(
    method = "GET",
    path = "/ping",
    security(none),
    rate_limit(3, per = "1m")
)]
async fn ping() -> RouteResult<Pong> {
    Ok(Pong { ok: true })
}

/// One a minute for the whole route.
#[plugin_route(
    method = "POST",
    path = "/upload",
    security(none),
    rate_limit(1, per = "1m", key = "route")
)]
async fn upload(_input: Upload) -> RouteResult<Pong> {
    Ok(Pong { ok: true })
}

/// Never limited, whatever the plugin says.
#[plugin_route(method = "GET", path = "/free", security(none), rate_limit(none))]
async fn free() -> RouteResult<Pong> {
    Ok(Pong { ok: true })
}

/// The plugin's two policies.
#[plugin_route(method = "GET", path = "/default", security(none))]
async fn plugin_default() -> RouteResult<Pong> {
    Ok(Pong { ok: true })
}

#[plugin(
    name = "limited",
    version = "1.0.0",
    rate_limit(second(2, per = "1s"), minute(5, per = "1m", burst = 5)),
    routes(ping, upload, free, plugin_default)
)]
struct Limited;

fn client() -> TestClient {
    TestClient::new(plugins![Limited::new()]).from_address([192, 0, 2, 1].into())
}

#[tokio::test(start_paused = true)]
async fn under_quota_each_answer_says_what_is_left() {
    let c = client();
    for remaining in [2, 1, 0] {
        let r = c.get("/v1/plugins/limited/ping").send().await;
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.header("ratelimit-policy"), Some("\"default\";q=3;w=60"));
        let state = r.header("ratelimit").unwrap();
        assert!(
            state.starts_with(&format!("\"default\";r={remaining};t=")),
            "{state}"
        );
        assert!(r.header("retry-after").is_none());
    }
}

#[tokio::test(start_paused = true)]
async fn over_quota_is_429_until_the_quota_frees() {
    let c = client();
    for _ in 0..3 {
        assert_eq!(c.get("/v1/plugins/limited/ping").send().await.status(), 200);
    }
    let r = c.get("/v1/plugins/limited/ping").send().await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.header("retry-after"), Some("20"));
    assert!(
        r.header("ratelimit")
            .unwrap()
            .starts_with("\"default\";r=0;")
    );
    let e = r.error();
    assert_eq!(e["code"], "RATE_LIMITED");
    assert_eq!(e["details"]["policy"], "default");
    assert_eq!(e["details"]["retryAfterSeconds"], 20);

    // Not a second early.
    tokio::time::advance(Duration::from_secs(19)).await;
    assert_eq!(c.get("/v1/plugins/limited/ping").send().await.status(), 429);
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(c.get("/v1/plugins/limited/ping").send().await.status(), 200);
}

#[tokio::test(start_paused = true)]
async fn a_refused_request_reads_no_body() {
    let c = client();
    let r = c
        .post("/v1/plugins/limited/upload")
        .json(&serde_json::json!({"name": "one"}))
        .send()
        .await;
    assert_eq!(r.status(), 200);
    let pulled = Arc::new(AtomicUsize::new(0));
    let r = c
        .post("/v1/plugins/limited/upload")
        .header("content-type", "application/json")
        .body(crate::auth::counted_body(512 * 1024, Arc::clone(&pulled)))
        .send()
        .await;
    assert_eq!(r.status(), 429);
    assert_eq!(pulled.load(Ordering::SeqCst), 0, "the body was read");
}

#[tokio::test(start_paused = true)]
async fn every_policy_must_admit_and_none_opts_out() {
    let c = client();
    let r = c.get("/v1/plugins/limited/default").send().await;
    assert_eq!(
        r.header("ratelimit-policy"),
        Some("\"second\";q=2;w=1, \"minute\";q=5;w=60")
    );
    assert_eq!(
        c.get("/v1/plugins/limited/default").send().await.status(),
        200
    );
    let r = c.get("/v1/plugins/limited/default").send().await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.error()["details"]["policy"], "second");
    tokio::time::advance(Duration::from_secs(1)).await;
    for _ in 0..2 {
        assert_eq!(
            c.get("/v1/plugins/limited/default").send().await.status(),
            200
        );
    }
    // Two seconds in, the per-second quota has room again, but the minute's fifth is the last.
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        c.get("/v1/plugins/limited/default").send().await.status(),
        200
    );
    let r = c.get("/v1/plugins/limited/default").send().await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.error()["details"]["policy"], "minute");

    // `rate_limit(none)`, and the default health route, which load balancers poll.
    for path in ["/v1/plugins/limited/free", "/v1/plugins/limited/health"] {
        for _ in 0..20 {
            let r = c.get(path).send().await;
            assert_eq!(r.status(), 200, "{path}");
            assert!(r.header("ratelimit").is_none(), "{path}");
        }
    }
}

#[tokio::test]
async fn limits_are_documented_where_they_apply() {
    let doc: serde_json::Value = client().get("/openapi.json").send().await.json();
    let ping = &doc["paths"]["/v1/plugins/limited/ping"]["get"];
    assert_eq!(
        ping["x-rate-limit"],
        serde_json::json!([{"name": "default", "quota": 3, "windowSeconds": 60, "burst": 3, "key": "caller"}])
    );
    let too_many = &ping["responses"]["429"];
    assert!(too_many.is_object(), "{ping}");
    let free = &doc["paths"]["/v1/plugins/limited/free"]["get"];
    assert!(free.get("x-rate-limit").is_none());
    assert!(free["responses"].get("429").is_none());
    let shared = &doc["components"]["responses"]["RateLimited"];
    for header in ["retry-after", "ratelimit", "ratelimit-policy"] {
        assert!(shared["headers"].get(header).is_some(), "{shared}");
    }
    let manifest = plugin_routes::manifest(
        &plugin_routes::ServerConfig::default(),
        &[<Limited as plugin_routes::Plugin>::META],
    );
    let routes = manifest["plugins"][0]["routes"].as_array().unwrap();
    let upload = routes.iter().find(|r| r["handler"] == "upload").unwrap();
    assert_eq!(upload["rateLimits"][0]["key"], "route");
}

/// Declares no limit: the server's default applies.
#[plugin_route(method = "GET", path = "/open", security(none))]
async fn open() -> RouteResult<Pong> {
    Ok(Pong { ok: true })
}

#[plugin(name = "plain", version = "1.0.0", routes(open))]
struct Plain;

const SERVER_DEFAULT: &[plugin_routes::RateLimit] = &[plugin_routes::RateLimit {
    name: "server",
    quota: 2,
    window_secs: 60,
    burst: 2,
    key: plugin_routes::LimitKey::Route,
}];

#[tokio::test(start_paused = true)]
async fn the_server_default_applies_where_route_and_plugin_say_nothing() {
    let config = plugin_routes::ServerConfig::default().with_rate_limits(SERVER_DEFAULT);
    let c = TestClient::new(plugins![config = config; Plain::new(), Limited::new()]);
    for _ in 0..2 {
        assert_eq!(c.get("/v1/plugins/plain/open").send().await.status(), 200);
    }
    let r = c.get("/v1/plugins/plain/open").send().await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.error()["details"]["policy"], "server");
    // A plugin's own default wins over the server's.
    let r = c.get("/v1/plugins/limited/default").send().await;
    assert!(
        r.header("ratelimit-policy")
            .unwrap()
            .starts_with("\"second\"")
    );
}
