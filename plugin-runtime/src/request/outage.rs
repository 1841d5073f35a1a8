//! A database that cannot answer now, told apart from a query that is wrong: the first passes by
//! itself and is answered `503 UNAVAILABLE` with `Retry-After`, the second is a `500`. Here, below
//! the credential store and the routes, because a handler's error and a credential check both
//! ask it.

/// What `Retry-After` says, in seconds, when the database cannot be reached.
pub const RETRY_AFTER_SECS: u64 = 5;

/// Whether `error` says the database cannot answer now, rather than that the query is wrong:
/// - no connection within [`CONNECTION_WAIT`](crate::database::CONNECTION_WAIT) (the database refuses connections or is slow to
///   accept them, or every connection is busy), or the pool closed;
/// - the connection failed (reset, cut, TLS);
/// - PostgreSQL: a connection exception (SQLSTATE `08000`, `08001`, `08003`, `08004`, `08006`,
///   `08007`; not `08P01`, a protocol violation, unless PgBouncer sent it for the database
///   behind it: `query_wait_timeout`, `server conn crashed?` and the like), the server shutting down or not yet accepting
///   connections (`57P01` to `57P03`), a database taking no connections for now (`55000`
///   from the server's log-in, as `ALLOW_CONNECTIONS false` gives), too many connections
///   (`53300`), a write reaching a server that is read-only now (`25006`: a standby, during a
///   failover);
/// - SQLite: busy or locked past [`SQLITE_BUSY_WAIT`](crate::database::SQLITE_BUSY_WAIT).
///
/// Such a failure passes by itself. A handler that returns it with `?` gets `503 UNAVAILABLE`
/// with `Retry-After: 5`, not `500 INTERNAL`; so does a request whose credential cannot be
/// checked because of it.
///
/// A `25006` seen here also has the PostgreSQL pools opened by
/// [`connect`](crate::database::connect) (and the operations queue's own) replace, at their
/// next use, the connections they made before it: after a failover, a connection that still
/// reaches the old primary, now a standby, would otherwise refuse every write until it was
/// closed for another reason. The operations queue's own failures (a worker's, a job queued,
/// the queue's clean-up) move them the same way.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => unavailable_code(&**db),
        _ => false,
    }
}

fn unavailable_code(db: &dyn sqlx::error::DatabaseError) -> bool {
    #[cfg(feature = "sqlite")]
    if let Some(e) = db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
        // The primary result code is the extended code's low byte: SQLITE_BUSY, SQLITE_LOCKED.
        let code = sqlx::error::DatabaseError::code(e)
            .and_then(|c| c.parse::<i32>().ok())
            .unwrap_or(0);
        return matches!(code & 0xff, 5 | 6);
    }
    #[cfg(feature = "postgres")]
    if let Some(e) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        let code = e.code();
        if code == "25006" {
            read_only_seen();
        }
        // Connection exceptions, but not `08P01` (a protocol violation: the query's fault),
        // except where PgBouncer sends it for the database behind it failing.
        if code == "08P01" {
            return pooler_outage(e.message());
        }
        // A database that takes no connections for now (`ALLOW_CONNECTIONS false`, as during
        // maintenance) refuses each new one with `55000`, a code queries give for their own
        // faults too (`currval` before `nextval`); told apart by where the server raised it,
        // which does not depend on the server's language.
        if code == "55000" {
            return match e.routine() {
                Some(routine) => routine == "CheckMyDatabase",
                // PgBouncer 1.20 and later passes the code on without the routine.
                None => takes_no_connections(e.message()),
            };
        }
        return matches!(
            code,
            "08000"
                | "08001"
                | "08003"
                | "08004"
                | "08006"
                | "08007"
                | "57P01"
                | "57P02"
                | "57P03"
                | "53300"
                | "25006"
        );
    }
    let _ = db;
    false
}

/// PgBouncer's own refusals when the database behind it cannot serve now (it is down, cut off,
/// overloaded, disabled for maintenance, or being shut down or suspended). PgBouncer sends them
/// as SQLSTATE `08P01`, the code PostgreSQL gives a malformed message (a query with the wrong
/// number of parameters), so they are told apart by their text, which PgBouncer writes as is.
#[cfg(feature = "postgres")]
const POOLER_OUTAGES: [&str; 13] = [
    "server conn crashed?",
    "server shutting down",
    "query_wait_timeout",
    "query_timeout",
    "client_login_timeout (server down)",
    // Before PgBouncer 1.17, for logins that had been failing.
    "pgbouncer cannot connect to server",
    "pooler is shutting down",
    "database configuration changed",
    "no more connections allowed",
    "client connections exceeded",
    "bouncer resources exhaustion",
    "suspend_timeout",
    "pause failed",
];

/// What PostgreSQL says when it cannot take a connection now (`57P01` to `57P03`, `53300`),
/// which PgBouncer before 1.20 passes on as `08P01`, and later quotes as why logins fail.
#[cfg(feature = "postgres")]
const SERVER_OUTAGES: [&str; 6] = [
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "the database system is not yet accepting connections",
    "the database system is not accepting connections",
    "sorry, too many clients already",
];

/// Why PgBouncer could not log in to the database, when the database did not say.
#[cfg(feature = "postgres")]
const CONNECT_FAILURES: [&str; 3] = ["cannot connect", "connect failed", "server conn crashed?"];

/// Whether `message`, sent with `08P01`, is one of PgBouncer's outage refusals.
#[cfg(feature = "postgres")]
fn pooler_outage(message: &str) -> bool {
    let starts = |list: &[&str], text: &str| list.iter().any(|m| text.starts_with(m));
    if let Some(rest) = message.strip_prefix("server login has been failing") {
        // Since PgBouncer 1.24 it quotes why: an outage, or what a retry cannot fix (a wrong
        // password, a database that does not exist), which stays a 500.
        return match rest.split_once("cached error: ") {
            None => true,
            Some((_, why)) => {
                starts(&CONNECT_FAILURES, why)
                    || starts(&SERVER_OUTAGES, why)
                    || takes_no_connections(why)
            }
        };
    }
    // An operator's `DISABLE`, for maintenance.
    if message.starts_with("database \"") && message.ends_with("\" is disabled") {
        return true;
    }
    starts(&POOLER_OUTAGES, message)
        || starts(&SERVER_OUTAGES, message)
        || takes_no_connections(message)
}

/// PostgreSQL's words for a database that takes no connections for now (`ALLOW_CONNECTIONS
/// false`), as PgBouncer passes them on.
#[cfg(feature = "postgres")]
fn takes_no_connections(message: &str) -> bool {
    message.starts_with("database \"")
        && message.contains("\" is not currently accepting connections")
}

/// Whether `error`'s chain of sources holds a [`sqlx::Error`] in which PostgreSQL refused a text
/// value holding `U+0000` (NUL), which JSON and Rust strings may hold and PostgreSQL's `text`
/// may not (`22021`): the client's input is at fault, not the server, so a 400, not a 500.
/// (SQLite stores it.) A character a non-UTF-8 database cannot hold (`22P05`) stays a 500: the
/// server's own text (a model's answer, a file name) meets it too, and the operator must see it.
pub(crate) fn unstorable_text_in(error: &(dyn std::error::Error + 'static)) -> bool {
    sqlx_errors_in(error).any(|e| match e {
        #[cfg(feature = "postgres")]
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .is_some_and(|pg| pg.code() == "22021"),
        _ => false,
    })
}

/// Whether `error`'s chain of sources holds a [`sqlx::Error`] that [`is_unavailable`] counts.
pub(crate) fn unavailable_in(error: &(dyn std::error::Error + 'static)) -> bool {
    sqlx_errors_in(error).any(is_unavailable)
}

/// The [`sqlx::Error`]s in `error`'s chain of sources.
fn sqlx_errors_in<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a sqlx::Error> {
    std::iter::successors(Some(error), |e| e.source())
        .filter_map(|e| e.downcast_ref::<sqlx::Error>())
}

/// For an error that is only logged: moves the read-only marker if it is a write refused by a
/// read-only server, as [`is_unavailable`] does for every error it looks at.
#[cfg(feature = "operations")]
pub(crate) fn notice(error: &sqlx::Error) {
    let _ = is_unavailable(error);
}

/// When a write (a request's or the operations queue's, or the readiness route) last met a
/// read-only PostgreSQL server, in nanoseconds after [`epoch`], plus one (0: never).
static READ_ONLY_SEEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn epoch() -> std::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

fn nanos_since_epoch() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// A PostgreSQL server was found taking no writes: the pools replace the connections they made
/// before, at their next use.
pub(crate) fn read_only_seen() {
    // Each refused write, and each readiness check that finds the server read-only, moves it: a
    // database read-only for long has every pooled connection (of every PostgreSQL pool) replaced
    // at its next use after each, a connection per write that fails anyway or per probe, and
    // per failure of an operations worker (one a second for each operation route at first,
    // one a heartbeat once it has been failing for two).
    let now = nanos_since_epoch().saturating_add(1);
    READ_ONLY_SEEN.fetch_max(now, std::sync::atomic::Ordering::Relaxed);
}

/// Whether a connection `age` old was made before (or as) a write or a readiness check last met
/// a read-only PostgreSQL server: such a connection is replaced rather than used again.
pub(crate) fn made_before_read_only(age: std::time::Duration) -> bool {
    let seen = READ_ONLY_SEEN.load(std::sync::atomic::Ordering::Relaxed);
    if seen == 0 {
        return false;
    }
    let age = u64::try_from(age.as_nanos()).unwrap_or(u64::MAX);
    nanos_since_epoch().saturating_sub(age) <= seen
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use super::pooler_outage;

    #[test]
    fn pgbouncer_outages_are_told_from_what_a_retry_cannot_fix() {
        for outage in [
            "query_wait_timeout",
            "server conn crashed?",
            "server login has been failing, try again later (server_login_retry)",
            "server login has been failing, cached error: connect failed (server_login_retry)",
            "server login has been failing, cached error: the database system is starting up (server_login_retry)",
            "pgbouncer cannot connect to server",
            "the database system is shutting down",
            "database \"items\" is disabled",
            "database \"items\" is not currently accepting connections",
            "server login has been failing, cached error: database \"items\" is not currently accepting connections (server_login_retry)",
        ] {
            assert!(pooler_outage(outage), "{outage}");
        }
        for fault in [
            "bind message supplies 1 parameters, but prepared statement \"\" requires 2",
            "server login has been failing, cached error: password authentication failed for user \"app\" (server_login_retry)",
            "server login has been failing, cached error: database \"gone\" does not exist (server_login_retry)",
            "no such database: items",
            "unsupported startup parameter: options",
        ] {
            assert!(!pooler_outage(fault), "{fault}");
        }
    }
}
