use plugin_routes::prelude::*;

#[derive(Serialize, JsonSchema)]
struct Report {
    lines: u32,
}

/// Writes a report.
#[plugin_route(method = "POST", path = "/reports", security(none), operation)]
async fn write_report() -> RouteResult<Report> {
    Ok(Report { lines: 1 })
}

/// Writes it again.
#[plugin_route(method = "PUT", path = "/reports", security(none), operation)]
async fn rewrite_report() -> RouteResult<Report> {
    Ok(Report { lines: 2 })
}

#[plugin(name = "demo", version = "1.0.0", routes(write_report, rewrite_report))]
pub struct DemoPlugin;

fn main() {}
