//! `GET /settings`: a page to log in and manage API keys, served by the runtime with no external
//! assets. Its style and script are inline, allowed by their SHA-256 in a strict
//! Content-Security-Policy (nothing else may load, and it talks only to this server).

use crate::declare::PluginMeta;
use crate::mount::Plugin;
use crate::policy::{ServerConfig, SharedAuthenticator};
use crate::request::{Ctx, Html, RouteResult, WithHeaders};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderValue, header};
use plugin_routes_macros::{plugin, plugin_route};
use sha2::{Digest, Sha256};

const HTML: &str = include_str!("settings/page.html");
const STYLE: &str = include_str!("settings/page.css");
const SCRIPT: &str = include_str!("settings/page.js");

fn csp_hash(text: &str) -> String {
    format!(
        "'sha256-{}'",
        STANDARD.encode(Sha256::digest(text.as_bytes()))
    )
}

/// The page with its headers.
type Page = WithHeaders<Html>;

/// The page and its policy, built once when the plugin is.
fn page() -> Page {
    let body = Bytes::from(
        HTML.replace("{{STYLE}}", STYLE)
            .replace("{{SCRIPT}}", SCRIPT),
    );
    let policy = format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; img-src 'self'; \
         form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
        csp_hash(SCRIPT),
        csp_hash(STYLE)
    );
    let policy =
        HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static("default-src 'none'"));
    WithHeaders::new(Html::new(body))
        .header(header::CONTENT_SECURITY_POLICY, policy)
        .header(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        )
        .header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
}

/// A page to log in and create, list and revoke API keys
///
/// It talks only to this server's `/v1/auth/*` routes.
#[plugin_route(
    crate = "crate",
    method = "GET",
    path = "/settings",
    operation_id = "settings"
)]
async fn settings(page: Ctx<Page>) -> RouteResult<Page> {
    Ok(page.state().clone())
}

/// The settings page: log in, and manage your API keys.
#[plugin(
    crate = "crate",
    name = "settings",
    version = "0.1.0",
    base_path = "/",
    state = Page,
    security(none),
    rate_limit(none),
    routes(settings)
)]
struct SettingsApi;

/// `GET /settings`, a page to log in and create, list and revoke API keys with the built-in
/// store (feature `settings-page`): a plugin at the site base path, listed next to
/// [`AuthRoutes`](crate::auth::AuthRoutes).
///
/// ```no_run
/// # async fn run(pool: sqlx::AnyPool) -> Result<(), Box<dyn std::error::Error>> {
/// use plugin_routes::auth::{Auth, AuthConfig, AuthRoutes, SettingsPage};
/// use plugin_routes::plugins;
///
/// let auth = Auth::open(pool, AuthConfig::default()).await?;
/// let app: axum::Router =
///     plugins![auth = auth.clone(); AuthRoutes::new(auth), SettingsPage::new()];
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SettingsPage(SettingsApi);

impl SettingsPage {
    /// The page, with its style and script inline.
    pub fn new() -> Self {
        SettingsPage(SettingsApi::new(page()))
    }
}

impl Default for SettingsPage {
    fn default() -> Self {
        Self::new()
    }
}

impl Plugin for SettingsPage {
    type State = Page;

    const META: &'static PluginMeta = SettingsApi::META;

    fn mount(self, server: &ServerConfig, auth: Option<&SharedAuthenticator>) -> axum::Router {
        self.0.mount(server, auth)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_settings_plugin_has_the_crate_s_version() {
        use crate::mount::Plugin;
        assert_eq!(super::SettingsApi::META.version, env!("CARGO_PKG_VERSION"));
    }
}
