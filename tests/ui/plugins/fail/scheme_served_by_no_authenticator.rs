//! A route naming a scheme of the host's own (`team`, say, a gateway's header) in an app given
//! no authenticator: nothing could serve it, so it does not compile, naming the route and the
//! scheme. (With an authenticator that serves other schemes, the server refuses to start,
//! naming them: `tests/tests/custom_auth.rs`.)
use plugin_routes::prelude::*;

#[derive(Serialize, JsonSchema)]
struct Note {
    text: String,
}

#[plugin_route(method = "GET", path = "/notes", security(team))]
async fn list_notes() -> RouteResult<Vec<Note>> {
    Ok(Vec::new())
}

#[plugin(name = "notes", version = "1.0.0", routes(list_notes))]
pub struct NotesPlugin;

fn main() {
    let _app = plugins![NotesPlugin::new()];
}
