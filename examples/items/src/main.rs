//! `example-server`: the items plugin with sessions, API keys and OAuth, served over HTTP.
//!
//! ```text
//! example-server [--host 127.0.0.1] [--port 8080]       serves (PORT, HOST, DATABASE_URL also work;
//!                                                       TRUSTED_PROXIES names the proxies in front;
//!                                                       REDIS_URL shares rate limits among servers;
//!                                                       the plugins read AI_* and COMMIT_*, see
//!                                                       the README; COMMIT_REPO mounts the commit
//!                                                       plugin on a repository; --confine / CONFINE
//!                                                       confines the whole process with Landlock;
//!                                                       --rate-limit / RATE_LIMITS changes a
//!                                                       declared rate limit: ai.generations=100/1m)
//! example-server users create --email E --scopes S [--with-api-key NAME]
//!                                                        makes a user; the password is read from stdin
//! example-server api-keys create --email E --name N --scopes S
//!                                                        makes an API key, printed alone on the last line
//! example-server openapi --out openapi                   writes the OpenAPI documents
//! example-server manifest --out openapi/manifest.json    writes the plugin manifest
//! ```
//! The database defaults to `./data/items.db` (SQLite, created on first start); a `postgres://`
//! `DATABASE_URL` lets several servers share one database (`DATABASE_MAX_CONNECTIONS` bounds
//! each one's pool). `openapi` and `manifest` open no
//! database. Logs go to stderr.

// The host application, not plugin code: it reads its own flags, environment and files before
// any route runs; the plugins' lint (`examples/clippy.toml`) is for the plugins' own code.
#![expect(
    clippy::disallowed_methods,
    reason = "example-server is the host application, not a plugin"
)]

mod held_log;

use ai_plugin::AiPlugin;
use clap::{Args as ClapArgs, Parser, Subcommand};
use commit_plugin::CommitPlugin;
use items_example::ItemsState;
use plugin_routes::auth::{OAuthConfig, parse_grants};
use plugin_routes::config::ConfigSource;
use plugin_routes::database::Database;
use plugin_routes::operations::{OperationSettings, Operations};
use plugin_routes::reach::ServerReach;
use plugin_routes::{
    Auth, AuthConfig, Lifecycle, LimitStore, Plugin, WhenUnreachable, redacted_url,
};
use std::io::Read;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "example-server",
    version,
    about = "Serves the items plugin under /v1/plugins/items, with sessions, API keys and OAuth"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    port: u16,
    /// The proxies in front of the server (addresses and CIDR ranges, comma-separated): through
    /// them the client's address is read from `X-Forwarded-For`. None by default.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "", value_parser = plugin_routes::TrustedProxies::parse)]
    trusted_proxies: plugin_routes::TrustedProxies,
    /// Count rate limits in this Redis (`redis://[user:password@]host[:port][/db]`, or
    /// `rediss://` over TLS, checked against the system's roots, which `SSL_CERT_FILE` and
    /// `SSL_CERT_DIR` replace, or `REDIS_CA_FILE`'s), shared by every server that uses it,
    /// instead of in this process.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// The certificate authorities (PEM) a `rediss://` Redis's certificate is checked against, in
    /// place of the system's roots for Redis alone: a private CA, say.
    #[arg(long, env = "REDIS_CA_FILE")]
    redis_ca_file: Option<PathBuf>,
    /// What happens to requests to rate-limited routes while Redis cannot be reached: `admit`
    /// them uncounted, or `refuse` them with 503.
    #[arg(long, env = "REDIS_UNREACHABLE", default_value = "admit", value_parser = ["admit", "refuse"])]
    redis_unreachable: String,
    /// What the keys written to Redis start with: servers share quotas under the same prefix.
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "plugin-limits")]
    redis_key_prefix: String,
    /// Seconds a client has to send a whole request head, from connecting or from its previous
    /// response: a trickled head, a silent connection and an idle keep-alive one are closed then.
    #[arg(long, env = "HEAD_TIMEOUT_SECS", default_value_t = 30)]
    head_timeout_secs: u64,
    /// Seconds a connection with no request in flight may stay silent before it is closed.
    #[arg(long, env = "IDLE_TIMEOUT_SECS", default_value_t = 30)]
    idle_timeout_secs: u64,
    /// How many connections are served at once; more wait in the operating system's queue.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: u64,
    /// Seconds between a server's heartbeats to the operations' queue: a server silent for two
    /// of them is dead, and its operations are run again or failed by another.
    #[arg(long, env = "OPERATIONS_HEARTBEAT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    operations_heartbeat_secs: u64,
    /// Hours an ended operation stays readable before it is deleted.
    #[arg(long, env = "OPERATIONS_RETENTION_HOURS", default_value_t = 168)]
    operations_retention_hours: u64,
    /// How many operations one caller may have queued or running at once.
    #[arg(long, env = "OPERATIONS_PER_CALLER", default_value_t = 8)]
    operations_per_caller: u32,
    /// How many operations this server runs at once; the others wait, queued.
    #[arg(long, env = "OPERATIONS_MAX_RUNNING", default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    operations_max_running: u64,
    /// Keeps this server's operations apart from those of other applications on the same
    /// database: only servers with the same namespace take each other's.
    #[arg(long, env = "OPERATIONS_NAMESPACE", default_value = "")]
    operations_namespace: String,
    /// Seconds a stopping server waits for the operations it runs to end (default: two less
    /// than a heartbeat, so that no other server takes them meanwhile); those still running
    /// then are run again or failed by the next server to take them.
    #[arg(long, env = "OPERATIONS_GRACE_SECS")]
    operations_grace_secs: Option<u64>,
    /// Confine the whole server process with Landlock (Linux) to what its plugins declare and
    /// what it needs (its database's directory or port and TLS files, Redis's port and roots,
    /// the OTLP endpoint's port, its port, the temporary directory, its configuration files): it
    /// starts once to find that out, then again, confined before it makes any thread.
    #[arg(long, env = "CONFINE")]
    confine: bool,
    /// How many failed authentications one client address may make per minute before it is
    /// refused with 429.
    #[arg(long, env = "AUTH_FAILURES_PER_MINUTE", default_value_t = plugin_routes::auth::AUTH_FAILURES.quota)]
    auth_failures_per_minute: u32,
    /// Changes a rate limit a plugin declares, `plugin.policy=quota/window` (repeatable, or
    /// comma-separated in the variable): `ai.generations=100/1m` lets each caller make 100 calls
    /// to a model a minute instead of 50.
    #[arg(
        long = "rate-limit",
        env = "RATE_LIMITS",
        value_delimiter = ',',
        value_name = "PLUGIN.POLICY=QUOTA/WINDOW"
    )]
    rate_limits: Vec<plugin_routes::LimitOverride>,
    #[command(flatten)]
    db: DatabaseArgs,
    #[command(flatten)]
    auth: AuthArgs,
}

#[derive(Debug, ClapArgs)]
struct DatabaseArgs {
    /// `sqlite://path` (the default, created if missing) or `postgres://...`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/items.db",
        global = true
    )]
    database_url: String,
    /// At most this many connections to the database (default: 16 on PostgreSQL, 8 on a SQLite
    /// file); operations' queue takes up to half as many more on PostgreSQL. Servers sharing
    /// one PostgreSQL database together stay under its `max_connections`.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", global = true, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    database_max_connections: Option<u32>,
    /// Seconds each step of start-up may wait (a set of migrations, a plugin's start hook)
    /// before the process gives up, saying which step: a database that accepts connections and
    /// then answers nothing (a hung server or proxy) would otherwise hold it without a word.
    #[arg(long, env = "START_TIMEOUT_SECS", default_value_t = 60, global = true,
          value_parser = clap::value_parser!(u64).range(1..))]
    start_timeout_secs: u64,
}

#[derive(Debug, ClapArgs)]
struct AuthArgs {
    /// The server is reached over HTTPS (behind a proxy): session cookies get `Secure` and the
    /// `__Host-` prefix.
    #[arg(long, env = "HTTPS")]
    https: bool,
    /// How long a looked-up key or session is trusted before asking the database again, in ms:
    /// the bound on how long a key revoked on another server keeps working here.
    #[arg(long, env = "AUTH_CACHE_TTL_MS", default_value_t = 10_000)]
    auth_cache_ttl_ms: u64,
    /// An origin besides the server's own allowed to send cookie-authenticated writes.
    #[arg(long, env = "ALLOWED_ORIGIN")]
    allowed_origin: Vec<String>,
    /// OAuth: the issuer (`iss`) tokens must carry.
    #[arg(long, env = "OAUTH_ISSUER", requires = "oauth_audience")]
    oauth_issuer: Option<String>,
    /// OAuth: the audience (`aud`) tokens must carry.
    #[arg(long, env = "OAUTH_AUDIENCE", requires = "oauth_issuer")]
    oauth_audience: Option<String>,
    /// OAuth: a PEM public key or a JWKS file (RS256, ES256).
    #[arg(long, env = "OAUTH_KEY_FILE")]
    oauth_key_file: Option<PathBuf>,
    /// OAuth: an HS256 shared secret.
    #[arg(long, env = "OAUTH_HS256_SECRET", hide_env_values = true)]
    oauth_hs256_secret: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Writes the OpenAPI documents and the manifest the server serves, as files under a
    /// directory: the plugins are configured and started as for serving (`COMMIT_REPO` and the
    /// rest), the app assembled, and what it would serve written instead of served.
    Openapi {
        /// The directory (created if missing).
        #[arg(long, default_value = "openapi")]
        out: PathBuf,
    },
    /// Writes the plugin manifest alone: plugins, routes, errors, limits, security.
    Manifest {
        /// The file.
        #[arg(long, default_value = "openapi/manifest.json")]
        out: PathBuf,
    },
    /// Manages users.
    #[command(subcommand)]
    Users(Users),
    /// Manages API keys.
    #[command(subcommand, name = "api-keys")]
    ApiKeys(ApiKeys),
}

#[derive(Debug, Subcommand)]
enum Users {
    /// Makes a user. The password is read from stdin (one line; 8 to 1024 bytes).
    Create {
        /// The email they log in with.
        #[arg(long)]
        email: String,
        /// Comma-separated scopes, e.g. `items:read,items:write`; `items:*` and `*` are wildcards.
        #[arg(long, default_value = "")]
        scopes: String,
        /// Also make an API key with this name and the user's scopes, printed alone on the last
        /// line: a working key in one command.
        #[arg(long, value_name = "NAME")]
        with_api_key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ApiKeys {
    /// Makes an API key for a user and prints it, alone on the last line of stdout. It is shown
    /// only now: only its hash is stored.
    Create {
        /// The owner's email.
        #[arg(long)]
        email: String,
        /// A name to recognise the key by.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes, never more than the owner's.
        #[arg(long)]
        scopes: String,
        /// When the key stops working, RFC 3339 (`2030-01-31T00:00:00Z`).
        #[arg(long)]
        expires_at: Option<String>,
    },
}

type Error = Box<dyn std::error::Error>;

/// A failure is said in words (its `Display`, with what caused it), not as a Rust value, and
/// ends the process with status 1.
fn main() -> std::process::ExitCode {
    match start() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let mut said = e.to_string();
            let mut cause = std::error::Error::source(&*e);
            while let Some(c) = cause {
                // thiserror's messages often carry their source's already.
                let text = c.to_string();
                if !said.contains(&text) {
                    said = format!("{said}: {text}");
                }
                cause = std::error::Error::source(c);
            }
            say_error(&said);
            std::process::ExitCode::FAILURE
        }
    }
}

fn start() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            // PostgreSQL's notices ("relation already exists, skipping" on every start) are
            // INFO in sqlx: left out unless `RUST_LOG` asks for them. sqlx warns of a URL's
            // parameter it does not know with its value, which is the rest of a password holding
            // an unescaped `&`: left out too (the URL's faults are said, masked, when it fails).
            // apalis logs each start of an operations worker, each failed heartbeat and each
            // failure at error level: the engine says an outage once (a warning, then that the
            // worker runs again). sqlx's unknown-parameter warning is said again by the
            // runtime, naming the parameter alone.
            EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                EnvFilter::new(
                    "info,sqlx::postgres::notice=warn,sqlx_postgres::options::parse=error,\
                     apalis_core=off",
                )
            }),
        )
        .with_writer(held_log::Stderr)
        // Colours for a person at a terminal, not in a file or a log collector's pipe.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    // The second start of `--confine`: confined first, while this is the only thread, so that
    // every thread made from here on (the runtime's, the database's) is confined too.
    let confined = match std::env::var(ServerReach::ENV) {
        Ok(value) if args.command.is_none() && args.confine => {
            // What the first start said, to be said here unless this start says it too.
            if let Some(first) = std::env::var_os(held_log::HANDED_OVER) {
                held_log::compare(std::os::unix::ffi::OsStringExt::into_vec(first));
            }
            let reach = ServerReach::from_env_value(&value)?;
            if let Err(e) = reach.confine_this_thread() {
                refuse_to_start(&e);
            }
            true
        }
        Err(_) if args.command.is_none() && args.confine => {
            tracing::info!(
                "confining the server (--confine, CONFINE): this first start finds what the \
                 plugins reach, then the server starts again confined to it; this start's log is \
                 held back, shown if it fails, and otherwise said by the confined start"
            );
            held_log::hold();
            false
        }
        _ => false,
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args, confined))
}

async fn run(args: Args, confined: bool) -> Result<(), Error> {
    // Stopped by a signal before it listens, a start of `--confine` shows what it held (the
    // first start) or what the first start said and it did not (the confined start), and ends
    // with the shell's status for the signal.
    let watch = (args.confine && args.command.is_none()).then(|| {
        tokio::spawn(async {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut interrupt), Ok(mut terminate)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            let code = tokio::select! {
                _ = interrupt.recv() => 130,
                _ = terminate.recv() => 143,
            };
            held_log::release();
            tracing::warn!("stopped by a signal before the server listened");
            std::process::exit(code);
        })
    });
    let config = args
        .rate_limits
        .iter()
        .cloned()
        .fold(items_example::config(), |c, o| {
            c.with_rate_limit_override(o)
        });
    // Serving and exporting what would be served start the plugins alike.
    let starts = matches!(
        args.command,
        None | Some(Command::Openapi { .. } | Command::Manifest { .. })
    );
    // The plugins' settings first, every fault of every plugin at once, before anything opens.
    let (ai_config, commit_config) = if starts {
        let source = ConfigSource::from_env();
        match source.load_all::<(AiPlugin, CommitPlugin)>() {
            Ok(both) => (Some(both.0), Some(both.1)),
            Err(e) => refuse_to_start(&e),
        }
    } else {
        (None, None)
    };
    // A rate-limit override the operator gave that names nothing: said before anything opens.
    if let Some(commit) = &commit_config
        && let Err(e) = items_example::check_overrides(&config, commit.repo.is_some())
    {
        refuse_to_start(&e);
    }

    let url = &args.db.database_url;
    let wait = Duration::from_secs(args.db.start_timeout_secs);
    let opened = match args.db.database_max_connections {
        Some(max) => Database::connect_with(url, max).await,
        None => Database::connect(url).await,
    };
    let db =
        opened.map_err(|e| format!("cannot open the database at {}: {e}", redacted_url(url)))?;
    let pool = db.pool.clone();
    let state = within(
        wait,
        "the items plugin's migrations",
        ItemsState::open(pool.clone(), url),
    )
    .await?;
    let auth_config = auth_config(&args.auth)?;
    let auth = within(
        wait,
        "the credential store's migrations",
        Auth::open(pool, auth_config),
    )
    .await?;
    match args.command {
        Some(Command::Users(Users::Create {
            email,
            scopes,
            with_api_key,
        })) => {
            let scopes = parse_grants(&scopes)?;
            let password = read_password()?;
            let user = auth.create_user(&email, &password, &scopes).await?;
            println!(
                "created user {} ({}) with scopes [{}]",
                user.email,
                user.id,
                user.scopes.join(", ")
            );
            if let Some(name) = with_api_key {
                let created = auth.create_api_key(&email, &name, &scopes, None).await?;
                print_key(&created, &email);
            }
            return Ok(());
        }
        Some(Command::ApiKeys(ApiKeys::Create {
            email,
            name,
            scopes,
            expires_at,
        })) => {
            let scopes = parse_grants(&scopes)?;
            let created = auth
                .create_api_key(&email, &name, &scopes, expires_at.as_deref())
                .await?;
            print_key(&created, &email);
            return Ok(());
        }
        _ => {}
    }

    let per_minute = args.auth_failures_per_minute.max(1);
    let mut config = config.with_auth_failure_limit(plugin_routes::RateLimit {
        quota: per_minute,
        burst: per_minute,
        ..plugin_routes::auth::AUTH_FAILURES
    });
    if let Some(redis) = &args.redis_url {
        let then = match args.redis_unreachable.as_str() {
            "refuse" => WhenUnreachable::Refuse,
            _ => WhenUnreachable::Admit,
        };
        let mut store = LimitStore::redis(redis)?
            .when_unreachable(then)
            .key_prefix(args.redis_key_prefix.clone());
        if let Some(file) = args
            .redis_ca_file
            .as_ref()
            .filter(|f| !f.as_os_str().is_empty())
        {
            let pem = std::fs::read(file)
                .map_err(|e| format!("REDIS_CA_FILE {}: {e}", file.display()))?;
            store = store
                .with_roots(&pem)
                .map_err(|e| format!("REDIS_CA_FILE {}: {e}", file.display()))?;
        }
        config = config.with_limit_store(store);
        tracing::info!(
            when_unreachable = %args.redis_unreachable,
            "rate limits are to be counted in Redis, shared with every server using it"
        );
        // Said now, not at the first limited request: a Redis that does not answer is logged as
        // an error saying what limited routes answer meanwhile. The server starts anyway, and
        // counts there once Redis answers.
        config.limit_store().check().await;
    }
    // Traces over OTLP/HTTP, when an endpoint is set the standard way.
    let traces = match otlp_endpoint() {
        Some(endpoint) => {
            let provider = items_example::otlp_tracer_provider(None)?;
            config = config.with_tracer_provider(&provider);
            tracing::info!(endpoint = %redacted_url(&endpoint), "traces are exported over OTLP/HTTP");
            Some(provider)
        }
        None => None,
    };
    // Each plugin's start hook, in order (the commit plugin uses the AI plugin's models); one
    // that refuses stops the server before it listens.
    let (Some(ai_config), Some(commit_config)) = (ai_config, commit_config) else {
        return Err("a subcommand fell through to serving".into());
    };
    // Operations (routes declared `operation`): kept in the same database, run by whichever
    // server sharing it takes them.
    let settings = OperationSettings::default()
        .with_heartbeat(Duration::from_secs(args.operations_heartbeat_secs))
        .with_retention(Duration::from_secs(args.operations_retention_hours * 3600))
        .with_max_active_per_caller(args.operations_per_caller)
        .with_max_running(usize::try_from(args.operations_max_running).unwrap_or(usize::MAX))
        .with_namespace(args.operations_namespace.clone());
    let operations = within(
        wait,
        "the operations queue's migrations",
        Operations::open(&db, settings),
    )
    .await?;
    let config = config.with_operations(&operations);
    // The database, and the server's metrics for the plugins' own counters; each start hook
    // bounded as the steps above are.
    let mut life = Lifecycle::new().with(db).with_start_timeout(wait);
    if let Some(metrics) = config.metrics() {
        life.provide(metrics.clone());
    }
    // A plugin that refuses: said once, the plugins started before it stopped, and the process
    // ends (status 1) before anything listens.
    let ai = match AiPlugin::start(ai_config, &mut life).await {
        Ok(ai) => ai,
        Err(e) => {
            say_start_failed(&e);
            life.stop().await;
            std::process::exit(1)
        }
    };
    let commit = if commit_config.repo.is_some() {
        match CommitPlugin::start(commit_config, &mut life).await {
            Ok(commit) => Some(commit),
            Err(e) => {
                say_start_failed(&e);
                life.stop().await;
                std::process::exit(1)
            }
        }
    } else {
        tracing::info!("no commit repository (COMMIT_REPO): /v1/plugins/commit is not served");
        None
    };
    if let Some(Command::Openapi { out } | Command::Manifest { out }) = &args.command {
        // What this process would serve, from the app it would serve.
        let app = items_example::assembled(state, ai, commit, &auth, config);
        let written = match &args.command {
            Some(Command::Manifest { .. }) => {
                let mut bytes = serde_json::to_vec_pretty(app.manifest())?;
                bytes.push(b'\n');
                write(out, &bytes)?;
                1
            }
            _ => app.write_documents(out)?.len(),
        };
        life.stop().await;
        tracing::info!(files = written, out = %out.display(), "wrote what the server serves");
        return Ok(());
    }
    // Confined, the port is the one the first start bound (a `--port 0` would pick another,
    // which the reach does not allow).
    let port = match ServerReach::confined().map(|r| r.bind.as_slice()) {
        Some([port]) => *port,
        _ => args.port,
    };
    let address = SocketAddr::new(args.host, port);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| format!("cannot listen on {address}: {e}"))?;
    let addr = listener.local_addr()?;
    if args.confine && !confined {
        // The first start of `--confine`: what the plugins reach is known now; start again,
        // confined to it (on the same port), in place of this process.
        let reach = server_reach(&args, &ai, commit.as_ref(), addr.port())?;
        drop(listener);
        life.stop().await;
        let reach = reach.to_env()?;
        let program = std::env::current_exe()?;
        let mut again = std::process::Command::new(program);
        again
            .args(std::env::args_os().skip(1))
            .env(ServerReach::ENV, reach)
            // SQLite's temporary files go where the reach allows, not to `/var/tmp`.
            .env("SQLITE_TMPDIR", std::env::temp_dir());
        // The confined start says what this one held, unless it says it itself.
        let held = held_log::hand_over();
        match &held {
            Some(lines) => again.env(held_log::HANDED_OVER, std::ffi::OsStr::from_bytes(lines)),
            None => again.env_remove(held_log::HANDED_OVER),
        };
        tracing::info!("starting again, confined");
        let mut failed = again.exec();
        // Not started again: this start's log is said with the error; or said now, and the start
        // made again without it, when the environment was too large with it (E2BIG).
        if held.is_some() && failed.raw_os_error() == Some(7) {
            held_log::release();
            held_log::said_twice("the environment is too large to take it");
            failed = again.env_remove(held_log::HANDED_OVER).exec();
        }
        return Err(failed.into());
    }
    let app = items_example::app_of(state, ai, commit, &auth, config);
    // Taken once every plugin is mounted: each operation route has its worker.
    let running = operations.start();
    tracing::info!(database = %redacted_url(url), "listening on http://{addr}");
    if args.trusted_proxies.is_empty() {
        tracing::info!(
            "no trusted proxies (TRUSTED_PROXIES): a client's address is its connection's, and \
             X-Forwarded-For is not read"
        );
    } else {
        tracing::info!(
            proxies = %args.trusted_proxies,
            "a client's address is read from X-Forwarded-For through the trusted proxies"
        );
    }
    tracing::info!(
        "API documents at http://{addr}/openapi.json, Swagger UI at http://{addr}/docs, settings at http://{addr}/settings"
    );
    // Confined: what the first start said and this one did not; a signal from now on is the
    // server's to drain by.
    held_log::release();
    if let Some(watch) = watch {
        watch.abort();
    }
    // Heads have a deadline and a size cap, connections a cap; SIGTERM and Ctrl-C drain. The
    // plugins' stop hooks run after the drain, or after serving failed.
    let served = plugin_routes::serve(listener, app)
        .with_trusted_proxies(args.trusted_proxies)
        .with_head_timeout(Duration::from_secs(args.head_timeout_secs))
        .with_idle_timeout(Duration::from_secs(args.idle_timeout_secs))
        .with_max_connections(usize::try_from(args.max_connections).unwrap_or(usize::MAX))
        .await;
    running
        .stop(Duration::from_secs(
            args.operations_grace_secs
                .unwrap_or_else(|| args.operations_heartbeat_secs.saturating_sub(2).max(1)),
        ))
        .await;
    life.stop().await;
    // The spans still in the batch are sent before the process ends.
    if let Some(traces) = traces
        && let Err(e) = traces.shutdown()
    {
        tracing::warn!(error = %e, "the last traces could not be exported");
    }
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// What the confined server may reach: its plugins' declarations with the values their starts
/// gave, its database (the SQLite file's directory, or the PostgreSQL port and the certificate
/// files its URL names), Redis's port and the root certificates `SSL_CERT_FILE`, `SSL_CERT_DIR`
/// and `REDIS_CA_FILE` name, its own port, the temporary directory and the configuration files it
/// reads again.
fn server_reach(
    args: &Args,
    ai: &AiPlugin,
    commit: Option<&CommitPlugin>,
    port: u16,
) -> Result<ServerReach, Error> {
    let mut reach = ServerReach::new()
        .with_plugin(<AiPlugin as Plugin>::META, ai.placeholders())?
        .bind(port)
        .write(std::env::temp_dir());
    if let Some(commit) = commit {
        reach = reach.with_plugin(<CommitPlugin as Plugin>::META, commit.placeholders())?;
    }
    let url = &args.db.database_url;
    if plugin_routes::database::Backend::of(url) == Some(plugin_routes::database::Backend::Sqlite) {
        let path = &url["sqlite:".len()..];
        let path = path.trim_start_matches("//");
        let path = path.split('?').next().unwrap_or_default();
        if !path.is_empty() && !path.starts_with(":memory:") {
            let dir = Path::new(path)
                .parent()
                .filter(|d| !d.as_os_str().is_empty());
            reach = reach.write(std::fs::canonicalize(dir.unwrap_or(Path::new(".")))?);
        }
    } else {
        reach = reach.connect(port_of(url, 5432));
        // Over TLS, each new connection reads the certificate files the URL names (the system's
        // roots are readable to every confined program).
        for file in tls_files(url) {
            reach = reach.read(file);
        }
    }
    if let Some(redis) = &args.redis_url {
        reach = reach.connect(port_of(redis, 6379));
    }
    for path in root_certificates() {
        reach = reach.read(path);
    }
    if let Some(file) = args
        .redis_ca_file
        .as_ref()
        .filter(|f| !f.as_os_str().is_empty())
    {
        reach = reach.read(std::fs::canonicalize(file).map_err(|e| format!("REDIS_CA_FILE: {e}"))?);
    }
    if let Some(endpoint) = otlp_endpoint() {
        reach = reach.connect(port_of(&endpoint, 4318));
    }
    for var in [
        "PLUGIN_CONFIG",
        "AI_CONFIG",
        "COMMIT_CONFIG",
        "OAUTH_KEY_FILE",
    ] {
        // Set and empty is unset, as the configuration reads it; the value is not printed.
        if let Some(file) = std::env::var_os(var).filter(|file| !file.is_empty()) {
            let file = std::fs::canonicalize(file).map_err(|e| format!("{var}: {e}"))?;
            reach = reach.read(file);
        }
    }
    Ok(reach)
}

/// The files a PostgreSQL connection reads for TLS, as sqlx finds them: those the URL names
/// (`sslrootcert`, `sslcert`, `sslkey` and their other spellings, decoded as sqlx decodes them),
/// else those the variables `PGSSLROOTCERT`, `PGSSLCERT` and `PGSSLKEY` name. Only files that
/// exist: one that does not is for the connection to report, if its `sslmode` reads it.
fn tls_files(url: &str) -> Vec<PathBuf> {
    let named: Vec<(String, String)> = url::Url::parse(url)
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    [
        (
            &["sslrootcert", "ssl-root-cert", "ssl-ca"][..],
            "PGSSLROOTCERT",
        ),
        (&["sslcert", "ssl-cert"][..], "PGSSLCERT"),
        (&["sslkey", "ssl-key"][..], "PGSSLKEY"),
    ]
    .into_iter()
    .filter_map(|(keys, var)| {
        named
            .iter()
            .rev()
            .find(|(k, _)| keys.contains(&k.as_str()))
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(var).ok())
    })
    .filter_map(|file| std::fs::canonicalize(file).ok())
    .collect()
}

/// What a `rediss://` store reads for its roots when it starts, where `SSL_CERT_FILE` and
/// `SSL_CERT_DIR` name them in place of the system's (whose default locations every confined
/// program may read): the file, each directory and the directories its entries link into (a
/// store of links, as on NixOS). Only what exists: a path that does not is for the store to
/// report.
fn root_certificates() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::env::var_os("SSL_CERT_FILE")
        .filter(|file| !file.is_empty())
        .and_then(|file| std::fs::canonicalize(file).ok())
        .into_iter()
        .collect();
    let dirs = std::env::var_os("SSL_CERT_DIR").unwrap_or_default();
    for dir in std::env::split_paths(&dirs).filter(|d| !d.as_os_str().is_empty()) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        paths.extend(std::fs::canonicalize(&dir));
        for entry in entries.flatten() {
            if let Some(linked) = std::fs::canonicalize(entry.path())
                .ok()
                .and_then(|target| target.parent().map(Path::to_path_buf))
                && !paths.contains(&linked)
            {
                paths.push(linked);
            }
        }
    }
    paths
}

/// Where traces go, if anywhere: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (the OTLP exporter reads them itself).
fn otlp_endpoint() -> Option<String> {
    [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .into_iter()
    .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
}

/// The port a `scheme://[user[:password]@]host[:port]/...` URL names, or `default`.
fn port_of(url: &str, default: u16) -> u16 {
    plugin_routes::reach::host_port_of(url).map_or(default, |(_, port)| port)
}

/// A step of start-up, given up past `wait` with an error that names it (`START_TIMEOUT_SECS`).
async fn within<T, E: Into<Error>>(
    wait: Duration,
    step: &str,
    work: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, Error> {
    match tokio::time::timeout(wait, work).await {
        Ok(done) => done.map_err(Into::into),
        Err(_) => Err(format!(
            "cannot start: {step} did not finish within {} s; the database accepts connections \
             but does not answer (a hung server or proxy), another server holds its migration \
             lock, or a migration takes longer than that (START_TIMEOUT_SECS sets the bound)",
            wait.as_secs()
        )
        .into()),
    }
}

/// A plugin that did not start; one that ran past the bound is told where this server sets it.
fn say_start_failed(e: &plugin_routes::StartFailed) {
    if e.is_timeout() {
        say_error(&format!("{e} (here: START_TIMEOUT_SECS)"));
    } else {
        say_error(e);
    }
}

/// A configuration at fault: said once, and the process ends (status 1) before anything opens
/// or listens.
fn refuse_to_start(e: &dyn std::fmt::Display) -> ! {
    say_error(e);
    std::process::exit(1)
}

/// Why the process stops: in the log, or on stderr as it is when the log shows no errors
/// (`RUST_LOG=off`), so that it never stops without a word.
fn say_error(e: &dyn std::fmt::Display) {
    // What led to it, when the first start of `--confine` held it back.
    held_log::release();
    if tracing::enabled!(tracing::Level::ERROR) {
        tracing::error!("{e}");
    } else {
        eprintln!("error: {e}");
    }
}

/// The key alone on the last line of stdout, so `| tail -n 1` gets it.
fn print_key(created: &plugin_routes::auth::CreatedApiKey, email: &str) {
    println!(
        "created API key {} ({}) for {email} with scopes [{}]; it is shown once:",
        created.info.name,
        created.info.id,
        created.info.scopes.join(", ")
    );
    println!("{}", created.key);
}

fn auth_config(a: &AuthArgs) -> Result<AuthConfig, Error> {
    let mut config = AuthConfig::default()
        .with_https(a.https)
        .with_cache_ttl(Duration::from_millis(a.auth_cache_ttl_ms));
    for origin in &a.allowed_origin {
        config = config.with_allowed_origin(origin.clone());
    }
    if let (Some(issuer), Some(audience)) = (&a.oauth_issuer, &a.oauth_audience) {
        let mut oauth = OAuthConfig::new(issuer.clone(), audience.clone());
        if let Some(secret) = &a.oauth_hs256_secret {
            oauth = oauth.with_hs256_secret(secret.as_bytes());
        }
        if let Some(file) = &a.oauth_key_file {
            oauth = oauth.with_key_file(file)?;
        }
        config = config.with_oauth(oauth);
    } else if a.oauth_key_file.is_some() || a.oauth_hs256_secret.is_some() {
        return Err("OAuth keys need --oauth-issuer and --oauth-audience".into());
    }
    Ok(config)
}

/// One line of stdin, without its line break.
fn read_password() -> Result<String, Error> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let line = input.lines().next().unwrap_or_default();
    Ok(line.to_owned())
}

fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes)?;
    println!("{}", path.display());
    Ok(())
}
