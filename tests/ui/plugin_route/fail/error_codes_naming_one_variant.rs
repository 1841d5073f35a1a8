//! `ITEM_2` and `ITEM2` are two codes but would be one variant, `Item2`, of the typed client's
//! error enum.
use plugin_routes::prelude::*;

#[derive(Serialize, JsonSchema)]
struct Item {
    id: u32,
}

#[plugin_route(method = "GET", path = "/items", errors(ITEM_2 = 404, ITEM2 = 409))]
async fn handler() -> RouteResult<Item> {
    Ok(Item { id: 0 })
}

#[plugin(name = "demo", version = "1.0.0", security(none), routes(handler))]
pub struct DemoPlugin;

fn main() {
    let _app = plugins![DemoPlugin::new()];
}
