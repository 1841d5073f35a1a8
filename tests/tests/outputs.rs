//! What a handler returns decides what is sent and what the documents say: a JSON body, an HTML
//! page, bytes of a run-time media type, any of these with headers added or an `ETag`, or no body
//! with headers. Also: plugins at the site base path `/`, and trailing slashes.

use axum::http::StatusCode;
use plugin_routes::http::{HeaderValue, header};
use plugin_routes::prelude::*;
use plugin_routes::testing::TestClient;
use plugin_routes::{Binary, Conditional, Html, IfNoneMatch, RawJson, WithHeaders};

#[derive(Serialize, JsonSchema)]
struct Visit {
    count: u32,
}

/// The welcome page.
#[plugin_route(method = "GET", path = "/page", security(none))]
async fn page() -> RouteResult<WithHeaders<Html>> {
    Ok(WithHeaders::new(Html::new("<h1>hello</h1>")).header(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'"),
    ))
}

/// The same page as plain text: a header given replaces the one the body's kind sets.
#[plugin_route(method = "GET", path = "/page.txt", security(none))]
async fn page_as_text() -> RouteResult<WithHeaders<Html>> {
    Ok(WithHeaders::new(Html::new("hello")).header(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    ))
}

/// Start a visit.
#[plugin_route(method = "POST", path = "/visits", status = 201, security(none))]
async fn start() -> RouteResult<WithHeaders<Visit>> {
    Ok(WithHeaders::new(Visit { count: 1 })
        .header(
            header::SET_COOKIE,
            HeaderValue::from_static("visit=1; Path=/"),
        )
        .header(
            header::SET_COOKIE,
            HeaderValue::from_static("seen=yes; Path=/"),
        ))
}

/// End the visit.
#[plugin_route(method = "DELETE", path = "/visits", status = 204, security(none))]
async fn end() -> RouteResult<WithHeaders<()>> {
    Ok(WithHeaders::new(()).header(
        header::SET_COOKIE,
        HeaderValue::from_static("visit=; Max-Age=0; Path=/"),
    ))
}

#[plugin(
    name = "visits",
    version = "1.0.0",
    routes(page, page_as_text, start, end)
)]
struct Visits;

fn client() -> TestClient {
    TestClient::new(plugins![Visits::new()])
}

#[tokio::test]
async fn an_html_page_is_sent_as_html_with_its_headers() {
    let res = client().get("/v1/plugins/visits/page").send().await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        res.header("content-security-policy"),
        Some("default-src 'none'")
    );
    assert!(res.header("x-request-id").is_some());
    assert_eq!(res.text(), "<h1>hello</h1>");
}

#[tokio::test]
async fn a_header_given_replaces_the_one_the_output_kind_sets() {
    let res = client().get("/v1/plugins/visits/page.txt").send().await;
    let types: Vec<_> = res.headers().get_all("content-type").iter().collect();
    assert_eq!(types, ["text/plain; charset=utf-8"]);
}

#[tokio::test]
async fn a_json_body_with_headers_keeps_every_header_given() {
    let res = client().post("/v1/plugins/visits/visits").send().await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.header("content-type"), Some("application/json"));
    let cookies: Vec<_> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cookies, ["visit=1; Path=/", "seen=yes; Path=/"]);
    assert_eq!(res.json::<serde_json::Value>()["count"], 1);
}

#[tokio::test]
async fn no_content_with_headers_sends_only_headers() {
    let res = client().delete("/v1/plugins/visits/visits").send().await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(res.header("set-cookie"), Some("visit=; Max-Age=0; Path=/"));
    assert!(res.bytes().is_empty());
}

#[tokio::test]
async fn the_documents_describe_each_output_as_sent() {
    let doc: serde_json::Value = client().get("/openapi.json").send().await.json();
    let paths = &doc["paths"];
    let page = &paths["/v1/plugins/visits/page"]["get"]["responses"]["200"]["content"];
    assert_eq!(page["text/html"]["schema"]["type"], "string", "{page}");
    assert!(page.get("application/json").is_none());
    let start = &paths["/v1/plugins/visits/visits"]["post"]["responses"]["201"]["content"];
    assert_eq!(
        start["application/json"]["schema"]["$ref"],
        "#/components/schemas/Visit"
    );
    let end = &paths["/v1/plugins/visits/visits"]["delete"]["responses"]["204"];
    assert!(end.get("content").is_none(), "{end}");
}

/// An avatar: bytes of a media type known at run time, tagged for revalidation.
#[plugin_route(method = "GET", path = "/avatars/{name}", security(none))]
async fn avatar(name: String, #[extract] since: IfNoneMatch) -> RouteResult<Conditional<Binary>> {
    let etag = HeaderValue::from_str(&format!("\"{}\"", name.len())).expect("a quoted number");
    let png = Binary::new(HeaderValue::from_static("image/png"), name.into_bytes());
    Ok(Conditional::new(etag, png, &since))
}

/// A cached listing, serialized once.
#[plugin_route(method = "GET", path = "/cached", security(none))]
async fn cached() -> RouteResult<RawJson> {
    Ok(RawJson::new(&b"[1,2,3]"[..]))
}

#[plugin(name = "avatars", version = "1.0.0", routes(avatar, cached))]
struct Avatars;

/// The landing page, at the server's root.
#[plugin_route(method = "GET", path = "/", security(none))]
async fn landing() -> RouteResult<Html> {
    Ok(Html::new("<h1>welcome</h1>"))
}

/// What the server is about.
#[plugin_route(method = "GET", path = "/about", security(none))]
async fn about() -> RouteResult<Html> {
    Ok(Html::new("<p>about</p>"))
}

/// Pages around the API.
#[plugin(
    name = "site",
    version = "1.0.0",
    base_path = "/",
    routes(landing, about)
)]
struct Site;

#[tokio::test]
async fn binary_is_sent_as_its_media_type_and_conditional_answers_304() {
    let c = TestClient::new(plugins![Avatars::new()]);
    let full = c.get("/v1/plugins/avatars/avatars/ada").send().await;
    assert_eq!(full.status(), StatusCode::OK);
    assert_eq!(full.header("content-type"), Some("image/png"));
    assert_eq!(full.header("etag"), Some("\"3\""));
    assert_eq!(&full.bytes()[..], b"ada");
    let fresh = c
        .get("/v1/plugins/avatars/avatars/ada")
        .header("if-none-match", "W/\"3\"")
        .send()
        .await;
    assert_eq!(fresh.status(), StatusCode::NOT_MODIFIED);
    assert!(fresh.bytes().is_empty());
    assert_eq!(fresh.header("etag"), Some("\"3\""));
    assert!(fresh.header("x-request-id").is_some());
    let stale = c
        .get("/v1/plugins/avatars/avatars/ada")
        .header("if-none-match", "\"4\"")
        .send()
        .await;
    assert_eq!(stale.status(), StatusCode::OK);
    let raw = c.get("/v1/plugins/avatars/cached").send().await;
    assert_eq!(raw.header("content-type"), Some("application/json"));
    assert_eq!(raw.json::<Vec<u32>>(), [1, 2, 3]);
}

#[tokio::test]
async fn a_conditional_route_documents_the_header_the_etag_and_the_304() {
    let doc = plugin_routes::openapi::document(
        &ServerConfig::default(),
        &[],
        &[<Avatars as Plugin>::META],
        plugin_routes::openapi::Scope::All,
    );
    let op = &doc["paths"]["/v1/plugins/avatars/avatars/{name}"]["get"];
    let header = op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["in"] == "header")
        .expect("a header parameter");
    assert_eq!(header["name"], "if-none-match");
    assert!(op["responses"]["200"]["headers"]["etag"].is_object());
    assert!(op["responses"]["304"]["headers"]["etag"].is_object());
    assert!(
        op["responses"]["200"]["content"]["application/octet-stream"].is_object(),
        "{op}"
    );
    let plain = &doc["paths"]["/v1/plugins/avatars/cached"]["get"];
    assert!(plain["responses"].get("304").is_none());
    assert!(plain["responses"]["200"]["content"]["application/json"].is_object());
}

#[tokio::test]
async fn a_plugin_at_the_site_base_path_serves_whole_paths_without_a_health_route() {
    let c = TestClient::new(plugins![Site::new(), Visits::new()]);
    let home = c.get("/").send().await;
    assert_eq!(
        (home.status(), home.text()),
        (StatusCode::OK, "<h1>welcome</h1>".into())
    );
    assert_eq!(c.get("/about").send().await.status(), StatusCode::OK);
    let health = c.get("/health").send().await;
    assert_eq!(health.status(), StatusCode::NOT_FOUND);
    // The other plugin keeps its own health route.
    assert_eq!(
        c.get("/v1/plugins/visits/health").send().await.status(),
        StatusCode::OK
    );
    let metas = [<Site as Plugin>::META, <Visits as Plugin>::META];
    let config = ServerConfig::default();
    let all =
        plugin_routes::openapi::document(&config, &[], &metas, plugin_routes::openapi::Scope::All);
    assert!(all["paths"]["/about"]["get"].is_object());
    assert!(all["paths"]["/"]["get"].is_object());
    let only = plugin_routes::openapi::document(
        &config,
        &[],
        &metas,
        plugin_routes::openapi::Scope::Plugins,
    );
    assert!(only["paths"].get("/about").is_none(), "{only}");
    assert!(only["paths"]["/v1/plugins/visits/page"]["get"].is_object());
    // No per-plugin document for the site's routes.
    assert_eq!(
        c.get("/openapi/site.json").send().await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_trailing_slash_on_a_get_route_is_redirected_and_nothing_else_is() {
    let c = client();
    let r = c.get("/v1/plugins/visits/page/?lang=en").send().await;
    assert_eq!(r.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        r.header("location"),
        Some("/v1/plugins/visits/page?lang=en")
    );
    assert!(r.header("x-request-id").is_some());
    // Not a route without the slash either: 404.
    let r = c.get("/v1/plugins/visits/nothing/").send().await;
    assert_eq!(r.error()["code"], "NOT_FOUND");
    // Only reads are redirected: a POST would lose its body on the way.
    let r = c.post("/v1/plugins/visits/visits/").send().await;
    assert_eq!(r.error()["code"], "NOT_FOUND");
}
