use plugin_routes::prelude::*;

#[plugin_route(method = "GET", path = "/x")]
async fn handler() -> RouteResult<String> {
    Ok(String::new())
}

#[plugin(
    name = "demo",
    version = "1.0.0",
    permissions(git, shell("git push origin"), fs(read("/a/../b")), net("{Remote}")),
    routes(handler)
)]
pub struct DemoPlugin;

fn main() {
    let _app = plugins![auth = plugin_routes::testing::RefuseAll; DemoPlugin::new()];
}
