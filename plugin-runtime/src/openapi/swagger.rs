//! Swagger UI at `/docs` (feature `swagger-ui`), from files vendored in the binary: the page
//! lists the server's documents and makes no request beyond this server. A plugin at the site
//! base path, declared with `#[plugin_route]` like any other.

use crate::request::{Binary, Ctx, Html, RouteResult};
use bytes::Bytes;
use http::HeaderValue;
use plugin_routes_macros::{plugin, plugin_route};
use std::sync::{Arc, LazyLock};

/// What the routes serve: the page and the start-up script listing this server's documents.
#[derive(Debug)]
pub(super) struct Files {
    page: Bytes,
    initializer: Bytes,
}

impl SwaggerUi {
    /// Swagger UI listing the documents at `urls`, the first of them opened.
    pub(super) fn listing(urls: &[String]) -> Self {
        Self::new(Files {
            page: page(),
            initializer: Bytes::from(swagger_initializer(urls)),
        })
    }
}

/// Swagger UI's page. Served at `/docs` (no trailing slash), so a `<base>` makes its relative
/// links resolve under `/docs/`.
fn page() -> Bytes {
    let html = vendored("index.html").map(|f| f.1).unwrap_or_default();
    let html =
        String::from_utf8_lossy(&html).replacen("<head>", "<head>\n    <base href=\"/docs/\">", 1);
    Bytes::from(html)
}

/// Swagger UI's start-up script, listing the documents, with the online validator turned off so
/// the page makes no request beyond this server.
fn swagger_initializer(urls: &[String]) -> Vec<u8> {
    let list: Vec<utoipa_swagger_ui::Url<'_>> = urls
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let name = u.trim_start_matches('/').trim_end_matches(".json");
            utoipa_swagger_ui::Url::with_primary(name, u, i == 0)
        })
        .collect();
    let config = Arc::new(utoipa_swagger_ui::Config::new(list).validator_url("none"));
    match utoipa_swagger_ui::serve("swagger-initializer.js", config) {
        Ok(Some(file)) => file.bytes.into_owned(),
        _ => Vec::new(),
    }
}

/// A vendored file that does not depend on the configuration: its media type and bytes.
fn vendored(name: &str) -> Option<(HeaderValue, Bytes)> {
    static NO_CONFIG: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> =
        LazyLock::new(|| Arc::new(utoipa_swagger_ui::Config::new(Vec::<String>::new())));
    // Files come gzipped only with utoipa-swagger-ui's `compression` feature, which is off.
    let file = utoipa_swagger_ui::serve(name, Arc::clone(&NO_CONFIG)).ok()??;
    let bytes = match file.bytes {
        std::borrow::Cow::Borrowed(b) => Bytes::from_static(b),
        std::borrow::Cow::Owned(b) => Bytes::from(b),
    };
    let media_type = HeaderValue::from_str(&file.content_type).ok()?;
    Some((media_type, bytes))
}

/// Swagger UI, listing these documents
///
/// Enter a key under "Authorize" to try every route from the browser.
#[plugin_route(crate = "crate", method = "GET", path = "/docs", operation_id = "docs")]
async fn docs_page(files: Ctx<Files>) -> RouteResult<Html> {
    Ok(Html::new(files.page.clone()))
}

/// One of Swagger UI's files
#[plugin_route(
    crate = "crate",
    method = "GET",
    path = "/docs/{file}",
    hidden,
    errors(FILE_NOT_FOUND = (404, "Swagger UI has no file of this name"))
)]
async fn docs_file(files: Ctx<Files>, file: String) -> RouteResult<Binary> {
    if file == "swagger-initializer.js" {
        let media_type = HeaderValue::from_static("text/javascript");
        return Ok(Binary::new(media_type, files.initializer.clone()));
    }
    match vendored(&file) {
        Some((media_type, bytes)) => Ok(Binary::new(media_type, bytes)),
        None => Err(route_error!(FILE_NOT_FOUND, "no file {file:?} in /docs")),
    }
}

/// Swagger UI: every route of the document of everything, to read and to try.
#[plugin(
    crate = "crate",
    name = "docs",
    version = "0.1.0",
    base_path = "/",
    state = Files,
    security(none),
    rate_limit(none),
    routes(docs_page, docs_file)
)]
pub(super) struct SwaggerUi;
