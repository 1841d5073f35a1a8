//! OpenAPI 3.1 documents assembled from what the routes declare: the same `'static` metadata that
//! mounts a route describes it, so the document and the behaviour cannot drift apart.
//!
//! The documents use utoipa's model for everything but the schemas. JSON Schemas come from
//! schemars and reach the document as schemars wrote them: utoipa's typed `Schema` drops keywords
//! it does not model (an internally tagged enum loses its `const` tags), so each schema position
//! holds a placeholder `$ref` in the utoipa model, swapped for schemars' JSON after serialization
//! (see [`schemas`]).

mod operation;
mod schemas;
mod serve;

pub use serve::Specs;

pub(crate) use operation::millis;

use crate::meta::PluginMeta;
use crate::server::ServerConfig;
use schemas::Schemas;
use serde_json::Value;
use utoipa::openapi::path::{HttpMethod, Operation, PathItem, Paths};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{Info, OpenApi};

/// Which routes a document describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope<'a> {
    /// Everything the server mounts: the plugins' routes and the server's own (the documents
    /// themselves and `/docs`).
    All,
    /// The plugins' routes only.
    Plugins,
    /// One plugin's routes, by name.
    Plugin(&'a str),
}

/// Builds one document as JSON. Hidden routes are left out; everything else a route declares is
/// in it: method, full path, operation id, summary, description, tags, parameters, request and
/// response schemas, every error it can send, its timeout and body limit.
pub fn document(config: &ServerConfig, plugins: &[&'static PluginMeta], scope: Scope<'_>) -> Value {
    let mut schemas = Schemas::new();
    let mut paths = Paths::new();
    let mut tags = Vec::new();
    for plugin in plugins {
        if let Scope::Plugin(name) = scope
            && plugin.name != name
        {
            continue;
        }
        let mut described = false;
        for route in plugin.served_routes().filter(|r| !r.hidden) {
            let op = operation::route(&mut schemas, config, plugin, route);
            add(
                &mut paths,
                &crate::server::full_path(plugin.base_path, route.path),
                route.method.http(),
                op,
            );
            described = true;
        }
        if described {
            let description = (!plugin.description.is_empty()).then_some(plugin.description);
            tags.push(
                TagBuilder::new()
                    .name(plugin.name)
                    .description(description)
                    .build(),
            );
        }
    }
    if scope == Scope::All {
        for (path, op) in operation::server_routes(&mut schemas, config, plugins) {
            add(&mut paths, &path, HttpMethod::Get, op);
        }
        tags.push(
            TagBuilder::new()
                .name(operation::SERVER_TAG)
                .description(Some(
                    "The API's own description: these documents and Swagger UI.",
                ))
                .build(),
        );
    }
    let title = match scope {
        Scope::All => config.title().to_owned(),
        Scope::Plugins => format!("{} (plugins)", config.title()),
        Scope::Plugin(name) => format!("{} (plugin {name})", config.title()),
    };
    let mut openapi = OpenApi::new(Info::new(title, config.api_version().to_owned()), paths);
    openapi.tags = Some(tags);
    schemas.finish(openapi)
}

fn add(paths: &mut Paths, path: &str, method: HttpMethod, op: Operation) {
    match paths.paths.get_mut(path) {
        Some(item) => item.merge_operations(PathItem::new(method, op)),
        None => {
            paths
                .paths
                .insert(path.to_owned(), PathItem::new(method, op));
        }
    }
}
