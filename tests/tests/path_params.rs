//! Path parameters reach the handler by name, whatever order its arguments take; a value that
//! does not parse is a 400 naming the parameter; a route mounted under a path with parameters of
//! its own (which its declaration cannot know) answers 500 in the envelope, not another
//! parameter's value.

use plugin_routes::app;
use plugin_routes::testing::TestClient;

mod library {
    use plugin_routes::prelude::*;

    #[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
    pub(crate) struct Note {
        pub(crate) shelf: String,
        pub(crate) book: u32,
        pub(crate) page: u16,
    }

    /// The handler takes the parameters in another order than the path names them.
    #[plugin_route(
        method = "GET",
        path = "/shelves/{shelf}/books/{book}/pages/{page}",
        security(none)
    )]
    pub(crate) async fn note(page: u16, shelf: String, book: u32) -> RouteResult<Note> {
        Ok(Note { shelf, book, page })
    }

    /// How a shelf is sorted.
    #[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
    #[serde(rename_all = "lowercase")]
    pub(crate) enum Order {
        Title,
        Author,
    }

    /// A path parameter that is one of an enumeration's values.
    #[plugin_route(method = "GET", path = "/shelves/{shelf}/by/{order}", security(none))]
    pub(crate) async fn sorted(shelf: String, order: Order) -> RouteResult<String> {
        Ok(format!("{shelf} by {order:?}"))
    }

    /// A library.
    #[plugin(name = "library", version = "1.0.0", routes(note, sorted))]
    pub(crate) struct LibraryPlugin;
}

use library::LibraryPlugin;

#[tokio::test]
async fn parameters_reach_the_handler_by_name() {
    let c = TestClient::new(app![LibraryPlugin::new()].router());
    let r = c
        .get("/v1/plugins/library/shelves/poetry/by/author")
        .send()
        .await;
    assert_eq!(r.json::<String>(), "poetry by Author");
    let r = c
        .get("/v1/plugins/library/shelves/poetry/books/12/pages/7")
        .send()
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(
        r.json::<serde_json::Value>(),
        serde_json::json!({"shelf": "poetry", "book": 12, "page": 7})
    );
}

#[tokio::test]
async fn a_parameter_that_does_not_parse_is_named() {
    let c = TestClient::new(app![LibraryPlugin::new()].router());
    // Text that is no integer is told so; an integer out of the type's range is told the range.
    for (uri, name, said) in [
        (
            "/v1/plugins/library/shelves/a/books/x/pages/1",
            "book",
            "expected an integer, found the string \"x\"",
        ),
        (
            "/v1/plugins/library/shelves/a/books/1/pages/70000",
            "page",
            "expected an integer from 0 to 65535, found the string \"70000\"",
        ),
        // A value outside an enumeration: the values allowed, never Rust's "variant".
        (
            "/v1/plugins/library/shelves/a/by/price",
            "order",
            "expected one of \"title\", \"author\", found the string \"price\"",
        ),
        // Compared and quoted once decoded; words serde_json uses for a position kept whole.
        (
            "/v1/plugins/library/shelves/a/by/pr%C3%AFce%20at%20line%201%20column%202",
            "order",
            "expected one of \"title\", \"author\", found the string \"prïce at line 1 column 2\"",
        ),
    ] {
        let r = c.get(uri).send().await;
        assert_eq!(r.status(), 400, "{uri}: {}", r.text());
        let e = r.error();
        assert_eq!(e["code"], "INVALID_INPUT", "{e}");
        assert_eq!(e["details"][0]["location"], "path", "{e}");
        assert_eq!(e["details"][0]["path"], name, "{e}");
        assert_eq!(e["details"][0]["message"], said, "{uri}: {e}");
    }
}

#[tokio::test]
async fn mounted_under_a_parameter_of_the_host_it_answers_500_in_the_envelope() {
    let router = axum::Router::new().nest("/tenants/{tenant}", app![LibraryPlugin::new()].router());
    let c = TestClient::new(router);
    let r = c
        .get("/tenants/acme/v1/plugins/library/shelves/a/books/1/pages/2")
        .send()
        .await;
    assert_eq!(r.status(), 500, "{}", r.text());
    assert_eq!(r.error()["code"], "INTERNAL");
}
