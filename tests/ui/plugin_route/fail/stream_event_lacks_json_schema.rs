use plugin_routes::EventStream;
use plugin_routes::prelude::*;

#[derive(Serialize)]
struct Tick {
    n: u32,
}

#[plugin_route(method = "GET", path = "/ticks", security(none))]
async fn ticks() -> RouteResult<EventStream<Tick>> {
    Ok(EventStream::new(futures_util::stream::empty()))
}

#[plugin(name = "demo", version = "1.0.0", routes(ticks))]
pub struct DemoPlugin;

fn main() {
    let _app = plugins![DemoPlugin::new()];
}
