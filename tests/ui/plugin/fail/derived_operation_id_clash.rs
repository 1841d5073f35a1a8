use plugin_routes::prelude::*;

#[derive(Serialize, JsonSchema)]
pub struct Item {
    name: String,
}

mod users {
    use super::*;

    #[plugin_route(method = "GET", path = "/users")]
    pub async fn list() -> RouteResult<Item> {
        Ok(Item { name: String::new() })
    }
}

mod groups {
    use super::*;

    #[plugin_route(method = "GET", path = "/groups")]
    pub async fn list() -> RouteResult<Item> {
        Ok(Item { name: String::new() })
    }
}

// Both default to the operation id `demo_list`.
#[plugin(name = "demo", version = "1.0.0", routes(users::list, groups::list))]
pub struct DemoPlugin;

fn main() {
    let _app = plugins![auth = plugin_routes::testing::RefuseAll; DemoPlugin::new()];
}
