//! A plugin without state has `new()`; one with state also has `from_arc`.
use plugin_routes::prelude::*;
use std::sync::Arc;

#[plugin_route(method = "POST", path = "/ping", status = 204)]
async fn ping() -> RouteResult<()> {
    Ok(())
}

#[plugin(name = "pinger", version = "0.1.0", routes(ping))]
pub struct PingPlugin;

pub struct Counter;

#[plugin_route(method = "GET", path = "/", status = 204)]
async fn root(ctx: Ctx<Counter>) -> RouteResult<()> {
    let _: &Counter = &ctx;
    Ok(())
}

#[plugin(name = "counter", version = "1.0.0", state = Counter, routes(root))]
pub struct CounterPlugin;

fn main() {
    let _ = plugins![auth = plugin_routes::testing::RefuseAll; PingPlugin::new(), CounterPlugin::from_arc(Arc::new(Counter))];
    assert_eq!(<CounterPlugin as Plugin>::META.base_path, "/v1/plugins/counter");
}
