//! `CODE = none` leaves a plugin's code out of one route; on the plugin itself it means nothing.
//! The routes returning the plugin's codes are not reported as well.
use plugin_routes::prelude::*;

#[derive(Serialize, JsonSchema)]
struct Item {
    id: u32,
}

#[plugin_route(method = "GET", path = "/items/{id}", security(none))]
async fn get_item(id: u32) -> RouteResult<Item> {
    match id {
        0 => Err(route_error!(STORE_CLOSED)),
        _ => Err(route_error!(ITEM_NOT_FOUND)),
    }
}

#[plugin(
    name = "shop",
    version = "1.0.0",
    errors(STORE_CLOSED = 503, ITEM_NOT_FOUND = none),
    routes(get_item)
)]
pub struct ShopPlugin;

fn main() {
    let _app = plugins![ShopPlugin::new()];
}
