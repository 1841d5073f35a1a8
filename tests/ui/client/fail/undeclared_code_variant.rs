use plugin_routes::prelude::*;

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Item {
    pub id: i64,
}

#[plugin_route(method = "GET", path = "/items/{id}", security(none), errors(ITEM_NOT_FOUND = 404))]
async fn get_item(id: i64) -> RouteResult<Item> {
    Err(route_error!(ITEM_NOT_FOUND, "no item {id}"))
}

#[plugin(name = "demo", version = "1.0.0", client = DemoClient, routes(get_item))]
pub struct DemoPlugin;

async fn call(client: &DemoClient) {
    match client.get_item(7).await {
        Ok(item) => println!("{}", item.id),
        Err(demo_client::GetItemError::ItemNotFound(e)) => println!("{}", e.message),
        Err(demo_client::GetItemError::ItemGone(e)) => println!("{}", e.message),
        Err(_) => {}
    }
}

fn main() {
    let _app = plugins![DemoPlugin::new()];
    let _ = call;
}
