//! A client for routes with a body, a query, path parameters, no content and a stream; a plugin
//! without `client = ...` gets none, and its types need no `Deserialize`.
use plugin_routes::EventStream;
use plugin_routes::prelude::*;

#[derive(Debug, Serialize, Deserialize, JsonSchema, Validate)]
pub struct NewNote {
    #[garde(length(min = 1, max = 10))]
    pub text: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema, Validate)]
pub struct Search {
    #[garde(range(min = 1))]
    pub page: u32,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Note {
    pub id: u64,
    pub text: String,
}

#[plugin_route(method = "POST", path = "/notes", status = 201, scopes("notes:write"))]
async fn create(input: NewNote) -> RouteResult<Note> {
    Ok(Note { id: 1, text: input.text })
}

#[plugin_route(method = "GET", path = "/notes")]
async fn search(query: Search) -> RouteResult<Vec<Note>> {
    let _ = query.page;
    Ok(Vec::new())
}

#[plugin_route(method = "DELETE", path = "/books/{book}/notes/{id}", status = 204)]
async fn remove(book: String, id: u64) -> RouteResult<()> {
    let _ = (book, id);
    Ok(())
}

#[plugin_route(method = "GET", path = "/notes/watch")]
async fn watch() -> RouteResult<EventStream<Note>> {
    Ok(EventStream::new(futures_util::stream::empty()))
}

#[plugin(name = "notes", version = "1.0.0", scopes("notes:read"), client = NotesClient,
         routes(create, search, remove, watch))]
pub struct NotesPlugin;

mod other {
    use plugin_routes::prelude::*;

    #[derive(Serialize, JsonSchema)]
    pub struct Only {
        pub one: u8,
    }

    #[plugin_route(method = "GET", path = "/only", security(none))]
    pub(crate) async fn only() -> RouteResult<Only> {
        Ok(Only { one: 1 })
    }

    #[plugin(name = "other", version = "1.0.0", routes(only))]
    pub struct OtherPlugin;
}

async fn calls(client: &NotesClient) {
    let note: Result<Note, notes_client::CreateError> =
        client.create(NewNote { text: "hi".into() }).await;
    let found: Result<Vec<Note>, notes_client::SearchError> = client.search(Search { page: 1 }).await;
    let gone: Result<(), notes_client::RemoveError> = client.remove("b".into(), 2).await;
    let events: Result<plugin_routes::client::Events<Note>, notes_client::WatchError> =
        client.watch().await;
    let health = client.health().await.map(|h| h.status);
    let _ = (note, found, gone, events, health);
    // The framework's codes a route can answer are variants; `remove` has no input body, so no
    // `PayloadTooLarge`, but it has path parameters, so `InvalidInput`.
    match client.remove("b".into(), 3).await {
        Err(notes_client::RemoveError::InvalidInput(i)) => {
            let _ = i.fields;
        }
        Err(notes_client::RemoveError::Forbidden(f)) => {
            let _ = f.missing_scopes;
        }
        _ => {}
    }
}

fn main() {
    let auth = plugin_routes::testing::RefuseAll;
    let _app = plugins![auth = auth; NotesPlugin::new(), other::OtherPlugin::new()];
    let _client = NotesClient::new("http://127.0.0.1:8080").map(|c| c.bearer("key"));
    let _ = calls;
}
