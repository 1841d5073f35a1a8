use plugin_routes::prelude::*;

#[derive(Deserialize, JsonSchema, Validate)]
struct Ask {
    #[garde(skip)]
    lines: u32,
}

#[derive(Serialize, JsonSchema)]
struct Report {
    lines: u32,
}

#[plugin_route(method = "POST", path = "/reports", security(none), operation)]
async fn report(input: Ask) -> RouteResult<Report> {
    Ok(Report { lines: input.lines })
}

#[plugin(name = "demo", version = "1.0.0", routes(report))]
pub struct DemoPlugin;

fn main() {
    let _app = plugins![DemoPlugin::new()];
}
