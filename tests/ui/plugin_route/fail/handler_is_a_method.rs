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

struct Service;

impl Service {
    #[plugin_route(method = "GET", path = "/items")]
    async fn handler(&self) -> RouteResult<Item> {
        Ok(Item { name: String::new() })
    }
}

fn main() {}
