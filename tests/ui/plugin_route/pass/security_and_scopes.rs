//! Security declared on a plugin and overridden by its routes; the resolved values reach the
//! metadata the server enforces and documents.
use plugin_routes::prelude::*;
use plugin_routes::{Security, ServerConfig};

#[derive(Serialize, JsonSchema)]
struct Item {
    name: String,
}

/// Inherits the plugin's `security(user, oauth)` and `scopes("items:read")`.
#[plugin_route(method = "GET", path = "/items")]
async fn list() -> RouteResult<Item> {
    Ok(Item { name: String::new() })
}

/// Keys only, and scopes of its own.
#[plugin_route(
    method = "POST",
    path = "/items",
    security(token),
    scopes("items:write", "audit.log:append")
)]
async fn create() -> RouteResult<Item> {
    Ok(Item { name: String::new() })
}

/// Public.
#[plugin_route(method = "GET", path = "/status", security(none))]
async fn status() -> RouteResult<Item> {
    Ok(Item { name: String::new() })
}

#[plugin(
    name = "demo",
    version = "1.0.0",
    security(user, oauth),
    scopes("items:read"),
    routes(list, create, status)
)]
pub struct DemoPlugin;

/// Declares nothing: the server's default applies.
#[plugin_route(method = "GET", path = "/plain")]
async fn plain() -> RouteResult<Item> {
    Ok(Item { name: String::new() })
}

#[plugin(name = "other", version = "1.0.0", routes(plain))]
pub struct OtherPlugin;

fn main() {
    let _app = plugins![auth = plugin_routes::testing::RefuseAll; DemoPlugin::new(), OtherPlugin::new()];
    let config = ServerConfig::default();
    let meta = <DemoPlugin as Plugin>::META;
    let resolved: Vec<_> = meta
        .routes
        .iter()
        .map(|r| config.security_for(meta, r))
        .collect();
    assert_eq!(
        resolved[0],
        (Security::of(&["user", "oauth"]), &["items:read"][..])
    );
    assert_eq!(
        resolved[1],
        (
            Security::of(&["token"]),
            &["items:write", "audit.log:append"][..]
        )
    );
    assert_eq!(resolved[2], (Security::NONE, &[][..]));
    let other = <OtherPlugin as Plugin>::META;
    assert_eq!(
        config.security_for(other, other.routes[0]),
        (Security::DEFAULT, &[][..])
    );
}
