use plugin_routes::EventStream;
use plugin_routes::prelude::*;

#[derive(Serialize, JsonSchema)]
struct Tick {
    n: u32,
}

/// Count to three.
#[plugin_route(method = "GET", path = "/ticks", timeout_ms = 5_000, security(none))]
async fn ticks() -> RouteResult<EventStream<Tick>> {
    let items = (1..=3).map(|n| Ok(Tick { n }));
    Ok(EventStream::new(futures_util::stream::iter(items)))
}

#[plugin(name = "demo", version = "1.0.0", routes(ticks))]
pub struct DemoPlugin;

fn main() {
    let _app = plugins![DemoPlugin::new()];
}
