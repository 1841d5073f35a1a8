//! What a handler returns decides what is sent and what the documents say: a JSON body, an HTML
//! page, either with headers added, or no body with headers.

use axum::http::StatusCode;
use plugin_runtime::http::{HeaderValue, header};
use plugin_runtime::prelude::*;
use plugin_runtime::testing::TestClient;
use plugin_runtime::{Html, WithHeaders};

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
