//! A team's own service, as it adopts a plugin: its company gateway signs users in and forwards
//! `x-user-id` and `x-scopes`, its API lives under `/api/v1/plugin/<name>`, and it already has
//! routes of its own. Nothing of the built-in store is used or promised.

use plugin_routes::auth::{Authentication, Authenticator, Refusal, Requirement, Scheme};
use plugin_routes::prelude::*;
use plugin_routes::{App, Security, ServerConfig, app};
use std::sync::Mutex;

/// Where this host serves its plugins.
pub const PREFIX: &str = "/api/v1/plugin";

/// What the documents say of the gateway's scheme.
pub const GATEWAY_WORDS: &str = "The user the company gateway signed in, with `x-scopes` (space-separated); set by the gateway, never by browsers.";

/// The company gateway: it has authenticated the user already; this trusts its headers.
#[derive(Debug)]
pub struct Gateway;

impl Authenticator for Gateway {
    fn schemes(&self) -> Vec<Scheme> {
        vec![Scheme::header("gateway", "x-user-id").describe(GATEWAY_WORDS)]
    }

    fn authenticate<'a>(
        &'a self,
        request: &'a axum::http::request::Parts,
        _: Requirement,
    ) -> Authentication<'a> {
        let header = |name| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
        };
        match header("x-user-id") {
            Some(user) => {
                let scopes = header("x-scopes")
                    .unwrap_or_default()
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                Authentication::admit(Principal::new(user, None, "gateway", scopes))
            }
            None => Authentication::refuse(Refusal::unauthorized(
                "come through the company gateway (it sets `x-user-id`)",
            )),
        }
    }
}

/// A note.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Note {
    /// Its title, unique per user.
    pub title: String,
    /// Who wrote it.
    pub author: String,
}

/// A note to write.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    /// 1 to 80 characters.
    #[garde(length(chars, min = 1, max = 80))]
    pub title: String,
}

/// The notes, in memory.
#[derive(Debug, Default)]
pub struct Notes {
    notes: Mutex<Vec<Note>>,
}

/// Your notes.
#[plugin_route(method = "GET", path = "/notes")]
async fn list_notes(ctx: Ctx<Notes>) -> RouteResult<Vec<Note>> {
    let me = ctx.caller()?.user_id().to_owned();
    let notes = ctx
        .notes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok(notes.iter().filter(|n| n.author == me).cloned().collect())
}

/// Write a note.
#[plugin_route(
    method = "POST",
    path = "/notes",
    status = 201,
    scopes("notes:write"),
    errors(NOTE_EXISTS = (409, "you have a note with this title"))
)]
async fn create_note(ctx: Ctx<Notes>, input: NewNote) -> RouteResult<Note> {
    let author = ctx.caller()?.user_id().to_owned();
    let mut notes = ctx
        .notes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if notes
        .iter()
        .any(|n| n.author == author && n.title == input.title)
    {
        return Err(route_error!(NOTE_EXISTS));
    }
    let note = Note {
        title: input.title,
        author,
    };
    notes.push(note.clone());
    Ok(note)
}

/// Notes, for the team.
#[plugin(
    name = "notes",
    version = "1.0.0",
    state = Notes,
    scopes("notes:read"),
    client = NotesClient,
    routes(list_notes, create_note)
)]
pub struct NotesPlugin;

/// The host's settings: its gateway's scheme for every route, its own prefix.
pub fn config() -> ServerConfig {
    ServerConfig::default()
        .with_api_info("Team service", "3.1.0")
        .with_default_security(Security::of(&["gateway"]))
        .with_plugin_prefix(PREFIX)
}

/// The assembled app: the router to serve, and the documents it serves.
pub fn assembled() -> App {
    app![config = config(); auth = Gateway; NotesPlugin::new(Notes::default())]
}

/// What the host serves: the app, and a route of its own beside it (not in the documents).
pub fn router(app: &App) -> axum::Router {
    app.router()
        .route("/status", axum::routing::get(|| async { "up" }))
}
