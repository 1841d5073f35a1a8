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

#[plugin_route(method = "GET", path = "/items/{id}")]
async fn get_item(id: i64) -> RouteResult<Item> {
    let _ = id;
    Ok(Item { name: String::new() })
}

#[plugin_route(method = "DELETE", path = "/items/{key}", status = 204)]
async fn delete_item(key: i64) -> RouteResult<()> {
    let _ = key;
    Ok(())
}

#[plugin(name = "demo", version = "1.0.0", routes(get_item, delete_item))]
pub struct DemoPlugin;

fn main() {
    let _app = plugins![auth = plugin_routes::testing::RefuseAll; DemoPlugin::new()];
}
