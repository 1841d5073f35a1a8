//! A plugin's life outside requests, as a plugin author and a host use it: a typed configuration
//! read from prefixed variables and files with every fault named at once (and no secret
//! printed), start hooks that build the state or refuse with their own message, the readiness
//! route asking each plugin's ready hook, stop hooks after the drain; and the real
//! `example-server` refusing a bad configuration before it listens.

use plugin_routes::config::{ConfigSource, Secret};
use plugin_routes::testing::TestClient;
use plugin_routes::{
    Ctx, Lifecycle, Plugin, Readiness, RouteResult, Starting, plugin, plugin_route, plugins,
};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// The settings of the `demo` plugin: a bit of everything a configuration has.
#[derive(Debug, serde::Deserialize, garde::Validate, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DemoConfig {
    /// Required: no default.
    #[garde(length(min = 1, max = 20))]
    name: String,
    /// A number read from a variable's text.
    #[serde(default = "default_workers")]
    #[garde(range(min = 1, max = 64))]
    workers: u32,
    /// A list, comma-separated in a variable.
    #[serde(default)]
    #[garde(inner(length(min = 1)))]
    tags: Vec<String>,
    /// A secret.
    #[garde(skip)]
    token: Option<Secret<String>>,
    /// A nested table.
    #[serde(default)]
    #[garde(dive)]
    upstream: Upstream,
}

fn default_workers() -> u32 {
    4
}

#[derive(Debug, Default, serde::Deserialize, garde::Validate, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Upstream {
    #[garde(range(min = 1))]
    port: Option<u16>,
    #[serde(default)]
    #[garde(skip)]
    tls: bool,
}

/// The demo plugin's state.
#[derive(Debug)]
pub(crate) struct DemoState {
    name: String,
    workers: u32,
    ready: AtomicBool,
    stopped: Arc<AtomicUsize>,
}

/// Counts stops, shared by the host and the plugin.
#[derive(Clone, Debug, Default)]
pub(crate) struct StopCounter(Arc<AtomicUsize>);

async fn start(config: DemoConfig, cx: &mut Starting<'_>) -> Result<DemoState, String> {
    if config.name == "refuse" {
        return Err("the name `refuse` is refused".to_owned());
    }
    if config.name == "silent" {
        // What waiting on a database that accepts connections and answers nothing looks like.
        std::future::pending::<()>().await;
    }
    let stopped = cx
        .require::<StopCounter>()
        .map_err(|e| e.to_string())?
        .clone();
    cx.placeholder("work", format!("/srv/{}", config.name));
    Ok(DemoState {
        name: config.name,
        workers: config.workers,
        ready: AtomicBool::new(true),
        stopped: Arc::clone(&stopped.0),
    })
}

async fn stop(state: &DemoState) {
    state.stopped.fetch_add(1, Ordering::SeqCst);
}

async fn ready(state: &DemoState) -> Readiness {
    if state.ready.load(Ordering::SeqCst) {
        Readiness::Ready
    } else {
        Readiness::not_ready("warming up")
    }
}

/// Says the configured name, and flips readiness.
#[plugin_route(method = "POST", path = "/flip", security(none))]
async fn flip(ctx: Ctx<DemoState>) -> RouteResult<String> {
    let was = ctx.state().ready.fetch_xor(true, Ordering::SeqCst);
    Ok(format!(
        "{} ({} workers): ready was {was}",
        ctx.state().name,
        ctx.state().workers
    ))
}

/// A plugin with every lifecycle key.
#[plugin(
    name = "demo",
    version = "1.0.0",
    state = DemoState,
    config = DemoConfig,
    start = start,
    stop = stop,
    ready = ready,
    routes(flip)
)]
pub(crate) struct DemoPlugin;

/// A second, with its own prefix.
#[plugin(
    name = "other",
    version = "1.0.0",
    state = DemoState,
    config = DemoConfig,
    config_env = "OTHER_SVC_",
    start = start,
    routes()
)]
pub(crate) struct OtherPlugin;

fn faults(e: &plugin_routes::config::ConfigError) -> Vec<(String, String)> {
    e.faults()
        .iter()
        .map(|f| (f.place.clone(), f.problem.clone()))
        .collect()
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lifecycle-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn variables_with_the_prefix_are_read_as_the_type_asks() {
    let source = ConfigSource::from_vars([
        ("DEMO_NAME", "blue"),
        ("DEMO_WORKERS", "8"),
        ("DEMO_TAGS", "a, b"),
        ("DEMO_TOKEN", "tok-123456"),
        ("DEMO_UPSTREAM__PORT", "8443"),
        ("DEMO_UPSTREAM__TLS", "true"),
        ("OTHER_NAME", "not mine"),
    ]);
    let c = source.load::<DemoPlugin>().unwrap();
    assert_eq!(c.name, "blue");
    assert_eq!(c.workers, 8);
    assert_eq!(c.tags, ["a", "b"]);
    assert_eq!(c.token.as_ref().unwrap().expose(), "tok-123456");
    assert_eq!(c.upstream.port, Some(8443));
    assert!(c.upstream.tls);
    assert!(
        !format!("{c:?}").contains("tok-123456"),
        "Debug hides a secret: {c:?}"
    );
    // Defaults apply; `config_env` changes the prefix.
    let c = ConfigSource::from_vars([("OTHER_SVC_NAME", "x")])
        .load::<OtherPlugin>()
        .unwrap();
    assert_eq!((c.name.as_str(), c.workers), ("x", 4));
}

#[test]
fn every_fault_is_named_at_once_by_its_variable_and_no_value_is_printed() {
    let source = ConfigSource::from_vars([
        // `name` is missing.
        ("DEMO_WORKERS", "many-secret-workers"),
        ("DEMO_UPSTREAM__PORT", "0"),
        ("DEMO_TAGS", "ok,,"),
        ("DEMO_TOKEN", "tok-should-never-print"),
        // Not a setting: logged and ignored, since other programs share the environment.
        ("DEMO_COLOUR", "crimson-colour"),
    ]);
    let e = source.load::<DemoPlugin>().unwrap_err();
    let found = faults(&e);
    let places: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
    for want in [
        "DEMO_NAME (or `name` in a configuration file)",
        "DEMO_WORKERS",
        "DEMO_UPSTREAM__PORT",
        "DEMO_TAGS[1]",
        "DEMO_TAGS[2]",
    ] {
        assert!(places.contains(&want), "{want} missing from {found:?}");
    }
    assert_eq!(found.len(), 5, "{found:?}");
    let text = e.to_string();
    assert!(text.contains("required, and not set"), "{text}");
    // Returned with `?` from `main`, it is printed with `Debug`: the same words.
    assert_eq!(format!("{e:?}"), text);
    let all =
        plugin_routes::config::all((source.load::<DemoPlugin>(), source.load::<DemoPlugin>()))
            .unwrap_err();
    assert_eq!(format!("{all:?}"), all.to_string());
    assert!(format!("{e:#?}").starts_with("ConfigError {"), "{e:#?}");
    assert!(
        // `workers` is a `u32` that garde bounds: its bounds, not the type's.
        text.contains("DEMO_WORKERS: expected a whole number from 1 to 64"),
        "{text}"
    );
    assert!(text.contains("lower than 1"), "{text}");
    for secret in ["many-secret-workers", "tok-should-never-print", "crimson"] {
        assert!(!text.contains(secret), "a value was printed: {text}");
    }
    assert!(!text.contains("COLOUR"), "{text}");
}

/// Types whose values the schema alone does not pin down: an enum with documented variants, an
/// address, a non-zero number. Each fault is found once, none is invented for a stand-in, and
/// garde still runs past them.
#[derive(Debug, serde::Deserialize, garde::Validate, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Kinds {
    #[serde(default)]
    #[garde(skip)]
    level: Level,
    #[garde(skip)]
    bind: std::net::IpAddr,
    #[garde(skip)]
    shards: std::num::NonZeroI32,
    #[garde(range(min = 1))]
    workers: u32,
}

#[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
pub(crate) enum Level {
    /// Says little.
    #[default]
    Quiet,
    /// Says much.
    Loud,
}

#[test]
fn faults_in_types_a_schema_does_not_pin_down_are_found_once() {
    let source = ConfigSource::from_vars([
        ("KINDS_LEVEL", "verbose"),
        ("KINDS_BIND", "not-an-address"),
        ("KINDS_WORKERS", "0"),
    ]);
    let e = source.load_as::<Kinds>("kinds", "KINDS_").unwrap_err();
    let found = faults(&e);
    assert_eq!(
        found,
        [
            (
                "KINDS_BIND".to_owned(),
                "not a valid value for this setting".to_owned()
            ),
            (
                "KINDS_LEVEL".to_owned(),
                "expected `Quiet` or `Loud`".to_owned()
            ),
            (
                "KINDS_SHARDS (or `shards` in a configuration file)".to_owned(),
                "required, and not set".to_owned()
            ),
            (
                "KINDS_WORKERS".to_owned(),
                "lower than 1: expected a whole number from 1 to 4294967295".to_owned()
            ),
        ],
        "{e}"
    );
    let text = e.to_string();
    assert!(
        !text.contains("verbose") && !text.contains("not-an-address"),
        "{text}"
    );
    let ok = ConfigSource::from_vars([
        ("KINDS_LEVEL", "Loud"),
        ("KINDS_BIND", "::1"),
        ("KINDS_SHARDS", "-2"),
        ("KINDS_WORKERS", "3"),
    ])
    .load_as::<Kinds>("kinds", "KINDS_")
    .unwrap();
    assert!(matches!(ok.level, Level::Loud));
    assert_eq!((ok.shards.get(), ok.workers), (-2, 3));
    assert!(ok.bind.is_loopback());
}

#[test]
fn a_source_never_shows_a_value_and_a_variable_and_its_nested_form_do_not_race() {
    let source = ConfigSource::from_vars([
        ("DEMO_TOKEN", "tok-in-debug"),
        ("DEMO_NAME", "n"),
        // The setting and a variable inside it: the first in name order is read.
        ("DEMO_UPSTREAM__PORT", "80"),
        ("DEMO_UPSTREAM", "plain"),
    ]);
    assert!(
        !format!("{source:?}").contains("tok-in-debug"),
        "{source:?}"
    );
    let e = source.load::<DemoPlugin>().unwrap_err();
    assert_eq!(
        faults(&e),
        [(
            "DEMO_UPSTREAM".to_owned(),
            "expected a table of settings".to_owned()
        )]
    );
    // An empty variable leaves an optional number unset.
    let c = ConfigSource::from_vars([("DEMO_NAME", "n"), ("DEMO_UPSTREAM__PORT", "")])
        .load::<DemoPlugin>()
        .unwrap();
    assert_eq!(c.upstream.port, None);
}

#[test]
fn files_layer_under_the_variables_and_a_file_key_is_named_in_its_file() {
    let dir = scratch("files");
    let shared = dir.join("plugins.toml");
    std::fs::write(
        &shared,
        "[demo]\nname = \"from-shared\"\nworkers = 2\n[demo.upstream]\nport = 80\n",
    )
    .unwrap();
    let own = dir.join("demo.json");
    std::fs::write(&own, r#"{"workers": 3, "tags": ["x"]}"#).unwrap();
    let c = ConfigSource::from_vars([("DEMO_CONFIG", own.to_str().unwrap())])
        .file(&shared)
        .load::<DemoPlugin>()
        .unwrap();
    assert_eq!(
        (c.name.as_str(), c.workers, c.upstream.port),
        ("from-shared", 3, Some(80))
    );
    assert_eq!(c.tags, ["x"]);
    let c = ConfigSource::from_vars([("DEMO_WORKERS", "9")])
        .file(&shared)
        .load::<DemoPlugin>()
        .unwrap();
    assert_eq!(c.workers, 9, "a variable wins over a file");

    // In a file, an unknown key is a fault, named with its file; so is a wrong type.
    std::fs::write(
        &shared,
        "[demo]\nname = \"n\"\nworkerz = 2\n[demo.upstream]\nport = \"eighty\"\n",
    )
    .unwrap();
    let e = ConfigSource::from_vars(Vec::<(String, String)>::new())
        .file(&shared)
        .load::<DemoPlugin>()
        .unwrap_err();
    let found = faults(&e);
    let file = shared.display().to_string();
    assert!(
        found
            .iter()
            .any(|(p, m)| *p == format!("`workerz` in {file}") && m.contains("not a setting")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|(p, m)| *p == format!("`upstream.port` in {file}")
                && m.contains("expected a whole number from 1 to 65535")),
        "{found:?}"
    );
    assert!(!e.to_string().contains("eighty"), "{e}");
    // A file that is not a table: where, never what it holds.
    let bare = dir.join("bare.json");
    std::fs::write(&bare, "\"sk-live-in-a-file\"").unwrap();
    let e = ConfigSource::from_vars([("DEMO_CONFIG", bare.to_str().unwrap())])
        .load::<DemoPlugin>()
        .unwrap_err();
    assert!(!e.to_string().contains("sk-live"), "{e}");
    // A file named and missing is a fault of its own.
    let e = ConfigSource::from_vars([("DEMO_NAME", "n"), ("DEMO_CONFIG", "/nowhere/demo.toml")])
        .load::<DemoPlugin>()
        .unwrap_err();
    assert_eq!(
        faults(&e),
        [(
            "DEMO_CONFIG".to_owned(),
            "no such file: /nowhere/demo.toml".to_owned()
        )]
    );
    // A directory is said to be one; an empty variable is no file at all; a value that is no
    // file's name (a secret given by mistake) is not printed.
    let folder = dir.join("conf.toml");
    std::fs::create_dir_all(&folder).unwrap();
    let e = ConfigSource::from_vars([
        ("DEMO_NAME", "n"),
        ("DEMO_CONFIG", folder.to_str().unwrap()),
    ])
    .load::<DemoPlugin>()
    .unwrap_err();
    assert_eq!(
        faults(&e),
        [(
            "DEMO_CONFIG".to_owned(),
            format!("a directory, not a file: {}", folder.display())
        )]
    );
    let e = ConfigSource::from_vars([("DEMO_NAME", "n"), ("DEMO_CONFIG", "sk-live-given-here")])
        .load::<DemoPlugin>()
        .unwrap_err();
    assert!(!e.to_string().contains("sk-live"), "{e}");
    let shared_secret = ConfigSource::from_vars([("DEMO_NAME", "n")])
        .file("sk-live-as-a-shared-file")
        .load::<DemoPlugin>()
        .unwrap_err();
    assert_eq!(
        faults(&shared_secret),
        [(
            "a shared configuration file".to_owned(),
            "a configuration file must end in .toml or .json".to_owned()
        )]
    );
    assert_eq!(
        faults(&e),
        [(
            "DEMO_CONFIG".to_owned(),
            "a configuration file must end in .toml or .json".to_owned()
        )]
    );
    let c = ConfigSource::from_vars([("DEMO_NAME", "n"), ("DEMO_CONFIG", "")])
        .load::<DemoPlugin>()
        .unwrap();
    assert_eq!(c.name, "n");
    // A TOML file that does not parse says why, without the file's lines (which the parser
    // quotes); an editor's `$schema` in a plugin's own file is no setting.
    let broken = dir.join("broken.toml");
    std::fs::write(&broken, "name = \"sk-live-dup\"\nname = \"again\"\n").unwrap();
    let e = ConfigSource::from_vars([("DEMO_CONFIG", broken.to_str().unwrap())])
        .load::<DemoPlugin>()
        .unwrap_err();
    let text = e.to_string();
    assert!(text.contains("duplicate key"), "{text}");
    assert!(!text.contains("sk-live"), "{text}");
    let schema = dir.join("with-schema.json");
    std::fs::write(&schema, r#"{"$schema": "./demo.schema.json", "name": "n"}"#).unwrap();
    let c = ConfigSource::from_vars([("DEMO_CONFIG", schema.to_str().unwrap())])
        .load::<DemoPlugin>()
        .unwrap();
    assert_eq!(c.name, "n");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn several_plugins_faults_come_together() {
    let source = ConfigSource::from_vars([("DEMO_WORKERS", "0")]);
    let e = plugin_routes::config::all((source.load::<DemoPlugin>(), source.load::<OtherPlugin>()))
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("plugin `demo`") && text.contains("plugin `other`"),
        "{text}"
    );
    assert!(text.contains("OTHER_SVC_NAME"), "{text}");
}

#[test]
fn a_shared_file_s_table_that_no_plugin_reads_is_a_fault() {
    let dir = scratch("stray");
    let shared = dir.join("plugins.toml");
    std::fs::write(
        &shared,
        "[demo]\nname = \"n\"\n[othr]\nsvc_name = \"sk-live-stray\"\n[items]\nx = 1\n",
    )
    .unwrap();
    let source = ConfigSource::from_vars([("OTHER_SVC_NAME", "o")]).file(&shared);
    // Each plugin alone reads its own table and is content.
    assert!(source.load::<DemoPlugin>().is_ok());
    // Loaded together, the tables nobody reads are named, with the plugins that were read, the
    // closest name first; what the tables hold is never printed.
    let e = source.load_all::<(DemoPlugin, OtherPlugin)>().unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    assert_eq!(e.0[0].plugin(), None);
    let file = shared.display().to_string();
    let found = faults(&e.0[0]);
    assert_eq!(
        found,
        [
            (
                format!("`items` in {file}"),
                "no plugin here reads this table; the plugins configured are `demo`, `other`"
                    .to_owned()
            ),
            (
                format!("`othr` in {file}"),
                "no plugin here reads this table; the plugins configured are `other`, `demo`"
                    .to_owned()
            ),
        ]
    );
    let text = e.to_string();
    assert!(
        text.starts_with("the shared configuration has 2 problems:"),
        "{text}"
    );
    assert!(!text.contains("sk-live"), "{text}");
    // A plugin's own faults come with them, all at once.
    let e = ConfigSource::from_vars([("DEMO_WORKERS", "0")])
        .file(&shared)
        .load_all::<(DemoPlugin, OtherPlugin)>()
        .unwrap_err();
    let plugins: Vec<_> = e.0.iter().map(|e| e.plugin()).collect();
    assert_eq!(plugins, [Some("demo"), Some("other"), None], "{e}");
    // Once the tables are right, the configurations come back in the tuple's order.
    std::fs::write(&shared, "[demo]\nname = \"n\"\n[other]\nname = \"o\"\n").unwrap();
    let (demo, other) = ConfigSource::from_vars(Vec::<(String, String)>::new())
        .file(&shared)
        .load_all::<(DemoPlugin, OtherPlugin)>()
        .unwrap();
    assert_eq!((demo.name.as_str(), other.name.as_str()), ("n", "o"));

    // JSON too: an editor's `$schema` is left alone, and a setting outside any table is named
    // as such.
    let json = dir.join("plugins.json");
    std::fs::write(
        &json,
        r#"{"$schema": "./schema.json", "workers": 2, "demo": {"name": "n"}, "other": {"name": "o"}}"#,
    )
    .unwrap();
    let e = ConfigSource::from_vars(Vec::<(String, String)>::new())
        .file(&json)
        .load_all::<(DemoPlugin, OtherPlugin)>()
        .unwrap_err();
    assert_eq!(
        faults(&e.0[0]),
        [(
            format!("`workers` in {}", json.display()),
            "a setting outside any plugin's table; settings go in the table of their plugin: `demo`, `other`"
                .to_owned()
        )],
        "{e}"
    );
    // A shared file that is missing is said once, not once for each plugin that reads it; a
    // file given twice is read twice and said once.
    let missing = dir.join("missing.toml");
    let e = ConfigSource::from_vars([("DEMO_NAME", "n"), ("OTHER_SVC_NAME", "o")])
        .file(&missing)
        .file(&missing)
        .load_all::<(DemoPlugin, OtherPlugin)>()
        .unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    assert_eq!(e.0[0].plugin(), None);
    assert_eq!(
        faults(&e.0[0]),
        [(missing.display().to_string(), "no such file".to_owned())]
    );
    // So is one whose name is not printed (it ends in neither .toml nor .json).
    let e = ConfigSource::from_vars([("DEMO_NAME", "n"), ("OTHER_SVC_NAME", "o")])
        .file("sk-live-not-a-file-name")
        .load_all::<(DemoPlugin, OtherPlugin)>()
        .unwrap_err();
    assert_eq!(e.0.len(), 1, "{e}");
    assert_eq!(
        faults(&e.0[0]),
        [(
            "a shared configuration file".to_owned(),
            "a configuration file must end in .toml or .json".to_owned()
        )]
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn hooks_start_the_plugin_answer_readiness_and_stop_after_the_drain() {
    let counter = StopCounter::default();
    let mut life = Lifecycle::new().with(counter.clone());
    let source = ConfigSource::from_vars([("DEMO_NAME", "blue"), ("DEMO_WORKERS", "2")]);
    let config = source.load::<DemoPlugin>().unwrap();
    let demo = DemoPlugin::start(config, &mut life).await.unwrap();
    // The placeholder its start hook gave, from what it was configured with.
    assert_eq!(demo.placeholders().get("work"), ["/srv/blue"]);
    let app = plugins![demo: DemoPlugin];
    assert_eq!(life.started(), ["demo"]);
    assert!(
        life.get::<DemoState>().is_some(),
        "a started state is provided to later plugins"
    );

    let client = TestClient::new(app);
    let r = client.get("/ready").send().await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["plugins"], serde_json::json!({"demo": "ready"}));
    // What the kernel holds the plugins' programs to, as `reach::enforcement()` says.
    assert_eq!(
        body["sandbox"],
        serde_json::to_value(plugin_routes::reach::enforcement()).unwrap()
    );
    let r = client.post("/v1/plugins/demo/flip").send().await;
    assert_eq!(r.json::<String>(), "blue (2 workers): ready was true");
    let r = client.get("/ready").send().await;
    assert_eq!(r.status(), 503);
    let e = r.error();
    assert_eq!(e["code"], "NOT_READY");
    assert_eq!(e["message"], "not ready: demo (warming up)");
    assert_eq!(e["details"]["plugins"]["demo"], "warming up");

    assert_eq!(counter.0.load(Ordering::SeqCst), 0);
    life.stop().await;
    assert_eq!(counter.0.load(Ordering::SeqCst), 1, "stop ran once");
}

#[tokio::test]
async fn a_start_hook_refuses_with_its_own_message_naming_the_plugin() {
    let mut life = Lifecycle::new().with(StopCounter::default());
    let config = ConfigSource::from_vars([("DEMO_NAME", "refuse")])
        .load::<DemoPlugin>()
        .unwrap();
    let e = DemoPlugin::start(config, &mut life).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "plugin `demo` cannot start: the name `refuse` is refused"
    );
    assert!(life.started().is_empty());
    // What a hook needs and the host did not provide is named.
    let mut bare = Lifecycle::new();
    let config = ConfigSource::from_vars([("DEMO_NAME", "x")])
        .load::<DemoPlugin>()
        .unwrap();
    let e = DemoPlugin::start(config, &mut bare).await.unwrap_err();
    assert!(
        e.to_string()
            .starts_with("plugin `demo` cannot start: it needs a `StopCounter`"),
        "{e}"
    );
}

#[tokio::test]
async fn a_start_hook_that_never_finishes_is_abandoned_at_the_start_timeout() {
    let mut life = Lifecycle::new()
        .with(StopCounter::default())
        .with_start_timeout(std::time::Duration::from_millis(200));
    assert_eq!(
        Lifecycle::new().start_timeout(),
        std::time::Duration::from_secs(60)
    );
    let config = ConfigSource::from_vars([("DEMO_NAME", "silent")])
        .load::<DemoPlugin>()
        .unwrap();
    let e = DemoPlugin::start(config, &mut life).await.unwrap_err();
    assert!(e.is_timeout());
    assert_eq!(
        e.to_string(),
        "plugin `demo` cannot start: its start hook did not finish within 200 ms and was \
         abandoned: what it waits on does not answer (a database that accepts connections but \
         answers nothing, say), or its work takes longer than that (a long migration); \
         `Lifecycle::with_start_timeout` sets the bound"
    );
    assert!(life.started().is_empty());
    // A refusal is not a timeout; and a hook that finishes in time starts its plugin.
    let config = ConfigSource::from_vars([("DEMO_NAME", "refuse")])
        .load::<DemoPlugin>()
        .unwrap();
    assert!(
        !DemoPlugin::start(config, &mut life)
            .await
            .unwrap_err()
            .is_timeout()
    );
    let config = ConfigSource::from_vars([("DEMO_NAME", "blue")])
        .load::<DemoPlugin>()
        .unwrap();
    DemoPlugin::start(config, &mut life).await.unwrap();
    assert_eq!(life.started(), ["demo"]);
    // No bound at all: a wait too long to add to the clock starts as well.
    let mut unbounded = Lifecycle::new()
        .with(StopCounter::default())
        .with_start_timeout(std::time::Duration::MAX);
    let config = ConfigSource::from_vars([("DEMO_NAME", "blue")])
        .load::<DemoPlugin>()
        .unwrap();
    DemoPlugin::start(config, &mut unbounded).await.unwrap();
}

#[test]
fn the_manifest_shows_the_configuration_schema_and_the_hooks() {
    let m = plugin_routes::manifest(
        &plugin_routes::ServerConfig::default(),
        &[<DemoPlugin as Plugin>::META],
    );
    let demo = &m["plugins"][0];
    assert_eq!(demo["hooks"], serde_json::json!(["start", "stop", "ready"]));
    assert_eq!(demo["config"]["envPrefix"], "DEMO_");
    assert_eq!(demo["config"]["type"], "DemoConfig");
    let schema = &demo["config"]["schema"];
    assert_eq!(schema["required"], serde_json::json!(["name"]));
    assert_eq!(schema["properties"]["token"]["writeOnly"], true);
}

/// The real server, configured wrongly: it says every fault, prints no secret, and never
/// listens.
#[test]
fn the_example_server_refuses_a_bad_configuration_before_it_listens() {
    use crate::server::{fresh_sqlite, server_binary};
    let binary = server_binary();
    let (dir, url) = fresh_sqlite("bad-config");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    // Starts it with `env` and what it needs besides; that it refused, and never listened; what
    // it said.
    let refused = |env: &[(&str, &std::ffi::OsStr)]| {
        let out = std::process::Command::new(&binary)
            .env("DATABASE_URL", &url)
            .env("PORT", port.to_string())
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{said}");
        assert!(!said.contains("listening on"), "{said}");
        said
    };
    let said = refused(&[
        ("AI_OPENAI_API_KEY", "sk-never-printed-0123".as_ref()),
        ("AI_DAILY_BUDGET_USD", "-5".as_ref()),
        ("AI_OPENAI_BASE_URL", "ftp://example.com".as_ref()),
        ("COMMIT_REPO", "relative/path".as_ref()),
        ("COMMIT_GIT_TIMEOUT_SECS", "-1".as_ref()),
    ]);
    for want in [
        "AI_DAILY_BUDGET_USD",
        "AI_OPENAI_BASE_URL: must be an http:// or https:// URL",
        "COMMIT_REPO: must be an absolute path",
        // The bounds the configuration declares, not those of its Rust type.
        "COMMIT_GIT_TIMEOUT_SECS: expected a whole number from 1 to 3600",
    ] {
        assert!(said.contains(want), "{want} not in: {said}");
    }
    assert!(!said.contains("sk-never-printed"), "{said}");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens"
    );

    // A commit repository that is not a git repository: the plugin's own message, git's exit
    // in words with what git said, and no Rust in it.
    let plain = std::env::temp_dir().join(format!("not-a-repo-{}", std::process::id()));
    std::fs::create_dir_all(&plain).unwrap();
    let said = refused(&[("COMMIT_REPO", plain.as_os_str())]);
    assert!(
        said.contains("plugin `commit` cannot start:") && said.contains("is not a git repository"),
        "{said}"
    );
    assert!(
        said.contains("git rev-parse exited with status 128: fatal: not a git repository"),
        "{said}"
    );
    assert!(!said.contains("Some("), "{said}");
    // A file is said to be one, not that git could not be started.
    let file = plain.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let said = refused(&[("COMMIT_REPO", file.as_os_str())]);
    assert!(
        said.contains(&format!(
            "{} is not a git repository: it is a file, not a directory",
            file.display()
        )),
        "{said}"
    );

    // A shared file's table that no plugin reads (a misspelt `[comit]`) stops it too.
    let shared = plain.join("plugins.toml");
    std::fs::write(&shared, "[comit]\nrepo = \"/srv/repo\"\n").unwrap();
    let said = refused(&[("PLUGIN_CONFIG", shared.as_os_str())]);
    assert!(
        said.contains(&format!(
            "`comit` in {}: no plugin here reads this table; the plugins configured are `commit`, `ai`",
            shared.display()
        )),
        "{said}"
    );

    // No AI provider, but one is required: the AI plugin's own message.
    let said = refused(&[("AI_REQUIRED", "true".as_ref())]);
    assert!(
        said.contains("plugin `ai` cannot start: no AI provider is configured"),
        "{said}"
    );

    // Confined, the first start's log is held back for the confined start to say; a first
    // start that stops shows it, what led to the refusal included.
    let redis = format!("redis://127.0.0.1:{}", crate::readiness::closed_port());
    let said = refused(&[
        ("CONFINE", "true".as_ref()),
        ("REDIS_URL", redis.as_ref()),
        ("AI_REQUIRED", "true".as_ref()),
    ]);
    assert!(
        said.contains("this start's log is held back, shown if it fails")
            && said.contains("plugin `ai` cannot start: no AI provider is configured"),
        "{said}"
    );
    assert_eq!(
        said.matches("the rate-limit store is unreachable").count(),
        1,
        "{said}"
    );

    // A provider to call over TLS, on a system whose root certificates cannot be read: said,
    // not a panic (a provider over plain HTTP needs none: the next test).
    let missing = plain.join("no-such-roots.pem");
    let said = refused(&[
        ("AI_OPENAI_API_KEY", "sk-never-printed-0123".as_ref()),
        ("SSL_CERT_FILE", missing.as_os_str()),
        ("SSL_CERT_DIR", "".as_ref()),
    ]);
    assert!(
        said.contains("plugin `ai` cannot start: cannot build the providers' HTTP client")
            && said.contains("SSL_CERT_FILE="),
        "{said}"
    );
    assert!(!said.contains("panicked"), "{said}");
    assert!(!said.contains("sk-never-printed"), "{said}");
    let _ = std::fs::remove_dir_all(plain);
    let _ = std::fs::remove_dir_all(dir);
}

/// A provider called over plain HTTP (a local Ollama) needs no root certificate: the example
/// server starts on a system where none can be read, and generates through it.
#[test]
fn a_provider_over_plain_http_needs_no_root_certificates() {
    use crate::server::{Server, fresh_sqlite, server_binary, user_with_key};
    // The provider's double runs on this runtime's threads while the test calls the server.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let upstream = runtime.block_on(crate::fake_llm::Upstream::start());
    let binary = server_binary();
    let (dir, url) = fresh_sqlite("plain-http-provider");
    let key = user_with_key(&binary, &url, "ollama@example.com", "ai:generate");
    let missing = dir.join("no-such-roots.pem");
    let mut server = Server::start_with(
        &binary,
        &url,
        &[
            ("AI_OLLAMA_MODEL", "echo"),
            ("AI_OLLAMA_BASE_URL", &upstream.base_url),
            ("SSL_CERT_FILE", missing.to_str().unwrap()),
            ("SSL_CERT_DIR", ""),
        ],
    );
    server.key = Some(key);
    let (status, _, body) = server.call(
        "POST",
        "/v1/plugins/ai/generate",
        Some(&serde_json::json!({"prompt": "hello there", "model": "echo"})),
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("echo: hello there"), "{body}");
    assert_eq!(upstream.answered(), 1);
    server.kill();
    let _ = std::fs::remove_dir_all(dir);
}

/// Confined, the server starts twice; each start-time line is said once, and what only the
/// first start could say (a one-time release of budget holds left by a crashed server) is said
/// by the confined start, not lost with the first start's log.
#[test]
fn a_confined_server_says_its_start_once() {
    use crate::server::{Server, fresh_sqlite, server_binary};
    let e = plugin_routes::reach::enforcement();
    if !(e.fs.enforced && e.net.enforced) {
        println!("skipped: the kernel cannot confine here: {e:?}");
        return;
    }
    let binary = server_binary();
    let (dir, url) = fresh_sqlite("confined-start");
    // Once unconfined, for the tables; then a hold left by a server that ended mid-call.
    Server::start_with(&binary, &url, &[]).kill();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use sqlx::Connection;
        let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query(
            "INSERT INTO ai_holds (caller, day, month, amount, created_at) \
             VALUES ('u:crashed', '2026-12-01', '2026-12', 1000, 0)",
        )
        .execute(&mut db)
        .await
        .unwrap();
    });
    let redis = format!("redis://127.0.0.1:{}", crate::readiness::closed_port());
    // Its whole log, read until it ends: the lines released after it listens included.
    let mut child = Running(confined_example(&binary, &url, &redis));
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let stderr = child.0.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut said = String::new();
        for line in std::io::BufReader::new(stderr).lines() {
            let line = line.unwrap();
            if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
                let _ = port_tx.send(rest.split_whitespace().next().unwrap().to_owned());
            }
            said.push_str(&line);
            said.push('\n');
        }
        said
    });
    let port = port_rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the confined server listens");
    let ready = {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).unwrap();
        s.write_all(b"GET /ready HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    };
    drop(child);
    let said = reader.join().unwrap();
    assert!(ready.contains("\"serverConfined\":true"), "{ready}\n{said}");
    for once in [
        "the rate-limit store is unreachable",
        "started plugin=\"ai\"",
        "released budget holds left by a server that ended during model calls",
    ] {
        assert_eq!(said.matches(once).count(), 1, "{once}: {said}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The example server on `url`, confined (`CONFINE=true`), counting in Redis at `redis`, its
/// log piped.
fn confined_example(binary: &std::path::Path, url: &str, redis: &str) -> std::process::Child {
    std::process::Command::new(binary)
        .env("DATABASE_URL", url)
        .env("PORT", "0")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env("CONFINE", "true")
        .env("REDIS_URL", redis)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Either start of a confined server stopped by a signal before it listens (a deploy giving up
/// on a slow start) shows how far it got: the first start the log it held, the confined start
/// what the first start said and it had not yet.
#[test]
fn a_confined_start_stopped_by_a_signal_shows_its_log() {
    use crate::server::{fresh_sqlite, server_binary};
    let binary = server_binary();
    let e = plugin_routes::reach::enforcement();
    let confines = e.fs.enforced && e.net.enforced;
    let (dir, url) = fresh_sqlite("confined-signal");
    // Signalled when Redis has been connected to `starts` times: once by the first start, then
    // by the confined start.
    for starts in [1, 2].into_iter().take(if confines { 2 } else { 1 }) {
        // A Redis that takes connections and never answers: each start waits on it for seconds.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        silent.set_nonblocking(true).unwrap();
        let redis = format!("redis://{}", silent.local_addr().unwrap());
        let mut child = Running(confined_example(&binary, &url, &redis));
        let stderr = child.0.stderr.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut said = String::new();
            let _ = std::io::Read::read_to_string(&mut { stderr }, &mut said);
            said
        });
        let mut held = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while held.len() < starts {
            match silent.accept() {
                Ok((stream, _)) => held.push(stream),
                Err(_) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "no start reached Redis"
                    );
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
        }
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &child.0.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = child.wait_within(std::time::Duration::from_secs(30));
        let said = reader.join().unwrap();
        assert_eq!(status.code(), Some(143), "{starts}: {said}");
        assert!(
            said.contains("stopped by a signal before the server listened"),
            "{starts}: {said}"
        );
        assert_eq!(
            said.matches("rate limits are to be counted in Redis")
                .count(),
            1,
            "{starts}: {said}"
        );
        if starts == 2 {
            // The first start found Redis silent; the confined start was still waiting on it.
            assert!(said.contains("starting again, confined"), "{said}");
            assert_eq!(
                said.matches("the rate-limit store is unreachable").count(),
                1,
                "{said}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A child process killed when the test is done with it, or fails.
struct Running(std::process::Child);

impl Running {
    /// How it ended, within `limit` (killed if it has not).
    fn wait_within(&mut self, limit: std::time::Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still running after {limit:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The example server's commands, and a start that cannot listen, say what went wrong in words
/// (not as a Rust value) and end with status 1.
#[test]
fn the_example_servers_failures_are_said_in_words() {
    use crate::server::{fresh_sqlite, server_binary};
    let binary = server_binary();
    let (dir, url) = fresh_sqlite("said-in-words");
    let run = |args: &[&str], env: &[(&str, &str)], stdin: &str| {
        let out = crate::server::run_cli(&binary, &url, args, env, stdin);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let create = [
        "users",
        "create",
        "--email",
        "words@example.com",
        "--scopes",
        "items:read",
    ];
    let (code, said) = run(&create, &[], "short\n");
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("a password must be 8 to 1024 bytes"),
        "{said}"
    );
    assert!(!said.contains("InvalidPassword"), "{said}");

    let (code, said) = run(&create, &[], "long enough password\n");
    assert_eq!(code, Some(0), "{said}");
    let (code, said) = run(&create, &[], "long enough password\n");
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("a user with this email exists"), "{said}");
    assert!(!said.contains("EmailTaken"), "{said}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (code, said) = run(&[], &[("PORT", &port)], "");
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{said}"
    );
    assert!(!said.contains("Os {"), "{said}");
    drop(taken);

    // A rate-limit override that names no declared policy: refused in words, before listening.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port().to_string();
    drop(free);
    let (code, said) = run(
        &["--rate-limit", "ai.nothing=100/1m"],
        &[("PORT", &port)],
        "",
    );
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains("the rate-limit override `ai.nothing` names no policy"),
        "{said}"
    );
    // And the operator is told which ones there are.
    assert!(said.contains("the policies there are: "), "{said}");
    assert!(said.contains("ai.generations"), "{said}");
    assert!(!said.contains("panicked"), "{said}");
    assert!(!said.contains("listening on"), "{said}");
    let _ = std::fs::remove_dir_all(dir);
}

/// A database that takes connections and then answers nothing holds no step of the example
/// server's start for ever: the pool's open gives up within its connection wait, naming the
/// database, and a set of migrations that waits (here behind a lock another session holds)
/// gives up at `START_TIMEOUT_SECS`, naming the step; once the lock is gone, the same command
/// works.
#[test]
fn the_example_server_gives_up_on_a_database_that_does_not_answer() {
    use crate::server::server_binary;
    let binary = server_binary();
    let create = |email: &str| {
        [
            "users",
            "create",
            "--email",
            email,
            "--scopes",
            "items:read",
        ]
        .map(str::to_owned)
    };
    let run = |url: &str, args: &[String], env: &[(&str, &str)]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = crate::server::run_cli(&binary, url, &args, env, "a long enough password\n");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // A URL that names no database this server knows: refused at once, its password left out
    // of every part of the message.
    let (code, said) = run(
        "postgress://someone:hunter2@127.0.0.1/db?password=hunter2",
        &create("typo@example.com"),
        &[],
    );
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains(
            "cannot open the database at postgress://someone:***@127.0.0.1/db?password=***: "
        ),
        "{said}"
    );
    assert!(said.contains("unsupported database URL"), "{said}");
    assert!(!said.contains("hunter2"), "{said}");

    // Accepted by the kernel's backlog, never answered.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "postgres://someone:hunter2@{}/db",
        silent.local_addr().unwrap()
    );
    let (code, said) = run(&url, &create("silent@example.com"), &[]);
    assert_eq!(code, Some(1), "{said}");
    let redacted = url.replace("hunter2", "***");
    assert!(
        said.contains(&format!("cannot open the database at {redacted}: ")),
        "{said}"
    );
    assert!(
        said.contains("no answer within 3000 ms to a new connection"),
        "a database that answers nothing is told from one that refuses: {said}"
    );
    assert!(!said.contains("hunter2"), "{said}");
    drop(silent);

    // Nothing listening: refused, said at once in the system's words, not as a pool's timeout.
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "postgres://someone:hunter2@{}/db",
        refused.local_addr().unwrap()
    );
    drop(refused);
    let (code, said) = run(&url, &create("refused@example.com"), &[]);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("onnection refused"), "{said}");
    assert!(!said.contains("timed out"), "{said}");
    assert!(!said.contains("hunter2"), "{said}");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(pg) = rt.block_on(crate::fixtures::PgSchema::fresh("start_bound")) else {
        return;
    };
    let url = rt.block_on(pg.url_with_public_extension("hstore"));
    let (code, said) = run(&url, &create("first@example.com"), &[]);
    assert_eq!(code, Some(0), "{said}");
    // Another session holds the migrations' table: every set of migrations waits for it.
    let mut holder = rt.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql("BEGIN; LOCK TABLE _sqlx_migrations IN ACCESS EXCLUSIVE MODE")
            .execute(&mut conn)
            .await
            .unwrap();
        conn
    });
    let (code, said) = run(
        &url,
        &create("second@example.com"),
        &[("START_TIMEOUT_SECS", "2")],
    );
    assert_eq!(code, Some(1), "{said}");
    assert!(
        said.contains(
            "cannot start: the items plugin's migrations did not finish within 2 s; the database \
             accepts connections but does not answer (a hung server or proxy), another server \
             holds its migration lock, or a migration takes longer than that (START_TIMEOUT_SECS \
             sets the bound)"
        ),
        "{said}"
    );
    rt.block_on(async {
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut holder)
            .await
            .unwrap()
    });
    let (code, said) = run(
        &url,
        &create("second@example.com"),
        &[("START_TIMEOUT_SECS", "2")],
    );
    assert_eq!(code, Some(0), "{said}");
    rt.block_on(pg.admin(&format!("DROP SCHEMA {} CASCADE", pg.schema)));
}
