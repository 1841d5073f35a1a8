use plugin_routes::prelude::*;


#[derive(Deserialize, JsonSchema, Validate)]
struct CreateItem {
    #[garde(length(min = 1))]
    name: String,
}

#[derive(Serialize, JsonSchema)]
struct Item {
    name: String,
}

#[plugin_route(method = "GET", path = "/items")]
async fn alpha_route() -> RouteResult<Item> {
    Ok(Item { name: String::new() })
}

#[plugin_route(method = "GET", path = "/other")]
async fn beta_route() -> RouteResult<Item> {
    Ok(Item { name: String::new() })
}

#[plugin(name = "alpha", version = "1.0.0", base_path = "/v1/plugins/shared", routes(alpha_route))]
pub struct AlphaPlugin;

#[plugin(name = "beta", version = "1.0.0", base_path = "/v1/plugins/shared", routes(beta_route))]
pub struct BetaPlugin;

fn main() {
    let _app = plugins![auth = plugin_routes::testing::RefuseAll; AlphaPlugin::new(), BetaPlugin::new()];
}
