//! Stand-ins for the items of features that are off. Each exists so that using it is a compile
//! error that names the feature to enable, rather than "cannot find type `Auth`".
//!
//! The bound `for<'a> X: Feature<'a>` is checked where the item is used (a bound with a
//! higher-ranked lifetime is not rejected where it is written), and no stand-in implements it.

use std::marker::PhantomData;

/// Implemented by nothing: the bound of every item of the `auth-store` feature while it is off.
#[cfg(not(feature = "auth-store"))]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is the built-in credential store: it needs the `auth-store` feature of `plugin-routes`",
    label = "needs `features = [\"sqlite\"]` (or `\"postgres\"`) on `plugin-routes`",
    note = "in Cargo.toml: plugin-routes = {{ version = \"0.1\", features = [\"sqlite\"] }}; or give `plugins![auth = ...]` your own `Authenticator`"
)]
pub trait AuthStoreFeature<'a> {}

/// The built-in credential store; this stand-in only says which feature brings it.
#[cfg(not(feature = "auth-store"))]
#[derive(Debug)]
pub struct Auth(PhantomData<()>);

#[cfg(not(feature = "auth-store"))]
impl Auth {
    /// Needs the `auth-store` feature (enabled by `sqlite` or `postgres`).
    pub async fn open<P>(_pool: P, _config: AuthConfig) -> Result<Auth, std::convert::Infallible>
    where
        for<'a> Auth: AuthStoreFeature<'a>,
    {
        unreachable!("no stand-in implements the feature's trait")
    }
}

/// The built-in store's settings; this stand-in only says which feature brings them.
#[cfg(not(feature = "auth-store"))]
#[derive(Debug, Default)]
pub struct AuthConfig(PhantomData<()>);

/// The built-in store's routes; this stand-in only says which feature brings them.
#[cfg(not(feature = "auth-store"))]
#[derive(Debug)]
pub struct AuthRoutes(PhantomData<()>);

#[cfg(not(feature = "auth-store"))]
impl AuthRoutes {
    /// Needs the `auth-store` feature (enabled by `sqlite` or `postgres`).
    pub fn new<A>(_auth: A) -> Self
    where
        for<'a> AuthRoutes: AuthStoreFeature<'a>,
    {
        unreachable!("no stand-in implements the feature's trait")
    }
}

/// Lets `plugins![..., AuthRoutes::new(auth)]` report only the missing feature.
#[cfg(not(feature = "auth-store"))]
impl crate::mount::Plugin for AuthRoutes {
    type State = ();
    const META: &'static crate::declare::PluginMeta = crate::declare::PluginMeta::FALLBACK;

    #[cfg(not(feature = "auth-store"))]
    fn mount(
        self,
        _: &crate::policy::ServerConfig,
        _: Option<&crate::policy::SharedAuthenticator>,
    ) -> axum::Router {
        axum::Router::new()
    }
}

/// Implemented by nothing: the bound of the `settings-page` feature's items while it is off.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is the built-in settings page: it needs the `settings-page` feature of `plugin-routes`",
    label = "needs `features = [\"settings-page\"]` on `plugin-routes`",
    note = "in Cargo.toml: plugin-routes = {{ version = \"0.1\", features = [\"sqlite\", \"settings-page\"] }}"
)]
pub trait SettingsPageFeature<'a> {}

/// The settings page; this stand-in only says which feature brings it.
#[derive(Debug)]
pub struct SettingsPage(PhantomData<()>);

#[allow(
    clippy::new_without_default,
    reason = "a `Default` would not carry the bound that names the feature"
)]
impl SettingsPage {
    /// Needs the `settings-page` feature.
    pub fn new() -> Self
    where
        for<'a> SettingsPage: SettingsPageFeature<'a>,
    {
        unreachable!("no stand-in implements the feature's trait")
    }
}

/// Lets `plugins![..., SettingsPage::new()]` report only the missing feature.
impl crate::mount::Plugin for SettingsPage {
    type State = ();
    const META: &'static crate::declare::PluginMeta = crate::declare::PluginMeta::FALLBACK;

    fn mount(
        self,
        _: &crate::policy::ServerConfig,
        _: Option<&crate::policy::SharedAuthenticator>,
    ) -> axum::Router {
        axum::Router::new()
    }
}
