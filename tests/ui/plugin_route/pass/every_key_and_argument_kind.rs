//! Every `#[plugin_route]` key and every kind of argument, in one plugin that compiles and mounts.
use plugin_routes::prelude::*;

pub struct Library {
    name: String,
}

#[derive(Deserialize, JsonSchema, Validate)]
struct Search {
    #[garde(length(min = 1))]
    tag: Vec<String>,
    #[garde(range(min = 1, max = 50))]
    limit: Option<u8>,
}

#[derive(Deserialize, JsonSchema, Validate)]
struct NewBook {
    #[garde(length(chars, min = 1, max = 200))]
    title: String,
}

#[derive(Serialize, JsonSchema)]
struct Book {
    shelf: String,
    id: u64,
    title: String,
}

/// Search books by tag.
#[plugin_route(method = "GET", path = "/books", timeout_ms = 2_000, concurrency(8, key = "address"))]
async fn search(ctx: Ctx<Library>, query: Search, #[extract] headers: axum::http::HeaderMap) -> RouteResult<Vec<Book>> {
    let _ = (query.tag, query.limit, headers.len(), &ctx.name, ctx.request_id());
    Ok(Vec::new())
}

/// Add a book to a shelf.
#[plugin_route(
    method = "PUT",
    path = "/shelves/:shelf/books/{id}",
    status = 201,
    body_limit = 4096,
    errors(SHELF_FULL = (409, "the shelf is full"), BOOK_REJECTED = 422)
)]
async fn put_book(id: u64, input: NewBook, shelf: String, ctx: Ctx<Library>) -> RouteResult<Book> {
    if input.title == "full" {
        return Err(route_error!(SHELF_FULL));
    }
    if input.title.is_empty() {
        return Err(route_error!(BOOK_REJECTED, "book {} on {}", id, shelf).with_details(serde_json::json!({"id": id})));
    }
    let _ = ctx.plugin().version;
    Ok(Book { shelf, id, title: input.title })
}

mod removal {
    use plugin_routes::prelude::*;

    /// Remove a book.
    #[plugin_route(method = "DELETE", path = "/books/{id}", status = 204, errors(BOOK_NOT_FOUND = 404))]
    pub async fn remove(id: u64) -> Result<(), RouteError> {
        if id == 0 { Err(route_error!(BOOK_NOT_FOUND,)) } else { Ok(()) }
    }
}

/// A custom health check replaces the default one.
#[plugin_route(method = "GET", path = "/health")]
async fn health() -> RouteResult<serde_json::Value> {
    Ok(serde_json::json!({"status": "healthy", "books": 0}))
}

/// The library.
#[plugin(
    name = "library",
    version = "2.1.0-beta.1",
    state = Library,
    base_path = "/v1/plugins/books",
    timeout_ms = 10_000,
    body_limit = 65_536,
    routes(search, put_book, removal::remove, health),
)]
pub struct LibraryPlugin;

fn main() {
    let app: axum::Router = plugins![auth = plugin_routes::testing::RefuseAll; 
        config = ServerConfig::default().with_body_limit(1 << 16);
        LibraryPlugin::new(Library { name: "city".into() }),
    ];
    let _ = app;
}
