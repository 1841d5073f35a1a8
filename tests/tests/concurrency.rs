//! `concurrency(...)`: how many requests one caller may have in flight on a route at once. A
//! request holds its place until its response is finished (an event stream until it ends or
//! the client drops it); one past the cap is answered `429 RATE_LIMITED` naming the policy;
//! streamed routes that declare nothing get the server's cap on streams per caller; places are
//! counted in memory, or in Redis as leases that lapse when a server dies. And
//! `plugin_routes::serve` keeps room for other addresses when one fills the connection cap.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use futures_util::stream::{self, StreamExt};
use http_body_util::BodyExt;
use plugin_routes::auth::{Authentication, Authenticator, Refusal, Requirement, Scheme};
use plugin_routes::prelude::*;
use plugin_routes::{ClientAddr, EventStream, Principal, ServerConfig};
use serde_json::{Value, json};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tower::ServiceExt;

mod redis;
mod tcp;

#[derive(Serialize, JsonSchema)]
struct Tick {
    n: u32,
}

/// One event, then open until the client goes away (a keep-alive comment every 200 ms, so a
/// server notices soon when it has).
fn endless() -> EventStream<Tick> {
    let first = stream::iter([Ok(Tick { n: 1 })]);
    EventStream::new(first.chain(stream::pending())).keep_alive(Duration::from_millis(200))
}

/// Two streams at once per caller.
#[plugin_route(method = "GET", path = "/feed", security(none), concurrency(2))]
async fn feed() -> RouteResult<EventStream<Tick>> {
    Ok(endless())
}

/// Streams under the server's default cap.
#[plugin_route(method = "GET", path = "/news", security(none))]
async fn news() -> RouteResult<EventStream<Tick>> {
    Ok(endless())
}

/// Another stream under the server's default cap, counted with `/news`.
#[plugin_route(method = "GET", path = "/weather", security(none))]
async fn weather() -> RouteResult<EventStream<Tick>> {
    Ok(endless())
}

/// A stream with no cap at all.
#[plugin_route(method = "GET", path = "/firehose", security(none), concurrency(none))]
async fn firehose() -> RouteResult<EventStream<Tick>> {
    Ok(endless())
}

/// Answers when the test lets it: one at a time per caller.
#[plugin_route(method = "GET", path = "/slow", security(none), concurrency(1))]
async fn slow(ctx: Ctx<Gates>) -> RouteResult<Tick> {
    ctx.entered.add_permits(1);
    let _go = ctx.go.acquire().await.unwrap();
    Ok(Tick { n: 7 })
}

/// Counted per address, whoever calls.
#[plugin_route(method = "GET", path = "/per-address", concurrency(1, key = "address"))]
async fn per_address() -> RouteResult<EventStream<Tick>> {
    Ok(endless())
}

/// Counted per authenticated caller.
#[plugin_route(method = "GET", path = "/mine", concurrency(1))]
async fn mine() -> RouteResult<EventStream<Tick>> {
    Ok(endless())
}

/// Says when `/slow` is entered, and lets it answer, one permit per answer.
struct Gates {
    entered: Arc<Semaphore>,
    go: Arc<Semaphore>,
}

impl Default for Gates {
    fn default() -> Self {
        Gates {
            entered: Arc::new(Semaphore::new(0)),
            go: Arc::new(Semaphore::new(0)),
        }
    }
}

#[plugin(
    name = "capped",
    version = "1.0.0",
    state = Gates,
    routes(feed, news, weather, firehose, slow, per_address, mine)
)]
struct Capped;

/// `x-caller: <name>` is the caller.
struct Callers;

impl Authenticator for Callers {
    fn schemes(&self) -> Vec<Scheme> {
        vec![Scheme::header("caller", "x-caller")]
    }

    fn authenticate<'a>(
        &'a self,
        request: &'a axum::http::request::Parts,
        _: Requirement,
    ) -> Authentication<'a> {
        match request
            .headers
            .get("x-caller")
            .and_then(|v| v.to_str().ok())
        {
            Some(name) => Authentication::admit(Principal::new(name, None, "caller", Vec::new())),
            None => Authentication::refuse(Refusal::unauthorized("send `x-caller`")),
        }
    }
}

fn app_with(config: ServerConfig, gates: Gates) -> Router {
    let config = config.with_default_security(plugin_routes::Security::of(&["caller"]));
    plugins![config = config; auth = Callers; Capped::new(gates)]
}

fn app() -> Router {
    app_with(ServerConfig::default(), Gates::default())
}

/// A request to `path` from `address`, as `plugin_routes::serve` would pass it.
fn request(path: &str, address: [u8; 4], caller: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(format!("/v1/plugins/capped{path}"))
        .extension(ClientAddr(IpAddr::from(address)));
    if let Some(caller) = caller {
        builder = builder.header("x-caller", caller);
    }
    builder.body(Body::empty()).unwrap()
}

/// An open stream: its body, its first event read.
struct Open {
    _body: Body,
}

/// Opens a stream that must be admitted.
async fn open(app: &Router, path: &str, address: [u8; 4], caller: Option<&str>) -> Open {
    let response = app
        .clone()
        .oneshot(request(path, address, caller))
        .await
        .unwrap();
    let status = response.status();
    let mut body = response.into_body();
    assert_eq!(status, StatusCode::OK, "{path} from {address:?} admitted");
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(first.starts_with(b"data: "), "{first:?}");
    Open { _body: body }
}

/// Sends a request that must be refused for want of a place, and returns the error object.
async fn refused(app: &Router, path: &str, address: [u8; 4], caller: Option<&str>) -> Value {
    let response = app
        .clone()
        .oneshot(request(path, address, caller))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
    assert!(
        response.headers().get("retry-after").is_none(),
        "nobody can say when a place frees"
    );
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED", "{body}");
    body["error"].clone()
}

#[tokio::test]
async fn a_caller_holds_at_most_its_cap_of_streams_until_one_ends() {
    let app = app();
    let ann = [192, 0, 2, 1];
    let first = open(&app, "/feed", ann, None).await;
    let _second = open(&app, "/feed", ann, None).await;

    let e = refused(&app, "/feed", ann, None).await;
    assert_eq!(
        e["details"],
        json!({"policy": "concurrency", "limit": 2, "key": "caller"})
    );
    assert!(
        e["message"].as_str().unwrap().contains("already has 2"),
        "{e}"
    );

    // Another caller is not held back by Ann's streams.
    let _bob = open(&app, "/feed", [192, 0, 2, 2], None).await;

    // Ann's client drops a stream: its place is hers again.
    drop(first);
    let _third = open(&app, "/feed", ann, None).await;
    refused(&app, "/feed", ann, None).await;
}

#[tokio::test]
async fn a_stream_that_ends_gives_its_place_back() {
    /// Two events, then the end.
    #[plugin_route(method = "GET", path = "/short", security(none), concurrency(1))]
    async fn short() -> RouteResult<EventStream<Tick>> {
        Ok(EventStream::new(stream::iter([
            Ok(Tick { n: 1 }),
            Ok(Tick { n: 2 }),
        ])))
    }
    #[plugin(name = "short", version = "1.0.0", routes(short))]
    struct Short;

    let app: Router = plugins![Short::new()];
    let from = ClientAddr(IpAddr::from([192, 0, 2, 1]));
    for _ in 0..3 {
        let request = Request::get("/v1/plugins/short/short")
            .extension(from)
            .body(Body::empty())
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let mut body = response.into_body();
        // Read to its end, and keep the body: the place frees with the last frame.
        while let Some(frame) = body.frame().await {
            frame.unwrap();
        }
        let request = Request::get("/v1/plugins/short/short")
            .extension(from)
            .body(Body::empty())
            .unwrap();
        let next = app.clone().oneshot(request).await.unwrap();
        assert_eq!(
            next.status(),
            StatusCode::OK,
            "the ended stream holds nothing"
        );
        drop(body);
    }
}

#[tokio::test]
async fn a_slow_handler_holds_its_place_until_it_answers() {
    let gates = Gates::default();
    let (entered, go) = (Arc::clone(&gates.entered), Arc::clone(&gates.go));
    let app = app_with(ServerConfig::default(), gates);
    let (ann, bob) = ([192, 0, 2, 1], [192, 0, 2, 2]);
    let send = |address: [u8; 4]| {
        let app = app.clone();
        tokio::spawn(async move { app.oneshot(request("/slow", address, None)).await.unwrap() })
    };
    let mut waiting = vec![send(ann)];
    entered.acquire().await.unwrap().forget();
    // Ann's first is in its handler: her second is refused.
    let e = refused(&app, "/slow", ann, None).await;
    assert_eq!(
        e["details"],
        json!({"policy": "concurrency", "limit": 1, "key": "caller"})
    );
    // Someone else gets a place at once.
    waiting.push(send(bob));
    entered.acquire().await.unwrap().forget();
    go.add_permits(2);
    for w in waiting {
        let response = w.await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            serde_json::from_slice::<Value>(&bytes).unwrap(),
            json!({"n": 7})
        );
    }
    // Answered: Ann's place is free again.
    go.add_permits(1);
    let again = app
        .clone()
        .oneshot(request("/slow", ann, None))
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test]
async fn streams_that_declare_nothing_share_the_servers_cap_per_caller() {
    let config = ServerConfig::default().with_max_streams_per_caller(2);
    let app = app_with(config, Gates::default());
    let ann = [192, 0, 2, 1];
    let news = open(&app, "/news", ann, None).await;
    let _weather = open(&app, "/weather", ann, None).await;
    // Two streams on two routes: the cap is on the caller's streams together.
    for path in ["/news", "/weather"] {
        let e = refused(&app, path, ann, None).await;
        assert_eq!(
            e["details"],
            json!({"policy": "streams", "limit": 2, "key": "caller"})
        );
    }
    // A route's own `concurrency(...)` replaces the server's cap, and `none` lifts it.
    let _feed = open(&app, "/feed", ann, None).await;
    let _hose: Vec<Open> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(open(&app, "/firehose", ann, None).await);
        }
        v
    };
    drop(news);
    let _news = open(&app, "/news", ann, None).await;
}

#[tokio::test]
async fn the_default_stream_cap_is_sixteen() {
    let app = app();
    let ann = [192, 0, 2, 1];
    let mut held = Vec::new();
    for _ in 0..16 {
        held.push(open(&app, "/news", ann, None).await);
    }
    let e = refused(&app, "/news", ann, None).await;
    assert_eq!(e["details"]["limit"], 16);
    // Another client is not held back.
    let _bob = open(&app, "/news", [192, 0, 2, 2], None).await;
}

#[tokio::test]
async fn callers_are_counted_by_who_they_are_or_by_address_when_declared() {
    let app = app();
    let office = [192, 0, 2, 1];
    // Two callers behind one address: one stream each on `/mine`.
    let _ann = open(&app, "/mine", office, Some("ann")).await;
    let _bob = open(&app, "/mine", office, Some("bob")).await;
    refused(&app, "/mine", office, Some("ann")).await;
    // The same caller from elsewhere is the same caller.
    refused(&app, "/mine", [198, 51, 100, 9], Some("ann")).await;

    // `key = "address"`: one stream per address, whoever calls.
    let _first = open(&app, "/per-address", office, Some("ann")).await;
    let e = refused(&app, "/per-address", office, Some("bob")).await;
    assert_eq!(
        e["details"],
        json!({"policy": "concurrency", "limit": 1, "key": "address"})
    );
    let _elsewhere = open(&app, "/per-address", [198, 51, 100, 9], Some("bob")).await;
}

#[test]
fn the_documents_and_the_manifest_state_each_cap() {
    let config = ServerConfig::default()
        .with_max_streams_per_caller(3)
        .with_default_security(plugin_routes::Security::of(&["caller"]));
    let metas = [<Capped as plugin_routes::Plugin>::META];
    let doc = plugin_routes::openapi::document(
        &config,
        &Callers.schemes(),
        &metas,
        plugin_routes::openapi::Scope::Plugins,
    );
    let op = |path: &str| doc["paths"][format!("/v1/plugins/capped{path}")]["get"].clone();
    assert_eq!(
        op("/feed")["x-concurrency-limit"],
        json!({"name": "concurrency", "limit": 2, "key": "caller", "per": "route"})
    );
    assert_eq!(
        op("/per-address")["x-concurrency-limit"]["key"],
        json!("address")
    );
    assert_eq!(
        op("/news")["x-concurrency-limit"],
        json!({"name": "streams", "limit": 3, "key": "caller", "per": "server"})
    );
    assert!(op("/firehose").get("x-concurrency-limit").is_none());
    // The 429 is among the answers of a capped public route, and not of an uncapped one.
    assert!(op("/feed")["responses"].get("429").is_some());
    assert!(op("/firehose")["responses"].get("429").is_none());

    let manifest = plugin_routes::manifest(&config, &metas);
    let routes = manifest["plugins"][0]["routes"].as_array().unwrap();
    let route = |handler: &str| {
        routes
            .iter()
            .find(|r| r["handler"] == handler)
            .unwrap()
            .clone()
    };
    assert_eq!(route("slow")["concurrency"]["limit"], 1);
    assert_eq!(route("weather")["concurrency"]["name"], "streams");
    assert!(route("firehose").get("concurrency").is_none());
}

#[test]
fn the_ai_plugins_stream_declares_its_own_cap() {
    let config = ServerConfig::default();
    let manifest = plugin_routes::manifest(
        &config,
        &[<ai_plugin::AiPlugin as plugin_routes::Plugin>::META],
    );
    let routes = manifest["plugins"][0]["routes"].as_array().unwrap();
    let stream = routes
        .iter()
        .find(|r| r["path"].as_str().unwrap().ends_with("/generate/stream"))
        .unwrap();
    assert_eq!(
        stream["concurrency"],
        json!({"name": "concurrency", "limit": 4, "key": "caller", "per": "route"})
    );
}
