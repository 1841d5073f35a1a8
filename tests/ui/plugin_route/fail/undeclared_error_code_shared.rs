//! A code declared by neither the route nor its plugin: rustc names it at the code, and suggests
//! the closest code the route may return (here, the plugin's).
use plugin_routes::prelude::*;

#[derive(Serialize, JsonSchema)]
struct Item {
    id: u32,
}

#[plugin_route(method = "GET", path = "/items/{id}", security(none), errors(ITEM_LOCKED = 423))]
async fn get_item(id: u32) -> RouteResult<Item> {
    Err(route_error!(STORE_CLOSD, "closed, item {id} too"))
}

#[plugin(name = "shop", version = "1.0.0", errors(STORE_CLOSED = 503), routes(get_item))]
pub struct ShopPlugin;

fn main() {
    let _app = plugins![ShopPlugin::new()];
}
