//! [`ServerConfig`]: the server-wide defaults, and the one place that resolves what applies to a
//! route (route, else plugin, else server) for its timeout, body limit, security and limits. Mounting,
//! the documents and the manifest all ask here, so they cannot disagree.

use super::LimitStore;
use crate::declare::{
    Concurrency, ConcurrencyLimit, LimitKey, PluginMeta, RateLimit, RouteMeta, Security,
};
use std::borrow::Cow;
use std::time::Duration;

/// The plugin prefix of the default layout, `/v1/plugins`.
const DEFAULT_PLUGIN_PREFIX: &str = "/v1/plugins";

/// Server-wide defaults for routes that set neither their own value nor their plugin's.
/// Also what the OpenAPI documents say about the API as a whole, and whether Swagger UI is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    timeout: Duration,
    body_limit: usize,
    title: &'static str,
    api_version: &'static str,
    docs: bool,
    security: Security,
    rate_limits: &'static [RateLimit],
    overrides: Vec<LimitOverride>,
    /// The host's security for a plugin's secured routes, by plugin name.
    plugin_security: Vec<(&'static str, Security)>,
    /// Where plugins of the default layout are served; `None`: `/v1/plugins`.
    plugin_prefix: Option<Cow<'static, str>>,
    limit_store: LimitStore,
    auth_failures: RateLimit,
    max_streams_per_caller: u32,
    /// What the routes record (`None`: nothing), and where it is served (`None`: not served by
    /// the router).
    #[cfg(feature = "metrics")]
    metrics: (Option<crate::metrics::Metrics>, Option<Cow<'static, str>>),
    /// What the routes' spans are made by (`None`: no spans).
    #[cfg(feature = "otel")]
    tracing: Option<crate::otel::Tracing>,
    /// Where the operations of routes declared `operation` are stored and run.
    #[cfg(feature = "operations")]
    operations: Option<crate::operations::Operations>,
}

impl Default for ServerConfig {
    /// 60 s timeout, 1 MiB body limit, documents titled "API" at version 1.0.0, Swagger UI on,
    /// routes that declare nothing need `security(user, token)`, at most 16 event streams per
    /// caller.
    fn default() -> Self {
        ServerConfig {
            timeout: crate::declare::DEFAULT_TIMEOUT,
            body_limit: 1024 * 1024,
            title: "API",
            api_version: "1.0.0",
            docs: true,
            security: Security::DEFAULT,
            rate_limits: &[],
            overrides: Vec::new(),
            plugin_security: Vec::new(),
            plugin_prefix: None,
            limit_store: LimitStore::memory(),
            auth_failures: super::AUTH_FAILURES,
            max_streams_per_caller: 16,
            #[cfg(feature = "metrics")]
            metrics: (
                Some(crate::metrics::Metrics::new()),
                Some(Cow::Borrowed("/metrics")),
            ),
            #[cfg(feature = "otel")]
            tracing: None,
            #[cfg(feature = "operations")]
            operations: None,
        }
    }
}

#[cfg(feature = "operations")]
impl ServerConfig {
    /// Stores and runs the operations of the routes declared `operation` with `operations`
    /// (feature `operations-sqlite` or `operations-postgres`). A server serving such a route
    /// without them refuses to start.
    #[must_use]
    pub fn with_operations(mut self, operations: &crate::operations::Operations) -> Self {
        self.operations = Some(operations.clone());
        self
    }

    /// The operations, if given.
    pub fn operations(&self) -> Option<&crate::operations::Operations> {
        self.operations.as_ref()
    }
}

#[cfg(feature = "metrics")]
impl ServerConfig {
    /// Serves the metrics at `path` (default `/metrics`; feature `metrics`). The route is left
    /// out of the API documents and is public: to protect it, or serve it on another port, use
    /// [`without_metrics_route`](Self::without_metrics_route) and serve
    /// [`Metrics::render`](crate::Metrics::render) from a route of the host's own.
    ///
    /// # Panics
    /// When `path` does not start with `/`.
    #[must_use]
    pub fn with_metrics_path(mut self, path: impl Into<Cow<'static, str>>) -> Self {
        let path = path.into();
        assert!(
            path.starts_with('/'),
            "the metrics path `{path}` must start with `/`, e.g. `/metrics`"
        );
        self.metrics.1 = Some(path);
        self
    }

    /// Records the metrics without serving them on the router: the host serves
    /// [`Metrics::render`](crate::Metrics::render) where it chooses.
    #[must_use]
    pub fn without_metrics_route(mut self) -> Self {
        self.metrics.1 = None;
        self
    }

    /// Records no metrics and serves none, though the feature is compiled in: the routes keep
    /// no counters and a request costs what it costs without the feature, bar one branch.
    #[must_use]
    pub fn without_metrics(mut self) -> Self {
        self.metrics = (None, None);
        self
    }

    /// The server's metrics, to render them or to register a host's or plugin's own; `None`
    /// after [`without_metrics`](Self::without_metrics).
    pub fn metrics(&self) -> Option<&crate::metrics::Metrics> {
        self.metrics.0.as_ref()
    }

    pub(crate) fn metrics_path(&self) -> Option<&str> {
        self.metrics.1.as_deref()
    }
}

#[cfg(feature = "otel")]
impl ServerConfig {
    /// Traces every request of a generated route (feature `otel`): a server span named
    /// `METHOD /route/{template}`, child of the caller's `traceparent`, made by `provider` (the
    /// host's, with the exporter and sampler it chooses). A sampled request's error envelope
    /// carries its `traceId`.
    ///
    /// ```
    /// use plugin_routes::ServerConfig;
    /// use plugin_routes::otel::opentelemetry_sdk::trace::SdkTracerProvider;
    ///
    /// // An exporter is added with `.with_batch_exporter(..)`, e.g. opentelemetry-otlp's.
    /// let provider = SdkTracerProvider::builder().build();
    /// let config = ServerConfig::default().with_tracer_provider(&provider);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn with_tracer_provider(
        mut self,
        provider: &crate::otel::opentelemetry_sdk::trace::SdkTracerProvider,
    ) -> Self {
        self.tracing = Some(crate::otel::Tracing::new(provider));
        self
    }

    pub(crate) fn tracing(&self) -> Option<&crate::otel::Tracing> {
        self.tracing.as_ref()
    }
}

impl ServerConfig {
    /// Sets the rate limits of routes whose route and plugin declare none (default: none).
    ///
    /// ```
    /// use plugin_routes::{LimitKey, RateLimit, ServerConfig};
    ///
    /// const PER_ADDRESS: &[RateLimit] = &[RateLimit {
    ///     name: "default",
    ///     quota: 600,
    ///     window_secs: 60,
    ///     burst: 600,
    ///     key: LimitKey::Address,
    /// }];
    /// let config = ServerConfig::default().with_rate_limits(PER_ADDRESS);
    /// # let _ = config;
    /// ```
    ///
    /// # Panics
    ///
    /// With more than 8 policies, as `rate_limit(...)` on a route does not compile with more.
    #[must_use]
    pub fn with_rate_limits(mut self, limits: &'static [RateLimit]) -> Self {
        assert!(
            limits.len() <= plugin_routes_rules::MAX_RATE_LIMITS,
            "a route can have at most {} rate-limit policies; the server default has {}",
            plugin_routes_rules::MAX_RATE_LIMITS,
            limits.len()
        );
        self.rate_limits = limits;
        self
    }

    /// Changes a rate-limit policy a plugin declares: wherever a route of `over.plugin` (or the
    /// plugin itself) declares the policy `over.policy`, its quota and window are the override's,
    /// and so is its burst (the new quota). The documents and the manifest show the limit in
    /// force. An override that names no plugin or policy mounted stops the assembly.
    ///
    /// ```
    /// use plugin_routes::{LimitOverride, ServerConfig};
    ///
    /// let more: LimitOverride = "ai.generations=100/1m".parse().expect("an override");
    /// let config = ServerConfig::default().with_rate_limit_override(more);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn with_rate_limit_override(mut self, over: LimitOverride) -> Self {
        self.overrides
            .retain(|o| (&o.plugin, &o.policy) != (&over.plugin, &over.policy));
        self.overrides.push(over);
        self
    }

    /// The overrides of declared rate limits, in the order given.
    pub fn rate_limit_overrides(&self) -> &[LimitOverride] {
        &self.overrides
    }

    /// Checks that every rate-limit override names a policy one of `plugins` declares (their
    /// `META`s, as they will be mounted). The assembly makes the same check and stops there;
    /// a host whose overrides come from its operator (a flag, a variable) calls this first, to
    /// refuse a wrong one with a message rather than a panic.
    ///
    /// # Errors
    /// The first override that names nothing, said in words.
    pub fn check_rate_limit_overrides(&self, plugins: &[&PluginMeta]) -> Result<(), String> {
        // Every `plugin.policy` the mounted plugins declare, in order, once each.
        let mut declared: Vec<(&str, &str)> = Vec::new();
        for p in plugins {
            let policies = crate::declare::served_routes(p)
                .filter_map(|r| r.rate_limits)
                .chain(p.rate_limits)
                .flatten();
            for l in policies {
                if !declared.contains(&(p.name, l.name)) {
                    declared.push((p.name, l.name));
                }
            }
        }
        for o in &self.overrides {
            if !declared.contains(&(o.plugin.as_ref(), o.policy.as_ref())) {
                let names: Vec<String> = declared.iter().map(|(p, l)| format!("{p}.{l}")).collect();
                let known = if names.is_empty() {
                    "no mounted plugin declares a rate limit".to_owned()
                } else {
                    format!("the policies there are: {}", names.join(", "))
                };
                return Err(format!(
                    "the rate-limit override `{}.{}` names no policy a mounted plugin declares \
                     ({known}); write `plugin.policy=quota/window` with a plugin in plugins![...] \
                     and a policy of its `rate_limit(...)` (`default` when the policy has no name)",
                    o.plugin, o.policy
                ));
            }
        }
        Ok(())
    }

    /// Sets where quotas are counted (default: in this process). With the `redis` feature, a
    /// Redis store shares them among every server that uses it:
    ///
    /// ```no_run
    /// # #[cfg(feature = "redis")] {
    /// use plugin_routes::{LimitStore, ServerConfig, WhenUnreachable};
    ///
    /// let store = LimitStore::redis("redis://127.0.0.1:6379")
    ///     .expect("a redis:// URL")
    ///     .when_unreachable(WhenUnreachable::Refuse);
    /// let config = ServerConfig::default().with_limit_store(store);
    /// # let _ = config;
    /// # }
    /// ```
    #[must_use]
    pub fn with_limit_store(mut self, store: impl Into<LimitStore>) -> Self {
        self.limit_store = store.into();
        self
    }

    /// Where quotas are counted.
    pub fn limit_store(&self) -> &LimitStore {
        &self.limit_store
    }

    /// Sets how many failed authentications a client address may make before it is refused
    /// with 429 (default [`AUTH_FAILURES`](crate::auth::AUTH_FAILURES): 10 a minute). The
    /// policy's `key` is ignored: failures are always counted per address.
    #[must_use]
    pub fn with_auth_failure_limit(mut self, policy: RateLimit) -> Self {
        self.auth_failures = policy;
        self
    }

    /// How many failed authentications a client address may make.
    pub fn auth_failure_limit(&self) -> &RateLimit {
        &self.auth_failures
    }

    /// The rate limits in force for `route` of `plugin`: the route's `rate_limit(...)`, else the
    /// plugin's, else the server's, with the overrides for `plugin` applied. Empty means
    /// unlimited.
    pub fn rate_limits_for(
        &self,
        plugin: &PluginMeta,
        route: &RouteMeta,
    ) -> Cow<'static, [RateLimit]> {
        let declared = route
            .rate_limits
            .or(plugin.rate_limits)
            .unwrap_or(self.rate_limits);
        let applies =
            |o: &&LimitOverride, l: &RateLimit| o.plugin == plugin.name && o.policy == l.name;
        if !declared
            .iter()
            .any(|l| self.overrides.iter().any(|o| applies(&o, l)))
        {
            return Cow::Borrowed(declared);
        }
        Cow::Owned(
            declared
                .iter()
                .map(|l| match self.overrides.iter().find(|o| applies(o, l)) {
                    Some(o) => RateLimit {
                        quota: o.quota,
                        window_secs: o.window_secs,
                        burst: o.quota,
                        ..*l
                    },
                    None => *l,
                })
                .collect(),
        )
    }

    /// Sets how many event streams one caller may have open at once on streamed routes whose
    /// route and plugin declare no `concurrency(...)` (default 16; 0 for no cap). Counted across
    /// all those routes together, per caller (its user or key id; its address when it has none),
    /// in the [`LimitStore`]; one past the cap is answered `429 RATE_LIMITED` with the policy
    /// `streams` in its details.
    ///
    /// ```
    /// use plugin_routes::ServerConfig;
    ///
    /// let config = ServerConfig::default().with_max_streams_per_caller(4);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn with_max_streams_per_caller(mut self, streams: u32) -> Self {
        self.max_streams_per_caller = streams;
        self
    }

    /// How many event streams one caller may have open at once where no route or plugin says.
    pub fn max_streams_per_caller(&self) -> u32 {
        self.max_streams_per_caller
    }

    /// The concurrency cap in force for `route` of `plugin`: the route's `concurrency(...)`,
    /// else the plugin's, else (for a streamed route) the server's cap on streams per caller.
    /// `None` means uncapped.
    pub fn concurrency_for(
        &self,
        plugin: &PluginMeta,
        route: &RouteMeta,
    ) -> Option<ConcurrencyLimit> {
        match route.concurrency.or(plugin.concurrency) {
            Some(Concurrency::Unlimited) => None,
            Some(Concurrency::Capped { limit, key }) => Some(ConcurrencyLimit {
                name: ConcurrencyLimit::DECLARED,
                limit,
                key,
                shared: false,
            }),
            None if route.streams() => self.stream_cap(),
            None => None,
        }
    }

    /// The server's cap on event streams per caller (`None` when 0): what streamed routes that
    /// declare no cap, and operations' event streams, count against together.
    pub(crate) fn stream_cap(&self) -> Option<ConcurrencyLimit> {
        (self.max_streams_per_caller > 0).then_some(ConcurrencyLimit {
            name: ConcurrencyLimit::STREAMS,
            limit: self.max_streams_per_caller,
            key: LimitKey::Caller,
            shared: true,
        })
    }

    /// Sets the default route timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the default body limit in bytes.
    #[must_use]
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Sets the title and version in the `info` of the OpenAPI documents.
    #[must_use]
    pub fn with_api_info(mut self, title: &'static str, version: &'static str) -> Self {
        self.title = title;
        self.api_version = version;
        self
    }

    /// Leaves out Swagger UI (`/docs`); the documents are still served.
    #[must_use]
    pub fn without_docs(mut self) -> Self {
        self.docs = false;
        self
    }

    /// Sets the security of routes whose route and plugin declare none (`security(user, token)`,
    /// the built-in store's, by default): a server with its own authenticator names its schemes,
    /// `Security::of(&["gateway"])`.
    #[must_use]
    pub fn with_default_security(mut self, security: Security) -> Self {
        self.security = security;
        self
    }

    /// The security of routes whose route and plugin declare none.
    pub fn default_security(&self) -> Security {
        self.security
    }

    /// Admits callers to the secured routes of the plugin named `plugin` that take the
    /// plugin's or the server's security by the host's own schemes instead: how a plugin
    /// written for the built-in store (`#[plugin(security(user, token, oauth))]`) is mounted
    /// behind a gateway. A route that declares its own `security(...)` keeps it (it may have
    /// narrowed it on purpose, `security(user)` for managing keys), and the server refuses to
    /// start if nothing serves it; public routes stay public, scopes stay required.
    ///
    /// ```
    /// use plugin_routes::{Security, ServerConfig};
    ///
    /// let config = ServerConfig::default()
    ///     .with_default_security(Security::of(&["gateway"]))
    ///     .with_plugin_security("items", Security::of(&["gateway"]));
    /// # let _ = config;
    /// ```
    ///
    /// # Panics
    /// With `Security::NONE`: making a plugin's secured routes public is not the host's call
    /// here; the server also refuses to start when no mounted plugin has the name.
    #[must_use]
    pub fn with_plugin_security(mut self, plugin: &'static str, security: Security) -> Self {
        assert!(
            !security.is_public(),
            "with_plugin_security(\"{plugin}\", ...) needs at least one scheme: it cannot make a plugin's secured routes public"
        );
        self.plugin_security.retain(|(p, _)| *p != plugin);
        self.plugin_security.push((plugin, security));
        self
    }

    /// Serves the plugins under the host's own prefix instead of `/v1/plugins`: a plugin of the
    /// default layout, `/v1/plugins/notes`, is served at `<prefix>/notes`
    /// (`/api/v1/plugin/notes` with `/api/v1/plugin`), and a plugin may declare a base path
    /// under the prefix (`base_path = "/api/v1/plugin/notes-v2"`). The documents, the manifest,
    /// the trailing-slash redirects and the readiness report follow; a typed client follows
    /// with `Client::with_plugin_prefix` (feature `client`). Routes at
    /// `/v1/auth` and at the site's own paths (`/openapi.json`, `/docs`) do not move.
    ///
    /// ```
    /// use plugin_routes::ServerConfig;
    ///
    /// let config = ServerConfig::default().with_plugin_prefix("/api/v1/plugin");
    /// assert_eq!(config.plugin_prefix(), "/api/v1/plugin");
    /// ```
    ///
    /// # Panics
    /// When `prefix` is not an absolute path of plain segments without a trailing `/`.
    #[must_use]
    pub fn with_plugin_prefix(mut self, prefix: impl Into<Cow<'static, str>>) -> Self {
        let prefix = prefix.into();
        if let Err(e) = plugin_routes_rules::check_plugin_prefix(&prefix) {
            panic!("{e}");
        }
        self.plugin_prefix = Some(prefix);
        self
    }

    /// Where plugins of the default layout are served: `/v1/plugins` unless
    /// [`ServerConfig::with_plugin_prefix`] set another.
    pub fn plugin_prefix(&self) -> &str {
        self.plugin_prefix
            .as_deref()
            .unwrap_or(DEFAULT_PLUGIN_PREFIX)
    }

    /// Where `plugin` is served on this server: its declared base path, moved under the
    /// plugin prefix when it follows the default layout.
    pub fn base_path_of(&self, plugin: &PluginMeta) -> Cow<'static, str> {
        match plugin_routes_rules::rebase(plugin.base_path, self.plugin_prefix()) {
            Some(moved) => Cow::Owned(moved),
            None => Cow::Borrowed(plugin.base_path),
        }
    }

    /// Whether this server may serve `plugin` where it is declared: the default layout, the
    /// authenticator's and the site's base paths, or a path under the plugin prefix.
    pub(crate) fn admits_base_path(&self, plugin: &PluginMeta) -> bool {
        let base = plugin.base_path;
        plugin_routes_rules::in_default_layout(base)
            || base == plugin_routes_rules::AUTH_BASE_PATH
            || base == plugin_routes_rules::SITE_BASE_PATH
            || base
                .strip_prefix(self.plugin_prefix())
                .is_some_and(|rest| rest.len() > 1 && rest.starts_with('/'))
    }

    /// The plugins whose security the host set, by name.
    pub(crate) fn plugin_security_overrides(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.plugin_security.iter().map(|(p, _)| *p)
    }

    /// The security in force for `route` of `plugin` and the scopes it requires: the route's
    /// `security`, else the plugin's or this default (either replaced by the host's,
    /// [`ServerConfig::with_plugin_security`], unless public); the route's `scopes`, else the
    /// plugin's. A public route requires no scopes.
    pub fn security_for(
        &self,
        plugin: &PluginMeta,
        route: &RouteMeta,
    ) -> (Security, &'static [&'static str]) {
        let mut security = route.security.or(plugin.security).unwrap_or(self.security);
        if security.is_public() {
            return (security, &[]);
        }
        if route.security.is_none()
            && let Some((_, host)) = self.plugin_security.iter().find(|(p, _)| *p == plugin.name)
        {
            security = *host;
        }
        (security, route.scopes.or(plugin.scopes).unwrap_or(&[]))
    }

    /// The API's title in the documents.
    pub fn title(&self) -> &'static str {
        self.title
    }

    /// The API's version in the documents.
    pub fn api_version(&self) -> &'static str {
        self.api_version
    }

    /// Whether Swagger UI is served at `/docs`: on unless [`ServerConfig::without_docs`] was
    /// called, and only with the `swagger-ui` feature.
    pub fn docs(&self) -> bool {
        self.docs && cfg!(feature = "swagger-ui")
    }

    /// The timeout in force for `route` of `plugin`: the route's `timeout_ms`, else the plugin's,
    /// else this default. Mounting, the documents and the manifest all ask here.
    pub fn timeout_for(&self, plugin: &PluginMeta, route: &RouteMeta) -> Duration {
        route
            .timeout_ms
            .or(plugin.timeout_ms)
            .map_or(self.timeout, Duration::from_millis)
    }

    /// The body limit in force for `route` of `plugin`, in bytes, resolved like
    /// [`ServerConfig::timeout_for`].
    pub fn body_limit_for(&self, plugin: &PluginMeta, route: &RouteMeta) -> usize {
        route
            .body_limit
            .or(plugin.body_limit)
            .map_or(self.body_limit, |b| {
                usize::try_from(b).unwrap_or(usize::MAX)
            })
    }

    /// The default route timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The default body limit in bytes.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }
}

/// A new quota and window for a rate-limit policy a plugin declares:
/// [`ServerConfig::with_rate_limit_override`]. Written `plugin.policy=quota/window`
/// (`ai.generations=100/1m`; windows in `s`, `m`, `h` or `d`), as `FromStr` reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitOverride {
    /// The plugin's name.
    pub plugin: String,
    /// The policy's name, as declared (`default` for `rate_limit(50, per = "1m")`).
    pub policy: String,
    /// Requests admitted per window.
    pub quota: u32,
    /// The window, in seconds.
    pub window_secs: u64,
}

impl std::str::FromStr for LimitOverride {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let shape = || {
            format!(
                "`{s}` is not an override: write `plugin.policy=quota/window`, e.g. `ai.generations=100/1m`"
            )
        };
        let (name, limit) = s.split_once('=').ok_or_else(shape)?;
        let (plugin, policy) = name.trim().split_once('.').ok_or_else(shape)?;
        let (quota, window) = limit.trim().split_once('/').ok_or_else(shape)?;
        if plugin.is_empty() || policy.is_empty() {
            return Err(shape());
        }
        let quota: u32 = quota
            .trim()
            .parse()
            .ok()
            .filter(|q| *q > 0)
            .ok_or_else(|| format!("`{quota}` in `{s}` is not a quota: a whole number from 1"))?;
        let window_secs = plugin_routes_rules::parse_window(window.trim())?;
        Ok(LimitOverride {
            plugin: plugin.to_owned(),
            policy: policy.to_owned(),
            quota,
            window_secs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::LimitOverride;

    #[test]
    fn overrides_read_plugin_policy_quota_and_window() {
        let o: LimitOverride = "ai.generations=100/1m".parse().unwrap();
        assert_eq!(
            o,
            LimitOverride {
                plugin: "ai".into(),
                policy: "generations".into(),
                quota: 100,
                window_secs: 60
            }
        );
        for bad in [
            "ai=100/1m",
            "ai.generations=100",
            "ai.generations=0/1m",
            ".x=1/1s",
        ] {
            assert!(bad.parse::<LimitOverride>().is_err(), "{bad}");
        }
        let e = "ai.generations=5/1w".parse::<LimitOverride>().unwrap_err();
        assert!(e.contains("unknown unit"), "{e}");
    }
}
