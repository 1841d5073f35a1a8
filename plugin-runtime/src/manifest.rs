//! The plugin manifest: every plugin and route as declared, with the limits in force, hidden
//! routes included. A machine-readable summary for tooling and review, written by
//! `cargo xtask manifest`.

use crate::declare::{InputLocation, PluginMeta, served_routes};
use crate::policy::ServerConfig;
use plugin_routes_rules::full_path;
use serde::Serialize;

/// The manifest of `plugins` mounted with `config`, as JSON, with the server's own (the
/// documents, and Swagger UI when served) after them, as an assembled server mounts them.
pub fn manifest(config: &ServerConfig, plugins: &[&'static PluginMeta]) -> serde_json::Value {
    let plugins: Vec<Plugin> = plugins
        .iter()
        .copied()
        .chain(crate::openapi::server_plugins(config))
        .map(|p| {
            let base_path = config.base_path_of(p);
            Plugin {
                name: p.name,
                version: p.version,
                base_path: base_path.clone(),
                config: p.config.map(|c| Config {
                    type_name: c.type_name,
                    env_prefix: c.env_prefix,
                    schema: (c.schema)().to_value(),
                }),
                hooks: [
                    ("start", p.hooks.start),
                    ("stop", p.hooks.stop),
                    ("ready", p.hooks.ready),
                ]
                .into_iter()
                .filter_map(|(name, on)| on.then_some(name))
                .collect(),
                routes: served_routes(p)
                    .map(|r| {
                        let (security, scopes) = config.security_for(p, r);
                        Route {
                            method: r.method.as_str(),
                            path: full_path(&base_path, r.path),
                            operation_id: r.operation_id(p),
                            handler: r.handler,
                            status: r.status,
                            errors: r
                                .effective_errors(p)
                                .map(|e| Error {
                                    code: e.code,
                                    status: e.status,
                                    description: e.description,
                                })
                                .collect(),
                            timeout_ms: crate::openapi::millis(config.timeout_for(p, r)),
                            body_limit: (r.input == InputLocation::Body)
                                .then(|| config.body_limit_for(p, r)),
                            deprecated: r.is_deprecated(p),
                            hidden: r.is_hidden(p),
                            security: security.schemes().to_vec(),
                            scopes: scopes.to_vec(),
                            permissions: r.effective_permissions(p).json(),
                            rate_limits: config
                                .rate_limits_for(p, r)
                                .iter()
                                .map(crate::declare::RateLimit::json)
                                .collect(),
                            concurrency: config
                                .concurrency_for(p, r)
                                .as_ref()
                                .map(crate::declare::ConcurrencyLimit::json),
                            operation: r.operation.map(|o| {
                                serde_json::json!({
                                    "rerun": o.rerun,
                                    "location": format!("{}/operations/{{operationId}}", full_path(&base_path, r.path)),
                                })
                            }),
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    serde_json::to_value(Manifest {
        plugins,
        #[cfg(feature = "metrics")]
        metrics: Metrics {
            path: config.metrics_path().map(str::to_owned),
            metrics: &crate::metrics::CATALOGUE,
        },
    })
    .unwrap_or(serde_json::Value::Null)
}

#[derive(Serialize)]
struct Manifest {
    plugins: Vec<Plugin>,
    /// What `/metrics` serves (feature `metrics`): each route's series are those of its
    /// `errors` and `rateLimits`, with its `path` as the `route` label; an operation route's
    /// resources (its `location`, `/events` and `/cancel`) have series of their own, with no
    /// codes, and `/events` the server's `streams` policy when it caps streams.
    #[cfg(feature = "metrics")]
    metrics: Metrics,
}

#[cfg(feature = "metrics")]
#[derive(Serialize)]
struct Metrics {
    /// Where the router serves them; `None` when the host serves them itself.
    path: Option<String>,
    metrics: &'static [crate::metrics::Described],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Plugin {
    name: &'static str,
    version: &'static str,
    base_path: std::borrow::Cow<'static, str>,
    /// Its typed configuration: the type, the variables' prefix, the JSON Schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<Config>,
    /// The hooks it declares.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hooks: Vec<&'static str>,
    routes: Vec<Route>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Config {
    #[serde(rename = "type")]
    type_name: &'static str,
    env_prefix: &'static str,
    schema: serde_json::Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Route {
    method: &'static str,
    path: String,
    operation_id: String,
    handler: &'static str,
    status: u16,
    errors: Vec<Error>,
    timeout_ms: u64,
    /// `None` for routes that read no body.
    body_limit: Option<usize>,
    deprecated: bool,
    hidden: bool,
    /// The admitted methods (`user`, `token`, `oauth`); empty for a public route.
    security: Vec<&'static str>,
    /// The scopes a caller must hold.
    scopes: Vec<&'static str>,
    /// What the handler's own code may do: presets expanded, the route's replacing the
    /// plugin's; placeholders as declared.
    permissions: serde_json::Value,
    /// The rate-limit policies in force; absent when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rate_limits: Vec<serde_json::Value>,
    /// The concurrency cap in force; absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    concurrency: Option<serde_json::Value>,
    /// On a route declared `operation`: whether a run its server's death interrupted is run
    /// again, and where its operations are read (`status` and `errors` are then the
    /// operation's).
    #[serde(skip_serializing_if = "Option::is_none")]
    operation: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct Error {
    code: &'static str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'static str>,
}
