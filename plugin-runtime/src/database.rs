//! One way to open the database a server and its plugins share: SQLite (the embedded default) or
//! PostgreSQL (to run several servers on one database), chosen by the URL, through sqlx's `Any`
//! driver so the same queries (written with `$1` placeholders) serve both.

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use std::str::FromStr;
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

/// How long a query waits for a connection from the pool: for one to come free, or for the
/// database to accept a new one. Past it the query fails with `PoolTimedOut`, which
/// [`is_unavailable`] counts, so a request that needs an unreachable database is answered
/// `503 UNAVAILABLE` within this bound instead of hanging (sqlx's default is 30 s).
pub const CONNECTION_WAIT: Duration = Duration::from_secs(3);

/// How long a PostgreSQL connection coming back to the pool may take to answer the check it is
/// given then, before it is closed instead. A query abandoned partway (by a route's timeout, a
/// client gone) leaves its answer to be read on the way back; from a server that vanished
/// without closing the connection (a host powered off, a partition, a failover that leaves the
/// old address behind) no answer comes, and sqlx's own check would wait for one as long as TCP
/// keeps the connection, which is forever if the path still acknowledges. Bounded, the
/// connection's place in the pool comes free, and the pool connects anew.
pub const RELEASE_WAIT: Duration = Duration::from_secs(3);

/// How long a SQLite write waits for another connection's write to finish (`busy_timeout`)
/// before it fails as busy, which [`is_unavailable`] counts.
pub const SQLITE_BUSY_WAIT: Duration = Duration::from_secs(5);

/// How long a statement may wait for its answer before the database is taken for gone (see
/// [`bounded`]): every statement of the built-in credential store's, the operations' own
/// (reading and writing an operation, the queue's bookkeeping around it; the few that go
/// together, such as a cancel's two, share it), and a plugin's that it bounds, on a request's
/// path (answered `503` within it, not `504` at the route's timeout) or in a task that outlives
/// its request. Without a bound, a statement in flight when the server
/// vanished without closing its connections (a host powered off, a partition, a failover that
/// leaves the old address behind) waits as long as TCP keeps the connection, for ever if the
/// path still acknowledges, and holds its place in the pool as long. Long enough for what a
/// statement may wait for in the normal course: a connection from the pool
/// ([`CONNECTION_WAIT`]) and, on SQLite, the write lock ([`SQLITE_BUSY_WAIT`]). A statement
/// given up may still be carried out by a server that is only slow: what a request was
/// answered `503` for may have been done (an operation's start accepted, a cancel recorded),
/// as when a connection is cut while the database commits. A statement waiting this long behind
/// another's lock on a database that is up is given up the same way.
pub const STATEMENT_WAIT: Duration = Duration::from_secs(10);

pub use crate::request::outage::{RETRY_AFTER_SECS, is_unavailable};

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite:...`
    Sqlite,
    /// `postgres://...` or `postgresql://...`
    Postgres,
}

impl Backend {
    /// The backend of `url`, or `None` for another scheme.
    /// A scheme is read in any case, as URLs are (`Postgres://` is `postgres://`).
    pub fn of(url: &str) -> Option<Backend> {
        let starts = |prefix: &str| {
            url.get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        };
        if starts("sqlite:") {
            Some(Backend::Sqlite)
        } else if starts("postgres://") || starts("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// The query parameters of a PostgreSQL URL that sqlx reads; any other it ignores.
#[cfg(feature = "postgres")]
const POSTGRES_PARAMS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
];

/// libpq's parameters that sqlx does not read and whose loss weakens a check: refused.
#[cfg(feature = "postgres")]
const LIBPQ_REFUSED: &[&str] = &[
    "sslcrl",
    "sslcrldir",
    "sslpassword",
    "sslcertmode",
    "requirepeer",
];

/// libpq's parameters that sqlx does not read and whose loss weakens no check: warned of.
#[cfg(feature = "postgres")]
const LIBPQ_IGNORED: &[&str] = &[
    "sslsni",
    "sslcompression",
    "sslnegotiation",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "gssencmode",
    "gsslib",
    "gssdelegation",
    "krbsrvname",
    "connect_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "target_session_attrs",
    "load_balance_hosts",
    "channel_binding",
    "client_encoding",
    "fallback_application_name",
    "replication",
    "service",
    "passfile",
    "require_auth",
];

/// The values `sslmode` (and `PGSSLMODE`) may take.
#[cfg(feature = "postgres")]
const SSL_MODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// The value of the last of `keys` in a URL's query, as sqlx sets each in turn.
#[cfg(feature = "postgres")]
fn last(pairs: &[(String, String)], keys: &[&str]) -> Option<String> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| keys.contains(&k.as_str()))
        .map(|(_, v)| v.clone())
}

/// The `sslmode` a PostgreSQL connection takes, lowercased, and where it came from: the URL's
/// query (`sslmode` or `ssl-mode`, the last one given), else the variable `PGSSLMODE`.
#[cfg(feature = "postgres")]
fn sslmode(pairs: &[(String, String)]) -> (Option<String>, &'static str) {
    let (mode, from) = match last(pairs, &["sslmode", "ssl-mode"]) {
        Some(mode) => (Some(mode), "the URL's sslmode"),
        None => (std::env::var("PGSSLMODE").ok(), "PGSSLMODE"),
    };
    (mode.map(|m| m.to_ascii_lowercase()), from)
}

/// What sqlx would let pass without a word, or with a warning that the example's log leaves
/// out since it quotes the value: a parameter of the URL's query that sqlx does not read (a
/// misspelt TLS one, `sslmod=verify-full`, would leave TLS unchecked: refused; another is
/// warned of by its name alone), an `sslmode` or `PGSSLMODE` that is no mode, a mode that
/// needs TLS in a build without `postgres-tls`, and a root certificate that a verifying mode
/// needs and that is not there.
#[cfg(feature = "postgres")]
fn postgres_params_checked(url: &str) -> Result<(), sqlx::Error> {
    let refused = |why: String| Err(sqlx::Error::Configuration(why.into()));
    let Ok(parsed) = url::Url::parse(url) else {
        // sqlx says why, masked by `unparsed`.
        return Ok(());
    };
    let pairs: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    for (i, (key, _)) in pairs.iter().enumerate() {
        if POSTGRES_PARAMS.contains(&key.as_str()) || key.starts_with("options[") {
            continue;
        }
        // After `password=`, what reads as a key may be the rest of a password holding `&`:
        // not named.
        if i > 0 && pairs[i - 1].0 == "password" {
            tracing::warn!(
                "the database URL has a parameter after `password` that PostgreSQL connections \
                 do not read (or a password holding `&`, to be written `%26`); it is ignored"
            );
            continue;
        }
        let lower = key.to_ascii_lowercase();
        if LIBPQ_REFUSED.contains(&lower.as_str()) {
            return refused(format!(
                "the database URL's parameter {key:?} is libpq's, and sqlx does not check it: \
                 a revocation list or a key's password left unread would leave the connection \
                 less checked than asked"
            ));
        }
        if LIBPQ_IGNORED.contains(&lower.as_str()) {
            tracing::warn!(
                parameter = ?key,
                "the database URL has a parameter of libpq's that sqlx does not read; it is ignored"
            );
            continue;
        }
        let tls_keys = ["sslmode", "sslrootcert", "sslcert", "sslkey"];
        let tls_like = lower.starts_with("ssl")
            || ["tls", "cert", "root"]
                .iter()
                .any(|part| lower.contains(part));
        let meant = plugin_routes_rules::did_you_mean(key, &tls_keys)
            .or_else(|| tls_like.then_some("sslmode or sslrootcert"));
        if let Some(meant) = meant {
            return refused(format!(
                "the database URL's parameter {key:?} is not one a PostgreSQL connection reads \
                 (did you mean `{meant}`?): a TLS setting left unread would leave the \
                 connection's TLS unchecked"
            ));
        }
        tracing::warn!(
            parameter = ?key,
            "the database URL has a parameter that PostgreSQL connections do not read; it is ignored"
        );
    }
    let (mode, from) = sslmode(&pairs);
    if let Some(mode) = &mode
        && !SSL_MODES.contains(&mode.as_str())
    {
        return refused(format!(
            "{from} `{mode}` is not a mode: one of {}",
            SSL_MODES.join(", ")
        ));
    }
    if !cfg!(feature = "postgres-tls")
        && matches!(
            mode.as_deref(),
            Some("require" | "verify-ca" | "verify-full")
        )
    {
        return refused(format!(
            "{from} `{}` asks for TLS, which needs the `postgres-tls` feature of plugin-routes, \
             which this build does not have",
            mode.unwrap_or_default()
        ));
    }
    if matches!(mode.as_deref(), Some("verify-ca" | "verify-full")) {
        let (root, from) = match last(&pairs, &["sslrootcert", "ssl-root-cert", "ssl-ca"]) {
            Some(root) => (Some(root), "the URL's sslrootcert"),
            None => (std::env::var("PGSSLROOTCERT").ok(), "PGSSLROOTCERT"),
        };
        // The variable may hold the certificate itself, which sqlx reads as it is.
        let inline = |root: &str| from == "PGSSLROOTCERT" && root.trim().starts_with("-----BEGIN");
        match root {
            Some(root) if !inline(&root) && !std::path::Path::new(&root).is_file() => {
                return refused(format!(
                    "{from} {root:?} is not a file: the server's certificate cannot be verified \
                     against it"
                ));
            }
            // Without a root of its own, verify-ca checks the certificate against the system's
            // roots and not its name: any public certificate, for any name, would pass.
            None if mode.as_deref() == Some("verify-ca") => {
                return refused(
                    "sslmode verify-ca needs sslrootcert (or PGSSLROOTCERT), the CA that signed \
                     the server's certificate: against the system's roots, with no name to check, \
                     any public certificate would pass (verify-full checks the name)"
                        .to_owned(),
                );
            }
            _ => {}
        }
    }
    Ok(())
}

/// `url` with its scheme in lowercase, as this module and sqlx's SQLite options read it.
fn scheme_lowercased(url: &str) -> String {
    match url.split_once(':') {
        Some((scheme, rest)) if scheme.bytes().any(|b| b.is_ascii_uppercase()) => {
            format!("{}:{rest}", scheme.to_ascii_lowercase())
        }
        _ => url.to_owned(),
    }
}

/// Opens a pool on `url`. A SQLite file is created if missing (its directory too) and used in WAL
/// mode with `synchronous = FULL` and foreign keys on, so an acknowledged write survives a crash.
/// `sqlite::memory:` is one database for as long as the pool lives, served through one
/// connection at a time: a connection the pool closes and opens again (sqlx closes one whose
/// query was cancelled partway, by a timeout or a client gone) still finds every table and row.
/// So is an in-memory URL that names its database (`sqlite:file:name?mode=memory`), which
/// other pools in the process may open too.
///
/// A query waits at most [`CONNECTION_WAIT`] for a connection and, on SQLite, at most
/// [`SQLITE_BUSY_WAIT`] for another write; then it fails with an error [`is_unavailable`]
/// recognises. The pool reconnects by itself when the database is back.
///
/// A pool holds at most 16 connections on PostgreSQL and 8 on a SQLite file; [`connect_with`]
/// sets another bound.
///
/// # Errors
/// An unsupported scheme, or a database that cannot be reached or created.
pub async fn connect(url: &str) -> Result<AnyPool, sqlx::Error> {
    let max = match Backend::of(url) {
        Some(Backend::Postgres) => 16,
        _ => 8,
    };
    connect_with(url, max).await
}

/// [`connect`], with a pool that holds at most `max_connections` connections (at least 1). Every
/// server on a PostgreSQL database takes up to this many of its `max_connections` (100 unless
/// configured), and the queue of operations (feature `operations`) up to half as many more: a
/// fleet of servers, or a test suite starting many, sizes its pools to fit. (A connection the pool
/// lets go while a query abandoned on it still runs, see [`RELEASE_WAIT`], counts on the server
/// until the server ends the query: within a second where the server can look for its clients,
/// see `client_connection_check_interval`.) An in-memory SQLite
/// database is always served through one connection.
///
/// # Errors
/// As [`connect`].
pub async fn connect_with(url: &str, max_connections: u32) -> Result<AnyPool, sqlx::Error> {
    sqlx::any::install_default_drivers();
    let backend = Backend::of(url).ok_or_else(|| {
        sqlx::Error::Configuration(
            format!(
                "unsupported database URL {:?}: expected sqlite:... or postgres://...",
                crate::redacted_url(url)
            )
            .into(),
        )
    })?;
    let compiled = match backend {
        Backend::Sqlite => cfg!(feature = "sqlite"),
        Backend::Postgres => cfg!(feature = "postgres"),
    };
    if !compiled {
        let feature = match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        };
        return Err(sqlx::Error::Configuration(
            format!(
                "{:?} needs the `{feature}` feature of plugin-routes, which this build does not have",
                crate::redacted_url(url)
            )
            .into(),
        ));
    }
    #[cfg(feature = "postgres")]
    if backend == Backend::Postgres {
        postgres_params_checked(url)?;
    }
    let mut url = scheme_lowercased(url);
    let memory = is_memory(&url);
    if backend == Backend::Sqlite && !memory {
        create_parent_dir(&url)?;
        if !url.contains("mode=") {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str("mode=rwc");
        }
    }
    let mut keeper = None;
    if backend == Backend::Sqlite && memory {
        url = named_memory(&url);
        let options = AnyConnectOptions::from_str(&url)?;
        keeper = Some(std::sync::Mutex::new(
            <sqlx::AnyConnection as sqlx::Connection>::connect_with(&options).await?,
        ));
    }
    let options = AnyConnectOptions::from_str(&url).map_err(|e| unparsed(&url, e))?;
    let pool = match backend {
        Backend::Sqlite => {
            let pool = if memory {
                AnyPoolOptions::new()
                    .max_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
            } else {
                AnyPoolOptions::new().max_connections(max_connections.max(1))
            };
            let busy = format!(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {};",
                SQLITE_BUSY_WAIT.as_millis()
            );
            pool.after_connect(move |conn, _| {
                // Owned by the pool, as this hook is: the in-memory database lives as long.
                let _open_while_the_pool_lives = &keeper;
                // Built from constants of this module, never from input.
                let busy = sqlx::raw_sql(sqlx::AssertSqlSafe(busy.clone()));
                Box::pin(async move {
                    conn.execute(busy).await?;
                    Ok(())
                })
            })
        }
        Backend::Postgres => {
            checked_postgres(AnyPoolOptions::new().max_connections(max_connections.max(1)))
                .after_release(|conn, _| {
                    Box::pin(async move {
                        within_release_wait(sqlx::Connection::ping(conn)).await?;
                        Ok(true)
                    })
                })
        }
    };
    match pool
        .acquire_timeout(CONNECTION_WAIT)
        .connect_with(options.clone())
        .await
    {
        Err(sqlx::Error::PoolTimedOut) if backend == Backend::Postgres => {
            Err(why_no_connection(&options).await)
        }
        Err(e) => Err(unparsed(&url, e)),
        opened => opened,
    }
}

/// An error opening the database, said once (the `Any` driver wraps a driver's configuration
/// error in another), and for a URL sqlx could not read, with the likeliest cause where the
/// URL's shape points at one: a password holding a character that ends a part of a URL, left
/// unescaped, reads as a host whose port is no number.
fn unparsed(url: &str, error: sqlx::Error) -> sqlx::Error {
    // The `Any` driver wraps the driver's own configuration error in one more.
    let error = match error {
        sqlx::Error::Configuration(inner) => match inner.downcast::<sqlx::Error>() {
            Ok(inner) => *inner,
            Err(inner) => sqlx::Error::Configuration(inner),
        },
        other => other,
    };
    // The port as written: digits (too large a number) are not a password's doing.
    if crate::redact::port_is_digits(url) || !error.to_string().contains("invalid port number") {
        return error;
    }
    sqlx::Error::Configuration(
        format!(
            "{:?} does not read as a URL: its port is not a number. If a password holds `/`, `?`, \
             `#`, `@` or `&`, write them percent-encoded: `%2F`, `%3F`, `%23`, `%40`, `%26`",
            crate::redacted_url(url)
        )
        .into(),
    )
}

/// Why the pool could not open: its first connection is tried again until [`CONNECTION_WAIT`]
/// is over where the cause may pass (a refused connection, PostgreSQL starting up or out of
/// connections), and then fails as `PoolTimedOut`, which says nothing of the cause. One more
/// connection, made directly, tells it in its own words (`Connection refused`), or that the
/// server did not answer (a server that takes connections and answers nothing, a host whose
/// packets are dropped).
async fn why_no_connection(options: &AnyConnectOptions) -> sqlx::Error {
    let connect = <sqlx::AnyConnection as sqlx::Connection>::connect_with(options);
    match within(CONNECTION_WAIT, "to a new connection", connect).await {
        Err(e) => e,
        // Up just now: the pool's own words, as the next try would likely succeed.
        Ok(conn) => {
            let _ = within(RELEASE_WAIT, "", sqlx::Connection::close(conn)).await;
            sqlx::Error::PoolTimedOut
        }
    }
}

/// How recently a PostgreSQL connection must have come back to the pool to be handed out again
/// unchecked. sqlx pings every connection it hands out unless told not to; with the check each
/// one is given on its way back ([`within_release_wait`]), that would be two round trips a query
/// besides the query's own. A connection in steady use is back and out again within
/// milliseconds, and answered on its way back. What the window costs: a connection the server
/// closed within it, or one sqlx's clean-up (every ten minutes) put back within it, fails the
/// query it is given instead of being replaced unseen; one to a server that vanished within it
/// holds its query until the route's timeout. Measured in BENCHMARKS.md (issue 29).
const CHECKED_WITHIN: Duration = Duration::from_millis(500);

/// What each PostgreSQL connection asks of its session, so that the server ends the work a
/// client left behind:
///
/// - `client_connection_check_interval = 1000` (version 14 on, on the systems where the server
///   can tell: Linux among them): while a query runs, the server looks every second whether its
///   client is still there, and ends the query if not. A connection closed by
///   [`within_release_wait`], or given up by [`bounded`], may have left a query running on a
///   server that is slow rather than gone: ended within a second, it stops taking the server's
///   time, and the pool's bound on connections holds but for that second.
/// - TCP keepalives every 5 s after 10 s of quiet, three unanswered ending the session: a client
///   cut off from a server that stays up (a partition, its host gone) has its idle session, and
///   with it an open transaction and the locks it holds, ended within about 25 s, where the
///   kernel's defaults take over two hours. A transaction left open by a statement given up (its
///   answer lost) would otherwise keep its rows locked against the client's next try on a new
///   connection. Keepalives are answered by the client's kernel, so a client that is only slow
///   to read is never cut; `tcp_user_timeout` and `idle_in_transaction_session_timeout`, which
///   would cut it (or a plugin's long transaction), are not asked for. Behind PgBouncer the
///   settings are the pooler's server connections', which it hands to other clients, so they
///   watch the link from PostgreSQL to PgBouncer.
///
/// Each is asked for where the server, the database, the role or the URL's `options` set nothing
/// of their own (`source = 'default'`), and only if the server has it. One the server refuses
/// (a platform without the check) is skipped without an error, so the others still hold and
/// nothing is written to its log. One round trip, as each connection is made.
const SESSION: &str = "DO $settings$ DECLARE wanted record; BEGIN \
     FOR wanted IN SELECT name, value FROM (VALUES \
     ('client_connection_check_interval', '1000'), ('tcp_keepalives_idle', '10'), \
     ('tcp_keepalives_interval', '5'), ('tcp_keepalives_count', '3')) AS w (name, value) \
     JOIN pg_settings USING (name) WHERE source = 'default' LOOP \
     BEGIN PERFORM set_config(wanted.name, wanted.value, false); \
     EXCEPTION WHEN others THEN NULL; END; \
     END LOOP; END $settings$";

/// `options` for a PostgreSQL pool, with what every such pool of this module does but the check
/// on the way back ([`within_release_wait`], which each makes its own way): queries abandoned are
/// ended by the server ([`SESSION`]), and idle connections are checked on the way out as
/// [`fit_to_acquire`] says.
fn checked_postgres<DB: sqlx::Database>(
    options: sqlx::pool::PoolOptions<DB>,
) -> sqlx::pool::PoolOptions<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    options
        .after_connect(|conn, _| {
            Box::pin(async move {
                // A refusal (a server or a pooler in front of it that will not have it) leaves
                // abandoned queries to run their course, as before; a connection that failed
                // is closed, and the pool makes another.
                match conn.execute(SESSION).await {
                    Ok(_) | Err(sqlx::Error::Database(_)) => Ok(()),
                    Err(e) => Err(e),
                }
            })
        })
        .test_before_acquire(false)
        .before_acquire(|conn, meta| Box::pin(fit_to_acquire(conn, meta)))
}

/// Whether an idle PostgreSQL connection may be handed out: not one made before a write (a
/// request's or the operations queue's) or a readiness check met a read-only server (see
/// `is_unavailable`), which is closed and another made in its place; and one idle longer than
/// [`CHECKED_WITHIN`] only if it answers a ping. A ping that fails closes the connection, and
/// the pool opens another; one that does not answer is bounded by the pool's wait for a
/// connection ([`CONNECTION_WAIT`]), past which the query fails as unavailable.
async fn fit_to_acquire<C: sqlx::Connection>(
    conn: &mut C,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> Result<bool, sqlx::Error> {
    if crate::request::outage::made_before_read_only(meta.age) {
        return Ok(false);
    }
    if meta.idle_for > CHECKED_WITHIN {
        conn.ping().await?;
    }
    Ok(true)
}

/// `check`, a round trip on a PostgreSQL connection coming back to its pool, failed if it takes
/// longer than [`RELEASE_WAIT`]. Run as the pool's `after_release`, before sqlx's own check,
/// which waits without a bound: a failure closes the connection without that check, and an
/// answer in time means sqlx's check will have one too (the connection is answering, with
/// nothing left to read). The round trip this adds to a release, after the request has its
/// answer, is taken back on the way out ([`CHECKED_WITHIN`]). A query left running on a server
/// that is only slow is ended by the server ([`SESSION`]).
async fn within_release_wait<T>(
    check: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    within(
        RELEASE_WAIT,
        "from a connection coming back to the pool: closed",
        check,
    )
    .await
}

/// `statement`, failed as [`is_unavailable`] (an I/O error that timed out) if it has no answer
/// within [`STATEMENT_WAIT`]; given up then, its connection goes back to its pool, which closes
/// it if it does not answer on the way back either ([`RELEASE_WAIT`], PostgreSQL). On a
/// request's path, the request is answered `503 UNAVAILABLE` then rather than `504 TIMEOUT` at
/// its route's timeout; outside a request's course, such as in a task that outlives its
/// request, the statement does not wait for ever:
///
/// ```ignore
/// tokio::spawn(async move {
///     let done = plugin_routes::database::bounded(
///         sqlx::query("UPDATE ledger SET settled = 1 WHERE id = $1").bind(id).execute(&pool),
///     )
///     .await;
///     // ...
/// });
/// ```
///
/// # Errors
/// The statement's own, or `sqlx::Error::Io` (`TimedOut`) past the wait.
pub async fn bounded<T>(
    statement: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    within(STATEMENT_WAIT, "to a statement", statement).await
}

/// `work`, on a database, failed as [`is_unavailable`] (an I/O error that timed out) if it has
/// not ended within `wait`; `what` says, in the error, what gave no answer. Dropped then, its
/// connection goes back to its pool, whose check on the way back ([`within_release_wait`])
/// closes it if it does not answer either.
pub(crate) async fn within<T>(
    wait: Duration,
    what: &str,
    work: impl std::future::Future<Output = Result<T, sqlx::Error>>,
) -> Result<T, sqlx::Error> {
    tokio::time::timeout(wait, work).await.unwrap_or_else(|_| {
        Err(sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no answer within {} ms {what}", wait.as_millis()),
        )))
    })
}

/// Whether a SQLite URL names an in-memory database.
fn is_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// An in-memory SQLite URL whose database has a name of its own. Each connection to
/// `sqlite::memory:` would be a new, empty database (sqlx names it anew each time the URL is
/// read); with a name, every connection the pool opens, and the one [`connect`] keeps open so
/// that the database outlives them, is the same. A URL that names its database already
/// (`sqlite:file:name?mode=memory`) is left as it is; the parameters of one that does not are
/// kept (a `cache=private` among them makes each connection a database of its own again).
fn named_memory(url: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    if !database.is_empty() && database != ":memory:" {
        return url.to_owned();
    }
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut named = format!("sqlite:file:plugin-routes-memory-{n}?mode=memory");
    for param in params
        .split('&')
        .filter(|p| !p.is_empty() && *p != "mode=memory")
    {
        named.push('&');
        named.push_str(param);
    }
    named
}

/// A SQLite pool of its own on `url`, set up as [`connect`] sets up the shared one: what
/// apalis's storage takes (it speaks to SQLite, not through `Any`). On `sqlite::memory:` it is
/// a second private database, holding only the queue.
#[cfg(feature = "operations-sqlite")]
pub(crate) async fn connect_sqlite(url: &str) -> Result<sqlx::SqlitePool, sqlx::Error> {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    let url = scheme_lowercased(url);
    let memory = is_memory(&url);
    let url = if memory { named_memory(&url) } else { url };
    let mut options = SqliteConnectOptions::from_str(&url)?
        .busy_timeout(SQLITE_BUSY_WAIT)
        .foreign_keys(true);
    if !memory {
        create_parent_dir(&url)?;
        options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full);
    }
    let keeper = if memory {
        Some(std::sync::Mutex::new(
            <sqlx::SqliteConnection as sqlx::Connection>::connect_with(&options).await?,
        ))
    } else {
        None
    };
    let pool = if memory {
        SqlitePoolOptions::new()
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        SqlitePoolOptions::new().max_connections(4)
    };
    pool.acquire_timeout(CONNECTION_WAIT)
        .after_connect(move |_, _| {
            // As for `connect`: the in-memory database lives as long as the pool.
            let _open_while_the_pool_lives = &keeper;
            Box::pin(async { Ok(()) })
        })
        .connect_with(options)
        .await
}

/// A PostgreSQL pool of its own on `url`, for apalis's storage: half as many connections as the
/// shared pool `beside` may hold, from 2 to 8.
#[cfg(feature = "operations-postgres")]
pub(crate) async fn connect_postgres(
    url: &str,
    beside: &AnyPool,
) -> Result<sqlx::PgPool, sqlx::Error> {
    let max = (beside.options().get_max_connections() / 2).clamp(2, 8);
    // As in `connect`, with the check on the way back made by the unlock below.
    checked_postgres(sqlx::postgres::PgPoolOptions::new().max_connections(max))
        // apalis registers a worker again (a life after a failure) under a session-level
        // advisory lock on its name that it never releases, and refuses the registration on any
        // other session: kept by a pooled connection, it would let the worker start again only
        // on that connection, for as long as it lives. Worker names are this process's own
        // (its id and 64 random bits), so nothing else needs the lock: released as each
        // connection comes back. One round trip a release, beside the ping sqlx sends then: about
        // one a second for each operation route at the default poll (a request starting an
        // operation queues it through this pool too). Bounded by `RELEASE_WAIT`, it is also the
        // check that the shared pool's `after_release` makes with a ping.
        .after_release(|conn, _| {
            Box::pin(async move {
                within_release_wait(
                    sqlx::query("SELECT pg_advisory_unlock_all()").execute(&mut *conn),
                )
                .await?;
                Ok(true)
            })
        })
        .acquire_timeout(CONNECTION_WAIT)
        .connect(url)
        .await
}

/// Runs one plugin's migrations on the database `url` names: `sqlite` or `postgres` by its
/// backend. Every plugin of a server shares the database and its migration table, so each set
/// ignores the versions of the others (the built-in store's included).
///
/// ```no_run
/// # async fn run(pool: sqlx::AnyPool, url: &str) -> Result<(), sqlx::Error> {
/// # let (sqlite, postgres) = (sqlx::migrate::Migrator::DEFAULT, sqlx::migrate::Migrator::DEFAULT);
/// // with a plugin's own folders: sqlx::migrate!("./migrations/sqlite"), sqlx::migrate!("./migrations/postgres")
/// plugin_routes::database::migrate(&pool, url, sqlite, postgres).await?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// A migration failing, or one applied before that has changed since.
pub async fn migrate(
    pool: &AnyPool,
    url: &str,
    sqlite: sqlx::migrate::Migrator,
    postgres: sqlx::migrate::Migrator,
) -> Result<(), sqlx::Error> {
    let mut migrator = match Backend::of(url) {
        Some(Backend::Postgres) => postgres,
        _ => sqlite,
    };
    migrator.set_ignore_missing(true);
    migrator.run(pool).await?;
    Ok(())
}

fn create_parent_dir(url: &str) -> Result<(), sqlx::Error> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or_default();
    let path = rest.split('?').next().unwrap_or_default();
    match std::path::Path::new(path).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => {
            std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)
        }
        _ => Ok(()),
    }
}

/// A pool and the URL it was opened on (the URL says which SQL dialect to speak): what a host
/// provides to its plugins' start hooks (`Lifecycle::with(database)`).
#[derive(Clone)]
pub struct Database {
    /// The pool.
    pub pool: AnyPool,
    /// The URL it was opened on.
    pub url: String,
}

impl Database {
    /// Opens a pool on `url` (see [`connect`]).
    ///
    /// # Errors
    /// As [`connect`].
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        Ok(Database {
            pool: connect(url).await?,
            url: scheme_lowercased(url),
        })
    }

    /// Opens a pool on `url` holding at most `max_connections` connections (see
    /// [`connect_with`]).
    ///
    /// # Errors
    /// As [`connect`].
    pub async fn connect_with(url: &str, max_connections: u32) -> Result<Self, sqlx::Error> {
        Ok(Database {
            pool: connect_with(url, max_connections).await?,
            url: scheme_lowercased(url),
        })
    }

    /// Which database it is.
    pub fn backend(&self) -> Option<Backend> {
        Backend::of(&self.url)
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("Database")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

/// Now, as the tables store times: milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A stored time as RFC 3339, as the API shows it.
pub(crate) fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Parses an RFC 3339 time into ms since the epoch.
pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;

    #[cfg(feature = "postgres")]
    #[tokio::test]
    async fn a_password_left_unescaped_is_named_as_the_likely_cause() {
        let e = connect("postgres://someone:pa/ss@127.0.0.1:1/db")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("its port is not a number") && e.contains("`%2F`"),
            "{e}"
        );
        assert!(e.contains("postgres://someone:***@127.0.0.1:1/db"), "{e}");
        assert!(!e.contains("pa/") && !e.contains("ss@"), "{e}");
        // A port with a digit too many is no password's doing.
        let e = connect("postgres://someone@127.0.0.1:654321/db")
            .await
            .unwrap_err()
            .to_string();
        assert!(!e.contains("percent-encoded"), "{e}");
        assert!(e.contains("invalid port number"), "{e}");
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn the_mode_is_read_as_sqlx_reads_it() {
        if std::env::var_os("PGSSLMODE").is_some() {
            eprintln!("skipped: PGSSLMODE is set, and a URL without sslmode reads it");
            return;
        }
        for (url, mode) in [
            ("postgres://u@db/x?sslmode=require", Some("require")),
            (
                "postgres://u@db/x?a=1&sslmode=VERIFY-FULL",
                Some("verify-full"),
            ),
            (
                "postgres://u@db/x?ssl-mode=verify-ca&sslrootcert=/ca.pem",
                Some("verify-ca"),
            ),
            ("postgres://u@db/x?sslmode=prefer", Some("prefer")),
            (
                "postgres://u@db/x?sslmode=require&sslmode=disable",
                Some("disable"),
            ),
            ("postgres://u@db/x?sslmode=disable", Some("disable")),
            ("postgres://u@db/x", None),
            ("postgres://u@db/x?application_name=sslmode=require", None),
            // Escapes are decoded, as sqlx's URL parser does.
            ("postgres://u@db/x?%73slmode=requir%65", Some("require")),
            (
                "postgres://u@db/x?sslmode=disable&%73slmode=require",
                Some("require"),
            ),
            (
                "postgres://u@db/x?sslmode=require&%73slmode=disable",
                Some("disable"),
            ),
            // A fragment ends the URL: what follows is not its query.
            ("postgres://u@db/x#f?sslmode=require", None),
        ] {
            let pairs: Vec<(String, String)> = url::Url::parse(url)
                .unwrap()
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            assert_eq!(sslmode(&pairs).0.as_deref(), mode, "{url}");
        }
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn a_misspelt_tls_parameter_or_mode_is_refused_and_others_pass() {
        if std::env::var_os("PGSSLMODE").is_some() {
            eprintln!("skipped: PGSSLMODE is set");
            return;
        }
        let base = "postgres://u:secret@db/x?";
        for (query, refused) in [
            ("sslmod=verify-full", Some("did you mean `sslmode`?")),
            ("ssl_mode=verify-full", Some("did you mean `sslmode`?")),
            ("sslrootcrt=/ca.pem", Some("did you mean `sslrootcert`?")),
            (
                "sslmode=requir",
                Some("the URL's sslmode `requir` is not a mode"),
            ),
            (
                "sslmode=verify-full&sslrootcert=/no/such/ca.pem",
                Some("is not a file"),
            ),
            ("sslmode=require&sslrootcert=/no/such/ca.pem", None),
            ("sslmode=verify-ca&root_cert=/ca.pem", Some("did you mean")),
            ("sslmode=verify-ca", Some("verify-ca needs sslrootcert")),
            ("sslcrl=/crl.pem", Some("is libpq's")),
            (
                "sslsni=1&sslnegotiation=postgres&gsslib=gssapi&connect_timeout=5",
                None,
            ),
            ("password=hunter&2", None),
            ("tls_mode=verify-full", Some("did you mean")),
            ("sslmode=VERIFY-CA&ssl-mode=prefer", None),
            (
                "application_name=a&options=-c%20x%3Dy&options[search_path]=s",
                None,
            ),
            ("connect_timeout=10", None),
        ] {
            let said = postgres_params_checked(&format!("{base}{query}"))
                .err()
                .map(|e| e.to_string());
            match (refused, said) {
                (None, None) => {}
                (Some(want), Some(said)) => {
                    assert!(said.contains(want), "{query}: {said}");
                    assert!(!said.contains("secret"), "{said}");
                }
                (want, said) => panic!("{query}: wanted {want:?}, got {said:?}"),
            }
        }
    }

    #[tokio::test]
    async fn a_scheme_is_read_in_any_case() {
        assert_eq!(Backend::of("Postgres://db/x"), Some(Backend::Postgres));
        assert_eq!(Backend::of("POSTGRESQL://db/x"), Some(Backend::Postgres));
        assert_eq!(Backend::of("SQLite::memory:"), Some(Backend::Sqlite));
        assert_eq!(Backend::of("mysql://db/x"), None);
        assert_eq!(Backend::of("pg"), None);
        assert_eq!(scheme_lowercased("SQLite:Data/A.db"), "sqlite:Data/A.db");
        // A file, by the pool and by the operations' own pool alike: the same file.
        let dir = std::env::temp_dir().join(format!("plugin-scheme-case-{}", std::process::id()));
        let url = format!("SQLite:{}/data/a.db", dir.display());
        let db = Database::connect(&url).await.unwrap();
        assert!(db.url.starts_with("sqlite:"), "{}", db.url);
        #[cfg(feature = "operations-sqlite")]
        {
            let queue = connect_sqlite(&url).await.unwrap();
            sqlx::query("CREATE TABLE seen (x INTEGER)")
                .execute(&queue)
                .await
                .unwrap();
            queue.close().await;
            let tables: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'seen'")
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
            assert_eq!(tables, 1);
        }
        db.pool.close().await;
        std::fs::remove_dir_all(&dir).unwrap();
        let pool = connect("SQLite::memory:")
            .await
            .expect("an in-memory database");
        assert_eq!(
            sqlx::query_scalar::<_, i64>("SELECT 1")
                .fetch_one(&pool)
                .await
                .unwrap(),
            1
        );
        let Ok(url) = std::env::var("PLUGIN_TEST_POSTGRES_URL") else {
            eprintln!("skipped on PostgreSQL: set PLUGIN_TEST_POSTGRES_URL to run it");
            return;
        };
        let Some((_, rest)) = url.split_once("://") else {
            panic!("PLUGIN_TEST_POSTGRES_URL is not a URL");
        };
        let pool = connect(&format!("Postgres://{rest}")).await.unwrap();
        assert_eq!(
            sqlx::query_scalar::<_, i32>("SELECT 1")
                .fetch_one(&pool)
                .await
                .unwrap(),
            1
        );
    }

    async fn count(pool: &AnyPool) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM kept")
            .fetch_one(pool)
            .await
    }

    async fn memory_with_a_row() -> AnyPool {
        let pool = connect("sqlite::memory:").await.expect("in memory");
        sqlx::query("CREATE TABLE kept (x BIGINT); INSERT INTO kept (x) VALUES (1)")
            .execute(&pool)
            .await
            .expect("a table and a row");
        pool
    }

    /// What a session was asked for: its keepalives, and its look for a vanished client.
    const SHOWN: &str = "SELECT concat_ws(' ', current_setting('tcp_keepalives_idle'), \
         current_setting('tcp_keepalives_interval'), current_setting('tcp_keepalives_count'), \
         current_setting('client_connection_check_interval', true))";

    #[tokio::test]
    async fn postgres_sessions_ask_for_what_ends_abandoned_work_and_keep_an_operators_value() {
        let Ok(url) = std::env::var("PLUGIN_TEST_POSTGRES_URL") else {
            eprintln!("skipped: set PLUGIN_TEST_POSTGRES_URL to run it");
            return;
        };
        let shared = connect(&url).await.unwrap();
        // Keepalives are a TCP connection's (on a Unix socket the server shows 0).
        let tcp: bool = sqlx::query_scalar("SELECT inet_server_addr() IS NOT NULL")
            .fetch_one(&shared)
            .await
            .unwrap();
        if !tcp {
            eprintln!("skipped: PLUGIN_TEST_POSTGRES_URL names a Unix socket");
            return;
        }
        // A server from version 14 looks for a vanished client while a query runs.
        let version: String = sqlx::query_scalar("SHOW server_version_num")
            .fetch_one(&shared)
            .await
            .unwrap();
        let check = if version.parse::<u32>().unwrap() >= 140_000 {
            " 1s"
        } else {
            ""
        };
        let shown: String = sqlx::query_scalar(SHOWN).fetch_one(&shared).await.unwrap();
        assert_eq!(shown, format!("10 5 3{check}"));
        #[cfg(feature = "operations-postgres")]
        {
            let queue = connect_postgres(&url, &shared).await.unwrap();
            let shown: String = sqlx::query_scalar(SHOWN).fetch_one(&queue).await.unwrap();
            assert_eq!(shown, format!("10 5 3{check}"));
        }
        // A value the operator gave (here in the URL's startup options) is kept.
        let sep = if url.contains('?') { '&' } else { '?' };
        let given = format!("{url}{sep}options=-c%20tcp_keepalives_idle%3D60");
        let pool = connect(&given).await.unwrap();
        let shown: String = sqlx::query_scalar(SHOWN).fetch_one(&pool).await.unwrap();
        assert_eq!(
            shown,
            format!("60 5 3{check}"),
            "the operator's idle time kept"
        );
    }

    #[tokio::test]
    async fn a_pool_holds_at_most_the_connections_it_is_given() {
        let dir = std::env::temp_dir().join(format!("plugin-routes-sized-{}", std::process::id()));
        let url = format!("sqlite:{}", dir.join("app.db").display());
        let max = |pool: &AnyPool| pool.options().get_max_connections();
        assert_eq!(max(&connect(&url).await.unwrap()), 8);
        assert_eq!(max(&connect_with(&url, 3).await.unwrap()), 3);
        assert_eq!(
            max(&connect_with(&url, 0).await.unwrap()),
            1,
            "at least one"
        );
        let memory = connect_with("sqlite::memory:", 5).await.unwrap();
        assert_eq!(max(&memory), 1, "an in-memory database has one connection");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn an_in_memory_database_outlives_its_connection() {
        let pool = memory_with_a_row().await;
        // The pool's one connection closed, as sqlx closes one it no longer trusts.
        pool.acquire().await.unwrap().close().await.unwrap();
        assert_eq!(count(&pool).await.unwrap(), 1);
        // Another pool on `sqlite::memory:` is a database of its own.
        let other = connect("sqlite::memory:").await.unwrap();
        assert!(count(&other).await.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queries_cancelled_partway_lose_nothing_in_memory() {
        // A timeout or a client gone cancels a query wherever it is; sqlx then closes the
        // connection. Before the database had a name of its own this lost every table within a
        // few rounds.
        let pool = memory_with_a_row().await;
        for round in 0..1_000u64 {
            let cancelled = count(&pool);
            let _ = tokio::time::timeout(Duration::from_micros(round % 250), cancelled).await;
            let kept = count(&pool).await;
            assert_eq!(kept.as_ref().ok(), Some(&1), "round {round}: {kept:?}");
        }
    }

    #[test]
    fn only_an_unnamed_memory_url_is_named() {
        let a = named_memory("sqlite::memory:");
        assert!(a.starts_with("sqlite:file:plugin-routes-memory-") && a.ends_with("?mode=memory"));
        for unnamed in [
            "sqlite://:memory:?cache=shared",
            "sqlite:?mode=memory&cache=shared",
        ] {
            let b = named_memory(unnamed);
            assert!(b.starts_with("sqlite:file:plugin-routes-memory-"), "{b}");
            assert!(b.ends_with("?mode=memory&cache=shared"), "{b}");
            assert_ne!(a, b.split('&').next().unwrap_or_default());
        }
        let named = "sqlite:file:mine?mode=memory&cache=shared";
        assert_eq!(named_memory(named), named);
    }
}
