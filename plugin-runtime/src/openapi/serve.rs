//! Serving the documents and Swagger UI. Every document is built and serialized once, when the
//! router is assembled; a request clones the bytes (a reference count) and compares `ETag`s.

use super::{Catalog, Scope};
use crate::declare::PluginMeta;
use crate::policy::ServerConfig;
use crate::request::{REQUEST_ID_HEADER, RequestId};
use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};

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
        h.insert(REQUEST_ID_HEADER, request_id.header_value());
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
        #[cfg(feature = "swagger-ui")]
        if docs {
            router = super::swagger::routes(router, &urls);
        }
        #[cfg(not(feature = "swagger-ui"))]
        let _ = (docs, urls);
        router
    }
}
