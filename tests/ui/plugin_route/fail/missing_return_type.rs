use plugin_routes::prelude::*;


#[derive(Deserialize, JsonSchema, Validate)]
struct CreateItem {
    #[garde(length(min = 1))]
    name: String,
}

#[derive(Serialize, JsonSchema)]
struct Item {
    name: String,
}

#[plugin_route(method = "POST", path = "/items", status = 204)]
async fn handler() {
    
}

#[plugin(name = "demo", version = "1.0.0", routes(handler))]
pub struct DemoPlugin;

fn main() {
    let _app = plugins![auth = plugin_routes::testing::RefuseAll; DemoPlugin::new()];
}
