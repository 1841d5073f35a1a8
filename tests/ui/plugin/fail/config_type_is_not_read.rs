use plugin_routes::prelude::*;
use plugin_routes::Starting;

#[plugin_route(method = "GET", path = "/x", security(none))]
async fn handler() -> RouteResult<String> {
    Ok(String::new())
}

// Checked with garde and described with schemars, but not read with serde.
#[derive(Validate, JsonSchema)]
pub struct Settings {
    #[garde(length(min = 1))]
    pub name: String,
}

async fn start(_: Settings, _: &mut Starting<'_>) -> Result<(), String> {
    Ok(())
}

#[plugin(name = "demo", version = "1.0.0", config = Settings, start = start, routes(handler))]
pub struct DemoPlugin;

fn main() {}
