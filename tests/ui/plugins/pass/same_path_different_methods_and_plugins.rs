//! Routes may share a path across methods, and plugins may sit side by side under one prefix.
use plugin_routes::prelude::*;

#[plugin_route(method = "GET", path = "/items/{id}", status = 204)]
async fn get_item(id: i64) -> RouteResult<()> {
    let _ = id;
    Ok(())
}

#[plugin_route(method = "DELETE", path = "/items/{id}", status = 204)]
async fn delete_item(id: i64) -> RouteResult<()> {
    let _ = id;
    Ok(())
}

#[plugin_route(method = "GET", path = "/items/new", status = 204)]
async fn new_item_form() -> RouteResult<()> {
    Ok(())
}

#[plugin(name = "alpha", version = "1.0.0", routes(get_item, delete_item, new_item_form))]
pub struct AlphaPlugin;

#[plugin_route(method = "GET", path = "/items/{id}", status = 204)]
async fn beta_item(id: i64) -> RouteResult<()> {
    let _ = id;
    Ok(())
}

#[plugin(name = "beta", version = "1.0.0", routes(beta_item))]
pub struct BetaPlugin;

fn main() {
    let _ = plugins![auth = plugin_routes::testing::RefuseAll; AlphaPlugin::new(), BetaPlugin::new()];
}
