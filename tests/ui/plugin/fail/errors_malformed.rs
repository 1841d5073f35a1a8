//! A malformed `errors(...)` on a plugin is reported alone: its routes returning the codes it
//! names are not reported as well.
use plugin_routes::prelude::*;

#[derive(Serialize, JsonSchema)]
struct Item {
    id: u32,
}

#[plugin_route(method = "GET", path = "/items/{id}", security(none))]
async fn get_item(id: u32) -> RouteResult<Item> {
    match id {
        0 => Err(route_error!(STORE_CLOSED)),
        _ => Err(route_error!(ITEM_GONE)),
    }
}

#[plugin(name = "shop", version = "1.0.0", errors(STORE_CLOSED = 503, ITEM_GONE), routes(get_item))]
pub struct ShopPlugin;

fn main() {
    let _app = plugins![ShopPlugin::new()];
}
