use plugin_routes::prelude::*;

#[plugin_route(crate = "no_such_crate::plugin_routes", method = "GET", path = "/ping", security(none))]
async fn ping() -> RouteResult<String> {
    Ok("pong".into())
}

#[plugin(name = "demo", version = "1.0.0", routes(ping))]
pub struct DemoPlugin;

fn main() {
    let _app = plugins![DemoPlugin::new()];
}
