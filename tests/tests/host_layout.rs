//! A host's own URL layout: the plugins served under NextSpark's `/api/v1/plugin/<name>`
//! instead of `/v1/plugins/<name>`, a plugin declaring a base path under the host's prefix, and
//! everything that names a path following: the routes, the documents, the manifest, the
//! trailing-slash redirects, the rate limits and the typed client.

use crate::client::{listen, odd};
use plugin_routes::testing::TestClient;
use plugin_routes::{ServerConfig, app, plugins};
use serde_json::Value;

const PREFIX: &str = "/api/v1/plugin";

mod notes {
    use plugin_routes::prelude::*;

    /// How many notes there are.
    #[plugin_route(
        method = "GET",
        path = "/count",
        security(none),
        rate_limit(2, per = "1m", key = "address")
    )]
    pub(crate) async fn count() -> RouteResult<u32> {
        Ok(3)
    }

    /// Notes, at a base path of its own under the host's prefix.
    #[plugin(
        name = "notes",
        version = "1.0.0",
        base_path = "/api/v1/plugin/my-notes",
        routes(count)
    )]
    pub(crate) struct NotesPlugin;

    /// Declares a base path outside any prefix the host has.
    #[plugin(
        name = "stray",
        version = "1.0.0",
        base_path = "/api/stray",
        routes(count)
    )]
    pub(crate) struct StrayPlugin;
}

fn nextspark() -> ServerConfig {
    ServerConfig::default().with_plugin_prefix(PREFIX)
}

#[tokio::test]
async fn plugins_live_under_the_host_s_prefix_and_everything_follows() {
    let app = app![config = nextspark(); odd::OddPlugin::new(), notes::NotesPlugin::new()];
    let c = TestClient::new(app.router()).from_address([192, 0, 2, 7].into());

    // The default layout moved under the prefix; the declared base path kept.
    let r = c.get("/api/v1/plugin/odd/pong/3").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(
        c.get("/api/v1/plugin/odd/health").send().await.status(),
        200
    );
    assert_eq!(
        c.get("/api/v1/plugin/my-notes/count").send().await.status(),
        200
    );
    let r = c.get("/v1/plugins/odd/pong/3").send().await;
    assert_eq!(r.status(), 404, "the seed's layout is not also served");
    // The site's own paths stay where they are.
    assert_eq!(c.get("/openapi.json").send().await.status(), 200);
    assert_eq!(c.get("/openapi/odd.json").send().await.status(), 200);

    // A trailing slash is sent to the route under the prefix.
    let r = c.get("/api/v1/plugin/odd/pong/3/?x=1").send().await;
    assert_eq!(r.status(), 308);
    assert_eq!(r.header("location"), Some("/api/v1/plugin/odd/pong/3?x=1"));

    // The rate limit counts on the route where it is served.
    assert_eq!(
        c.get("/api/v1/plugin/my-notes/count").send().await.status(),
        200
    );
    let r = c.get("/api/v1/plugin/my-notes/count").send().await;
    assert_eq!(r.status(), 429, "{}", r.text());

    // The documents and the manifest name the served paths, and nothing of the seed's layout.
    let doc: Value = c.get("/openapi.json").send().await.json();
    let paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|p| p.starts_with("/api/"))
        .collect();
    assert!(paths.contains(&"/api/v1/plugin/odd/pong/{n}"), "{paths:?}");
    assert!(
        paths.contains(&"/api/v1/plugin/my-notes/count"),
        "{paths:?}"
    );
    assert!(!doc.to_string().contains("/v1/plugins/"), "{doc}");
    let served: Value = c.get("/openapi/odd.json").send().await.json();
    assert!(served["paths"]["/api/v1/plugin/odd/pong/{n}"]["get"].is_object());
    let plugins = app.manifest()["plugins"].as_array().unwrap();
    let odd = plugins.iter().find(|p| p["name"] == "odd").unwrap();
    assert_eq!(odd["basePath"], "/api/v1/plugin/odd");
    assert_eq!(
        odd["routes"][0]["path"].as_str().unwrap(),
        "/api/v1/plugin/odd/slow"
    );
    // What the app exports is what it serves.
    let exported = app
        .documents()
        .into_iter()
        .find(|(name, _)| name == "openapi.json")
        .unwrap()
        .1
        .to_vec();
    assert_eq!(
        exported,
        c.get("/openapi.json").send().await.bytes().to_vec()
    );
}

#[tokio::test]
async fn the_typed_client_calls_the_host_s_layout() {
    use odd::odd_client::OddClient;
    use plugin_routes::client::Client;
    let base = listen(plugins![config = nextspark(); odd::OddPlugin::new()]).await;
    let moved = OddClient::from_client(
        Client::new(&base)
            .unwrap()
            .with_plugin_prefix(PREFIX)
            .unwrap(),
    );
    assert_eq!(moved.pong(3).await.unwrap(), odd::Pong { n: 3 });
    assert_eq!(moved.echo("a b".into()).await.unwrap(), "a b");
    // Without the prefix it calls the seed's layout, which this server does not serve.
    let seed = OddClient::new(&base).unwrap();
    assert!(matches!(
        seed.pong(3).await,
        Err(odd::odd_client::PongError::Unexpected(u)) if u.status == 404
    ));
    // A prefix no server could have is refused where it is given.
    let refused = Client::new(&base)
        .unwrap()
        .with_plugin_prefix("api/")
        .unwrap_err();
    assert!(refused.to_string().contains("`api/`"), "{refused}");
}

#[test]
fn a_base_path_outside_the_host_s_prefix_stops_the_server() {
    let refused = std::panic::catch_unwind(|| {
        let _ = plugins![config = nextspark(); notes::StrayPlugin::new()];
    })
    .expect_err("the server started");
    let message = refused
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message.contains(
            "plugin `stray` declares base_path `/api/stray`, outside this server's plugin prefix `/api/v1/plugin`"
        ),
        "{message}"
    );
    // The seed's layout holds it nowhere either.
    let refused = std::panic::catch_unwind(|| {
        let _ = plugins![notes::StrayPlugin::new()];
    })
    .expect_err("the server started");
    let message = refused
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("prefix `/v1/plugins`"), "{message}");
}

#[test]
#[should_panic(expected = "must start with `/`")]
fn a_prefix_a_path_cannot_start_is_refused() {
    let _ = ServerConfig::default().with_plugin_prefix("api/v1/plugin");
}

#[test]
fn a_plugin_moved_onto_another_s_base_path_stops_the_server_naming_both() {
    mod clash {
        use plugin_routes::prelude::*;
        /// Where `odd` is moved by the prefix.
        #[plugin_route(method = "GET", path = "/here", security(none))]
        pub(crate) async fn here() -> RouteResult<u32> {
            Ok(1)
        }
        #[plugin(
            name = "squatter",
            version = "1.0.0",
            base_path = "/api/v1/plugin/odd",
            routes(here)
        )]
        pub(crate) struct SquatterPlugin;
    }
    let refused = std::panic::catch_unwind(|| {
        let _ = plugins![config = nextspark(); odd::OddPlugin::new(), clash::SquatterPlugin::new()];
    })
    .expect_err("the server started");
    let message = refused
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(
        message
            .contains("plugins `odd` and `squatter` would both be served at `/api/v1/plugin/odd`"),
        "{message}"
    );
}

/// A host's layer that rewrites an answer's body and keeps its headers is sent with the length
/// of the body it made: a route sets no `Content-Length` of its own, so axum counts the body
/// once every layer has run, as it does for its own handlers.
#[tokio::test]
async fn a_host_layer_that_rewrites_a_body_is_sent_with_its_own_length() {
    const LONGER: &str = "a body the host's layer made, longer than the route's";
    let app = app![config = nextspark(); notes::NotesPlugin::new()]
        .into_router()
        .layer(axum::middleware::map_response(
            |r: axum::response::Response| async move {
                let (parts, _) = r.into_parts();
                axum::response::Response::from_parts(parts, axum::body::Body::from(LONGER))
            },
        ));
    let c = TestClient::new(app).from_address([192, 0, 2, 9].into());
    let r = c.get("/api/v1/plugin/my-notes/count").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.text(), LONGER);
    let length = LONGER.len().to_string();
    assert_eq!(r.header("content-length"), Some(length.as_str()));
}
