use plugin_routes::prelude::*;

#[derive(Serialize, JsonSchema)]
struct Pair {
    left: String,
    right: String,
}

// One segment of the path cannot be read as two values.
#[plugin_route(method = "GET", path = "/pairs/{pair}", security(none))]
async fn handler(pair: (String, String)) -> RouteResult<Pair> {
    Ok(Pair { left: pair.0, right: pair.1 })
}

#[plugin(name = "demo", version = "1.0.0", routes(handler))]
pub struct DemoPlugin;

fn main() {
    let _app = plugins![DemoPlugin::new()];
}
