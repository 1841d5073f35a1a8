use plugin_routes::prelude::*;

#[derive(Serialize, JsonSchema)]
struct Report {
    lines: u32,
}

#[plugin_route(method = "GET", path = "/report", security(none), operation)]
async fn report() -> RouteResult<Report> {
    Ok(Report { lines: 0 })
}

#[plugin(name = "demo", version = "1.0.0", routes(report))]
pub struct DemoPlugin;

fn main() {
    let _app = plugins![DemoPlugin::new()];
}
