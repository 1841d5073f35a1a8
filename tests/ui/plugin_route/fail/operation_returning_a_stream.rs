use plugin_routes::prelude::*;
use plugin_routes::EventStream;

#[derive(Serialize, JsonSchema)]
struct Line {
    text: String,
}

#[plugin_route(method = "POST", path = "/reports", security(none), operation)]
async fn report() -> RouteResult<EventStream<Line>> {
    Ok(EventStream::new(futures_util::stream::empty()))
}

#[plugin(name = "demo", version = "1.0.0", routes(report))]
pub struct DemoPlugin;

fn main() {
    let _app = plugins![DemoPlugin::new()];
}
