use plugin_routes::prelude::*;

#[derive(Serialize, JsonSchema)]
struct Item {
    name: String,
}

#[plugin_route(method = "GET", path = "/a", security(none), rate_limit(0, per = "1m"))]
async fn zero_quota() -> RouteResult<Item> {
    Ok(Item { name: String::new() })
}

#[plugin_route(method = "GET", path = "/b", security(none), rate_limit(50, per = "1w"))]
async fn unknown_unit() -> RouteResult<Item> {
    Ok(Item { name: String::new() })
}

#[plugin_route(method = "GET", path = "/c", security(none), rate_limit(50, per = "1m", key = "adress"))]
async fn unknown_key() -> RouteResult<Item> {
    Ok(Item { name: String::new() })
}

#[plugin_route(method = "GET", path = "/d", security(none), rate_limit(50, per = "1m", brust = 5))]
async fn unknown_option() -> RouteResult<Item> {
    Ok(Item { name: String::new() })
}

#[plugin_route(method = "GET", path = "/e", security(none), rate_limit(50))]
async fn no_window() -> RouteResult<Item> {
    Ok(Item { name: String::new() })
}

#[plugin_route(method = "GET", path = "/f", security(none), rate_limit(minute(5, per = "1m"), minute(9, per = "1m")))]
async fn policy_twice() -> RouteResult<Item> {
    Ok(Item { name: String::new() })
}

#[plugin(name = "demo", version = "1.0.0", routes(zero_quota, unknown_unit, unknown_key, unknown_option, no_window, policy_twice))]
pub struct DemoPlugin;

fn main() {
    let _app = plugins![DemoPlugin::new()];
}
