use plugin_routes::prelude::*;

#[plugin_route(method = "GET", path = "/x", security(none))]
async fn handler() -> RouteResult<String> {
    Ok(String::new())
}

async fn stop(_: &()) {}

#[derive(serde::Deserialize, garde::Validate, schemars::JsonSchema)]
pub struct DemoConfig {
    #[garde(skip)]
    name: String,
}

// `config` without a start hook to build the state from it, `stop` without `start`, and a prefix
// that cannot start variable names.
#[plugin(
    name = "demo",
    version = "1.0.0",
    config = DemoConfig,
    config_env = "demo-",
    stop = stop,
    routes(handler)
)]
pub struct DemoPlugin;

// `config_env` without a configuration.
#[plugin(name = "other", version = "1.0.0", config_env = "OTHER_", routes())]
pub struct OtherPlugin;

fn main() {}
