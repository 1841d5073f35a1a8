use plugin_routes::prelude::*;

#[derive(Serialize, JsonSchema)]
struct Item {
    name: String,
}

#[plugin_route(method = "POST", path = "/items", permissions(shell))]
async fn handler() -> RouteResult<Item> {
    Ok(Item { name: String::new() })
}

#[plugin(name = "demo", version = "1.0.0", routes(handler))]
pub struct DemoPlugin;

fn main() {
    let _app = plugins![auth = plugin_routes::testing::RefuseAll; DemoPlugin::new()];
}
