use plugin_routes::prelude::*;

#[derive(Serialize, JsonSchema)]
struct Item {
    name: String,
}

// `id` is the path's parameter: an extractor cannot take its name.
#[plugin_route(method = "GET", path = "/items/{id}", security(none))]
async fn handler(#[extract] id: axum::http::HeaderMap) -> RouteResult<Item> {
    Ok(Item { name: format!("{}", id.len()) })
}

#[plugin(name = "demo", version = "1.0.0", routes(handler))]
pub struct DemoPlugin;

fn main() {
    let _app = plugins![DemoPlugin::new()];
}
