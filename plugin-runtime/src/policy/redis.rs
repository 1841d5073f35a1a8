//! Quotas counted in Redis (feature `redis`), shared by every server that uses it.
//!
//! One check is one round trip: `EVALSHA` of a script that reads Redis's clock (`TIME`), reads
//! each policy's TAT, and writes them all only if every policy admits the request, so checks
//! from many servers are atomic and their clocks do not matter. A TAT is stored under
//! `<prefix>:<scope>:<policy>:<who>` (prefix `plugin-limits` unless set) with an expiry at the TAT itself, so idle keys vanish
//! on their own.
//!
//! The client is a small one, for this script alone: one TCP connection per store (over TLS for
//! a `rediss://` URL, with the feature `redis-tls`), commands pipelined on it (RESP2), connected
//! on first use and again after any failure. A check that
//! gets no answer within the store's timeout counts as Redis being unreachable; what happens to
//! the request then is [`WhenUnreachable`]. Each change between reachable and unreachable is
//! logged once.

use super::gcra::{Counted, Step, Unreachable, WhenUnreachable};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};

/// The GCRA over `#KEYS` policies, in microseconds of Redis's clock. `ARGV` holds each policy's
/// interval and tolerance. Returns the 1-based index of the first policy over quota (0 if
/// none), the microseconds until it admits, then per policy the microseconds from now to its
/// TAT as it stands after the check.
const SCRIPT: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tats, violated, wait = {}, 0, 0
for i = 1, #KEYS do
  local interval, tolerance = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local tat = math.max(tonumber(redis.call('GET', KEYS[i]) or 0), now)
  tats[i] = tat
  if violated == 0 and tat + interval - now > tolerance then
    violated = i
    wait = tat + interval - tolerance - now
  end
end
local out = {violated, wait}
for i = 1, #KEYS do
  local held = tats[i]
  if violated == 0 then
    held = held + tonumber(ARGV[2 * i - 1])
    redis.call('SET', KEYS[i], string.format('%d', held),
      'PX', string.format('%d', math.ceil((held - now) / 1000) + 1))
  end
  out[#out + 1] = held - now
end
return out
";

/// A Redis store being configured: [`LimitStore::redis`](super::LimitStore::redis) makes one;
/// pass it to
/// [`ServerConfig::with_limit_store`](crate::ServerConfig::with_limit_store).
#[derive(Clone, Debug)]
pub struct RedisLimits {
    target: Target,
    prefix: String,
    when_unreachable: WhenUnreachable,
    timeout: Duration,
    lease: Duration,
}

#[derive(Clone)]
struct Target {
    /// `host:port`.
    address: String,
    user: Option<String>,
    password: Option<String>,
    db: u32,
    /// Over TLS (`rediss://`): the name the server's certificate must carry, and what it is
    /// checked against.
    #[cfg(feature = "redis-tls")]
    tls: Option<Tls>,
}

#[cfg(feature = "redis-tls")]
#[derive(Clone)]
struct Tls {
    name: rustls::pki_types::ServerName<'static>,
    /// Why there is none, if the system had no roots and none were given: each connection
    /// fails with it, as one Redis refused would.
    config: Result<Arc<rustls::ClientConfig>, String>,
}

impl Target {
    fn scheme(&self) -> &'static str {
        #[cfg(feature = "redis-tls")]
        if self.tls.is_some() {
            return "rediss";
        }
        "redis"
    }
}

impl std::fmt::Debug for Target {
    /// Never shows the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}/{}", self.scheme(), self.address, self.db)
    }
}

/// A TLS client trusting `roots`: rustls on ring, as the typed clients' `client-tls`.
#[cfg(feature = "redis-tls")]
fn tls_config(roots: rustls::RootCertStore) -> Result<Arc<rustls::ClientConfig>, String> {
    crate::tls::client_config(roots).map(Arc::new)
}

/// The system's root certificates, read once, when the URL is read: those of the default
/// locations, or of the file `SSL_CERT_FILE` and the directories `SSL_CERT_DIR` name in their
/// place (every file in them). What cannot be read among them is warned of, as the typed
/// clients' `client-tls` does; none at all is an error.
#[cfg(feature = "redis-tls")]
fn system_roots() -> Result<rustls::RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let why = || {
        let mut why: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
        // What was wrong in a PEM file is said without the file: found again here.
        let malformed = found
            .errors
            .iter()
            .any(|e| matches!(e.kind, rustls_native_certs::ErrorKind::Pem(_)));
        if malformed {
            let files: Vec<String> = malformed_pem_files()
                .iter()
                .map(|f| format!("'{}'", f.display()))
                .collect();
            if !files.is_empty() {
                why.push(format!("in {}", files.join(", ")));
            }
        }
        why.join("; ")
    };
    // Where they were looked for: the variables that name them, or the default locations.
    let named: Vec<String> = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .into_iter()
        .filter_map(|var| {
            std::env::var_os(var).map(|v| format!("{var}={}", std::path::Path::new(&v).display()))
        })
        .collect();
    let place = if named.is_empty() {
        "the system's default locations".to_owned()
    } else {
        format!("{} (in place of the system's)", named.join(" and "))
    };
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(found.certs.iter().cloned());
    if roots.is_empty() {
        return Err(format!(
            "no root certificate to check Redis's against could be read from {place}{}",
            if found.errors.is_empty() {
                String::new()
            } else {
                format!(": {}", why())
            }
        ));
    }
    if !found.errors.is_empty() {
        tracing::warn!(
            roots = roots.len(),
            errors = %why(),
            "some root certificates in {place} could not be read; Redis over TLS is checked \
             against the others"
        );
    }
    Ok(roots)
}

/// The files `SSL_CERT_FILE` and `SSL_CERT_DIR` name (every file in the directories) that hold
/// something that cannot be read as PEM: rustls-native-certs says what it met, not where.
#[cfg(feature = "redis-tls")]
fn malformed_pem_files() -> Vec<std::path::PathBuf> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::{Error, PemObject};
    let mut files: Vec<std::path::PathBuf> = std::env::var_os("SSL_CERT_FILE")
        .map(std::path::PathBuf::from)
        .into_iter()
        .collect();
    if let Some(dirs) = std::env::var_os("SSL_CERT_DIR") {
        for dir in std::env::split_paths(&dirs) {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut in_dir: Vec<_> = entries
                .filter_map(|e| Some(e.ok()?.path()))
                .filter(|path| path.is_file())
                .collect();
            in_dir.sort();
            files.extend(in_dir);
        }
    }
    // Each file once, however many names lead to it (`openssl rehash` links one to its own).
    let mut seen = std::collections::HashSet::new();
    files.retain(|path| std::fs::canonicalize(path).is_ok_and(|real| seen.insert(real)));
    files.retain(|path| {
        CertificateDer::pem_file_iter(path)
            .is_ok_and(|mut certs| certs.any(|c| matches!(c, Err(e) if !matches!(e, Error::Io(_)))))
    });
    files
}

impl RedisLimits {
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        // The scheme, in any case, as a URL's is read.
        let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
        let (tls, rest) = match scheme.as_deref() {
            Some("redis") => (false, &url["redis://".len()..]),
            Some("rediss") => (true, &url["rediss://".len()..]),
            _ => {
                return Err(format!(
                    "expected a URL such as redis://127.0.0.1:6379 (or rediss:// over TLS), \
                     found `{}`",
                    crate::redacted_url(url)
                ));
            }
        };
        if tls && cfg!(not(feature = "redis-tls")) {
            return Err(
                "a rediss:// URL (Redis over TLS) needs plugin-routes' feature `redis-tls`"
                    .to_owned(),
            );
        }
        // The database follows the first `/` after the user information (a password may hold
        // a `/`); what is quoted back is only ever digits, never part of a password.
        let host_at = rest.rfind('@').map_or(0, |at| at + 1);
        let (authority, db) = match rest[host_at..].split_once('/') {
            Some((_, "")) => (&rest[..rest.len() - 1], 0),
            Some((host, db)) => (
                &rest[..host_at + host.len()],
                db.parse().map_err(|_| {
                    "the database in a Redis URL is a number (redis://host:6379/2)".to_owned()
                })?,
            ),
            None => (rest, 0),
        };
        let (credentials, host) = match authority.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, authority),
        };
        let (user, password) = match credentials.map(|c| c.split_once(':').unwrap_or(("", c))) {
            Some((u, p)) => (
                (!u.is_empty()).then(|| u.to_owned()),
                (!p.is_empty()).then(|| p.to_owned()),
            ),
            None => (None, None),
        };
        if host.is_empty() {
            return Err("a Redis URL needs a host, such as redis://127.0.0.1:6379".to_owned());
        }
        // A port is what follows the last `:`, outside an IPv6 address's brackets.
        let (name, port) = match host.rsplit_once(':') {
            Some((name, port))
                if !host.ends_with(']') && (!host.starts_with('[') || name.ends_with(']')) =>
            {
                (name, Some(port))
            }
            _ => (host, None),
        };
        // An IPv6 address is written in brackets, or its last group would be taken for a port;
        // brackets hold nothing else.
        let bracketed = name.len() > 2 && name.starts_with('[') && name.ends_with(']');
        let inner = if bracketed {
            &name[1..name.len() - 1]
        } else {
            name
        };
        if name.is_empty() || inner.contains(['[', ']']) || (name.contains(':') && !bracketed) {
            return Err(NEEDS_A_HOST.to_owned());
        }
        let address = match port {
            None => format!("{host}:6379"),
            Some(port) if port.parse::<u16>().is_ok_and(|p| p > 0) => host.to_owned(),
            Some(port) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(format!(
                    "the port in a Redis URL is a number from 1 to 65535, found `{port}`"
                ));
            }
            Some(_) => {
                // Not quoted: without its `@`, a URL's password reads as a port.
                return Err(
                    "the port in a Redis URL is a number from 1 to 65535 (redis://host:6379)"
                        .to_owned(),
                );
            }
        };
        #[cfg(feature = "redis-tls")]
        let tls = match tls {
            true => {
                // The name the certificate must carry: the host, an IPv6 address without its
                // brackets.
                let host = name.trim_start_matches('[').trim_end_matches(']');
                let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                    .map_err(|_| format!("`{host}` in a rediss:// URL is not a host name"))?;
                Some(Tls {
                    name,
                    config: system_roots().and_then(tls_config),
                })
            }
            false => None,
        };
        #[cfg(not(feature = "redis-tls"))]
        let _ = tls;
        Ok(RedisLimits {
            target: Target {
                address,
                user,
                password,
                db,
                #[cfg(feature = "redis-tls")]
                tls,
            },
            prefix: "plugin-limits".to_owned(),
            when_unreachable: WhenUnreachable::Admit,
            timeout: Duration::from_millis(250),
            lease: Duration::from_secs(30),
        })
    }

    /// Over TLS (a `rediss://` URL), trusts only the certificate authorities in `pem` (one or
    /// more PEM certificates; a private CA, say) instead of the system's.
    ///
    /// # Errors
    /// A `redis://` URL (nothing to verify), or `pem` holding no certificate that can be read.
    #[cfg(feature = "redis-tls")]
    pub fn with_roots(mut self, pem: &[u8]) -> Result<Self, String> {
        let Some(tls) = &mut self.target.tls else {
            return Err(
                "root certificates for a redis:// URL, which is not over TLS: \
                 write rediss://"
                    .to_owned(),
            );
        };
        tls.config = Ok(tls_config(crate::tls::roots_from_pem(pem)?)?);
        Ok(self)
    }

    /// What happens to requests while Redis cannot be asked (default: admitted, uncounted).
    #[must_use]
    pub fn when_unreachable(mut self, then: WhenUnreachable) -> Self {
        self.when_unreachable = then;
        self
    }

    /// What every key this store writes starts with (default `plugin-limits`): servers share
    /// quotas only under the same prefix, so several APIs can share one Redis apart.
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long a check may wait for Redis before it counts as unreachable (default 250 ms).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a place under a concurrency cap is leased for (default 30 s, at least 3 s).
    /// A server renews the leases it holds every third of that; the places of a server that
    /// dies free themselves once their leases lapse. At least 3 s, so that a renewal that meets
    /// a failed connection can wait out the second before the next is tried and still be in
    /// time.
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_secs(3));
        self
    }
}

/// What a URL without a host it can read is told.
const NEEDS_A_HOST: &str = "a Redis URL needs a host, an IPv6 address in brackets \
                            (redis://[::1]:6379); a password goes before an `@` \
                            (redis://:password@host:6379)";

const UNKNOWN: u8 = 0;
const REACHABLE: u8 = 1;
const UNREACHABLE: u8 = 2;

/// The Redis backend of a [`LimitStore`].
pub(crate) struct RedisCounter {
    settings: RedisLimits,
    connection: Arc<Mutex<Option<Connection>>>,
    /// The connection being opened, or why the last attempt failed. Requests meeting a closed
    /// connection wait for the attempts under way (or are told why not) rather than make one
    /// each.
    opening: Arc<Mutex<Attempt>>,
    state: Arc<AtomicU8>,
    /// The reason Redis was logged unreachable for, until a failed attempt to connect that met
    /// another (a timeout at first, then what the attempt met) is logged too: once an outage,
    /// however its reasons change (an expired certificate's message changes every second).
    said: Arc<Mutex<Option<String>>>,
}

/// Where the outcome of opening a connection is told.
type Opening = watch::Receiver<Option<Result<Connection, String>>>;

/// The last attempt to open a connection.
#[derive(Default)]
enum Attempt {
    /// None yet, or the last one succeeded.
    #[default]
    None,
    /// Under way: one attempt, or several made one beside another (see [`AT_ONCE`]).
    Open(Under),
    /// Failed then, for this reason: the next waits [`RETRY_AFTER`].
    Failed(tokio::time::Instant, String),
}

/// Attempts to connect under way, told on one channel: whoever waits gets the first
/// connection any of them makes.
struct Under {
    /// When the first of them began.
    began: tokio::time::Instant,
    /// When the newest of them began.
    newest: tokio::time::Instant,
    told: Opening,
    /// What requests are told meanwhile, not waiting for them: after a failed attempt, why it
    /// failed. `None` while a first attempt (since Redis answered, or after a quiet spell longer
    /// than a failure is told for) may still be waited for.
    why: Option<String>,
    /// Whether they began during an outage (after a failed attempt, or with Redis known to be
    /// unreachable: a connection gone silent, say): only then is an attempt made beside another.
    /// Before, a Redis slow to connect to (far away, over TLS) is as likely as one gone silent,
    /// and is connected to once. (`why` becomes `Some` only here: a lone attempt that fails
    /// ends them.)
    outage: bool,
    /// The attempts' own handle on the channel, while any of them runs: gone, they all ended.
    attempts: std::sync::Weak<Attempts>,
}

/// What the attempts of one [`Under`] share.
struct Attempts {
    tell: watch::Sender<Option<Result<Connection, String>>>,
    under_way: std::sync::atomic::AtomicUsize,
}

/// One attempt counted in its [`Attempts`]' `under_way` until it ends, or until its task is
/// dropped unfinished (its runtime shut down), so that no attempt that is gone holds a place.
struct Running {
    attempts: Arc<Attempts>,
    ended: bool,
}

impl Running {
    fn new(attempts: Arc<Attempts>) -> Self {
        attempts.under_way.fetch_add(1, Ordering::Relaxed);
        Running {
            attempts,
            ended: false,
        }
    }

    /// Counts this attempt out; how many are left under way.
    fn end(mut self) -> usize {
        self.ended = true;
        self.attempts.under_way.fetch_sub(1, Ordering::Relaxed) - 1
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.ended {
            self.attempts.under_way.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// How many attempts to connect may be under way at once during an outage. One made after an
/// attempt failed, or a connection went silent, that has gone on for a second (its connection
/// taken and never answered, as behind a firewall that drops replies, takes the whole of
/// [`OPEN_AT_LEAST`]) gets another beside it from the next request, so that a Redis back again
/// is found within a second or so of the requests that meet it, not when the stuck one gives
/// up; at most this many, a second apart: one a second while requests come with the default
/// bound of five seconds. With a longer bound (a store timeout over five seconds) and this many
/// stuck, the next is made when the oldest gives up.
const AT_ONCE: usize = 5;

/// How long after a failed attempt to connect the next is made: meanwhile requests are told at
/// once why the last failed, so a Redis that refuses or fails the handshake is not asked again
/// at the rate requests come. They are told so while the next attempt goes on, too, if it was
/// made within as long again as an attempt may take after that second: it is not waited for.
/// Also how long an attempt goes on before another is made beside it ([`AT_ONCE`]).
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// How long opening a connection may take at the least, whatever the store's timeout: a
/// request gives up on it after its own timeout, but the open goes on, so that a connection
/// that takes longer than one request's wait to make (over TLS, a round trip or two more) is
/// still made and every request after it uses it.
const OPEN_AT_LEAST: Duration = Duration::from_secs(5);

impl std::fmt::Debug for RedisCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.settings.target)
    }
}

impl RedisCounter {
    pub(crate) fn new(settings: RedisLimits) -> Self {
        RedisCounter {
            settings,
            connection: Arc::default(),
            opening: Arc::default(),
            state: Arc::new(AtomicU8::new(UNKNOWN)),
            said: Arc::default(),
        }
    }

    pub(crate) fn when_unreachable(&self) -> WhenUnreachable {
        self.settings.when_unreachable
    }

    /// What every key starts with.
    pub(super) fn prefix(&self) -> &str {
        &self.settings.prefix
    }

    /// How long a place is leased for.
    pub(super) fn lease(&self) -> Duration {
        self.settings.lease
    }

    /// Sends one command (a script of its own, say) and waits for its answer within the
    /// store's timeout; a failure counts as Redis being unreachable, as a check's does.
    pub(super) async fn command(&self, args: Vec<Vec<u8>>) -> Result<Reply, Unreachable> {
        let bound = self.settings.timeout;
        self.command_expecting(args, bound, |reply| match reply {
            Reply::Error(e) => Err(e.clone()),
            _ => Ok(()),
        })
        .await
    }

    /// [`Self::command`], with the answer counted as Redis answering only when `expected`
    /// accepts it (otherwise as a failure, with the reason it gives).
    async fn command_expecting(
        &self,
        args: Vec<Vec<u8>>,
        within: Duration,
        expected: fn(&Reply) -> Result<(), String>,
    ) -> Result<Reply, Unreachable> {
        let current = self.current();
        let sent = async {
            let conn = self.connection().await?;
            conn.send(args).await
        };
        match tokio::time::timeout(within, sent).await {
            Ok(Ok(reply)) => match expected(&reply) {
                Ok(()) => {
                    self.succeeded();
                    Ok(reply)
                }
                Err(why) => Err(self.failed(&why)),
            },
            Ok(Err(e)) => Err(self.failed(&e)),
            Err(_) => Err(self.timed_out(current)),
        }
    }

    /// Counts one request against `steps`, as the in-memory store does, on Redis's clock.
    pub(crate) async fn count(
        &self,
        scope: &str,
        steps: &[Step<'_>],
    ) -> Result<Counted, Unreachable> {
        let mut args: Vec<Vec<u8>> = Vec::with_capacity(3 + 3 * steps.len());
        args.push(b"EVALSHA".to_vec());
        args.push(Vec::new()); // the script's digest, filled in by `call`
        args.push(steps.len().to_string().into_bytes());
        for step in steps {
            let mut key = String::with_capacity(64);
            let _ = write!(
                key,
                "{}:{scope}:{}:{}",
                self.settings.prefix, step.policy, step.who
            );
            args.push(key.into_bytes());
        }
        for step in steps {
            // Microseconds, rounded up so that Redis never admits earlier than memory would.
            args.push(step.interval.div_ceil(1000).to_string().into_bytes());
            args.push((step.tolerance / 1000).to_string().into_bytes());
        }
        let current = self.current();
        let outcome = tokio::time::timeout(self.settings.timeout, self.call(args)).await;
        let reply = match outcome {
            Ok(Ok(reply)) => reply,
            Ok(Err(e)) => return Err(self.failed(&e)),
            Err(_) => return Err(self.timed_out(current)),
        };
        match parse_counted(&reply, steps.len()) {
            Some(counted) => {
                self.succeeded();
                Ok(counted)
            }
            None => Err(self.failed(&format!("unexpected answer {reply:?}"))),
        }
    }

    /// Sends `PING`, waiting as long as a connection may take to make (the longer of the
    /// store's timeout and [`OPEN_AT_LEAST`]) and then the timeout for the answer: at start, a
    /// Redis far away is not logged unreachable for taking longer than a request waits. Logs a
    /// change in whether Redis answers as a request's command does. Within a few seconds of
    /// a failed attempt to connect (see `connection`), it answers at once, as a request is.
    pub(crate) async fn check(&self) -> bool {
        let pong = |reply: &Reply| match reply {
            Reply::Simple(pong) if pong == "PONG" => Ok(()),
            other => Err(format!("unexpected answer {other:?} to PING")),
        };
        let within = self.open_bound() + self.settings.timeout;
        self.command_expecting(vec![b"PING".to_vec()], within, pong)
            .await
            .is_ok()
    }

    /// Sends `PING` within the store's timeout, for the readiness route: whether Redis answers,
    /// changing no logged state. A connection that stays silent is given up as a request's
    /// command gives it up, so a server that limited requests no longer reach (taken out of
    /// its load balancer for not being ready) still finds Redis again.
    pub(crate) async fn probe(&self) -> Result<(), String> {
        let current = self.current();
        match tokio::time::timeout(self.settings.timeout, self.ping()).await {
            Ok(answered) => answered,
            Err(_) => {
                self.close_if_silent(current);
                Err(self.no_answer())
            }
        }
    }

    /// Sends `PING` and waits for its answer: the cost of a round trip, for comparison.
    #[doc(hidden)]
    pub(crate) async fn ping(&self) -> Result<(), String> {
        let conn = self.connection().await?;
        match conn.send(vec![b"PING".to_vec()]).await? {
            Reply::Simple(s) if s == "PONG" => Ok(()),
            other => Err(format!("unexpected answer {other:?}")),
        }
    }

    async fn call(&self, mut args: Vec<Vec<u8>>) -> Result<Reply, String> {
        let conn = self.connection().await?;
        args[1] = conn.script.clone().into_bytes();
        match conn.send(args).await? {
            Reply::Error(e) => {
                // A `SCRIPT FLUSH` or a failover to a replica without the script: connect anew,
                // which loads it again.
                if e.starts_with("NOSCRIPT") {
                    self.drop_connection(&conn);
                }
                Err(e)
            }
            reply => Ok(reply),
        }
    }

    fn drop_connection(&self, conn: &Connection) {
        let mut slot = lock(&self.connection);
        if slot
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(&c.alive, &conn.alive))
        {
            *slot = None;
        }
    }

    /// How much had been read on the connection a command is about to use, if one is open:
    /// what [`Self::timed_out`] compares with (one reference count, no copy of the connection).
    fn current(&self) -> Option<(Arc<std::sync::atomic::AtomicU64>, u64)> {
        lock(&self.connection).as_ref().map(|c| {
            let heard = Arc::clone(&c.heard);
            let now = heard.load(Ordering::Relaxed);
            (heard, now)
        })
    }

    /// A command got no answer within the timeout on the connection `seen` before it. If
    /// nothing at all was read on that connection meanwhile, though it had a command to
    /// answer, its peer is silent: it went away without a word (a Redis host replaced, an
    /// address moved) and TCP would take many minutes to say so. That connection is closed
    /// and the next command opens another. A Redis that is slow but answering keeps its
    /// connection, and only the command that waited too long fails.
    fn timed_out(&self, seen: Option<(Arc<std::sync::atomic::AtomicU64>, u64)>) -> Unreachable {
        self.close_if_silent(seen);
        self.failed(&self.no_answer())
    }

    /// Why a command that waited the store's timeout failed.
    fn no_answer(&self) -> String {
        format!(
            "no answer within the store's timeout ({} ms)",
            self.settings.timeout.as_millis()
        )
    }

    /// Closes the connection `seen` before a command if nothing was read on it since.
    fn close_if_silent(&self, seen: Option<(Arc<std::sync::atomic::AtomicU64>, u64)>) {
        if let Some((heard, then)) = seen
            && heard.load(Ordering::Relaxed) == then
        {
            let mut slot = lock(&self.connection);
            if slot.as_ref().is_some_and(|c| Arc::ptr_eq(&c.heard, &heard))
                && let Some(silent) = slot.take()
            {
                silent.close();
            }
        }
    }

    async fn connection(&self) -> Result<Connection, String> {
        if let Some(c) = live(&self.connection) {
            return Ok(c);
        }
        let mut outcome = {
            let mut attempt = lock(&self.opening);
            // Opened meanwhile: an attempt stores its connection before it clears `opening`.
            if let Some(c) = live(&self.connection) {
                return Ok(c);
            }
            let bound = self.open_bound();
            let under_way = match &mut *attempt {
                // Attempts whose tasks all ended and left them here (their runtime shut down),
                // or that outlived their bound (a runtime no longer run), are none: the last arm.
                Attempt::Open(under)
                    if under.attempts.strong_count() == 0 || !self.within_bound(under.newest) =>
                {
                    None
                }
                // An attempt made just after one failed (Redis refused, or took too long, the
                // last time) is not waited for: during an outage, requests are told at once why the
                // last attempt failed, as between attempts, rather than each attempt costing the
                // requests that meet it a timeout. The one that succeeds stores its connection
                // for the requests after it.
                Attempt::Open(Under { why: Some(why), .. }) => {
                    let why = why.clone();
                    self.beside(&mut attempt);
                    return Err(why);
                }
                // An attempt that has taken longer than a request may wait is not waited for:
                // a Redis gone silent costs the requests that meet it at first one timeout, not
                // each request one until the attempt gives up. During an outage (`outage`), one
                // is made beside it after a second, as above.
                Attempt::Open(under) if under.began.elapsed() >= self.settings.timeout => {
                    let why = format!(
                        "no connection yet: the attempt to make one began {} ms ago",
                        under.began.elapsed().as_millis()
                    );
                    self.beside(&mut attempt);
                    return Err(why);
                }
                Attempt::Open(under) => Some(under.told.clone()),
                Attempt::Failed(at, why) if at.elapsed() < RETRY_AFTER => return Err(why.clone()),
                // The attempt after one that failed lately (requests go on meeting the outage,
                // even one every few seconds) is made and not waited for. After a failure older
                // than the second and as long again as an attempt may take (nothing asked for a
                // while: Redis may well be back), the attempt is waited for as a first one is.
                Attempt::Failed(at, why) if at.elapsed() < RETRY_AFTER + bound => {
                    let why = why.clone();
                    *attempt = Attempt::Open(self.open(Some(why.clone())));
                    return Err(why);
                }
                _ => None,
            };
            under_way.unwrap_or_else(|| {
                let under = self.open(None);
                let told = under.told.clone();
                *attempt = Attempt::Open(under);
                told
            })
        };
        let told = outcome
            .wait_for(Option::is_some)
            .await
            .map_err(|_| "the connection was not made".to_owned())?;
        match &*told {
            Some(outcome) => outcome.clone(),
            None => Err("the connection was not made".to_owned()),
        }
    }

    /// Begins an attempt to connect, in a task of its own; requests are told `why` meanwhile,
    /// or (with none) wait for it.
    fn open(&self, why: Option<String>) -> Under {
        let (tell, told) = watch::channel(None);
        let attempts = Arc::new(Attempts {
            tell,
            under_way: std::sync::atomic::AtomicUsize::new(0),
        });
        let now = tokio::time::Instant::now();
        let under = Under {
            began: now,
            newest: now,
            told: told.clone(),
            outage: why.is_some() || self.state.load(Ordering::Relaxed) == UNREACHABLE,
            why,
            attempts: Arc::downgrade(&attempts),
        };
        self.spawn(attempts, told);
        under
    }

    /// Begins another attempt beside those under way in `attempt`, during an outage, if the
    /// newest of them has gone on for [`RETRY_AFTER`] and fewer than [`AT_ONCE`] are under way.
    fn beside(&self, attempt: &mut Attempt) {
        if let Attempt::Open(under) = attempt
            && under.outage
            && under.newest.elapsed() >= RETRY_AFTER
            && let Some(attempts) = under.attempts.upgrade()
            && attempts.under_way.load(Ordering::Relaxed) < AT_ONCE
        {
            under.newest = tokio::time::Instant::now();
            self.spawn(attempts, under.told.clone());
        }
    }

    /// Opens a connection in a task of its own, bounded by the longer of the store's timeout
    /// and [`OPEN_AT_LEAST`], not by the wait of the request that asked for it; stores it for
    /// every request after, unless one made beside it is stored already (this one is then
    /// closed when its last handle goes). `mine` tells which [`Under`] it is one of: it says how
    /// it went in `opening` only while that holds them still.
    fn spawn(&self, attempts: Arc<Attempts>, mine: Opening) {
        let running = Running::new(attempts);
        let shared = Arc::clone(&running.attempts);
        let target = self.settings.target.clone();
        let (slot, opening) = (Arc::clone(&self.connection), Arc::clone(&self.opening));
        let (state, said) = (Arc::clone(&self.state), Arc::clone(&self.said));
        let bound = self.open_bound();
        tokio::spawn(async move {
            let began = tokio::time::Instant::now();
            let outcome = Connection::open(&target, bound).await;
            // `opening`, then the connection's slot, as `connection()` takes them: what the
            // attempts under way are, and whether one connected, seen at one moment.
            let connected = {
                let mut opening = lock(&opening);
                let left = running.end();
                let connected = {
                    let mut slot = lock(&slot);
                    if let Ok(c) = &outcome
                        && !slot.as_ref().is_some_and(Connection::is_alive)
                    {
                        *slot = Some(c.clone());
                    }
                    slot.as_ref().is_some_and(Connection::is_alive)
                };
                if let Attempt::Open(under) = &mut *opening
                    && under.told.same_channel(&mine)
                {
                    match &outcome {
                        _ if connected => *opening = Attempt::None,
                        // The last of them: the next attempt waits a second from now.
                        Err(why) if left == 0 => {
                            *opening = Attempt::Failed(tokio::time::Instant::now(), why.clone());
                        }
                        // Others still under way: what requests are told is what this met.
                        Err(why) => under.why = Some(why.clone()),
                        Ok(_) => {}
                    }
                }
                connected
            };
            // Redis already logged unreachable, for another reason (a request's timeout while
            // this attempt went on): what the attempt met is said too, once. A change of state
            // is logged by the request that meets it. An attempt beside one that connected has
            // nothing to say.
            if let Err(why) = &outcome
                && !connected
                && state.load(Ordering::Relaxed) == UNREACHABLE
            {
                let mut said = lock(&said);
                if said.as_deref().is_some_and(|said| said != why) {
                    tracing::warn!(
                        redis = ?target,
                        error = %why,
                        attempt_began_ms_ago = began.elapsed().as_millis(),
                        "the rate-limit store is still unreachable: an attempt to connect failed"
                    );
                    *said = None;
                }
            }
            // Whoever waits is told the first connection made, and not told a failure after it.
            shared.tell.send_if_modified(|told| {
                if matches!(told, Some(Ok(_))) {
                    false
                } else {
                    *told = Some(outcome);
                    true
                }
            });
        });
    }

    /// How long an attempt to connect may take.
    fn open_bound(&self) -> Duration {
        self.settings.timeout.max(OPEN_AT_LEAST)
    }

    /// Whether an attempt begun `since` may still be under way: one that outlived its bound
    /// (and a second) belongs to a runtime no longer run, and is none.
    fn within_bound(&self, since: tokio::time::Instant) -> bool {
        since.elapsed() <= self.open_bound() + Duration::from_secs(1)
    }

    fn failed(&self, why: &(impl std::fmt::Display + ?Sized)) -> Unreachable {
        if self.state.swap(UNREACHABLE, Ordering::Relaxed) != UNREACHABLE {
            let then = match self.settings.when_unreachable {
                WhenUnreachable::Admit => "admitted uncounted",
                WhenUnreachable::Refuse => "refused with 503",
            };
            tracing::error!(
                redis = ?self.settings.target,
                error = %why,
                "the rate-limit store is unreachable: requests to limited routes are {then} until it is back"
            );
            *lock(&self.said) = Some(why.to_string());
        }
        Unreachable
    }

    fn succeeded(&self) {
        match self.state.swap(REACHABLE, Ordering::Relaxed) {
            REACHABLE => {}
            UNREACHABLE => tracing::info!(
                redis = ?self.settings.target,
                "the rate-limit store is reachable again: requests are counted"
            ),
            _ => tracing::info!(redis = ?self.settings.target, "counting rate limits in Redis"),
        }
    }
}

/// Whether `said` may quote `password`: holds it whole, or (a long one cut short where it was
/// quoted) any six bytes of it in a row.
fn quotes(said: &str, password: &str) -> bool {
    const PIECE: usize = 6;
    let (said, password) = (said.as_bytes(), password.as_bytes());
    let holds = |piece: &[u8]| said.windows(piece.len()).any(|w| w == piece);
    if password.len() <= PIECE {
        return !password.is_empty() && holds(password);
    }
    password.windows(PIECE).any(holds)
}

/// The connection in `slot`, if it is open.
fn live(slot: &Mutex<Option<Connection>>) -> Option<Connection> {
    lock(slot).as_ref().filter(|c| c.is_alive()).cloned()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn parse_counted(reply: &Reply, n: usize) -> Option<Counted> {
    let Reply::Array(items) = reply else {
        return None;
    };
    let ints: Vec<i64> = items
        .iter()
        .map(|r| match r {
            Reply::Int(i) => Some(*i),
            _ => None,
        })
        .collect::<Option<_>>()?;
    if ints.len() != 2 + n || n > plugin_routes_rules::MAX_RATE_LIMITS {
        return None;
    }
    let micros = |v: i64| u64::try_from(v).unwrap_or(0).saturating_mul(1000);
    let violated = usize::try_from(ints[0]).ok()?;
    let mut used = [0u64; plugin_routes_rules::MAX_RATE_LIMITS];
    for (u, &v) in used.iter_mut().zip(&ints[2..]) {
        *u = micros(v);
    }
    Some(Counted {
        violated: (violated > 0 && violated <= n).then(|| (violated - 1, micros(ints[1]))),
        used,
    })
}

/// An answer from Redis (RESP2).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Reply>),
    Nil,
}

/// Where the answer to one command goes.
type Answer = oneshot::Sender<Result<Reply, String>>;

/// The commands sent and not yet answered, oldest first.
type Pending = Arc<Mutex<VecDeque<Answer>>>;

/// One pipelined connection: a writer task sends commands in order, a reader task answers them
/// in the same order.
#[derive(Clone)]
struct Connection {
    commands: mpsc::Sender<(Vec<u8>, Answer)>,
    alive: Arc<std::sync::atomic::AtomicBool>,
    /// Stops the reader, which would otherwise wait on a silent peer for as long as TCP does:
    /// when the connection is closed, or its last handle dropped.
    closer: Arc<Closer>,
    /// How many reads brought bytes: whether the peer said anything while a command waited.
    heard: Arc<std::sync::atomic::AtomicU64>,
    /// The script's SHA-1, as `SCRIPT LOAD` answered it.
    script: String,
}

impl Connection {
    fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed)
    }

    /// Fails what waits on it and closes it.
    fn close(&self) {
        self.alive.store(false, Ordering::Relaxed);
        self.closer.0.notify_one();
    }

    /// Connects to `target` within `bound`, all steps together (the TCP connection, the TLS
    /// handshake, Redis's first answers), and says which step failed.
    async fn open(target: &Target, bound: Duration) -> Result<Connection, String> {
        let deadline = tokio::time::Instant::now() + bound;
        let within = |what: &str| format!("{what} within {} ms", bound.as_millis());
        // Over TLS, what the certificate is checked against, before anything is sent.
        #[cfg(feature = "redis-tls")]
        let tls = match &target.tls {
            Some(tls) => Some((tls.name.clone(), tls.config.clone()?)),
            None => None,
        };
        let stream = tokio::time::timeout_at(deadline, TcpStream::connect(&target.address))
            .await
            .map_err(|_| within("no connection"))?
            .map_err(|e| format!("cannot connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        #[cfg(feature = "redis-tls")]
        if let Some((name, config)) = tls {
            let handshake = tokio_rustls::TlsConnector::from(config).connect(name, stream);
            let stream = tokio::time::timeout_at(deadline, handshake)
                .await
                .map_err(|_| {
                    within("no answer to the TLS handshake")
                        + ": does Redis at this address serve TLS? (if not, its URL is redis://)"
                })?
                .map_err(|e| {
                    let hint = if e.to_string().contains("UnknownIssuer") {
                        ": its issuer is not among the roots trusted (the system's, or those given \
                         to RedisLimits::with_roots for a private CA)"
                    } else {
                        ""
                    };
                    format!("cannot connect over TLS: {e}{hint}")
                })?;
            let (read, write) = tokio::io::split(stream);
            return tokio::time::timeout_at(deadline, Self::over(read, write, target))
                .await
                .map_err(|_| within("no answer from Redis"))?;
        }
        let (read, write) = stream.into_split();
        tokio::time::timeout_at(deadline, Self::over(read, write, target))
            .await
            .map_err(|_| within("no answer from Redis"))?
    }

    /// A connection over `read` and `write`, logged in and with the script loaded.
    async fn over(
        mut read: impl AsyncRead + Unpin + Send + 'static,
        mut write: impl AsyncWrite + Unpin + Send + 'static,
        target: &Target,
    ) -> Result<Connection, String> {
        let (tx, mut rx) = mpsc::channel::<(Vec<u8>, Answer)>(1024);
        let pending: Pending = Arc::default();
        let alive = Arc::new(std::sync::atomic::AtomicBool::new(true));

        let (writer_pending, writer_alive) = (Arc::clone(&pending), Arc::clone(&alive));
        tokio::spawn(async move {
            while let Some((bytes, answer)) = rx.recv().await {
                if !writer_alive.load(Ordering::Relaxed) {
                    let _ = answer.send(Err("the connection closed".to_owned()));
                    continue;
                }
                lock(&writer_pending).push_back(answer);
                // Flushed: over TLS, what is written may wait in the session until then.
                let sent = match write.write_all(&bytes).await {
                    Ok(()) => write.flush().await,
                    Err(e) => Err(e),
                };
                if let Err(e) = sent {
                    writer_alive.store(false, Ordering::Relaxed);
                    fail_all(&writer_pending, &format!("cannot send: {e}"));
                }
            }
        });
        let (reader_pending, reader_alive) = (Arc::clone(&pending), Arc::clone(&alive));
        let closing = Arc::new(tokio::sync::Notify::new());
        let reader_closing = Arc::clone(&closing);
        let heard = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let reader_heard = Arc::clone(&heard);
        tokio::spawn(async move {
            let mut buf: Vec<u8> = Vec::with_capacity(4096);
            let why = loop {
                match parse(&buf) {
                    Ok(Some((reply, used))) => {
                        buf.drain(..used);
                        let next = lock(&reader_pending).pop_front();
                        match next {
                            Some(answer) => {
                                let _ = answer.send(Ok(reply));
                            }
                            None => break "an answer nobody asked for".to_owned(),
                        }
                        continue;
                    }
                    Ok(None) => {}
                    Err(e) => break e,
                }
                let mut chunk = [0u8; 4096];
                let got = tokio::select! {
                    got = read.read(&mut chunk) => got,
                    () = reader_closing.notified() => {
                        break "given up: nothing was heard on the connection within the store's \
                               timeout"
                            .to_owned();
                    }
                };
                match got {
                    Ok(0) => break "the connection closed".to_owned(),
                    Ok(n) => {
                        reader_heard.fetch_add(1, Ordering::Relaxed);
                        buf.extend_from_slice(&chunk[..n]);
                    }
                    Err(e) => break format!("cannot read: {e}"),
                }
            };
            reader_alive.store(false, Ordering::Relaxed);
            fail_all(&reader_pending, &why);
        });

        let mut conn = Connection {
            commands: tx,
            alive,
            closer: Arc::new(Closer(closing)),
            heard,
            script: String::new(),
        };
        // Logging in, choosing the database and loading the script, sent at once: one round
        // trip, answered in order.
        let mut setup: Vec<(&str, Vec<Vec<u8>>)> = Vec::with_capacity(3);
        if let Some(password) = &target.password {
            let mut auth = vec![b"AUTH".to_vec()];
            if let Some(user) = &target.user {
                auth.push(user.clone().into_bytes());
            }
            auth.push(password.clone().into_bytes());
            setup.push(("AUTH", auth));
        }
        if target.db != 0 {
            let select = vec![b"SELECT".to_vec(), target.db.to_string().into_bytes()];
            setup.push(("SELECT", select));
        }
        let load = vec![
            b"SCRIPT".to_vec(),
            b"LOAD".to_vec(),
            SCRIPT.as_bytes().to_vec(),
        ];
        setup.push(("SCRIPT LOAD", load));
        let mut answers = Vec::with_capacity(setup.len());
        for (what, args) in setup {
            answers.push((what, conn.enqueue(&args).await?));
        }
        for (what, answer) in answers {
            let reply = match answer.await {
                Ok(Ok(reply)) => reply,
                Ok(Err(e))
                    if conn.heard.load(Ordering::Relaxed) == 0 && target.scheme() == "redis" =>
                {
                    // Closed before a word: what a TLS server does with a client in the clear.
                    return Err(format!(
                        "{e} before Redis answered: if it serves TLS, its URL is rediss://; or \
                         a proxy in front of it has no Redis behind it"
                    ));
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err("the connection closed".to_owned()),
            };
            match (what, reply) {
                ("SCRIPT LOAD", Reply::Bulk(Some(sha))) => {
                    conn.script =
                        String::from_utf8(sha).map_err(|_| "a malformed script digest")?;
                }
                ("SCRIPT LOAD", other) => return Err(format!("SCRIPT LOAD answered {other:?}")),
                (_, Reply::Simple(s)) if s == "OK" => {}
                // Redis's own words (`WRONGPASS ...`, `ERR max number of clients reached`), with
                // the password taken out should they ever quote it.
                (what, Reply::Error(mut said)) => {
                    if target.password.as_deref().is_some_and(|p| quotes(&said, p)) {
                        return Err(format!(
                            "{what} was refused (its answer is not shown: it may quote the password)"
                        ));
                    }
                    said.truncate(said.floor_char_boundary(200));
                    return Err(format!("{what} was refused: {said}"));
                }
                (what, _) => return Err(format!("{what} was refused")),
            }
        }
        Ok(conn)
    }

    /// Queues `args` to be sent; where its answer will come.
    async fn enqueue(
        &self,
        args: &[Vec<u8>],
    ) -> Result<oneshot::Receiver<Result<Reply, String>>, String> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send((encode(args), tx)).await.is_err() {
            // Its writer is gone (with the runtime it ran on): the next command opens another.
            self.alive.store(false, Ordering::Relaxed);
            return Err("the connection closed".to_owned());
        }
        Ok(rx)
    }

    async fn send(&self, args: Vec<Vec<u8>>) -> Result<Reply, String> {
        let answer = self.enqueue(&args).await?;
        answer.await.map_err(|_| {
            // Its reader is gone without answering (with the runtime it ran on).
            self.alive.store(false, Ordering::Relaxed);
            "the connection closed".to_owned()
        })?
    }
}

fn fail_all(pending: &Pending, why: &str) {
    for answer in lock(pending).drain(..) {
        let _ = answer.send(Err(why.to_owned()));
    }
}

/// Stops a connection's reader when dropped with the connection's last handle (an open given
/// up on halfway, a connection replaced), as [`Connection::close`] does.
struct Closer(Arc<tokio::sync::Notify>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

/// A command as a RESP array of bulk strings.
fn encode(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// How deep arrays may nest in a reply: the scripts answer arrays of integers (depth 1), so a
/// deeper reply is a server speaking something else, refused before it can exhaust the stack.
const MAX_DEPTH: usize = 8;

/// One reply from the start of `buf` and the bytes it took, `None` if more bytes are needed.
pub(crate) fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, String> {
    parse_within(buf, MAX_DEPTH)
}

/// [`parse`], with arrays nested at most `depth` deep.
fn parse_within(buf: &[u8], depth: usize) -> Result<Option<(Reply, usize)>, String> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let Some((&kind, line)) = buf[..end].split_first() else {
        return Err("an empty line from Redis".to_owned());
    };
    let text = std::str::from_utf8(line).map_err(|_| "a reply that is not UTF-8")?;
    let after = end + 2;
    let number = || {
        text.parse::<i64>()
            .map_err(|_| format!("a malformed length `{text}`"))
    };
    match kind {
        b'+' => Ok(Some((Reply::Simple(text.to_owned()), after))),
        b'-' => Ok(Some((Reply::Error(text.to_owned()), after))),
        b':' => Ok(Some((Reply::Int(number()?), after))),
        b'$' => {
            let Ok(len) = usize::try_from(number()?) else {
                return Ok(Some((Reply::Bulk(None), after)));
            };
            if buf.len() < after + len + 2 {
                return Ok(None);
            }
            let bytes = buf[after..after + len].to_vec();
            Ok(Some((Reply::Bulk(Some(bytes)), after + len + 2)))
        }
        b'*' => {
            let Ok(count) = usize::try_from(number()?) else {
                return Ok(Some((Reply::Nil, after)));
            };
            let Some(inner) = depth.checked_sub(1) else {
                return Err(format!("a reply nested deeper than {MAX_DEPTH} arrays"));
            };
            let mut items = Vec::with_capacity(count.min(64));
            let mut at = after;
            for _ in 0..count {
                match parse_within(&buf[at..], inner)? {
                    Some((item, used)) => {
                        items.push(item);
                        at += used;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Reply::Array(items), at)))
        }
        other => Err(format!("an unknown reply type `{}`", char::from(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_and_passwords_never_shown() {
        let r = RedisLimits::parse("redis://:s3cret@cache.internal/2").unwrap();
        assert_eq!(r.target.address, "cache.internal:6379");
        assert_eq!(r.target.password.as_deref(), Some("s3cret"));
        assert_eq!(r.target.user, None);
        assert_eq!(r.target.db, 2);
        assert!(!format!("{r:?}").contains("s3cret"));
        let r = RedisLimits::parse("redis://ann:pw@127.0.0.1:6380").unwrap();
        assert_eq!(r.target.address, "127.0.0.1:6380");
        assert_eq!(r.target.user.as_deref(), Some("ann"));
        let e = RedisLimits::parse("http://ann:pw@host").unwrap_err();
        assert!(
            e.contains("redis://127.0.0.1:6379") && !e.contains("pw"),
            "{e}"
        );
        // The scheme in any case.
        let r = RedisLimits::parse("REDIS://cache").unwrap();
        assert_eq!(format!("{:?}", r.target), "redis://cache:6379/0");
        // IPv6, with and without a port.
        let r = RedisLimits::parse("redis://[::1]").unwrap();
        assert_eq!(r.target.address, "[::1]:6379");
        let r = RedisLimits::parse("redis://[::1]:6390/1").unwrap();
        assert_eq!(r.target.address, "[::1]:6390");
        // A port that is no port is refused, not taken for part of the host.
        for (url, said) in [
            (
                "redis://cache:0",
                "the port in a Redis URL is a number from 1 to 65535, found `0`",
            ),
            (
                "redis://cache:70000",
                "the port in a Redis URL is a number from 1 to 65535, found `70000`",
            ),
            (
                "redis://:pw@127.0.0.1:notaport",
                "the port in a Redis URL is a number from 1 to 65535 (redis://host:6379)",
            ),
            (
                "redis://cache:",
                "the port in a Redis URL is a number from 1 to 65535 (redis://host:6379)",
            ),
            (
                "redis://[::1]:x",
                "the port in a Redis URL is a number from 1 to 65535 (redis://host:6379)",
            ),
            // A password whose `@host` was left out is never quoted back.
            (
                "redis://default:s3cret",
                "the port in a Redis URL is a number from 1 to 65535 (redis://host:6379)",
            ),
            (
                "redis://:pa/ss@cache/x",
                "the database in a Redis URL is a number (redis://host:6379/2)",
            ),
            ("redis://:6379", NEEDS_A_HOST),
            ("redis://2001:db8::5", NEEDS_A_HOST),
            ("redis://[::1", NEEDS_A_HOST),
            ("redis://[::1]]:6380", NEEDS_A_HOST),
            ("redis://[]", NEEDS_A_HOST),
        ] {
            let e = RedisLimits::parse(url).unwrap_err();
            assert_eq!(e, said, "{url}");
        }
        // A password holding `/`.
        let r = RedisLimits::parse("redis://:pa/ss@cache/3").unwrap();
        assert_eq!(r.target.password.as_deref(), Some("pa/ss"));
        assert_eq!((r.target.address.as_str(), r.target.db), ("cache:6379", 3));
    }

    #[test]
    fn replies_are_parsed_whole_or_not_at_all() {
        let whole = b"*3\r\n:1\r\n$3\r\nabc\r\n-ERR no\r\n";
        assert_eq!(
            parse(whole).unwrap(),
            Some((
                Reply::Array(vec![
                    Reply::Int(1),
                    Reply::Bulk(Some(b"abc".to_vec())),
                    Reply::Error("ERR no".into())
                ]),
                whole.len()
            ))
        );
        for cut in 0..whole.len() {
            assert_eq!(parse(&whole[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert_eq!(parse(b"$-1\r\n").unwrap(), Some((Reply::Bulk(None), 5)));
        assert!(parse(b"?x\r\n").is_err());
    }

    #[test]
    fn arrays_nested_past_the_bound_are_refused_not_recursed_into() {
        let nested = |depth: usize| {
            let mut reply = b"*1\r\n".repeat(depth);
            reply.extend_from_slice(b":7\r\n");
            reply
        };
        assert!(parse(&nested(MAX_DEPTH)).unwrap().is_some());
        let deep = parse(&nested(100_000)).unwrap_err();
        assert_eq!(deep, "a reply nested deeper than 8 arrays");
    }

    /// `rediss://`: over TLS with the feature, checked against the host's name; said to need the
    /// feature without it.
    #[test]
    fn a_rediss_url_is_redis_over_tls() {
        #[cfg(feature = "redis-tls")]
        {
            let r = RedisLimits::parse("Rediss://:pw@cache.internal:6380/1").unwrap();
            assert_eq!(format!("{:?}", r.target), "rediss://cache.internal:6380/1");
            let tls = r.target.tls.as_ref().unwrap();
            assert_eq!(tls.name.to_str(), "cache.internal");
            let r = RedisLimits::parse("rediss://[::1]").unwrap();
            assert_eq!(r.target.tls.unwrap().name.to_str(), "::1");
            // Roots of its own: a private CA.
            let pem = &std::fs::read(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/keys/tls-ca.pem"),
            )
            .unwrap();
            let r = RedisLimits::parse("rediss://localhost").unwrap();
            assert!(r.with_roots(pem).is_ok());
            let e = RedisLimits::parse("rediss://localhost")
                .unwrap()
                .with_roots(b"not a certificate")
                .unwrap_err();
            assert!(e.contains("no certificate"), "{e}");
            // Nothing to verify without TLS.
            let e = RedisLimits::parse("redis://localhost")
                .unwrap()
                .with_roots(pem)
                .unwrap_err();
            assert!(e.contains("write rediss://"), "{e}");
        }
        #[cfg(not(feature = "redis-tls"))]
        {
            let e = RedisLimits::parse("rediss://ann:pw@host").unwrap_err();
            assert!(e.contains("`redis-tls`") && !e.contains("pw"), "{e}");
        }
    }

    /// Logging in, choosing the database and loading the script go out together; a refusal is
    /// said in Redis's words, never with the password.
    #[tokio::test]
    async fn a_refused_login_is_said_in_redis_words() {
        let target = RedisLimits::parse("redis://:s3cret@cache/2")
            .unwrap()
            .target;
        let (client, mut server) = tokio::io::duplex(4096);
        let answered = tokio::spawn(async move {
            let mut got = vec![0u8; 4096];
            let mut read = 0;
            // All three commands arrive before any answer is sent.
            while !String::from_utf8_lossy(&got[..read]).contains("LOAD") {
                read += server.read(&mut got[read..]).await.unwrap();
            }
            server
                .write_all(
                    b"-WRONGPASS invalid username-password pair\r\n\
                      -NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n",
                )
                .await
                .unwrap();
            String::from_utf8_lossy(&got[..read]).into_owned()
        });
        let (read, write) = tokio::io::split(client);
        let Err(e) = Connection::over(read, write, &target).await else {
            panic!("the login was refused");
        };
        assert_eq!(
            e,
            "AUTH was refused: WRONGPASS invalid username-password pair"
        );
        let sent = answered.await.unwrap();
        assert!(sent.contains("AUTH") && sent.contains("SELECT"), "{sent}");
    }

    /// An answer that may quote the password, whole or cut short, is not shown.
    #[test]
    fn an_answer_quoting_the_password_is_not_shown() {
        assert!(quotes("ERR unknown command 'AUTH' 's3cret'", "s3cret"));
        assert!(quotes("ERR bad 'correct-hor'", "correct-horse-battery"));
        assert!(!quotes(
            "WRONGPASS invalid username-password pair",
            "correct-horse"
        ));
        // A short one found anywhere hides the answer.
        assert!(quotes("WRONGPASS invalid username-password pair", "in"));
        assert!(!quotes("WRONGPASS", ""));
    }

    /// A connection closed before Redis says a word (a TLS port spoken to in the clear) is said
    /// to be perhaps that.
    #[tokio::test]
    async fn a_connection_closed_before_a_word_hints_at_tls() {
        let target = RedisLimits::parse("redis://cache").unwrap().target;
        let (client, server) = tokio::io::duplex(4096);
        drop(server);
        let (read, write) = tokio::io::split(client);
        let Err(e) = Connection::over(read, write, &target).await else {
            panic!("nothing answered");
        };
        assert!(e.contains("its URL is rediss://"), "{e}");
    }

    /// An attempt whose task ended without telling (its runtime shut down) does not hold the
    /// store: the next request makes another.
    #[tokio::test]
    async fn an_attempt_that_never_told_is_made_again() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let counter =
            RedisCounter::new(RedisLimits::parse(&format!("redis://127.0.0.1:{port}")).unwrap());
        let now = tokio::time::Instant::now();
        let long_ago = now.checked_sub(Duration::from_secs(60)).unwrap_or(now);
        let (tell, told) = watch::channel(None);
        let running = Arc::new(Attempts {
            tell,
            under_way: std::sync::atomic::AtomicUsize::new(1),
        });
        // Their tasks gone (a runtime shut down), or begun longer ago than they may take; waited
        // for, or telling an old failure.
        for (newest, attempts, why) in [
            (now, std::sync::Weak::new(), None),
            (long_ago, Arc::downgrade(&running), None),
            (now, std::sync::Weak::new(), Some("old".to_owned())),
            (long_ago, Arc::downgrade(&running), Some("old".to_owned())),
        ] {
            *lock(&counter.opening) = Attempt::Open(Under {
                began: newest,
                newest,
                told: told.clone(),
                outage: why.is_some(),
                why,
                attempts,
            });
            let Err(e) = counter.connection().await else {
                panic!("nothing listens");
            };
            assert!(e.starts_with("cannot connect"), "{e}");
        }
    }

    /// During an outage, the attempt made a second after one failed is not waited for: the
    /// request that makes it, and those that come while it goes on, are told at once why the
    /// last one failed, rather than each attempt costing them a timeout (here the second
    /// attempt meets a Redis that takes the connection and never answers, which the attempt
    /// waits out for five seconds).
    #[tokio::test]
    async fn an_attempt_after_a_failed_one_is_not_waited_for() {
        let double = redis_double(|n| if n == 0 { Meets::Close } else { Meets::Silence });
        let (counter, taken) = (double.counter(), &double.taken);
        let why = failed_once(&counter).await;
        let told = tokio::time::timeout(Duration::from_secs(2), counter.connection())
            .await
            .expect("told at once, not after the attempt");
        assert_eq!(told.err(), Some(why.clone()));
        for _ in 0..200 {
            if taken.load(Ordering::SeqCst) == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            taken.load(Ordering::SeqCst),
            2,
            "the second attempt was made"
        );
        assert!(matches!(&*lock(&counter.opening), Attempt::Open(..)));
        let meanwhile = tokio::time::timeout(Duration::from_secs(2), counter.connection())
            .await
            .expect("told at once while the attempt goes on");
        assert_eq!(meanwhile.err(), Some(why));
        assert_eq!(taken.load(Ordering::SeqCst), 2, "no attempt besides it");
    }

    /// During an outage, an attempt stuck in silence (a Redis that takes the connection and
    /// never answers) gets another beside it from a request a second later: a Redis that is back
    /// is found then, not when the stuck one gives up five seconds on; and that failure, when it
    /// comes, undoes nothing.
    #[tokio::test]
    async fn an_attempt_stuck_in_an_outage_gets_another_beside_it() {
        let double = redis_double(|n| match n {
            0 => Meets::Close,
            1 => Meets::Silence,
            _ => Meets::Answer,
        });
        let counter = double.counter();
        let closed = failed_once(&counter).await;
        // The second attempt, made now, meets silence.
        assert_eq!(counter.connection().await.err(), Some(closed.clone()));
        let stuck = tokio::time::Instant::now();
        tokio::time::sleep(RETRY_AFTER / 2).await;
        assert_eq!(counter.connection().await.err(), Some(closed.clone()));
        assert_eq!(double.taken.load(Ordering::SeqCst), 2, "none beside it yet");
        tokio::time::sleep(RETRY_AFTER / 2).await;
        // A second on, this request makes a third beside it, and is told at once.
        assert_eq!(counter.connection().await.err(), Some(closed));
        let waited = tokio::time::Instant::now();
        while !matches!(&*lock(&counter.opening), Attempt::None) {
            assert!(
                waited.elapsed() < Duration::from_secs(2),
                "the third connects"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            stuck.elapsed() < OPEN_AT_LEAST - Duration::from_secs(1),
            "well before the stuck attempt gives up"
        );
        counter.ping().await.unwrap();
        assert_eq!(double.taken.load(Ordering::SeqCst), 3);
        double.until_hung_up(1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(matches!(&*lock(&counter.opening), Attempt::None));
        counter.ping().await.unwrap();
        assert_eq!(
            double.taken.load(Ordering::SeqCst),
            3,
            "the connection made is kept"
        );
    }

    /// A connection gone silent starts an outage: the attempt after it, which the next request
    /// waits for, gets another beside it a second later, as after a failed attempt.
    #[tokio::test]
    async fn an_attempt_after_a_connection_went_silent_gets_another_beside_it() {
        let double = redis_double(|n| match n {
            0 => Meets::Hush,
            1 => Meets::Silence,
            _ => Meets::Answer,
        });
        let counter = double.counter();
        counter.connection().await.unwrap();
        assert!(counter.command(vec![b"PING".to_vec()]).await.is_err());
        assert_eq!(counter.state.load(Ordering::Relaxed), UNREACHABLE);
        // The connection was given up; the request after it waits for the next, stuck.
        let waited = tokio::time::timeout(Duration::from_millis(100), counter.connection()).await;
        assert!(waited.is_err(), "the second connection is silent");
        let stuck = tokio::time::Instant::now();
        tokio::time::sleep(RETRY_AFTER).await;
        let Err(why) = counter.connection().await else {
            panic!("the second attempt is stuck");
        };
        assert!(why.starts_with("no connection yet"), "{why}");
        while !matches!(&*lock(&counter.opening), Attempt::None) {
            assert!(
                stuck.elapsed() < OPEN_AT_LEAST - Duration::from_secs(1),
                "connected beside the stuck attempt, well before it gives up"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        counter.ping().await.unwrap();
        assert_eq!(double.taken.load(Ordering::SeqCst), 3);
    }

    /// An attempt that fails beside one still under way does not end the outage's attempts:
    /// requests are told what it met, and the one under way, when it connects, serves them.
    #[tokio::test]
    async fn an_attempt_failing_beside_one_under_way_leaves_it_to_connect() {
        let double = redis_double(|n| match n {
            0 => Meets::Close,
            1 => Meets::AnswerAfter(Duration::from_millis(4000)),
            _ => Meets::Refuse,
        });
        let counter = double.counter();
        let closed = failed_once(&counter).await;
        // The second attempt, slow to answer.
        assert_eq!(counter.connection().await.err(), Some(closed.clone()));
        tokio::time::sleep(RETRY_AFTER).await;
        // The third, beside it, is refused.
        assert_eq!(counter.connection().await.err(), Some(closed));
        double.until_taken(3).await;
        let refused = loop {
            match counter.connection().await {
                Err(why) if why.contains("busy") => break why,
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                Ok(_) => panic!("the second attempt answers later"),
            }
        };
        assert!(
            matches!(&*lock(&counter.opening), Attempt::Open(under) if under.why.as_deref() == Some(&*refused)),
            "still under way, telling what the third met"
        );
        let waited = tokio::time::Instant::now();
        while !matches!(&*lock(&counter.opening), Attempt::None) {
            assert!(
                waited.elapsed() < Duration::from_secs(5),
                "the second connects"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        counter.ping().await.unwrap();
        // Those refused beside it, one a second while this test asked, and no more after it.
        let made = double.taken.load(Ordering::SeqCst);
        assert!((3..=1 + AT_ONCE).contains(&made), "{made} connections");
        counter.ping().await.unwrap();
        assert_eq!(double.taken.load(Ordering::SeqCst), made);
    }

    /// However long an outage, at most [`AT_ONCE`] attempts are under way, a second apart.
    #[tokio::test]
    async fn at_most_five_attempts_are_under_way() {
        let double = redis_double(|n| if n == 0 { Meets::Close } else { Meets::Silence });
        // Attempts bounded by eight seconds: the first gives up well after the fifth began.
        let timeout = OPEN_AT_LEAST + Duration::from_secs(3);
        let counter = RedisCounter::new(
            RedisLimits::parse(&double.address)
                .unwrap()
                .timeout(timeout),
        );
        assert!(counter.connection().await.is_err());
        // A request each quarter second until the first attempt made might give up (a second
        // after the failure, and its bound), none waiting.
        let failed = tokio::time::Instant::now();
        let under_way = || match &*lock(&counter.opening) {
            Attempt::Open(under) => under
                .attempts
                .upgrade()
                .map_or(0, |a| a.under_way.load(Ordering::Relaxed)),
            _ => 0,
        };
        let mut most = 0;
        while failed.elapsed() < RETRY_AFTER + timeout - Duration::from_millis(1500) {
            tokio::time::sleep(RETRY_AFTER / 4).await;
            let asked = tokio::time::Instant::now();
            assert!(counter.connection().await.is_err());
            assert!(asked.elapsed() < Duration::from_millis(200), "told at once");
            most = most.max(under_way());
        }
        assert_eq!(most, AT_ONCE);
        assert_eq!(double.taken.load(Ordering::SeqCst), 1 + AT_ONCE);
    }

    /// A failure long past (nothing asked Redis since; it may well be back) does not answer for
    /// the next request: its attempt is waited for, as a first one is.
    #[tokio::test]
    async fn a_failure_long_past_is_not_told_again() {
        let (address, taken) = tiny_redis();
        let counter = RedisCounter::new(RedisLimits::parse(&address).unwrap());
        let now = tokio::time::Instant::now();
        let long_ago = now.checked_sub(Duration::from_secs(60)).unwrap_or(now);
        *lock(&counter.opening) = Attempt::Failed(long_ago, "refused a minute ago".to_owned());
        counter.ping().await.unwrap();
        assert_eq!(taken.load(Ordering::SeqCst), 1);
    }

    /// A Redis of the fewest words on loopback: answers `SCRIPT LOAD` with a digest and `PING`
    /// with `PONG`, on each connection it takes; its address, and how many it has taken.
    fn tiny_redis() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let double = redis_double(|_| Meets::Answer);
        (double.address, double.taken)
    }

    /// What a connection to [`redis_double`] meets.
    enum Meets {
        /// Closed at once, as by a Redis refusing.
        Close,
        /// Taken and never answered, as behind a firewall that drops the replies.
        Silence,
        /// The answers of [`tiny_redis`].
        Answer,
        /// The same, after a wait.
        AnswerAfter(Duration),
        /// Every command answered `-ERR busy`.
        Refuse,
        /// The script loaded, as a Redis does when connected to; then silence, as when it went
        /// away without a word.
        Hush,
    }

    /// A [`redis_double`] on loopback.
    struct Double {
        address: String,
        /// How many connections it has taken.
        taken: Arc<std::sync::atomic::AtomicUsize>,
        /// How many of those it kept silent the client has closed.
        hung_up: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Double {
        /// A store counting in it, waiting 100 ms for an answer.
        fn counter(&self) -> RedisCounter {
            RedisCounter::new(
                RedisLimits::parse(&self.address)
                    .unwrap()
                    .timeout(Duration::from_millis(100)),
            )
        }

        async fn until_taken(&self, n: usize) {
            until(&self.taken, n).await;
        }

        async fn until_hung_up(&self, n: usize) {
            until(&self.hung_up, n).await;
        }
    }

    /// The first attempt of `counter`, which its double closes at once: why it failed, told
    /// once the second after it is past.
    async fn failed_once(counter: &RedisCounter) -> String {
        let Err(closed) = counter.connection().await else {
            panic!("the first connection is closed");
        };
        tokio::time::sleep(RETRY_AFTER).await;
        closed
    }

    /// Waits, up to ten seconds, for `count` to reach `n`.
    async fn until(count: &std::sync::atomic::AtomicUsize, n: usize) {
        for _ in 0..1000 {
            if count.load(Ordering::SeqCst) >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{} of {n} after ten seconds", count.load(Ordering::SeqCst));
    }

    /// [`tiny_redis`], its connections treated by their number (from 0) as `how` says.
    fn redis_double(how: fn(usize) -> Meets) -> Double {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("redis://{}", listener.local_addr().unwrap());
        let taken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let hung_up = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (counted, hanging) = (Arc::clone(&taken), Arc::clone(&hung_up));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let how = how(counted.fetch_add(1, Ordering::SeqCst));
                let hush = matches!(how, Meets::Hush);
                let (wait, answer_all) = match how {
                    Meets::Close => continue,
                    Meets::Silence => {
                        let hanging = Arc::clone(&hanging);
                        std::thread::spawn(move || {
                            let mut chunk = [0u8; 4096];
                            while matches!(stream.read(&mut chunk), Ok(n) if n > 0) {}
                            hanging.fetch_add(1, Ordering::SeqCst);
                        });
                        continue;
                    }
                    Meets::Answer | Meets::Hush => (Duration::ZERO, None),
                    Meets::AnswerAfter(wait) => (wait, None),
                    Meets::Refuse => (Duration::ZERO, Some(&b"-ERR busy\r\n"[..])),
                };
                std::thread::spawn(move || {
                    std::thread::sleep(wait);
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        while let Ok(Some((Reply::Array(command), used))) = parse(&buf) {
                            buf.drain(..used);
                            let answer: &[u8] = match command.first() {
                                _ if let Some(all) = answer_all => all,
                                Some(Reply::Bulk(Some(name))) if name == b"SCRIPT" => {
                                    b"$40\r\n0123456789012345678901234567890123456789\r\n"
                                }
                                _ if hush => b"",
                                _ => b"+PONG\r\n",
                            };
                            if stream.write_all(answer).is_err() {
                                return;
                            }
                        }
                        match stream.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                });
            }
        });
        Double {
            address,
            taken,
            hung_up,
        }
    }

    /// A connection whose writer went with the runtime it was opened on (a store shared by two
    /// runtimes, one of them shut down) is marked closed by the command that finds it so: the
    /// next command opens another, rather than every command failing on it.
    #[test]
    fn a_connection_whose_writer_is_gone_is_opened_again() {
        let (address, taken) = tiny_redis();
        let counter = RedisCounter::new(RedisLimits::parse(&address).unwrap());
        let first = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        first.block_on(counter.ping()).unwrap();
        // Its writer and reader ran on `first`, and end with it.
        drop(first);
        let second = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        second.block_on(async {
            assert_eq!(
                counter.ping().await,
                Err("the connection closed".to_owned())
            );
            counter.ping().await.unwrap();
            counter.ping().await.unwrap();
        });
        assert_eq!(taken.load(Ordering::SeqCst), 2);
    }

    /// A command whose answer is dropped unsent (its reader gone without failing it) marks the
    /// connection closed.
    #[tokio::test]
    async fn a_connection_whose_reader_is_gone_is_marked_closed() {
        let (commands, mut sent) = mpsc::channel::<(Vec<u8>, Answer)>(4);
        tokio::spawn(async move {
            // Taken, and dropped without an answer.
            while let Some((_, answer)) = sent.recv().await {
                drop(answer);
            }
        });
        let conn = Connection {
            commands,
            alive: Arc::new(std::sync::atomic::AtomicBool::new(true)),
            closer: Arc::new(Closer(Arc::new(tokio::sync::Notify::new()))),
            heard: Arc::default(),
            script: String::new(),
        };
        assert_eq!(
            conn.send(vec![b"PING".to_vec()]).await,
            Err("the connection closed".to_owned())
        );
        assert!(!conn.is_alive());
    }
}
