//! [`Assembly`]: what `plugins![...]` expands to. It mounts each plugin with the server's
//! defaults and authenticator, builds the OpenAPI documents once from what the plugins declare,
//! and answers everything no route matches (404, 405) in the one envelope, or with a redirect
//! when only a trailing `/` is in the way.

use crate::declare::{Method, PluginMeta, served_routes};
use crate::lifecycle::{Readiness, ReadyCheck};
use crate::mount::Plugin;
use crate::policy::{
    Authenticator, LimitStore, Scheme, ServerConfig, SharedAuthenticator, WhenUnreachable,
};
use crate::request::{ApiError, FrameworkCode, RequestId};
use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use plugin_routes_rules::full_path;
use std::sync::Arc;

/// Collects plugins into one router; used by `plugins![]`.
#[doc(hidden)]
#[derive(Debug)]
pub struct Assembly {
    config: ServerConfig,
    auth: Option<SharedAuthenticator>,
    router: Router,
    plugins: Vec<&'static PluginMeta>,
    ready: Vec<(&'static str, Option<ReadyCheck>)>,
}

impl Assembly {
    pub fn new(config: ServerConfig) -> Self {
        Assembly {
            config,
            auth: None,
            router: Router::new(),
            plugins: Vec::new(),
            ready: Vec::new(),
        }
    }

    /// Checks the credentials of requests to every route that is not public with `auth`, and
    /// counts its failures per client address in the configuration's limit store.
    #[must_use]
    pub fn with_auth(mut self, auth: impl Authenticator) -> Self {
        let shared = SharedAuthenticator::counting_in(
            auth,
            self.config.limit_store().clone(),
            *self.config.auth_failure_limit(),
        );
        #[cfg(feature = "metrics")]
        if let Some(metrics) = self.config.metrics() {
            shared.count_failures_in(metrics);
        }
        self.auth = Some(shared);
        self
    }

    /// # Panics
    /// When `P` would be served at the base path of a plugin mounted before it (one declared
    /// there, the other moved there by the plugin prefix), naming both.
    #[must_use]
    pub fn mount<P: Plugin>(mut self, plugin: P) -> Self {
        let served = self.config.base_path_of(P::META);
        if let Some(q) = self
            .plugins
            .iter()
            .find(|q| !P::META.is_site() && self.config.base_path_of(q) == served)
        {
            panic!(
                "plugins `{}` and `{}` would both be served at `{served}` (one declared there, the other moved there by the plugin prefix): give one of them another base path",
                q.name,
                P::META.name
            );
        }
        self.ready.push((P::META.name, plugin.ready_check()));
        self.router = self
            .router
            .merge(plugin.mount(&self.config, self.auth.as_ref()));
        self.plugins.push(P::META);
        self
    }

    /// The router, with the OpenAPI documents (built here, once) and Swagger UI.
    ///
    /// # Panics
    /// As [`Assembly::finish_app`].
    pub fn finish(self) -> Router {
        self.finish_app().into_router()
    }

    /// The assembled application: the router, and the documents and manifest it serves.
    ///
    /// # Panics
    /// When no authenticator was given and a route needs one through the server's default
    /// security (the compile-time check cannot see a `ServerConfig` built at run time): the
    /// server refuses to start, naming the routes and the two ways to fix it. Likewise when a
    /// route names a security scheme the authenticator does not serve, and when a rate-limit
    /// override names no policy a mounted plugin declares.
    pub fn finish_app(self) -> App {
        for p in &self.plugins {
            assert!(
                self.config.admits_base_path(p),
                "plugin `{}` declares base_path `{}`, outside this server's plugin prefix `{}`: serve plugins under the host's prefix with `ServerConfig::with_plugin_prefix(\"...\")`, or declare a base path under it",
                p.name,
                p.base_path,
                self.config.plugin_prefix()
            );
        }
        for name in self.config.plugin_security_overrides() {
            assert!(
                self.plugins.iter().any(|p| p.name == name),
                "ServerConfig::with_plugin_security names `{name}`, which is not a plugin in plugins![...]"
            );
        }
        if let Some(auth) = &self.auth {
            self.check_schemes(auth.schemes());
        } else {
            let unprotected = self.needing_authentication();
            assert!(
                unprotected.is_empty(),
                "these routes need authentication, but plugins![...] has nothing to check credentials with: {}; \
                 add `auth = <an Authenticator>;` to plugins![...] (the built-in store is `plugin_routes::auth::Auth`), \
                 or declare `security(none)` on the routes or their plugins if they are public",
                unprotected.join(", ")
            );
        }
        if let Err(e) = self.config.check_rate_limit_overrides(&self.plugins) {
            panic!("{e}");
        }
        let schemes = self
            .auth
            .as_ref()
            .map_or(&[][..], SharedAuthenticator::schemes);
        let specs = crate::openapi::Specs::build(&self.config, schemes, &self.plugins);
        let manifest = crate::manifest(&self.config, &self.plugins);
        let mut served = matchit::Router::new();
        let every = self
            .plugins
            .iter()
            .copied()
            .chain(crate::openapi::server_plugins(&self.config));
        for p in every {
            for r in served_routes(p).filter(|r| matches!(r.method, Method::Get)) {
                // Two templates differing only in a parameter's name conflict here; one of them
                // answers for both, which is all a "does this path exist" question needs.
                let _ = served.insert(full_path(&self.config.base_path_of(p), r.path), ());
            }
        }
        let served = Arc::new(served);
        let ready = Arc::new(ReadyChecks {
            plugins: self.ready,
            store: self.config.limit_store().clone(),
            auth: self.auth.clone(),
            last: std::sync::Mutex::new(None),
        });
        let router = self
            .router
            .route(
                READY_PATH,
                axum::routing::get(move |request: Request| readiness(request, Arc::clone(&ready))),
            )
            .merge(metrics_route(&self.config))
            .merge(specs.clone().mount(&self.config))
            .fallback(move |request: Request| not_found(request, Arc::clone(&served)))
            .method_not_allowed_fallback(method_not_allowed);
        App {
            router,
            specs,
            manifest,
            plugins: self.plugins,
        }
    }

    /// Refuses to start when a route names a security scheme the authenticator does not serve:
    /// it would answer 401 to everyone.
    fn check_schemes(&self, served: &[Scheme]) {
        let mut unserved = Vec::new();
        let mut inherited = false;
        for p in &self.plugins {
            for r in served_routes(p) {
                let security = self.config.security_for(p, r).0;
                let missing: Vec<&str> = security
                    .schemes()
                    .iter()
                    .copied()
                    .filter(|n| !served.iter().any(|s| s.name() == *n))
                    .collect();
                if missing.is_empty() {
                    continue;
                }
                inherited |= r.security.is_none() && p.security.is_none();
                let named: Vec<String> = missing
                    .iter()
                    .map(|n| {
                        let names: Vec<&str> = served.iter().map(Scheme::name).collect();
                        match plugin_routes_rules::did_you_mean(n, &names) {
                            Some(close) => format!("`{n}` (did you mean `{close}`?)"),
                            None => format!("`{n}`"),
                        }
                    })
                    .collect();
                unserved.push(format!(
                    "{} {} names {}",
                    r.method.as_str(),
                    full_path(&self.config.base_path_of(p), r.path),
                    named.join(" and ")
                ));
            }
        }
        if unserved.is_empty() {
            return;
        }
        let serves: Vec<String> = served.iter().map(|s| format!("`{}`", s.name())).collect();
        let default = if inherited {
            format!(
                "; routes that declare no `security(...)` take the server's default, {}: set it with `ServerConfig::with_default_security(Security::of(&[...]))` or declare `security(...)` on the plugin",
                self.config
                    .default_security()
                    .schemes()
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            String::new()
        };
        panic!(
            "these routes name security schemes that the authenticator of plugins![...] does not serve, so they would refuse everyone: {}; it serves {}{default}",
            unserved.join(", "),
            if serves.is_empty() {
                "none".to_owned()
            } else {
                serves.join(", ")
            }
        );
    }

    /// `GET /v1/plugins/items/items`, ... for every route whose security is not public.
    fn needing_authentication(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.plugins {
            for r in served_routes(p) {
                if !self.config.security_for(p, r).0.is_public() {
                    out.push(format!(
                        "{} {}",
                        r.method.as_str(),
                        full_path(&self.config.base_path_of(p), r.path)
                    ));
                }
            }
        }
        out
    }
}

/// An assembled application, made by [`app!`](crate::app): the router to serve, and the OpenAPI
/// documents and manifest of exactly what it serves — the same bytes its `/openapi*.json` routes
/// answer — to export from the program that serves them, so they cannot drift from it.
///
/// Routes written with plain axum and merged into the router afterwards are not in the
/// documents or the manifest: only what a plugin declares is described. Declare a route with
/// `#[plugin_route]` in a plugin to have it documented (and checked).
#[derive(Clone, Debug)]
pub struct App {
    router: Router,
    specs: crate::openapi::Specs,
    manifest: serde_json::Value,
    plugins: Vec<&'static PluginMeta>,
}

impl App {
    /// The router to serve (cheap: routers share their routes).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The router to serve.
    pub fn into_router(self) -> Router {
        self.router
    }

    /// Each OpenAPI document with the path it is served at (`openapi.json`,
    /// `openapi-plugins.json`, `plugins/<plugin>.json`, then their 3.0 renderings), the bytes
    /// the server answers.
    pub fn documents(&self) -> Vec<(String, &[u8])> {
        self.specs.files()
    }

    /// The manifest: every plugin, route, error code, limit, scope and permission.
    pub fn manifest(&self) -> &serde_json::Value {
        &self.manifest
    }

    /// Whether the plugin `P` is mounted in this app (a `#[plugin]` left out of `app![...]`
    /// is served nowhere and documented nowhere).
    pub fn serves<P: Plugin>(&self) -> bool {
        // By name and base path: a `const`'s address is not guaranteed to be one.
        self.plugins
            .iter()
            .any(|p| p.name == P::META.name && p.base_path == P::META.base_path)
    }

    /// Panics, naming them, if any of `plugins` (a crate's plugins, listed in its tests) is not
    /// mounted in this app.
    ///
    /// # Panics
    /// A plugin of `plugins` that `app![...]` did not mount.
    pub fn assert_mounted(&self, plugins: &[&'static PluginMeta]) {
        let missing: Vec<&str> = plugins
            .iter()
            .filter(|p| {
                !self
                    .plugins
                    .iter()
                    .any(|m| m.name == p.name && m.base_path == p.base_path)
            })
            .map(|p| p.name)
            .collect();
        assert!(
            missing.is_empty(),
            "these plugins are declared but not mounted in the app, so nothing serves or documents them: {}; add them to app![...] (or plugins![...])",
            missing.join(", ")
        );
    }

    /// Writes every document (as [`App::documents`] names them) and the manifest
    /// (`manifest.json`) under `dir`, creating directories as needed; answers the files
    /// written.
    ///
    /// # Errors
    /// A directory or file that cannot be written.
    pub fn write_documents(
        &self,
        dir: &std::path::Path,
    ) -> std::io::Result<Vec<std::path::PathBuf>> {
        let mut manifest = serde_json::to_vec_pretty(&self.manifest)?;
        manifest.push(b'\n');
        let mut written = Vec::new();
        for (name, bytes) in self
            .documents()
            .into_iter()
            .chain([("manifest.json".to_owned(), &manifest[..])])
        {
            let path = dir.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, bytes)?;
            written.push(path);
        }
        Ok(written)
    }
}

impl From<App> for Router {
    fn from(app: App) -> Router {
        app.router
    }
}

/// `404 NOT_FOUND`; but a `GET` or `HEAD` of `/some/path/` where `/some/path` is a `GET` route
/// is sent there with `308 Permanent Redirect`, the query kept (as FastAPI and most routers do).
async fn not_found(request: Request, served: Arc<matchit::Router<()>>) -> Response {
    let request_id = RequestId::from_headers(request.headers());
    let path = request.uri().path();
    let reads = request.method() == http::Method::GET || request.method() == http::Method::HEAD;
    if let Some(trimmed) = path.strip_suffix('/').filter(|t| reads && !t.is_empty())
        && served.at(trimmed).is_ok()
    {
        let target = match request.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        if let Ok(location) = http::HeaderValue::from_str(&target) {
            let mut response = http::StatusCode::PERMANENT_REDIRECT.into_response();
            response
                .headers_mut()
                .insert(http::header::LOCATION, location);
            response
                .headers_mut()
                .insert(crate::request::REQUEST_ID_HEADER, request_id.header_value());
            return response;
        }
    }
    ApiError::framework(
        FrameworkCode::NotFound,
        format!("no route for {} {}", request.method(), request.uri().path()),
    )
    .into_response(&request_id)
}

/// The readiness route: for load balancers and Kubernetes' `readinessProbe`; `<base>/health`
/// stays each plugin's liveness. Not in the API documents.
pub(crate) const READY_PATH: &str = "/ready";

/// What the readiness route asks: each plugin's `ready` hook, the rate-limit store when it is
/// Redis, and the authenticator's own check (the credential store's database).
struct ReadyChecks {
    plugins: Vec<(&'static str, Option<ReadyCheck>)>,
    store: LimitStore,
    auth: Option<SharedAuthenticator>,
    /// What the latest check found: each change is logged once.
    last: std::sync::Mutex<Option<Observed>>,
}

/// What a readiness check found.
#[derive(Clone, Copy)]
struct Observed {
    ready: bool,
    /// When the check that found the current state began.
    since: std::time::Instant,
    /// When the latest check taken into account began.
    asked: std::time::Instant,
}

impl ReadyChecks {
    /// Logs a change of readiness: a warning with the reasons when the server stops being
    /// ready (a database gone, a plugin's hook), and when it is ready again, after how long. An
    /// operator reading the log sees where an outage began and ended, not a line per probe. A
    /// check that began before the latest one counted is late (it waited out a bound while a
    /// later one answered) and changes nothing.
    fn note(&self, asked: std::time::Instant, ready: bool, waiting: &[String]) {
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        let before = *last;
        match before {
            Some(seen) if asked < seen.asked => return,
            Some(seen) if seen.ready == ready => {
                *last = Some(Observed { asked, ..seen });
                return;
            }
            _ => {
                *last = Some(Observed {
                    ready,
                    since: asked,
                    asked,
                });
            }
        }
        drop(last);
        match (ready, before) {
            (true, Some(was)) => tracing::info!(
                not_ready_for_ms =
                    u64::try_from(asked.duration_since(was.since).as_millis()).unwrap_or(u64::MAX),
                "the server is ready again"
            ),
            (true, None) => {}
            (false, _) => tracing::warn!(
                waiting = %waiting.join(", "),
                "the server is not ready"
            ),
        }
    }
}

/// How long the readiness route waits for the database or Redis to answer.
const ASK_AT_MOST: std::time::Duration = std::time::Duration::from_secs(2);

/// `200 {"status": "ready", "plugins": {"items": "ready", ...}, "database": "ready", "redis":
/// "ready", "sandbox": {...}}` when every plugin's `ready` hook says so (a plugin without one is
/// ready while it is mounted), the authenticator's database answers (and on PostgreSQL takes
/// writes), and Redis answers where
/// the rate limits count in it; otherwise `503 NOT_READY`, the same in `details` with each
/// reason. `database` is there when the authenticator has something to ask (the credential
/// store), `redis` when the limit store is Redis. A Redis set to admit requests uncounted while
/// unreachable (the default) is reported but does not make the server unready: it still serves.
/// `sandbox` is what the kernel enforces on the programs plugins start
/// ([`crate::reach::enforcement`]). Each change of readiness is logged once: a warning with the
/// reasons when it is lost, and how long it was lost for when it is back.
async fn readiness(request: Request, checks: Arc<ReadyChecks>) -> Response {
    let asked_at = std::time::Instant::now();
    let request_id = RequestId::from_headers(request.headers());
    let asked = checks
        .auth
        .as_ref()
        .and_then(SharedAuthenticator::readiness);
    let database = async move {
        match asked {
            Some(f) => Some(within_limit(f).await),
            None => None,
        }
    };
    // `None` for a store in this process: nothing to ask.
    let redis = within_limit(checks.store.reachable());
    let (answers, database, redis) = tokio::join!(ask_plugins(&checks.plugins), database, redis);
    let mut plugins = serde_json::Map::new();
    let mut waiting = Vec::new();
    for ((name, _), answer) in checks.plugins.iter().zip(answers) {
        let said = match answer {
            Readiness::Ready => "ready".to_owned(),
            Readiness::NotReady(why) => {
                waiting.push(format!("{name} ({why})"));
                why.into_owned()
            }
        };
        plugins.insert((*name).to_owned(), said.into());
    }
    let mut services = serde_json::Map::new();
    if let Some(answer) = database {
        let said = match answer {
            Ok(()) => "ready".to_owned(),
            Err(why) => {
                waiting.push(format!("database ({why})"));
                why
            }
        };
        services.insert("database".to_owned(), said.into());
    }
    if let Some(answer) = redis {
        let said = match (answer, checks.store.when_unreachable()) {
            (Ok(()), _) => "ready".to_owned(),
            (Err(why), WhenUnreachable::Admit) => {
                format!("{why}; rate-limited requests are admitted uncounted meanwhile")
            }
            (Err(why), WhenUnreachable::Refuse) => {
                waiting.push(format!("redis ({why})"));
                format!("{why}; rate-limited requests are refused meanwhile")
            }
        };
        services.insert("redis".to_owned(), said.into());
    }
    checks.note(asked_at, waiting.is_empty(), &waiting);
    if waiting.is_empty() {
        let mut body = serde_json::json!({
            "status": "ready",
            "plugins": plugins,
            "sandbox": crate::reach::enforcement(),
            "serverConfined": crate::reach::ServerReach::confined().is_some(),
        });
        if let Some(fields) = body.as_object_mut() {
            fields.extend(services);
        }
        let mut response = (
            [(http::header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        response
            .headers_mut()
            .insert(crate::request::REQUEST_ID_HEADER, request_id.header_value());
        return response;
    }
    let mut details = serde_json::json!({ "plugins": plugins });
    if let Some(fields) = details.as_object_mut() {
        fields.extend(services);
    }
    ApiError::new(
        http::StatusCode::SERVICE_UNAVAILABLE,
        "NOT_READY",
        format!("not ready: {}", waiting.join(", ")),
    )
    .with_details(crate::request::Details::Value(details))
    .into_response(&request_id)
}

/// What `asked` answers within [`ASK_AT_MOST`], else that it did not answer.
async fn within_limit<T: From<Result<(), String>>>(asked: impl Future<Output = T>) -> T {
    tokio::time::timeout(ASK_AT_MOST, asked)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", ASK_AT_MOST.as_secs())).into())
}

/// Every plugin's `ready` hook at once, each bounded: as long as the slowest, at most.
async fn ask_plugins(checks: &[(&'static str, Option<ReadyCheck>)]) -> Vec<Readiness> {
    let mut asked = tokio::task::JoinSet::new();
    for (i, (_, check)) in checks.iter().enumerate() {
        if let Some(check) = check.clone() {
            asked.spawn(async move { (i, check.ask().await) });
        }
    }
    let mut answers = vec![Readiness::Ready; checks.len()];
    while let Some(joined) = asked.join_next().await {
        if let Ok((i, answer)) = joined {
            answers[i] = answer;
        }
    }
    answers
}

/// axum adds the `Allow` header listing the methods the path does serve.
/// `GET <metrics path>`: every metric in the text format (feature `metrics`; nothing without it,
/// or when the host serves them itself).
fn metrics_route(config: &ServerConfig) -> Router {
    #[cfg(feature = "metrics")]
    if let (Some(path), Some(metrics)) = (config.metrics_path(), config.metrics()) {
        let metrics = metrics.clone();
        return Router::new().route(
            path,
            axum::routing::get(move |headers: http::HeaderMap| {
                // Prometheus asks for OpenMetrics first when it can read it.
                let open = headers.get_all(http::header::ACCEPT).iter().any(|v| {
                    v.to_str()
                        .is_ok_and(|v| v.contains("application/openmetrics-text"))
                });
                let (text, kind) = if open {
                    (
                        metrics.render_openmetrics(),
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )
                } else {
                    (metrics.render(), "text/plain; version=0.0.4; charset=utf-8")
                };
                async move { ([(http::header::CONTENT_TYPE, kind)], text) }
            }),
        );
    }
    let _ = config;
    Router::new()
}

async fn method_not_allowed(request: Request) -> Response {
    let request_id = RequestId::from_headers(request.headers());
    ApiError::framework(
        FrameworkCode::MethodNotAllowed,
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
    .into_response(&request_id)
}

#[cfg(test)]
mod tests {
    use super::{LimitStore, ReadyChecks};
    use std::time::{Duration, Instant};

    fn state(checks: &ReadyChecks) -> Option<bool> {
        checks.last.lock().unwrap().map(|seen| seen.ready)
    }

    #[test]
    fn a_late_readiness_check_does_not_undo_a_later_one() {
        let checks = ReadyChecks {
            plugins: Vec::new(),
            store: LimitStore::memory(),
            auth: None,
            last: std::sync::Mutex::new(None),
        };
        let t0 = Instant::now();
        let (t1, t2) = (t0 + Duration::from_secs(1), t0 + Duration::from_secs(2));
        checks.note(t0, true, &[]);
        // Asked at t1 while the database was gone, answered (after its bound) only after a
        // check asked at t2 found it back: the later check stands.
        checks.note(t2, true, &[]);
        checks.note(t1, false, &["database (gone)".to_owned()]);
        assert_eq!(state(&checks), Some(true));
        // A check asked later that finds it gone counts.
        checks.note(t2 + Duration::from_secs(1), false, &[]);
        assert_eq!(state(&checks), Some(false));
        let since = checks.last.lock().unwrap().unwrap().since;
        // Another one finding the same keeps when the change was first seen.
        checks.note(t2 + Duration::from_secs(2), false, &[]);
        assert_eq!(checks.last.lock().unwrap().unwrap().since, since);
    }
}
