use plugin_routes::prelude::*;

#[derive(Serialize, JsonSchema)]
struct Report {
    lines: u32,
}

#[plugin_route(method = "POST", path = "/reports", security(none), operation)]
async fn report(#[extract] headers: axum::http::HeaderMap) -> RouteResult<Report> {
    Ok(Report { lines: headers.len() as u32 })
}

#[plugin(name = "demo", version = "1.0.0", routes(report))]
pub struct DemoPlugin;

fn main() {
    let _app = plugins![DemoPlugin::new()];
}
