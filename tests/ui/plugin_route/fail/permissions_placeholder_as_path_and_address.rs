use plugin_routes::prelude::*;

// `{remote}` cannot be both where files are written and where connections go.
#[plugin_route(
    method = "POST",
    path = "/push",
    security(none),
    permissions(git, net("{remote}"), fs(write("{remote}/objects")))
)]
async fn push() -> RouteResult<String> {
    Ok(String::new())
}

#[plugin(name = "demo", version = "1.0.0", routes(push))]
pub struct DemoPlugin;

fn main() {}
