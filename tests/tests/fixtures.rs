//! Routers under test: the items example on an in-memory database, and a `probe` plugin whose
//! routes misbehave on purpose (sleep past their timeout, panic, fail internally) so the
//! framework's handling of each can be observed from outside.

use items_example::{ItemsPlugin, ItemsState};
use plugin_routes::auth::{Auth, AuthConfig, AuthRoutes, SettingsPage};
use plugin_routes::prelude::*;
use plugin_routes::testing::TestClient;
use std::time::Duration;

/// The items example and the probe plugin on one in-memory database, with authentication and a
/// user, alice, who holds `items:*` and has an API key with the same scopes.
pub(crate) struct World {
    pub(crate) app: axum::Router,
    pub(crate) auth: Auth,
    pub(crate) key: String,
    /// The database both share, to look at what is stored.
    pub(crate) pool: sqlx::AnyPool,
}

pub(crate) const ALICE: &str = "alice@example.com";
pub(crate) const ALICE_PASSWORD: &str = "alice-password";

pub(crate) fn scopes(list: &str) -> Vec<String> {
    plugin_routes::auth::parse_grants(list).expect("valid scopes")
}

pub(crate) async fn world_with(config: AuthConfig) -> World {
    let url = "sqlite::memory:";
    let pool = plugin_routes::database::connect(url)
        .await
        .expect("in-memory database");
    let state = ItemsState::open(pool.clone(), url)
        .await
        .expect("items migrations");
    let auth = Auth::open(pool.clone(), config)
        .await
        .expect("auth migrations");
    auth.create_user(ALICE, ALICE_PASSWORD, &scopes("items:*"))
        .await
        .expect("alice");
    let key = auth
        .create_api_key(ALICE, "tests", &scopes("items:*"), None)
        .await
        .expect("alice's key")
        .key;
    let app = plugins![
        auth = auth.clone();
        AuthRoutes::new(auth.clone()),
        SettingsPage::new(),
        ItemsPlugin::new(state),
        ProbePlugin::new(Probe {
            secret: "hunter2".into()
        })
    ];
    World {
        app,
        auth,
        key,
        pool,
    }
}

pub(crate) async fn world() -> World {
    world_with(AuthConfig::default()).await
}

/// The app, for requests that bring their own credentials (or none).
pub(crate) async fn items_app() -> axum::Router {
    world().await.app
}

/// A client that sends alice's API key with every request.
pub(crate) async fn client() -> TestClient {
    let w = world().await;
    TestClient::new(w.app).with_header("authorization", format!("Bearer {}", w.key))
}

pub(crate) struct Probe {
    pub(crate) secret: String,
}

#[derive(Debug, Deserialize, JsonSchema, Validate)]
pub(crate) struct Tags {
    #[garde(length(min = 1, max = 3), inner(length(min = 1)))]
    pub(crate) tag: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Echo {
    pub(crate) tags: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema, Validate)]
pub(crate) struct Job {
    #[garde(length(min = 1))]
    pub(crate) input: String,
    #[garde(dive)]
    pub(crate) options: JobOptions,
}

#[derive(Debug, Deserialize, JsonSchema, Validate)]
pub(crate) struct JobOptions {
    #[garde(range(min = 1000, max = 30000))]
    pub(crate) timeout: u32,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Accepted {
    pub(crate) bytes: usize,
}

/// Echoes the `tag` list of the query.
#[plugin_route(method = "GET", path = "/tags")]
async fn tags(query: Tags) -> RouteResult<Echo> {
    Ok(Echo { tags: query.tag })
}

/// Sleeps far past its 50 ms timeout.
#[plugin_route(method = "GET", path = "/slow", timeout_ms = 50)]
async fn slow() -> RouteResult<Echo> {
    tokio::time::sleep(Duration::from_secs(30)).await;
    Ok(Echo { tags: Vec::new() })
}

/// Panics.
#[plugin_route(method = "GET", path = "/panic")]
async fn panics(ctx: Ctx<Probe>) -> RouteResult<Echo> {
    panic!("the probe panicked while holding {}", ctx.secret);
}

/// Fails with an error that must not reach the client.
#[plugin_route(method = "GET", path = "/fail")]
async fn fails(ctx: Ctx<Probe>) -> RouteResult<Echo> {
    tracing::info!("about to fail");
    Err(std::io::Error::other(format!(
        "connection refused, password {}",
        ctx.secret
    )))?;
    Ok(Echo { tags: Vec::new() })
}

/// Any JSON value, unvalidated.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(transparent)]
pub(crate) struct Anything {
    #[garde(skip)]
    pub(crate) value: serde_json::Value,
}

/// Accepts at most 16 bytes of JSON.
#[plugin_route(method = "POST", path = "/upload", body_limit = 16)]
async fn upload(input: Anything) -> RouteResult<Accepted> {
    Ok(Accepted {
        bytes: input.value.to_string().len(),
    })
}

/// Validates a nested object.
#[plugin_route(method = "POST", path = "/jobs", status = 202)]
async fn jobs(input: Job) -> RouteResult<Accepted> {
    Ok(Accepted {
        bytes: input.input.len() + input.options.timeout as usize,
    })
}

/// Reports a header read through an axum extractor.
#[plugin_route(method = "GET", path = "/agent")]
async fn agent(#[extract] headers: axum::http::HeaderMap, ctx: Ctx<Probe>) -> RouteResult<Echo> {
    let agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    Ok(Echo {
        tags: vec![
            agent.to_owned(),
            ctx.plugin().name.to_owned(),
            ctx.request_id().to_owned(),
        ],
    })
}

/// Who the framework says is calling a public route: nobody, whatever the request carries.
#[plugin_route(method = "GET", path = "/caller")]
async fn caller(ctx: Ctx<Probe>) -> RouteResult<serde_json::Value> {
    Ok(serde_json::json!({ "caller": ctx.principal().map(Principal::user_id) }))
}

/// Public, so that what it probes is the framework's handling of each route, not authentication.
#[plugin(name = "probe", version = "0.3.1", state = Probe, security(none), routes(tags, slow, panics, fails, upload, jobs, agent, caller))]
pub(crate) struct ProbePlugin;

/// Held by the tests that meet a read-only PostgreSQL server: each such meeting has every
/// PostgreSQL pool in the process replace its older connections (the marker is the process's),
/// which would replace the read-only connection another of them is looking at, or mend the one
/// it waits to see mended.
pub(crate) static READ_ONLY_MARKER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A schema of one test's own on the PostgreSQL that `PLUGIN_TEST_POSTGRES_URL` names, so runs
/// never meet each other's rows or migrations.
pub(crate) struct PgSchema {
    base: String,
    /// The schema's name.
    pub(crate) schema: String,
    /// A database URL whose connections work in the schema.
    pub(crate) url: String,
}

impl PgSchema {
    /// A fresh schema `plugin_<name>_<pid>`; `None`, after saying the test is skipped, when the
    /// variable is unset.
    pub(crate) async fn fresh(name: &str) -> Option<PgSchema> {
        let Ok(base) = std::env::var("PLUGIN_TEST_POSTGRES_URL") else {
            eprintln!("skipped: set PLUGIN_TEST_POSTGRES_URL to run `{name}` on PostgreSQL");
            return None;
        };
        let schema = format!("plugin_{name}_{}", std::process::id());
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
        let pg = PgSchema { base, schema, url };
        let s = &pg.schema;
        pg.admin(&format!(
            "DROP SCHEMA IF EXISTS {s} CASCADE; CREATE SCHEMA {s}"
        ))
        .await;
        Some(pg)
    }

    /// Runs `sql` on the database, outside the schema (as its owner would).
    pub(crate) async fn admin(&self, sql: &str) {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.base).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .unwrap();
    }

    /// A URL whose connections work in the schema and then in `public`, where `extension` is
    /// made if missing: apalis's tables (in a schema of their own, shared by every test) use
    /// `hstore`, which must outlive the test's schema.
    pub(crate) async fn url_with_public_extension(&self, extension: &str) -> String {
        self.admin(&format!(
            "CREATE EXTENSION IF NOT EXISTS {extension} SCHEMA public"
        ))
        .await;
        self.url.replace(
            &format!("search_path%3D{}", self.schema),
            &format!("search_path%3D{}%2Cpublic", self.schema),
        )
    }

    /// How many queries the server is running now for connections named `application` (a URL's
    /// `application_name`).
    pub(crate) async fn running_queries(&self, application: &str) -> i64 {
        self.sessions(application, "active").await
    }

    /// How many of the queries [`Self::running_queries`] counts wait for a lock.
    pub(crate) async fn queries_waiting_for_locks(&self, application: &str) -> i64 {
        self.statements_waiting_for_locks(application, "%").await
    }

    /// How many of the queries [`Self::running_queries`] counts wait for a lock running a
    /// statement `like` (SQL `LIKE`).
    pub(crate) async fn statements_waiting_for_locks(&self, application: &str, like: &str) -> i64 {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.base).await.unwrap();
        sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 \
             AND state = 'active' AND wait_event_type = 'Lock' AND query LIKE $2",
        )
        .bind(application)
        .bind(like)
        .fetch_one(&mut conn)
        .await
        .unwrap()
    }

    /// How many connections named `application` are in a transaction with no query running:
    /// one whose client gave up on a statement (its answer lost) and never ended it.
    pub(crate) async fn transactions_left_open(&self, application: &str) -> i64 {
        self.sessions(application, "idle in transaction").await
    }

    /// How many connections named `application` are in `state`.
    async fn sessions(&self, application: &str, state: &str) -> i64 {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.base).await.unwrap();
        sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state = $2",
        )
        .bind(application)
        .bind(state)
        .fetch_one(&mut conn)
        .await
        .unwrap()
    }

    /// Drops the schema and everything in it.
    pub(crate) async fn remove(self) {
        self.admin(&format!("DROP SCHEMA {} CASCADE", self.schema))
            .await;
    }
}

/// A TCP proxy on loopback that the test cuts and restores: while cut, its port refuses
/// connections and every forwarded connection is closed, as when a server goes away. It can
/// also freeze the connections it forwards (see [`CutProxy::freeze`]).
pub(crate) struct CutProxy {
    upstream: String,
    port: u16,
    proxy: Option<tokio::task::JoinHandle<()>>,
    /// How many times the open connections were frozen: a connection made before the last
    /// freeze forwards nothing more.
    freezes: tokio::sync::watch::Sender<u64>,
}

impl CutProxy {
    /// A proxy to `upstream` (`host:port`), forwarding from now on.
    pub(crate) async fn start(upstream: String) -> CutProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let freezes = tokio::sync::watch::Sender::new(0);
        let proxy = tokio::spawn(forward_until_frozen(
            listener,
            upstream.clone(),
            freezes.subscribe(),
        ));
        CutProxy {
            upstream,
            port,
            proxy: Some(proxy),
            freezes,
        }
    }

    /// Every connection open now stops forwarding, both ways, and stays open: what a client
    /// sees of a server that vanished without a word (a host powered off, a network partition,
    /// a failover that left the old address behind). Connections made after it forward as
    /// before, to the same upstream (the server that took its place).
    pub(crate) fn freeze(&self) {
        self.freezes.send_modify(|n| *n += 1);
    }

    /// The port it listens on.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The listener and every forwarded connection close: connections are refused.
    pub(crate) async fn cut(&mut self) {
        if let Some(proxy) = self.proxy.take() {
            proxy.abort();
            let _ = proxy.await;
        }
    }

    /// The same port forwards again.
    pub(crate) async fn restore(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        self.proxy = Some(tokio::spawn(forward_until_frozen(
            listener,
            self.upstream.clone(),
            self.freezes.subscribe(),
        )));
    }
}

/// Forwards each connection `listener` accepts to `upstream` until [`CutProxy::freeze`]; then
/// holds both ends open, forwarding nothing, until the proxy is cut or dropped.
async fn forward_until_frozen(
    listener: tokio::net::TcpListener,
    upstream: String,
    freezes: tokio::sync::watch::Receiver<u64>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            return;
        };
        let upstream = upstream.clone();
        let mut freezes = freezes.clone();
        let born = *freezes.borrow_and_update();
        conns.spawn(async move {
            let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                return;
            };
            // A freeze is looked at first: bytes that arrive after it (the answer a test makes
            // the database send once it has frozen the connection) are never passed on, however
            // late this task runs.
            let frozen = tokio::select! {
                biased;
                _ = freezes.wait_for(|&n| n > born) => true,
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
            };
            if frozen {
                std::future::pending::<()>().await;
            }
        });
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        if let Some(proxy) = self.proxy.take() {
            proxy.abort();
        }
    }
}

/// A server on loopback, on a thread and runtime of its own (so that a test that blocks on a
/// server process does not stall it), handing each connection to its function; stopped when
/// dropped.
pub(crate) struct Front {
    pub(crate) port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Front {
    pub(crate) fn start<F, Fut>(serve: F) -> Front
    where
        F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let accepting = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else {
                            // Out of descriptors, say: not a loop at full speed.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        };
                        tokio::spawn(serve(client));
                    }
                };
                tokio::select! {
                    () = accepting => {}
                    _ = stopped => {}
                }
            });
        });
        Front {
            port,
            stop: Some(stop),
        }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// PostgreSQL behind a [`CutProxy`].
pub(crate) struct CutPostgres {
    proxy: CutProxy,
    /// A URL whose connections go through the proxy.
    pub(crate) url: String,
}

impl CutPostgres {
    /// A proxy to the database of `url`, a PostgreSQL URL.
    pub(crate) async fn start(url: &str) -> CutPostgres {
        let upstream = {
            let after = url.split_once('@').map_or(url, |(_, a)| a);
            after.split('/').next().unwrap().to_owned()
        };
        let proxy = CutProxy::start(upstream.clone()).await;
        let url = url.replacen(&upstream, &format!("127.0.0.1:{}", proxy.port()), 1);
        CutPostgres { proxy, url }
    }

    /// The port it listens on.
    pub(crate) fn port(&self) -> u16 {
        self.proxy.port()
    }

    /// Connections to the database are refused, and those made are closed.
    pub(crate) async fn cut(&mut self) {
        self.proxy.cut().await;
    }

    /// The database is reachable again.
    pub(crate) async fn restore(&mut self) {
        self.proxy.restore().await;
    }

    /// The connections open now go silent and stay open; new ones reach the database.
    pub(crate) fn freeze(&self) {
        self.proxy.freeze();
    }
}

/// The sample of `series` (name and labels as written) in `/metrics`.
pub(crate) async fn metric(c: &TestClient, series: &str) -> f64 {
    let text = c.get("/metrics").send().await.text();
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no `{series}` in:\n{text}"));
    value.trim().parse().unwrap()
}

/// `config` with operations kept on `pool` (whose database `url` names), not started: what a
/// server mounting a plugin with an operation route (the AI plugin's `POST /generations`)
/// needs, for tests that do not start them.
pub(crate) async fn with_operations(
    config: plugin_routes::ServerConfig,
    pool: &sqlx::AnyPool,
    url: &str,
) -> plugin_routes::ServerConfig {
    config.with_operations(&operations_on(pool, url).await)
}

/// Operations kept on `pool` (whose database `url` names), for a server whose plugins have
/// operation routes (the commit plugin's apply and push): give them to its `ServerConfig`, then
/// [`run_operations`] once the plugins are mounted. Servers of different tests on one
/// PostgreSQL database (each in its own schema) do not take each other's work.
pub(crate) async fn operations_on(
    pool: &sqlx::AnyPool,
    url: &str,
) -> plugin_routes::operations::Operations {
    let db = plugin_routes::database::Database {
        pool: pool.clone(),
        url: url.to_owned(),
    };
    let settings = plugin_routes::operations::OperationSettings::default()
        .with_namespace(url)
        .with_poll(std::time::Duration::from_millis(50))
        .with_cancel_poll(std::time::Duration::from_millis(50));
    plugin_routes::operations::Operations::open(&db, settings)
        .await
        .unwrap()
}

/// Starts `operations`' workers for the rest of the test (its runtime): the handle is let go,
/// which leaves them running.
pub(crate) fn run_operations(operations: &plugin_routes::operations::Operations) {
    drop(operations.start());
}

/// `503 UNAVAILABLE` with `Retry-After`, the envelope naming no address.
pub(crate) fn assert_unavailable(r: &plugin_routes::testing::TestResponse, what: &str) {
    assert_eq!(r.status(), 503, "{what}: {}", r.text());
    assert_eq!(r.header("retry-after"), Some("5"), "{what}");
    let e = r.error();
    assert_eq!(e["code"], "UNAVAILABLE", "{what}: {e}");
    assert_eq!(e["details"]["retryAfterSeconds"], 5, "{what}: {e}");
    let text = r.text();
    assert!(
        !text.contains("127.0.0.1") && !text.contains("postgres"),
        "{what}: no address or user in the answer: {text}"
    );
}

/// `request`'s answer once it is anything but `503` (which says when to ask again), asked again
/// a moment after each for at most 60 s: how a client rides out a database out of reach.
pub(crate) async fn past_503<F, Fut>(request: F) -> plugin_routes::testing::TestResponse
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = plugin_routes::testing::TestResponse>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let r = request().await;
        if r.status() != 503 {
            return r;
        }
        assert!(r.header("retry-after").is_some(), "{}", r.text());
        assert!(
            std::time::Instant::now() < deadline,
            "still 503: {}",
            r.text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// `work`, run while a statement of the server's (on `application`'s connections) that is
/// `like` `waiting` (SQL `LIKE`: the one the test means to catch, not a background write that
/// happens to meet the lock) waits behind `lock` (taken in a transaction of its own): once it
/// waits, the database goes silent (the connections open through `db` stop carrying anything;
/// new ones still reach the server) and the lock is let go, so the database answers the
/// statement and the answer never arrives.
pub(crate) async fn silenced_behind<T>(
    pg: &PgSchema,
    application: &str,
    db: &CutPostgres,
    lock: &str,
    waiting: &str,
    work: impl std::future::Future<Output = T>,
) -> T {
    use sqlx::Connection;

    let mut locker = sqlx::PgConnection::connect(&pg.url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("BEGIN; {lock}")))
        .execute(&mut locker)
        .await
        .unwrap();
    let mut work = std::pin::pin!(work);
    let waiting = async {
        while pg.statements_waiting_for_locks(application, waiting).await == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        _ = &mut work => panic!("the work ended before a statement of its waited for the lock"),
        waited = tokio::time::timeout(std::time::Duration::from_secs(10), waiting) => {
            waited.expect("a statement waits for the lock within 10 s");
        }
    }
    db.freeze();
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut locker)
        .await
        .unwrap();
    work.await
}

/// Log lines written on this thread while installed, as text.
#[derive(Clone, Default)]
pub(crate) struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    pub(crate) fn install(&self) -> tracing::subscriber::DefaultGuard {
        let to = self.clone();
        tracing::subscriber::set_default(
            tracing_subscriber::fmt()
                .with_ansi(false)
                .with_writer(move || to.clone())
                .finish(),
        )
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
