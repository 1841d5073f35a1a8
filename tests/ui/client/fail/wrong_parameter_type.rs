use plugin_routes::prelude::*;

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Item {
    pub id: i64,
}

#[plugin_route(method = "GET", path = "/items/{id}", security(none))]
async fn get_item(id: i64) -> RouteResult<Item> {
    Ok(Item { id })
}

#[plugin(name = "demo", version = "1.0.0", client = DemoClient, routes(get_item))]
pub struct DemoPlugin;

async fn call(client: &DemoClient) {
    let _ = client.get_item("7").await;
}

fn main() {
    let _app = plugins![DemoPlugin::new()];
    let _ = call;
}
