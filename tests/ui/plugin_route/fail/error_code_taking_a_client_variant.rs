//! Each code is a variant of the route's error enum in the typed client, beside `Unexpected`
//! and `Transport`: a code that would be one of those is refused where it is declared.
use plugin_routes::prelude::*;

#[derive(Serialize, JsonSchema)]
struct Item {
    id: u32,
}

#[plugin_route(method = "GET", path = "/items", errors(UNEXPECTED = 500))]
async fn handler() -> RouteResult<Item> {
    Ok(Item { id: 0 })
}

#[plugin(name = "demo", version = "1.0.0", security(none), routes(handler))]
pub struct DemoPlugin;

fn main() {
    let _app = plugins![DemoPlugin::new()];
}
