//! A plugin on the core alone, its `security(...)` and `scopes(...)` enforced by an
//! authenticator of its own: answered over the in-process client.

use plugin_routes::auth::{Authentication, Authenticator, Refusal, Requirement, Scheme};
use plugin_routes::prelude::*;
use plugin_routes::testing::TestClient;

struct ApiKeys;

impl Authenticator for ApiKeys {
    fn schemes(&self) -> Vec<Scheme> {
        vec![Scheme::header("key", "x-key").describe("A reader's key.")]
    }

    fn authenticate<'a>(&'a self, req: &'a axum::http::request::Parts, _: Requirement) -> Authentication<'a> {
        match req.headers.get("x-key").map(|v| v.as_bytes()) {
            Some(b"reader") => Authentication::admit(Principal::new("r", None, "key", vec!["notes:read".into()])),
            _ => Authentication::refuse(Refusal::unauthorized("send x-key")),
        }
    }
}

#[derive(Serialize, JsonSchema)]
struct Note {
    text: String,
}

#[plugin_route(method = "GET", path = "/notes", scopes("notes:read"))]
async fn notes(ctx: Ctx<()>) -> RouteResult<Vec<Note>> {
    Ok(vec![Note { text: format!("for {}", ctx.caller()?.user_id()) }])
}

#[plugin_route(method = "DELETE", path = "/notes", status = 204, scopes("notes:write"))]
async fn clear() -> RouteResult<()> {
    Ok(())
}

#[plugin(name = "notes", version = "1.0.0", security(key), routes(notes, clear))]
pub struct NotesPlugin;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let c = TestClient::new(plugins![auth = ApiKeys; NotesPlugin::new()]);
    assert_eq!(c.get("/v1/plugins/notes/notes").send().await.status(), 401);
    let ok = c.get("/v1/plugins/notes/notes").header("x-key", "reader").send().await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.json::<serde_json::Value>()[0]["text"], "for r");
    let denied = c.delete("/v1/plugins/notes/notes").header("x-key", "reader").send().await;
    assert_eq!(denied.status(), 403);
    // The documents say who may call.
    let doc = c.get("/openapi.json").send().await.json::<serde_json::Value>();
    assert_eq!(doc["paths"]["/v1/plugins/notes/notes"]["get"]["security"], serde_json::json!([{"key": ["notes:read"]}]));
    assert_eq!(doc["components"]["securitySchemes"]["key"]["in"], "header");
    // No Swagger UI without its feature.
    assert_eq!(c.get("/docs/").send().await.status(), 404);
}
