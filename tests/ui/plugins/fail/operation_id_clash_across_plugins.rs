use plugin_routes::prelude::*;

#[derive(Serialize, JsonSchema)]
struct Item {
    name: String,
}

#[plugin_route(method = "GET", path = "/items", operation_id = "listItems")]
async fn alpha_items() -> RouteResult<Item> {
    Ok(Item { name: String::new() })
}

#[plugin_route(method = "GET", path = "/things", operation_id = "listItems")]
async fn beta_things() -> RouteResult<Item> {
    Ok(Item { name: String::new() })
}

#[plugin(name = "alpha", version = "1.0.0", routes(alpha_items))]
pub struct AlphaPlugin;

#[plugin(name = "beta", version = "1.0.0", routes(beta_things))]
pub struct BetaPlugin;

fn main() {
    let _app = plugins![auth = plugin_routes::testing::RefuseAll; AlphaPlugin::new(), BetaPlugin::new()];
}
