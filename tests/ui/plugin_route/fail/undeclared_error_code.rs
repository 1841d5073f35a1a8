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

#[plugin_route(method = "GET", path = "/items/{id}", errors(ITEM_NOT_FOUND = 404, ITEM_LOCKED = 423))]
async fn handler(id: i64) -> RouteResult<Item> {
    let _ = id;
    Err(route_error!(ITEM_NOT_FOUNDD, "no item {id}"))
}

#[plugin(name = "demo", version = "1.0.0", routes(handler))]
pub struct DemoPlugin;

fn main() {
    let _app = plugins![auth = plugin_routes::testing::RefuseAll; DemoPlugin::new()];
}
