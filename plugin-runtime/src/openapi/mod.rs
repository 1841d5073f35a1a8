//! OpenAPI 3.1 documents assembled from what the routes declare: the same `'static` metadata that
//! mounts a route describes it, so the document and the behaviour cannot drift apart.
//!
//! The documents use utoipa's model for everything but the schemas. JSON Schemas come from
//! schemars and reach the document as schemars wrote them: utoipa's typed `Schema` drops keywords
//! it does not model (an internally tagged enum loses its `const` tags), so each schema position
//! holds a placeholder `$ref` in the utoipa model, swapped for schemars' JSON after serialization
//! (see the `schemas` module).

mod long_running;
mod operation;
mod render;
mod schemas;
mod serve;
#[cfg(feature = "swagger-ui")]
mod swagger;
mod v30;

pub use serve::Specs;
pub(crate) use serve::server_plugins;

pub(crate) use operation::millis;

use crate::declare::{PluginMeta, served_routes};
use crate::policy::{Scheme, ServerConfig};
use schemas::Schemas;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use utoipa::openapi::path::{Operation, Paths};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{Info, OpenApi};

/// The one `servers` entry: paths are relative to where the document was fetched from, which
/// serves them.
const SERVER_DESCRIPTION: &str =
    "This server: the paths are relative to the address the document was read from.";

/// Which routes a document describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope<'a> {
    /// Everything the server mounts: the plugins' routes and those at the site base path `/`
    /// (the documents themselves, `/docs`, pages such as `/settings`).
    All,
    /// The plugins' routes only: none at the site base path.
    Plugins,
    /// One plugin's routes, by name.
    Plugin(&'a str),
}

/// Builds one document as JSON. Hidden routes are left out; everything else a route declares is
/// in it: method, full path, operation id, summary, description, tags, parameters, request and
/// response schemas, every error it can send, its timeout and body limit. The server's own
/// routes (the documents and Swagger UI) are added to `plugins`, as a server assembled from them
/// serves them. `schemes` are the security schemes the server's authenticator serves
/// ([`Authenticator::schemes`](crate::auth::Authenticator::schemes)); a scheme a route names
/// that is not among them is referred to but not described (an assembled app refuses to start
/// in that case, so its documents never do this).
pub fn document(
    config: &ServerConfig,
    schemes: &[Scheme],
    plugins: &[&'static PluginMeta],
    scope: Scope<'_>,
) -> Value {
    let bytes = Catalog::new(config, schemes, plugins).render(config, scope);
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// Every documented operation and component of a server, generated once and rendered once: a
/// document splices the pretty-printed pieces it needs, so twelve documents cost little more
/// than one.
pub(crate) struct Catalog {
    /// Every plugin's operations: those given, then the server's own.
    plugins: Vec<(&'static PluginMeta, Vec<Piece>)>,
    /// Every component by its `$ref`.
    components: BTreeMap<String, Piece>,
}

/// An operation (`key` its method, `group` its path) or a component (`key` its name, `group`
/// `schemas` or `responses`), pretty-printed at the depth both sit at in a document.
struct Piece {
    group: String,
    key: String,
    json: String,
    /// The component `$ref`s it holds.
    refs: Vec<String>,
}

impl Piece {
    fn new(group: String, key: String, value: &Value) -> Self {
        Piece {
            group,
            key,
            json: render::pretty_at(value, render::PIECE_DEPTH),
            refs: refs(value),
        }
    }

    /// An operation: its `security` names schemes, which it needs as much as its `$ref`s.
    fn operation(path: String, method: String, value: &Value) -> Self {
        let mut piece = Piece::new(path, method, value);
        let schemes = value["security"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
            .flat_map(|alternative| alternative.keys());
        for name in schemes {
            let r = format!("#/components/securitySchemes/{name}");
            if !piece.refs.contains(&r) {
                piece.refs.push(r);
            }
        }
        piece
    }
}

impl Catalog {
    pub(crate) fn new(
        config: &ServerConfig,
        schemes: &[Scheme],
        plugins: &[&'static PluginMeta],
    ) -> Self {
        let mut schemas = Schemas::new();
        let served = operation::Served::new(schemes);
        let mut generated = Vec::new();
        let mut scopes = BTreeSet::new();
        for plugin in plugins.iter().copied().chain(server_plugins(config)) {
            let base_path = config.base_path_of(plugin);
            let mut ops = Vec::new();
            for route in served_routes(plugin).filter(|r| !r.is_hidden(plugin)) {
                scopes.extend(config.security_for(plugin, route).1.iter().copied());
                let path = plugin_routes_rules::full_path(&base_path, route.path);
                let mut op = operation::route(&mut schemas, config, &served, plugin, route);
                if route.operation.is_some() {
                    long_running::accepted(&mut op, &mut schemas, plugin, route);
                    ops.extend(long_running::resources(
                        &mut schemas,
                        config,
                        &served,
                        plugin,
                        route,
                        &path,
                    ));
                }
                ops.push((path, route.method.as_str(), op));
            }
            generated.push((plugin, ops));
        }
        let mut finished = schemas.finish();
        let mut pieces = |list: Vec<(String, &str, Operation)>| -> Vec<Piece> {
            list.into_iter()
                .map(|(path, method, op)| {
                    Piece::operation(path, method.to_ascii_lowercase(), &finished.filled(&op))
                })
                .collect()
        };
        let plugins = generated
            .into_iter()
            .map(|(plugin, list)| (plugin, pieces(list)))
            .collect();
        let mut components = BTreeMap::new();
        for (group, table) in [
            ("schemas", std::mem::take(&mut finished.schemas)),
            ("responses", std::mem::take(&mut finished.responses)),
        ] {
            for (name, value) in table {
                let piece = Piece::new(group.to_owned(), name, &value);
                components.insert(format!("#/components/{group}/{}", piece.key), piece);
            }
        }
        let scopes: Vec<&str> = scopes.into_iter().collect();
        for (name, value) in served.components(&scopes) {
            let piece = Piece::new("securitySchemes".to_owned(), name.to_owned(), &value);
            components.insert(format!("#/components/securitySchemes/{name}"), piece);
        }
        Catalog {
            plugins,
            components,
        }
    }

    /// The document of `scope`, pretty-printed, with the components its operations refer to.
    pub(crate) fn render(&self, config: &ServerConfig, scope: Scope<'_>) -> Vec<u8> {
        let mut ops: Vec<&Piece> = Vec::new();
        let mut tags = Vec::new();
        for (plugin, list) in &self.plugins {
            let in_scope = match scope {
                Scope::All => true,
                Scope::Plugins => !plugin.is_site(),
                Scope::Plugin(name) => plugin.name == name && !plugin.is_site(),
            };
            if !in_scope || list.is_empty() {
                continue;
            }
            ops.extend(list);
            let description = (!plugin.description.is_empty()).then_some(plugin.description);
            tags.push(
                TagBuilder::new()
                    .name(plugin.name)
                    .description(description)
                    .build(),
            );
        }
        let title = match scope {
            Scope::All => config.title().to_owned(),
            Scope::Plugins => format!("{} (plugins)", config.title()),
            Scope::Plugin(name) => format!("{} (plugin {name})", config.title()),
        };
        let mut openapi = OpenApi::new(
            Info::new(title, config.api_version().to_owned()),
            Paths::new(),
        );
        openapi.tags = Some(tags);
        openapi.servers = Some(vec![
            utoipa::openapi::server::ServerBuilder::new()
                .url("/")
                .description(Some(SERVER_DESCRIPTION))
                .build(),
        ]);
        let root = match serde_json::to_value(&openapi) {
            Ok(Value::Object(root)) => root,
            _ => serde_json::Map::new(),
        };
        let components = self.components_used_by(&ops);
        render::document(&root, &ops, &components)
    }

    /// The components `ops` refer to, directly or through other components.
    fn components_used_by<'a>(&'a self, ops: &[&'a Piece]) -> Vec<&'a Piece> {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut pending: Vec<&str> = ops
            .iter()
            .flat_map(|op| op.refs.iter().map(String::as_str))
            .collect();
        let mut out = Vec::new();
        while let Some(r) = pending.pop() {
            if !seen.insert(r) {
                continue;
            }
            if let Some(c) = self.components.get(r) {
                pending.extend(c.refs.iter().map(String::as_str));
                out.push(c);
            }
        }
        out
    }
}

/// Every component `$ref` in `v`, once each.
fn refs(v: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref")
                    && r.starts_with("#/components/")
                {
                    out.insert(r.clone());
                }
                map.values().for_each(|x| walk(x, out));
            }
            Value::Array(items) => items.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(v, &mut out);
    out.into_iter().collect()
}
