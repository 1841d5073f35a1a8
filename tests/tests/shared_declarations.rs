//! What a plugin declares once for every route it lists. Error codes, `#[plugin(errors(...))]`:
//! a route returns them with `route_error!` as if it declared them, declares its own beside them,
//! replaces one by declaring it itself, or leaves one out with `CODE = none`; the answers, the
//! documents, the manifest and the typed client's error enums all say the same. `deprecated` and
//! `hidden` on a plugin mark every one of its routes.

use plugin_routes::app;
use plugin_routes::testing::TestClient;
use serde_json::Value;

mod shop {
    use plugin_routes::prelude::*;

    #[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
    pub(crate) struct Item {
        pub(crate) id: u32,
    }

    /// Read an item: the plugin's codes and one of its own.
    #[plugin_route(
        method = "GET",
        path = "/items/{id}",
        security(none),
        errors(ITEM_LOCKED = 423)
    )]
    pub(crate) async fn get_item(id: u32) -> RouteResult<Item> {
        match id {
            0 => Err(route_error!(STORE_CLOSED)),
            1 => Err(route_error!(ITEM_NOT_FOUND, "no item {id}")),
            2 => Err(route_error!(ITEM_LOCKED)),
            _ => Ok(Item { id }),
        }
    }

    /// An archive answers 410 where the shop answers 404: its own `ITEM_NOT_FOUND` replaces the
    /// plugin's.
    #[plugin_route(
        method = "GET",
        path = "/archive/{id}",
        security(none),
        errors(ITEM_NOT_FOUND = (410, "archived items are gone for good"))
    )]
    pub(crate) async fn get_archived(id: u32) -> RouteResult<Item> {
        match id {
            0 => Err(route_error!(STORE_CLOSED)),
            _ => Err(route_error!(ITEM_NOT_FOUND)),
        }
    }

    /// Never closed, never looks an item up.
    #[plugin_route(
        method = "GET",
        path = "/ping",
        security(none),
        errors(STORE_CLOSED = none, ITEM_NOT_FOUND = none)
    )]
    pub(crate) async fn ping() -> RouteResult<Item> {
        Ok(Item { id: 0 })
    }

    /// A shop.
    #[plugin(
        name = "shop",
        version = "1.0.0",
        client = ShopClient,
        errors(
            STORE_CLOSED = (503, "the shop is closed for the night"),
            ITEM_NOT_FOUND = (404, "no such item"),
        ),
        routes(get_item, get_archived, ping)
    )]
    pub(crate) struct ShopPlugin;
}

mod old {
    use plugin_routes::prelude::*;

    #[derive(Debug, Serialize, Deserialize, JsonSchema)]
    pub(crate) struct Answer {
        pub(crate) ok: bool,
    }

    /// Still answers.
    #[plugin_route(method = "GET", path = "/answer", security(none))]
    pub(crate) async fn answer() -> RouteResult<Answer> {
        Ok(Answer { ok: true })
    }

    /// On its way out.
    #[plugin(name = "legacy", version = "0.9.0", deprecated, routes(answer))]
    pub(crate) struct LegacyPlugin;

    /// Served, in no document.
    #[plugin_route(method = "GET", path = "/answer", security(none))]
    pub(crate) async fn internal_answer() -> RouteResult<Answer> {
        Ok(Answer { ok: true })
    }

    /// For the operators only.
    #[plugin(name = "internal", version = "1.0.0", hidden, routes(internal_answer))]
    pub(crate) struct InternalPlugin;
}

use shop::{ShopClient, ShopPlugin, shop_client};

fn shop() -> plugin_routes::App {
    app![ShopPlugin::new()]
}

#[tokio::test]
async fn routes_return_their_plugins_codes_and_their_own() {
    let c = TestClient::new(shop().router());
    let cases = [
        (
            "/v1/plugins/shop/items/0",
            503,
            "STORE_CLOSED",
            "the shop is closed for the night",
        ),
        (
            "/v1/plugins/shop/items/1",
            404,
            "ITEM_NOT_FOUND",
            "no item 1",
        ),
        (
            "/v1/plugins/shop/items/2",
            423,
            "ITEM_LOCKED",
            "ITEM_LOCKED",
        ),
        (
            "/v1/plugins/shop/archive/0",
            503,
            "STORE_CLOSED",
            "the shop is closed for the night",
        ),
        (
            "/v1/plugins/shop/archive/1",
            410,
            "ITEM_NOT_FOUND",
            "archived items are gone for good",
        ),
    ];
    for (path, status, code, message) in cases {
        let r = c.get(path).send().await;
        assert_eq!(r.status(), status, "{path}: {}", r.text());
        let error = r.error();
        assert_eq!(error["code"], code, "{path}");
        assert_eq!(error["message"], message, "{path}");
    }
    assert_eq!(c.get("/v1/plugins/shop/items/7").send().await.status(), 200);
}

/// The codes under each status of an operation's responses, from the served document.
fn codes(doc: &Value, path: &str) -> Vec<(String, String)> {
    let responses = doc["paths"][path]["get"]["responses"].as_object().unwrap();
    let mut out = Vec::new();
    for (status, response) in responses {
        let response = match response.get("$ref").and_then(Value::as_str) {
            Some(r) => &doc["components"]["responses"][r.rsplit('/').next().unwrap()],
            None => response,
        };
        let schema = &response["content"]["application/json"]["schema"];
        // The envelope, with `error.code` narrowed to the codes sent with the status.
        let mut enums = Vec::new();
        code_enums(schema, &mut enums);
        for code in enums {
            out.push((status.clone(), code));
        }
    }
    out
}

/// Every `code` property's `enum` inside `schema`, wherever the envelope puts it.
fn code_enums(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(o) => {
            if let Some(codes) = o.get("code").and_then(|c| c["enum"].as_array()) {
                out.extend(codes.iter().map(|c| c.as_str().unwrap().to_owned()));
            }
            o.values().for_each(|v| code_enums(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| code_enums(v, out)),
        _ => {}
    }
}

fn has(codes: &[(String, String)], status: &str, code: &str) -> bool {
    codes.iter().any(|(s, c)| s == status && c == code)
}

#[tokio::test]
async fn documents_and_manifest_list_the_shared_codes_on_each_route_that_returns_them() {
    let app = shop();
    let c = TestClient::new(app.router());
    let doc: Value = c.get("/openapi/shop.json").send().await.json();

    let item = codes(&doc, "/v1/plugins/shop/items/{id}");
    assert!(has(&item, "503", "STORE_CLOSED"), "{item:?}");
    assert!(has(&item, "404", "ITEM_NOT_FOUND"), "{item:?}");
    assert!(has(&item, "423", "ITEM_LOCKED"), "{item:?}");

    let archive = codes(&doc, "/v1/plugins/shop/archive/{id}");
    assert!(has(&archive, "503", "STORE_CLOSED"), "{archive:?}");
    assert!(has(&archive, "410", "ITEM_NOT_FOUND"), "{archive:?}");
    assert!(!has(&archive, "404", "ITEM_NOT_FOUND"), "{archive:?}");

    for path in ["/v1/plugins/shop/ping", "/v1/plugins/shop/health"] {
        let listed = codes(&doc, path);
        assert!(
            !listed
                .iter()
                .any(|(_, c)| c == "STORE_CLOSED" || c == "ITEM_NOT_FOUND"),
            "{path}: {listed:?}"
        );
    }

    let manifest = app.manifest();
    let routes = manifest["plugins"][0]["routes"].as_array().unwrap();
    let codes_of = |handler: &str| -> Vec<(u64, String)> {
        let route = routes.iter().find(|r| r["handler"] == handler).unwrap();
        route["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["status"].as_u64().unwrap(),
                    e["code"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        codes_of("get_item"),
        [
            (423, "ITEM_LOCKED".to_owned()),
            (503, "STORE_CLOSED".to_owned()),
            (404, "ITEM_NOT_FOUND".to_owned()),
        ]
    );
    assert_eq!(
        codes_of("get_archived"),
        [
            (410, "ITEM_NOT_FOUND".to_owned()),
            (503, "STORE_CLOSED".to_owned())
        ]
    );
    assert_eq!(codes_of("ping"), []);
}

#[tokio::test]
async fn the_typed_client_has_a_variant_for_each_shared_code() {
    let base = crate::client::listen(shop().router()).await;
    let client = ShopClient::new(&base).unwrap();
    match client.get_item(0).await {
        Err(shop_client::GetItemError::StoreClosed(e)) => {
            assert_eq!(e.message, "the shop is closed for the night");
        }
        other => panic!("{other:?}"),
    }
    match client.get_item(1).await {
        Err(shop_client::GetItemError::ItemNotFound(e)) => assert_eq!(e.message, "no item 1"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        client.get_item(2).await,
        Err(shop_client::GetItemError::ItemLocked(_))
    ));
    // The archive's own `ITEM_NOT_FOUND` is a 410; a 404 would be unexpected there.
    match client.get_archived(1).await {
        Err(shop_client::GetArchivedError::ItemNotFound(e)) => {
            assert_eq!(e.message, "archived items are gone for good");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        client.get_archived(0).await,
        Err(shop_client::GetArchivedError::StoreClosed(_))
    ));
    assert_eq!(client.ping().await.unwrap(), shop::Item { id: 0 });
}

#[tokio::test]
async fn a_deprecated_plugin_deprecates_its_routes_and_a_hidden_one_is_in_no_document() {
    let app = app![
        ShopPlugin::new(),
        old::LegacyPlugin::new(),
        old::InternalPlugin::new()
    ];
    let c = TestClient::new(app.router());
    // Both are served.
    for path in ["/v1/plugins/legacy/answer", "/v1/plugins/internal/answer"] {
        assert_eq!(c.get(path).send().await.status(), 200, "{path}");
    }
    assert_eq!(
        c.get("/v1/plugins/internal/health").send().await.status(),
        200
    );

    let doc: Value = c.get("/openapi.json").send().await.json();
    for path in ["/v1/plugins/legacy/answer", "/v1/plugins/legacy/health"] {
        assert_eq!(doc["paths"][path]["get"]["deprecated"], true, "{path}");
    }
    assert!(doc["paths"]["/v1/plugins/shop/ping"]["get"]["deprecated"].is_null());
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert!(!paths.iter().any(|p| p.contains("/internal")), "{paths:?}");
    let tags: Vec<&str> = doc["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        tags.contains(&"legacy") && !tags.contains(&"internal"),
        "{tags:?}"
    );
    assert_eq!(c.get("/openapi/legacy.json").send().await.status(), 200);
    assert_eq!(c.get("/openapi/internal.json").send().await.status(), 404);
    assert!(
        !app.documents()
            .iter()
            .any(|(name, _)| name.contains("internal")),
    );

    let manifest = app.manifest();
    let plugin = |name: &str| -> Value {
        manifest["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()
            .clone()
    };
    assert!(
        plugin("legacy")["routes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["deprecated"] == true)
    );
    assert!(
        plugin("internal")["routes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["hidden"] == true)
    );
}
