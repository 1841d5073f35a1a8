//! A route leaving out a code its plugin does not declare: a mistake (a misspelt code, or one the
//! plugin no longer shares) that would otherwise go unnoticed.
use plugin_routes::prelude::*;

#[derive(Serialize, JsonSchema)]
struct Item {
    id: u32,
}

#[plugin_route(method = "GET", path = "/ping", security(none), errors(STORE_CLOSD = none))]
async fn ping() -> RouteResult<Item> {
    Ok(Item { id: 0 })
}

#[plugin(name = "shop", version = "1.0.0", errors(STORE_CLOSED = 503), routes(ping))]
pub struct ShopPlugin;

fn main() {
    let _app = plugins![ShopPlugin::new()];
}
