use plugin_routes::prelude::*;

struct Store;

#[derive(Serialize, JsonSchema)]
struct Count {
    n: u32,
}

#[plugin_route(method = "GET", path = "/count", security(none))]
async fn count(_ctx: Ctx<Store>) -> RouteResult<Count> {
    Ok(Count { n: 0 })
}

// `pub` plugin, private state: reported at `Store`, where the fix (make one as visible as the
// other) applies.
#[plugin(name = "counter", version = "1.0.0", state = Store, routes(count))]
pub struct Counter;

fn main() {}
