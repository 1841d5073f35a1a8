//! What a `#[plugin]` declares, as `'static` data the macro generates.

use super::{Method, RouteMeta, Security};

/// Everything a `#[plugin]` declares.
#[derive(Debug)]
pub struct PluginMeta {
    /// The name, `[a-z0-9-]+`.
    pub name: &'static str,
    /// The semantic version.
    pub version: &'static str,
    /// The base path every route is mounted under, `/v1/plugins/<name>` by default.
    pub base_path: &'static str,
    /// The plugin struct's name, for diagnostics.
    pub type_name: &'static str,
    /// The struct's doc comment: the description of the plugin's tag in the documents.
    pub description: &'static str,
    /// The default timeout of its routes.
    pub timeout_ms: Option<u64>,
    /// The default body limit of its routes.
    pub body_limit: Option<u64>,
    /// The routes, in declaration order.
    pub routes: &'static [&'static RouteMeta],
    /// The default `security(...)` of its routes; `None` means the server's.
    pub security: Option<Security>,
    /// The default `permissions(...)` of its routes.
    pub permissions: Option<&'static [&'static str]>,
}

impl PluginMeta {
    /// Stands in for a plugin whose attribute failed to compile; skipped by every check.
    #[doc(hidden)]
    pub const FALLBACK: &'static PluginMeta = &PluginMeta {
        name: "",
        version: "",
        base_path: "",
        type_name: "",
        description: "",
        timeout_ms: None,
        body_limit: None,
        routes: &[],
        security: None,
        permissions: None,
    };

    pub(crate) const fn is_fallback(&self) -> bool {
        self.name.is_empty()
    }

    /// Whether the plugin declares its own `GET /health`.
    pub const fn declares_health(&self) -> bool {
        let mut i = 0;
        while i < self.routes.len() {
            let r = self.routes[i];
            if matches!(r.method, Method::Get) && plugin_rules::str_eq(r.path, "/health") {
                return true;
            }
            i += 1;
        }
        false
    }
}
