//! The OpenAPI documents as a client sees them: the committed documents are exactly what the
//! example serves, every operation lists the responses the route can produce, schemars' schemas
//! arrive whole, and the documents are served with `ETag`s next to Swagger UI.

use items_example::ItemsState;
use plugin_routes::prelude::*;
use plugin_routes::testing::TestClient;
use serde_json::{Value, json};
use std::path::PathBuf;

/// The example's app, with every plugin served, as `example-server` assembles it.
async fn example_app() -> plugin_routes::App {
    let url = "sqlite::memory:";
    let pool = plugin_routes::database::connect(url).await.unwrap();
    let state = ItemsState::open(pool.clone(), url).await.unwrap();
    let ledger = ai_plugin::ledger::Ledger::open(pool.clone(), url)
        .await
        .unwrap();
    let ai = ai_plugin::AiState::new(ai_plugin::AiConfig::none(), ledger).unwrap();
    let plans = commit_plugin::store::Plans::open(pool.clone(), url)
        .await
        .unwrap();
    let repo = crate::commit::Repo::new("openapi");
    let commit = commit_plugin::CommitState::open(&repo.dir, &[], plans)
        .await
        .unwrap();
    let config = crate::fixtures::with_operations(items_example::config(), &pool, url).await;
    let auth = plugin_routes::Auth::open(pool, plugin_routes::AuthConfig::default())
        .await
        .unwrap();
    let ai_placeholders = ai.placeholders();
    let ai = ai_plugin::AiPlugin::new(ai).with_placeholders(&ai_placeholders);
    let placeholders = commit.placeholders();
    let commit = commit_plugin::CommitPlugin::new(commit).with_placeholders(&placeholders);
    items_example::assembled(state, ai, Some(commit), &auth, config)
}

async fn example() -> TestClient {
    TestClient::new(example_app().await.into_router())
}

fn committed(rel: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../openapi")
        .join(rel);
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run `cargo xtask openapi`", path.display()))
}

/// The golden files: `openapi/` holds what the example server serves, byte for byte, as the
/// assembled app gives it to export (`example-server openapi`, which `cargo xtask openapi` runs),
/// the manifest included.
#[tokio::test]
async fn committed_documents_are_what_the_example_serves() {
    let app = example_app().await;
    let c = TestClient::new(app.router());
    let files = app.documents();
    assert_eq!(
        files.len(),
        12,
        "3.1 and 3.0: everything, the plugins, and each of 4 plugins"
    );
    for (rel, bytes) in files {
        let url = match rel.strip_prefix("plugins/") {
            Some(name) => format!("/openapi/{name}"),
            None => format!("/{rel}"),
        };
        let served = c.get(&url).send().await;
        assert_eq!(served.status(), 200, "{url}");
        assert_eq!(served.header("content-type"), Some("application/json"));
        assert!(
            served.bytes()[..] == *bytes,
            "{url} differs from what the app gives to export"
        );
        assert!(
            committed(&rel) == bytes,
            "openapi/{rel} is stale: run `cargo xtask openapi` and review the diff"
        );
    }
    let doc: Value = serde_json::from_slice(&committed("openapi.json")).unwrap();
    // The documents are spliced from pieces printed once; the result must be exactly what
    // serde_json's pretty printer writes for the whole document.
    let mut manifest = serde_json::to_vec_pretty(app.manifest()).unwrap();
    manifest.push(b'\n');
    assert!(
        committed("manifest.json") == manifest,
        "openapi/manifest.json is stale: run `cargo xtask openapi` and review the diff"
    );
    for (rel, bytes) in app.documents() {
        let parsed: Value = serde_json::from_slice(bytes).unwrap();
        let mut pretty = serde_json::to_vec_pretty(&parsed).unwrap();
        pretty.push(b'\n');
        assert!(pretty == bytes, "{rel} is not serde_json's pretty printout");
    }
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Items example");
}

#[tokio::test]
async fn etag_and_not_modified() {
    let c = example().await;
    let first = c.get("/openapi.json").send().await;
    let etag = first.header("etag").unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() == 18,
        "{etag}"
    );
    let again = c
        .get("/openapi.json")
        .header("if-none-match", &etag)
        .send()
        .await;
    assert_eq!(again.status(), 304);
    assert!(again.bytes().is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let listed = c
        .get("/openapi.json")
        .header("if-none-match", format!("\"x\", {etag}"))
        .send()
        .await;
    assert_eq!(listed.status(), 304);
    let other = c
        .get("/openapi.json")
        .header("if-none-match", "\"stale\"")
        .send()
        .await;
    assert_eq!(other.status(), 200);
    assert_eq!(other.bytes(), first.bytes());
    let plugins = c.get("/openapi-plugins.json").send().await;
    assert_ne!(plugins.header("etag"), Some(etag.as_str()));
}

fn responses(doc: &Value, path: &str, method: &str) -> Vec<String> {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "no {method} {path}");
    op["responses"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

/// The codes a response lists, following a `$ref` to a shared response.
fn codes(doc: &Value, path: &str, method: &str, status: &str) -> Vec<String> {
    let mut response = &doc["paths"][path][method]["responses"][status];
    if let Some(r) = response["$ref"].as_str() {
        let name = r.strip_prefix("#/components/responses/").unwrap();
        response = &doc["components"]["responses"][name];
    }
    let schema = &response["content"]["application/json"]["schema"];
    schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{method} {path} {status}: {schema}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_operation_documents_what_it_can_send() {
    let app = example_app().await;
    let (_, plugins) = app
        .documents()
        .into_iter()
        .find(|(name, _)| name == "openapi-plugins.json")
        .unwrap();
    let doc: Value = serde_json::from_slice(plugins).unwrap();
    let items = "/v1/plugins/items/items";
    let one = "/v1/plugins/items/items/{id}";
    assert_eq!(
        responses(&doc, items, "get"),
        ["200", "400", "401", "403", "429", "500", "503", "504"]
    );
    assert_eq!(
        responses(&doc, items, "post"),
        [
            "201", "400", "401", "403", "409", "413", "415", "429", "500", "503", "504"
        ]
    );
    assert_eq!(
        responses(&doc, one, "get"),
        [
            "200", "400", "401", "403", "404", "429", "500", "503", "504"
        ]
    );
    assert_eq!(
        responses(&doc, one, "patch"),
        [
            "200", "400", "401", "403", "404", "409", "413", "415", "429", "500", "503", "504"
        ]
    );
    assert_eq!(
        responses(&doc, one, "delete"),
        [
            "204", "400", "401", "403", "404", "429", "500", "503", "504"
        ]
    );
    // A database that cannot answer: 503 with when to try again.
    let unavailable = &doc["components"]["responses"]["Unavailable"];
    assert!(
        unavailable["headers"]["retry-after"].is_object(),
        "{unavailable}"
    );
    assert_eq!(codes(&doc, items, "get", "503"), ["UNAVAILABLE"]);
    // Who may call, as alternatives, each with the scopes the route requires.
    let scoped = |scope: &str| json!([{"user": [scope]}, {"token": [scope]}, {"oauth": [scope]}]);
    assert_eq!(doc["paths"][items]["get"]["security"], scoped("items:read"));
    assert_eq!(
        doc["paths"][items]["post"]["security"],
        scoped("items:write")
    );
    assert_eq!(
        doc["paths"]["/v1/plugins/items/health"]["get"]["security"],
        json!([]),
        "health is public, and says so"
    );
    // One server: the one the document was fetched from (paths are relative to it).
    assert_eq!(doc["servers"][0]["url"], "/", "{}", doc["servers"]);
    let schemes = &doc["components"]["securitySchemes"];
    // Named as `security(...)` names them, described in the store's words.
    assert_eq!(schemes["user"]["in"], "cookie");
    assert_eq!(schemes["token"]["scheme"], "bearer");
    assert_eq!(schemes["token"]["bearerFormat"], "plk_...");
    assert_eq!(schemes["oauth"]["bearerFormat"], "JWT");
    assert!(
        doc["paths"][items]["get"]["responses"]["401"]["$ref"]
            .as_str()
            .is_some_and(|r| r.ends_with("/Unauthorized"))
    );
    // Reads need a scope; writes by cookie may also be refused as cross-site.
    assert_eq!(codes(&doc, items, "get", "403"), ["FORBIDDEN"]);
    assert_eq!(
        codes(&doc, items, "post", "403"),
        ["FORBIDDEN", "CSRF_REJECTED"]
    );
    assert_eq!(
        responses(&doc, "/v1/plugins/items/health", "get"),
        ["200", "500", "503", "504"]
    );
    assert_eq!(codes(&doc, one, "get", "404"), ["ITEM_NOT_FOUND"]);
    assert_eq!(
        codes(&doc, items, "post", "415"),
        ["UNSUPPORTED_MEDIA_TYPE"]
    );
    assert!(
        doc["paths"][one]["delete"]["responses"]["204"]
            .get("content")
            .is_none()
    );
    let post = &doc["paths"][items]["post"];
    assert_eq!(
        post["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/CreateItem"
    );
    assert_eq!(
        post["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Item"
    );
    assert_eq!(post["operationId"], "items_create_item");
    assert_eq!(post["summary"], "Create an item.");
    assert_eq!(post["tags"], json!(["items"]));
    assert_eq!(post["x-timeout-ms"], 30_000);
    assert_eq!(post["x-body-limit-bytes"], 1_048_576);
    let id = &doc["paths"][one]["get"]["parameters"][0];
    assert_eq!(
        (
            id["name"].as_str(),
            id["in"].as_str(),
            id["required"].as_bool()
        ),
        (Some("id"), Some("path"), Some(true))
    );
    assert_eq!(id["schema"]["type"], "integer");
    // Query inputs are one parameter per field, with the garde constraints.
    let params = doc["paths"][items]["get"]["parameters"].as_array().unwrap();
    let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
    assert_eq!(
        (limit["in"].as_str(), limit["required"].as_bool()),
        (Some("query"), Some(false))
    );
    assert_eq!(
        (
            limit["schema"]["minimum"].as_u64(),
            limit["schema"]["maximum"].as_u64()
        ),
        (Some(1), Some(100))
    );
    let envelope = &doc["components"]["schemas"]["ErrorEnvelope"];
    assert_eq!(
        envelope["properties"]["error"]["required"],
        json!(["code", "message", "requestId"])
    );
}

/// A documented enum: each variant is a `const` with its description.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Colour {
    /// Like the sky.
    Blue,
    /// Like grass.
    Green,
}

/// Internally tagged: the tag's values are `const`s in schemars' output.
#[derive(Debug, Serialize, Deserialize, JsonSchema, Validate)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum Shape {
    Circle {
        #[garde(range(min = 0.0))]
        radius: f64,
    },
    Square {
        #[garde(range(min = 0.0))]
        side: f64,
    },
}

#[derive(Debug, Deserialize, JsonSchema, Validate)]
struct Paint {
    /// The colour to paint with.
    #[garde(skip)]
    colour: Option<Colour>,
}

#[derive(Debug, Serialize, JsonSchema)]
struct Area {
    area: f64,
}

/// Measure a shape.
///
/// Circles and squares only.
#[plugin_route(
    method = "POST",
    path = "/area",
    tags("geometry", "shapes"),
    operation_id = "measureShape",
    errors(FLAT_SHAPE = (400, "the shape has no area"))
)]
async fn area(shape: Shape) -> RouteResult<Area> {
    let area = match shape {
        Shape::Circle { radius } => std::f64::consts::PI * radius * radius,
        Shape::Square { side } => side * side,
    };
    if area == 0.0 {
        return Err(route_error!(FLAT_SHAPE));
    }
    Ok(Area { area })
}

/// Lists nothing, in a colour.
#[plugin_route(method = "GET", path = "/paint", summary = "Paint", deprecated)]
async fn paint(query: Paint) -> RouteResult<Vec<String>> {
    Ok(query.colour.iter().map(|c| format!("{c:?}")).collect())
}

/// Not for the public.
#[plugin_route(method = "DELETE", path = "/admin/reset", status = 204, hidden)]
async fn reset() -> RouteResult<()> {
    Ok(())
}

/// Shapes and colours.
#[plugin(
    name = "shapes",
    version = "2.0.0",
    security(none),
    routes(area, paint, reset)
)]
struct ShapesPlugin;

fn shapes_doc() -> Value {
    plugin_routes::openapi::document(
        &ServerConfig::default(),
        &[],
        &[<ShapesPlugin as Plugin>::META],
        plugin_routes::openapi::Scope::All,
    )
}

#[test]
fn schemars_output_reaches_the_document_whole() {
    let doc = shapes_doc();
    let shape = &doc["components"]["schemas"]["Shape"];
    let kinds: Vec<&str> = shape["oneOf"]
        .as_array()
        .unwrap_or_else(|| panic!("{shape}"))
        .iter()
        .map(|v| {
            v["properties"]["kind"]["const"]
                .as_str()
                .unwrap_or_else(|| panic!("no const tag in {v}"))
        })
        .collect();
    assert_eq!(kinds, ["circle", "square"]);
    // A user's enum of strings is `type` + `enum`, each value's description kept beside it
    // (generators read a `oneOf` of `const`s as "the first value only").
    let colour = &doc["components"]["schemas"]["Colour"];
    assert_eq!(colour["type"], "string", "{colour}");
    assert_eq!(
        colour["enum"],
        serde_json::json!(["blue", "green"]),
        "{colour}"
    );
    assert_eq!(colour["x-enumDescriptions"]["blue"], "Like the sky.");
    assert!(colour.get("oneOf").is_none(), "{colour}");
    // The enum as a query parameter: optional, described, and never `null` (a query cannot send it).
    let param = &doc["paths"]["/v1/plugins/shapes/paint"]["get"]["parameters"][0];
    assert_eq!(param["name"], "colour");
    assert_eq!(param["required"], false);
    assert_eq!(param["description"], "The colour to paint with.");
    assert_eq!(
        param["schema"]["$ref"], "#/components/schemas/Colour",
        "{param}"
    );
    assert!(!param.to_string().contains("null"), "{param}");
}

#[test]
fn documentation_keys_are_reflected() {
    let doc = shapes_doc();
    let post = &doc["paths"]["/v1/plugins/shapes/area"]["post"];
    assert_eq!(post["operationId"], "measureShape");
    // A declared code that shares its status with a framework code: both are listed, inline.
    let path = "/v1/plugins/shapes/area";
    assert_eq!(
        codes(&doc, path, "post", "400"),
        ["INVALID_INPUT", "FLAT_SHAPE"]
    );
    assert!(post["responses"]["400"].get("$ref").is_none());
    // A framework code alone under its status is one shared response.
    assert_eq!(
        post["responses"]["500"]["$ref"],
        "#/components/responses/Internal"
    );
    assert_eq!(codes(&doc, path, "post", "500"), ["INTERNAL"]);
    assert_eq!(post["tags"], json!(["geometry", "shapes"]));
    assert_eq!(post["summary"], "Measure a shape.");
    assert_eq!(post["description"], "Circles and squares only.");
    assert!(post.get("deprecated").is_none());
    let get = &doc["paths"]["/v1/plugins/shapes/paint"]["get"];
    assert_eq!(
        (get["summary"].as_str(), get["deprecated"].as_bool()),
        (Some("Paint"), Some(true))
    );
    assert_eq!(get["description"], "Lists nothing, in a colour.");
    assert_eq!(get["operationId"], "shapes_paint");
    assert!(
        doc["paths"].get("/v1/plugins/shapes/admin/reset").is_none(),
        "hidden routes are left out"
    );
    assert!(!doc.to_string().contains("reset"));
    assert_eq!(
        doc["tags"][0],
        json!({"name": "shapes", "description": "Shapes and colours."})
    );
    // The server's own routes are in the document of everything.
    assert!(doc["paths"]["/openapi/{file}"]["get"].is_object());
    assert!(doc["paths"]["/openapi.json"]["get"].is_object());
}

#[tokio::test]
async fn hidden_routes_are_served_and_in_the_manifest() {
    let c = TestClient::new(plugins![ShapesPlugin::new()]);
    let r = c.delete("/v1/plugins/shapes/admin/reset").send().await;
    assert_eq!(r.status(), 204);
    let manifest =
        plugin_routes::manifest(&ServerConfig::default(), &[<ShapesPlugin as Plugin>::META]);
    let routes = manifest["plugins"][0]["routes"].as_array().unwrap();
    let reset = routes.iter().find(|r| r["handler"] == "reset").unwrap();
    assert_eq!(
        (reset["hidden"].as_bool(), reset["method"].as_str()),
        (Some(true), Some("DELETE"))
    );
    assert_eq!(reset["path"], "/v1/plugins/shapes/admin/reset");
    let paint = routes.iter().find(|r| r["handler"] == "paint").unwrap();
    assert_eq!(
        (paint["deprecated"].as_bool(), paint["timeoutMs"].as_u64()),
        (Some(true), Some(60_000))
    );
}

#[tokio::test]
async fn one_plugin_per_document_and_unknown_ones_are_404() {
    let c = example().await;
    let doc: Value = c.get("/openapi/items.json").send().await.json();
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert!(
        paths.iter().all(|p| p.starts_with("/v1/plugins/items/")),
        "{paths:?}"
    );
    let r = c.get("/openapi/nope.json").send().await;
    assert_eq!(
        (r.status().as_u16(), r.error()["code"].as_str()),
        (404, Some("DOCUMENT_NOT_FOUND"))
    );
    assert_eq!(
        r.error()["message"],
        "no document /openapi/nope.json: the server's plugins are auth, items, ai, commit"
    );
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let c = example().await;
    let page = c.get("/docs").send().await;
    assert_eq!(page.status(), 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text().contains("swagger-ui"), "{}", page.text());
    // Served without a trailing `/`, the page's relative links resolve under `/docs/`.
    assert!(
        page.text().contains("<base href=\"/docs/\">"),
        "{}",
        page.text()
    );
    // The old address with the `/` is sent to the page, as any GET route's is.
    let r = c.get("/docs/?x=1").send().await;
    assert_eq!(r.status(), 308);
    assert_eq!(r.header("location"), Some("/docs?x=1"));
    let init = c.get("/docs/swagger-initializer.js").send().await;
    let text = init.text();
    for url in [
        "/openapi.json",
        "/openapi-plugins.json",
        "/openapi/items.json",
    ] {
        assert!(text.contains(&format!("\"{url}\"")), "{text}");
    }
    assert!(text.contains("\"validatorUrl\": \"none\""), "{text}");
    let css = c.get("/docs/swagger-ui.css").send().await;
    assert_eq!(css.status(), 200);
    let missing = c.get("/docs/nothing.js").send().await;
    assert_eq!(
        (missing.status().as_u16(), missing.error()["code"].as_str()),
        (404, Some("FILE_NOT_FOUND"))
    );
    let off = TestClient::new(
        plugins![config = ServerConfig::default().without_docs(); ShapesPlugin::new()],
    );
    assert_eq!(off.get("/docs").send().await.status(), 404);
    assert_eq!(off.get("/docs/").send().await.status(), 404);
    assert_eq!(off.get("/docs/swagger-ui.css").send().await.status(), 404);
    assert_eq!(off.get("/openapi.json").send().await.status(), 200);
}

/// A crate's tests can check that every plugin it declares is mounted: one left out of
/// `app![...]` is named, never silently absent.
#[tokio::test]
async fn a_plugin_left_out_of_the_app_is_named() {
    use plugin_routes::Plugin;
    let app = example_app().await;
    let declared = [
        <items_example::ItemsPlugin as Plugin>::META,
        <ai_plugin::AiPlugin as Plugin>::META,
        <commit_plugin::CommitPlugin as Plugin>::META,
    ];
    app.assert_mounted(&declared);
    assert!(app.serves::<commit_plugin::CommitPlugin>());
    // The list the example server checks its operator's rate-limit overrides against is the
    // app's own: every plugin on it mounted, and nothing mounted beside them but the
    // framework's own documents (`api`, `docs`), which declare no rate limit.
    let listed = items_example::mounted(true);
    app.assert_mounted(&listed);
    let names = |plugins: &serde_json::Value| -> Vec<String> {
        plugins
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .filter(|name| name != "api" && name != "docs")
            .collect()
    };
    assert_eq!(
        names(&app.manifest()["plugins"]),
        listed.iter().map(|p| p.name.to_owned()).collect::<Vec<_>>()
    );
    let without_commit: Vec<&str> = items_example::mounted(false)
        .iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(without_commit, ["auth", "settings", "items", "ai"]);
    let alone = plugin_routes::app![security_none::NotMounted::new()];
    assert!(!alone.serves::<commit_plugin::CommitPlugin>());
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        alone.assert_mounted(&declared);
    }))
    .unwrap_err();
    let said = refused.downcast_ref::<String>().unwrap();
    assert!(said.contains("items, ai, commit"), "{said}");
}

mod security_none {
    use plugin_routes::prelude::*;

    /// Answers nothing.
    #[plugin_route(method = "GET", path = "/nothing", status = 204, security(none))]
    pub(crate) async fn nothing() -> RouteResult<()> {
        Ok(())
    }

    /// A plugin of its own, mounted alone.
    #[plugin(name = "alone", version = "1.0.0", routes(nothing))]
    pub(crate) struct NotMounted;
}
