use plugin_routes::prelude::*;

#[derive(Deserialize, Validate)]
struct CreateItem {
    #[garde(skip)]
    name: String,
}

#[plugin_route(method = "POST", path = "/items", status = 204)]
async fn handler(input: CreateItem) -> RouteResult<()> {
    let _ = input.name;
    Ok(())
}

#[plugin(name = "demo", version = "1.0.0", routes(handler))]
pub struct DemoPlugin;

fn main() {
    let _app = plugins![auth = plugin_routes::testing::RefuseAll; DemoPlugin::new()];
}
