use plugin_runtime::prelude::*;

#[plugin_route(crate = "no_such_crate::plugin_runtime", method = "GET", path = "/ping", security(none))]
async fn ping() -> RouteResult<String> {
    Ok("pong".into())
}

#[plugin(name = "demo", version = "1.0.0", routes(ping))]
pub struct DemoPlugin;

fn main() {
    let _app = plugins![DemoPlugin::new()];
}
