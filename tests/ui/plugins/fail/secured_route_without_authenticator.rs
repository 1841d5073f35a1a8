use plugin_routes::prelude::*;

#[derive(Serialize, JsonSchema)]
struct Item {
    name: String,
}

// No `security(...)` here or on the plugin: the server's default, `security(user, token)`.
#[plugin_route(method = "GET", path = "/items")]
async fn list_items() -> RouteResult<Vec<Item>> {
    Ok(Vec::new())
}

#[plugin(name = "demo", version = "1.0.0", routes(list_items))]
pub struct DemoPlugin;

fn main() {
    // Nothing could check a credential: the route would answer 401 to everyone.
    let _app = plugins![DemoPlugin::new()];
}
