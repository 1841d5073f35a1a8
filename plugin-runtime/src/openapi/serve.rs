//! Serving the documents: a plugin at the site base path, declared with `#[plugin_route]` like
//! any other, so its routes get the same request path, checks and documents. Every document is
//! built and serialized once, when the router is assembled; a request clones the bytes (a
//! reference count) and compares `ETag`s.

use super::{Catalog, Scope};
use crate::declare::PluginMeta;
use crate::mount::Plugin;
use crate::policy::{Scheme, ServerConfig, SharedAuthenticator};
use crate::request::{Conditional, Ctx, IfNoneMatch, RawJson, RouteResult, WithHeaders};
use bytes::Bytes;
use http::{HeaderValue, header};
use plugin_routes_macros::{plugin, plugin_route};

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

    /// The document, or `304` if the client's copy is current; revalidated on every use.
    fn answer(&self, since: &IfNoneMatch) -> WithHeaders<Conditional<RawJson>> {
        let body = RawJson::new(self.bytes.clone());
        WithHeaders::new(Conditional::new(self.etag.clone(), body, since))
            .header(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))
    }
}

/// One document in OpenAPI 3.1 and its 3.0 rendering.
#[derive(Clone, Debug)]
struct Versions {
    v31: Served,
    v30: Served,
}

impl Versions {
    fn new(v31: Vec<u8>) -> Self {
        let parsed: serde_json::Value = serde_json::from_slice(&v31).unwrap_or_default();
        let mut v30 = serde_json::to_vec_pretty(&super::v30::convert(&parsed)).unwrap_or_default();
        v30.push(b'\n');
        Versions {
            v31: Served::new(v31),
            v30: Served::new(v30),
        }
    }

    /// The 3.1 document, or its 3.0 rendering.
    fn of(&self, v30: bool) -> &Served {
        if v30 { &self.v30 } else { &self.v31 }
    }
}

/// The documents of an assembled server: everything, the plugins' routes, and each plugin's,
/// each in OpenAPI 3.1 and rendered for 3.0.
#[derive(Clone, Debug)]
pub struct Specs {
    all: Versions,
    plugins: Versions,
    per_plugin: Vec<(&'static str, Versions)>,
}

impl Specs {
    /// Builds every document for `plugins` mounted with `config`, the server's own routes
    /// included, its authenticator serving `schemes`.
    pub fn build(
        config: &ServerConfig,
        schemes: &[Scheme],
        plugins: &[&'static PluginMeta],
    ) -> Self {
        let catalog = Catalog::new(config, schemes, plugins);
        Specs {
            all: Versions::new(catalog.render(config, Scope::All)),
            plugins: Versions::new(catalog.render(config, Scope::Plugins)),
            per_plugin: plugins
                .iter()
                .filter(|p| !p.is_site() && !p.hidden)
                .map(|p| {
                    (
                        p.name,
                        Versions::new(catalog.render(config, Scope::Plugin(p.name))),
                    )
                })
                .collect(),
        }
    }

    /// Each document with the path it is served at, without the leading `/`
    /// (`openapi.json`, `openapi-plugins.json`, and `plugins/<plugin>.json` for
    /// `/openapi/<plugin>.json`), then their 3.0 renderings (`openapi-3.0.json`, …,
    /// `plugins/<plugin>-3.0.json`): what `cargo xtask openapi` writes.
    pub fn files(&self) -> Vec<(String, &[u8])> {
        let mut out = Vec::new();
        for (suffix, v30) in [("", false), ("-3.0", true)] {
            out.push((format!("openapi{suffix}.json"), &self.all.of(v30).bytes[..]));
            out.push((
                format!("openapi-plugins{suffix}.json"),
                &self.plugins.of(v30).bytes[..],
            ));
            for (name, served) in &self.per_plugin {
                out.push((
                    format!("plugins/{name}{suffix}.json"),
                    &served.of(v30).bytes[..],
                ));
            }
        }
        out
    }

    /// The paths the documents are served at, the document of everything first.
    fn urls(&self) -> Vec<String> {
        let mut out = vec![
            "/openapi.json".to_owned(),
            "/openapi-plugins.json".to_owned(),
        ];
        out.extend(
            self.per_plugin
                .iter()
                .map(|(name, _)| format!("/openapi/{name}.json")),
        );
        out
    }

    /// Mounts the routes serving the documents and, if `docs` is on, Swagger UI at `/docs`.
    pub(crate) fn mount(self, config: &ServerConfig) -> axum::Router {
        #[cfg(feature = "swagger-ui")]
        let swagger = config
            .docs()
            .then(|| super::swagger::SwaggerUi::listing(&self.urls()));
        #[cfg(not(feature = "swagger-ui"))]
        let _ = self.urls();
        let router = DocumentsApi::new(self).mount(config, None::<&SharedAuthenticator>);
        #[cfg(feature = "swagger-ui")]
        let router = match swagger {
            Some(ui) => router.merge(ui.mount(config, None)),
            None => router,
        };
        router
    }
}

/// The plugins every assembled server mounts besides its own: the documents, and Swagger UI when
/// the configuration serves it (feature `swagger-ui`).
pub(crate) fn server_plugins(config: &ServerConfig) -> impl Iterator<Item = &'static PluginMeta> {
    #[cfg(feature = "swagger-ui")]
    let swagger = config.docs().then_some(super::swagger::SwaggerUi::META);
    #[cfg(not(feature = "swagger-ui"))]
    let swagger = {
        let _ = config;
        None
    };
    std::iter::once(DocumentsApi::META).chain(swagger)
}

/// This document: every route the server mounts
#[plugin_route(
    crate = "crate",
    method = "GET",
    path = "/openapi.json",
    operation_id = "openapi_all"
)]
async fn openapi_all(
    specs: Ctx<Specs>,
    #[extract] since: IfNoneMatch,
) -> RouteResult<WithHeaders<Conditional<RawJson>>> {
    Ok(specs.all.v31.answer(&since))
}

/// This document, rendered for OpenAPI 3.0
///
/// For tools that read only 3.0: the same operations, each with one error schema listing every
/// code it can answer.
#[plugin_route(
    crate = "crate",
    method = "GET",
    path = "/openapi-3.0.json",
    operation_id = "openapi_all_30"
)]
async fn openapi_all_30(
    specs: Ctx<Specs>,
    #[extract] since: IfNoneMatch,
) -> RouteResult<WithHeaders<Conditional<RawJson>>> {
    Ok(specs.all.v30.answer(&since))
}

/// The document of the plugins' routes only
#[plugin_route(
    crate = "crate",
    method = "GET",
    path = "/openapi-plugins.json",
    operation_id = "openapi_plugins"
)]
async fn openapi_plugins(
    specs: Ctx<Specs>,
    #[extract] since: IfNoneMatch,
) -> RouteResult<WithHeaders<Conditional<RawJson>>> {
    Ok(specs.plugins.v31.answer(&since))
}

/// The document of the plugins' routes, rendered for OpenAPI 3.0
#[plugin_route(
    crate = "crate",
    method = "GET",
    path = "/openapi-plugins-3.0.json",
    operation_id = "openapi_plugins_30"
)]
async fn openapi_plugins_30(
    specs: Ctx<Specs>,
    #[extract] since: IfNoneMatch,
) -> RouteResult<WithHeaders<Conditional<RawJson>>> {
    Ok(specs.plugins.v30.answer(&since))
}

/// The document of one plugin
///
/// `file` is the plugin's name followed by `.json`: `/openapi/items.json`; with `-3.0.json`, its
/// rendering for OpenAPI 3.0: `/openapi/items-3.0.json`.
#[plugin_route(
    crate = "crate",
    method = "GET",
    path = "/openapi/{file}",
    operation_id = "openapi_plugin",
    errors(DOCUMENT_NOT_FOUND = (404, "no plugin of this server has this name"))
)]
async fn openapi_plugin(
    specs: Ctx<Specs>,
    file: String,
    #[extract] since: IfNoneMatch,
) -> RouteResult<WithHeaders<Conditional<RawJson>>> {
    let name = file.strip_suffix(".json");
    let (name, v30) = match name.and_then(|n| n.strip_suffix("-3.0")) {
        Some(n) => (Some(n), true),
        None => (name, false),
    };
    match specs.per_plugin.iter().find(|(n, _)| Some(*n) == name) {
        Some((_, served)) => Ok(served.of(v30).answer(&since)),
        None => Err(route_error!(
            DOCUMENT_NOT_FOUND,
            "no document /openapi/{file}: the server's plugins are {}",
            specs
                .per_plugin
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The API's own description: these documents, each with an `ETag`.
#[plugin(
    crate = "crate",
    name = "api",
    version = "0.1.0",
    base_path = "/",
    state = Specs,
    security(none),
    rate_limit(none),
    routes(
        openapi_all,
        openapi_plugins,
        openapi_plugin,
        openapi_all_30,
        openapi_plugins_30
    )
)]
struct DocumentsApi;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documents_plugin_has_the_crate_s_version() {
        assert_eq!(DocumentsApi::META.version, env!("CARGO_PKG_VERSION"));
    }
}
