//! A crate that wraps `plugin-routes` and re-exports it under another path: `crate = "..."`
//! tells each macro where to find it.

mod framework {
    pub use plugin_routes as runtime;
}

use framework::runtime::prelude::*;

#[derive(Serialize, JsonSchema)]
struct Pong {
    n: u32,
}

#[derive(Deserialize, JsonSchema, Validate)]
struct Ping {
    #[garde(range(max = 10))]
    n: u32,
}

#[plugin_route(crate = "crate::framework::runtime", method = "POST", path = "/ping/{id}", errors(TOO_MANY = 429), security(none))]
async fn ping(id: u32, input: Ping) -> RouteResult<Pong> {
    if input.n == 10 {
        return Err(route_error!(TOO_MANY));
    }
    Ok(Pong { n: input.n + id })
}

#[plugin(crate = "crate::framework::runtime", name = "pinger", version = "1.0.0", routes(ping))]
pub struct PingerPlugin;

fn main() {
    let _app: axum::Router = plugins![crate = "crate::framework::runtime"; PingerPlugin::new()];
}
