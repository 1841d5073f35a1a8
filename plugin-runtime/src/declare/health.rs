//! The `GET <base>/health` route every plugin serves unless it declares its own: public,
//! answering the plugin's name and version. `#[plugin]` declares it for each plugin with
//! `#[plugin_route]`, in a module `__plugin_health_<Plugin>` next to the plugin.

use super::{PluginMeta, RouteMeta};

/// The routes `plugin` serves: those it lists, then its default `GET /health` unless it declares
/// its own or lives at the site base path.
pub(crate) fn served_routes(plugin: &PluginMeta) -> impl Iterator<Item = &'static RouteMeta> {
    let health = plugin.serves_default_health().then_some(plugin.health);
    plugin.routes.iter().copied().chain(health)
}

/// Whether `route` is a plugin's default health route (for diagnostics).
pub(crate) const fn is_default_health(route: &RouteMeta) -> bool {
    let (hay, needle) = (route.module.as_bytes(), HEALTH_MODULE.as_bytes());
    if hay.len() < needle.len() {
        return false;
    }
    let mut start = 0;
    while start + needle.len() <= hay.len() {
        let mut i = 0;
        while i < needle.len() && hay[start + i] == needle[i] {
            i += 1;
        }
        if i == needle.len() {
            return true;
        }
        start += 1;
    }
    false
}

/// The start of the name of the module `#[plugin]` declares the health route in.
const HEALTH_MODULE: &str = "::__plugin_health_";

/// What the default `GET <base>/health` answers.
#[derive(
    Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Health {
    /// Always `healthy` while the plugin is mounted.
    pub status: std::borrow::Cow<'static, str>,
    /// The plugin's name.
    pub plugin: std::borrow::Cow<'static, str>,
    /// The plugin's version.
    pub version: std::borrow::Cow<'static, str>,
}

impl Health {
    /// What the health route of plugin `plugin` at `version` answers.
    pub const fn new(plugin: &'static str, version: &'static str) -> Self {
        Health {
            status: std::borrow::Cow::Borrowed("healthy"),
            plugin: std::borrow::Cow::Borrowed(plugin),
            version: std::borrow::Cow::Borrowed(version),
        }
    }
}
