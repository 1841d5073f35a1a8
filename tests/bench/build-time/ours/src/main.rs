//! Two routes, `POST /items` (a validated JSON body, `201`, a declared `409`) and
//! `GET /items/{id}` (a typed path parameter, a declared `404`), documented at `/openapi.json`.

use plugin_routes::prelude::*;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
struct Store {
    items: Mutex<HashMap<u64, Item>>,
}

#[derive(Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
struct CreateItem {
    /// The item's name.
    #[garde(length(chars, min = 1, max = 100))]
    name: String,
    /// How many there are.
    #[garde(range(min = 0, max = 1000))]
    count: u32,
}

#[derive(Clone, Serialize, JsonSchema)]
struct Item {
    id: u64,
    name: String,
    count: u32,
}

/// Create an item.
#[plugin_route(method = "POST", path = "/items", status = 201, errors(ITEM_EXISTS = 409))]
async fn create_item(ctx: Ctx<Store>, input: CreateItem) -> RouteResult<Item> {
    let mut items = ctx.items.lock().unwrap_or_else(|e| e.into_inner());
    if items.values().any(|i| i.name == input.name) {
        return Err(route_error!(ITEM_EXISTS, "an item named {:?} exists", input.name));
    }
    let item = Item { id: items.len() as u64 + 1, name: input.name, count: input.count };
    items.insert(item.id, item.clone());
    Ok(item)
}

/// Get one item.
#[plugin_route(method = "GET", path = "/items/{id}", errors(ITEM_NOT_FOUND = 404))]
async fn get_item(ctx: Ctx<Store>, id: u64) -> RouteResult<Item> {
    let items = ctx.items.lock().unwrap_or_else(|e| e.into_inner());
    items.get(&id).cloned().ok_or_else(|| route_error!(ITEM_NOT_FOUND, "no item has id {id}"))
}

#[plugin(name = "items", version = "1.0.0", state = Store, security(none), routes(create_item, get_item))]
struct Items;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let app: axum::Router = plugins![Items::new(Store::default())];
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await
}
