//! One handler under two plugins with other security or limits: allowed while neither shares
//! error codes.
use plugin_routes::prelude::*;

#[derive(Serialize, JsonSchema)]
struct Item {
    id: u32,
}

#[plugin_route(method = "GET", path = "/items/{id}", errors(ITEM_NOT_FOUND = 404))]
async fn get_item(id: u32) -> RouteResult<Item> {
    if id == 0 {
        return Err(route_error!(ITEM_NOT_FOUND));
    }
    Ok(Item { id })
}

#[plugin(name = "open", version = "1.0.0", security(none), routes(get_item))]
pub struct OpenPlugin;

#[plugin(name = "limited", version = "1.0.0", security(none), rate_limit(10, per = "1s"), routes(get_item))]
pub struct LimitedPlugin;

fn main() {
    let _app = plugins![OpenPlugin::new(), LimitedPlugin::new()];
}
