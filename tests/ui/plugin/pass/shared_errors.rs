//! A plugin's `errors(...)`, shared by routes in its module and in another, with a route
//! declaring its own beside them, replacing one, and leaving one out.
use plugin_routes::prelude::*;

#[derive(Serialize, JsonSchema)]
struct Item {
    id: u32,
}

mod routes {
    use super::Item;
    use plugin_routes::prelude::*;

    #[plugin_route(method = "GET", path = "/items/{id}", security(none), errors(ITEM_LOCKED = 423))]
    pub(crate) async fn get_item(id: u32) -> RouteResult<Item> {
        match id {
            0 => Err(route_error!(STORE_CLOSED)),
            1 => Err(route_error!(ITEM_NOT_FOUND, "no item {id}")),
            2 => Err(route_error!(ITEM_LOCKED)),
            _ => Ok(Item { id }),
        }
    }
}

#[plugin_route(method = "GET", path = "/archive/{id}", security(none), errors(ITEM_NOT_FOUND = 410))]
async fn get_archived(id: u32) -> RouteResult<Item> {
    match id {
        0 => Err(route_error!(STORE_CLOSED)),
        _ => Err(route_error!(ITEM_NOT_FOUND)),
    }
}

#[plugin_route(method = "GET", path = "/ping", security(none), errors(STORE_CLOSED = none))]
async fn ping() -> RouteResult<Item> {
    Err(route_error!(ITEM_NOT_FOUND))
}

#[plugin(
    name = "shop",
    version = "1.0.0",
    errors(STORE_CLOSED = 503, ITEM_NOT_FOUND = (404, "no such item")),
    routes(routes::get_item, get_archived, ping)
)]
pub struct ShopPlugin;

fn main() {
    let _app = plugins![ShopPlugin::new()];
}
