//! A plugin's shared codes become its routes' own: a route of such a plugin cannot also be
//! listed by another, which would serve codes its documents never mention.
use plugin_routes::prelude::*;

#[derive(Serialize, JsonSchema)]
struct Item {
    id: u32,
}

#[plugin_route(method = "GET", path = "/ping", security(none))]
async fn ping() -> RouteResult<Item> {
    Err(route_error!(STORE_CLOSED))
}

#[plugin(name = "shop", version = "1.0.0", errors(STORE_CLOSED = 503), routes(ping))]
pub struct ShopPlugin;

#[plugin(name = "mirror", version = "1.0.0", routes(ping))]
pub struct MirrorPlugin;

fn main() {
    let _app = plugins![ShopPlugin::new(), MirrorPlugin::new()];
}
