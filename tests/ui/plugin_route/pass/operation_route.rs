use plugin_routes::database::Database;
use plugin_routes::operations::{OperationSettings, Operations};
use plugin_routes::prelude::*;

#[derive(Serialize, Deserialize, JsonSchema, Validate)]
struct Ask {
    #[garde(range(max = 100))]
    lines: u32,
}

#[derive(Serialize, JsonSchema)]
struct Report {
    lines: u32,
}

/// A report, written after the request, its progress reported; safe to run again.
#[plugin_route(
    method = "POST",
    path = "/books/{book}/reports",
    security(none),
    operation(rerun),
    status = 201,
    errors(NO_BOOK = 404)
)]
async fn report(ctx: Ctx<()>, book: String, input: Ask) -> RouteResult<Report> {
    if book.is_empty() {
        return Err(route_error!(NO_BOOK));
    }
    ctx.progress(Some(0.5), "half way");
    Ok(Report { lines: input.lines })
}

#[plugin(name = "demo", version = "1.0.0", state = (), routes(report))]
pub struct DemoPlugin;

#[tokio::main]
async fn main() {
    let db = Database::connect("sqlite::memory:").await.unwrap();
    let operations = Operations::open(&db, OperationSettings::default()).await.unwrap();
    let config = ServerConfig::default().with_operations(&operations);
    let _app = plugins![config = config; DemoPlugin::new(())];
    let running = operations.start();
    running.stop(std::time::Duration::from_secs(1)).await;
}
