//! Serving the documents and Swagger UI. Every document is built and serialized once, when the
//! router is assembled; a request clones the bytes (a reference count) and compares `ETag`s.

use super::{Catalog, Scope};
use crate::error::{ApiError, FrameworkCode};
use crate::meta::PluginMeta;
use crate::request_id::{self, RequestId};
use crate::server::ServerConfig;
use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use std::sync::{Arc, LazyLock};

/// One serialized document and its strong `ETag`.
#[derive(Clone, Debug)]
struct Served {
    bytes: Bytes,
    etag: HeaderValue,
}

impl Served {
    fn new(bytes: Vec<u8>) -> Self {
        // A strong validator only needs equal bytes to give equal tags within one build: a hash
        // of the bytes (SipHash, via std), computed once at start.
        let mut hasher = std::hash::DefaultHasher::new();
        std::hash::Hasher::write(&mut hasher, &bytes);
        let tag = format!("\"{:016x}\"", std::hash::Hasher::finish(&hasher));
        let etag = HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"0\""));
        Served {
            bytes: Bytes::from(bytes),
            etag,
        }
    }

    fn respond(&self, headers: &HeaderMap) -> Response {
        let request_id = RequestId::from_headers(headers);
        let fresh = headers
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t.as_bytes() == self.etag.as_bytes());
        let mut response = if fresh {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            self.bytes.clone().into_response()
        };
        let h = response.headers_mut();
        if !fresh {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        h.insert(header::ETAG, self.etag.clone());
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(request_id::HEADER, request_id.header_value());
        response
    }
}

/// The documents of an assembled server: everything, the plugins' routes, and each plugin's.
#[derive(Clone, Debug)]
pub struct Specs {
    all: Served,
    plugins: Served,
    per_plugin: Vec<(&'static str, Served)>,
}

impl Specs {
    /// Builds every document for `plugins` mounted with `config`.
    pub fn build(config: &ServerConfig, plugins: &[&'static PluginMeta]) -> Self {
        let catalog = Catalog::new(config, plugins);
        Specs {
            all: Served::new(catalog.render(config, Scope::All)),
            plugins: Served::new(catalog.render(config, Scope::Plugins)),
            per_plugin: plugins
                .iter()
                .map(|p| {
                    (
                        p.name,
                        Served::new(catalog.render(config, Scope::Plugin(p.name))),
                    )
                })
                .collect(),
        }
    }

    /// Each document with the path it is served at, without the leading `/`
    /// (`openapi.json`, `openapi-plugins.json`, and `plugins/<plugin>.json` for `/openapi/<plugin>.json`): what
    /// `cargo xtask openapi` writes.
    pub fn files(&self) -> Vec<(String, &[u8])> {
        let mut out = vec![
            ("openapi.json".to_owned(), &self.all.bytes[..]),
            ("openapi-plugins.json".to_owned(), &self.plugins.bytes[..]),
        ];
        for (name, served) in &self.per_plugin {
            out.push((format!("plugins/{name}.json"), &served.bytes[..]));
        }
        out
    }

    /// The routes serving the documents and, if `docs` is on, Swagger UI at `/docs`.
    pub(crate) fn router(self, docs: bool) -> Router {
        let mut router = Router::new();
        let mut urls = Vec::new();
        for (path, served) in std::iter::once(("/openapi.json".to_owned(), self.all))
            .chain(std::iter::once((
                "/openapi-plugins.json".to_owned(),
                self.plugins,
            )))
            .chain(
                self.per_plugin
                    .into_iter()
                    .map(|(n, s)| (format!("/openapi/{n}.json"), s)),
            )
        {
            urls.push(path.clone());
            router = router.route(
                &path,
                axum::routing::get(move |request: Request| async move {
                    served.respond(request.headers())
                }),
            );
        }
        if docs {
            let initializer = Bytes::from(swagger_initializer(&urls));
            router = router
                .route(
                    "/docs",
                    axum::routing::get(|| async { Redirect::permanent("/docs/") }),
                )
                .route(
                    "/docs/",
                    axum::routing::get(
                        |request: Request| async move { swagger_file(&request, "") },
                    ),
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
                );
        }
        router
    }
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
            h.insert(request_id::HEADER, request_id.header_value());
            response
        }
        _ => ApiError::framework(
            FrameworkCode::NotFound,
            format!("no file {path:?} in /docs"),
        )
        .into_response(&request_id),
    }
}
