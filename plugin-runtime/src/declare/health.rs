//! The `GET <base>/health` route every plugin serves unless it declares its own: public,
//! answering the plugin's name and version.

use super::{PluginMeta, RouteMeta, Security};

/// The routes `plugin` serves: those it lists, then the default `GET /health` unless it declares
/// its own.
pub(crate) fn served_routes(plugin: &PluginMeta) -> impl Iterator<Item = &'static RouteMeta> {
    let health = (!plugin.declares_health()).then_some(HEALTH);
    plugin.routes.iter().copied().chain(health)
}

/// What the default `GET <base>/health` answers.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub(crate) struct Health {
    /// Always `healthy` while the plugin is mounted.
    status: &'static str,
    /// The plugin's name.
    plugin: &'static str,
    /// The plugin's version.
    version: &'static str,
}

impl Health {
    /// What the default health route of `plugin` answers.
    pub(crate) fn of(plugin: &PluginMeta) -> Self {
        Health {
            status: "healthy",
            plugin: plugin.name,
            version: plugin.version,
        }
    }
}

/// The implicit `GET /health` route of a plugin that does not declare one.
pub(crate) const HEALTH: &RouteMeta = &RouteMeta {
    handler: "health",
    module: "plugin_runtime",
    path: "/health",
    output_schema: Some(super::schema_ref::<Health>),
    summary: Some("Report that the plugin is mounted and serving"),
    hidden: false,
    security: Some(Security::NONE),
    ..RouteMeta::BLANK
};
