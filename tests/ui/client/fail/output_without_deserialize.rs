use plugin_routes::prelude::*;

// `Serialize` alone serves the route; the client must also read it back.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Item {
    pub id: i64,
}

#[plugin_route(method = "GET", path = "/items/{id}", security(none))]
async fn get_item(id: i64) -> RouteResult<Item> {
    Ok(Item { id })
}

#[plugin(name = "demo", version = "1.0.0", client = DemoClient, routes(get_item))]
pub struct DemoPlugin;

fn main() {
    let _app = plugins![DemoPlugin::new()];
}
