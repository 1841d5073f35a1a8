//! Swagger UI at `/docs` (feature `swagger-ui`), from files vendored in the binary: the page
//! lists the server's documents and makes no request beyond this server.

use crate::request::{ApiError, FrameworkCode, REQUEST_ID_HEADER, RequestId};
use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use http::{HeaderValue, header};
use std::sync::{Arc, LazyLock};

/// `router` with `/docs` listing the documents at `urls`.
pub(super) fn routes(router: Router, urls: &[String]) -> Router {
    let initializer = Bytes::from(swagger_initializer(urls));
    router
        .route(
            "/docs",
            axum::routing::get(|| async { Redirect::permanent("/docs/") }),
        )
        .route(
            "/docs/",
            axum::routing::get(|request: Request| async move { swagger_file(&request, "") }),
        )
        .route(
            "/docs/{*file}",
            axum::routing::get(move |request: Request| {
                let initializer = initializer.clone();
                async move {
                    let path = request.uri().path().trim_start_matches("/docs/").to_owned();
                    if path == "swagger-initializer.js" {
                        let mut r = initializer.into_response();
                        r.headers_mut().insert(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("text/javascript"),
                        );
                        return r;
                    }
                    swagger_file(&request, &path)
                }
            }),
        )
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

/// Any other file of Swagger UI; they do not depend on the configuration.
fn swagger_file(request: &Request, path: &str) -> Response {
    static NO_CONFIG: LazyLock<Arc<utoipa_swagger_ui::Config<'static>>> =
        LazyLock::new(|| Arc::new(utoipa_swagger_ui::Config::new(Vec::<String>::new())));
    let request_id = RequestId::from_headers(request.headers());
    match utoipa_swagger_ui::serve(path, Arc::clone(&NO_CONFIG)) {
        Ok(Some(file)) => {
            let bytes = match file.bytes {
                std::borrow::Cow::Borrowed(b) => Bytes::from_static(b),
                std::borrow::Cow::Owned(b) => Bytes::from(b),
            };
            let mut response = bytes.into_response();
            let h = response.headers_mut();
            if let Ok(ct) = HeaderValue::from_str(&file.content_type) {
                h.insert(header::CONTENT_TYPE, ct);
            }
            if file.gzpipped {
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            h.insert(REQUEST_ID_HEADER, request_id.header_value());
            response
        }
        _ => ApiError::framework(
            FrameworkCode::NotFound,
            format!("no file {path:?} in /docs"),
        )
        .into_response(&request_id),
    }
}
