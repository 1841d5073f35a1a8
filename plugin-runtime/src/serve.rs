//! Floor 7, serving: [`serve`] runs an assembled router on a TCP listener, hardened against
//! clients that hold connections without using them. `axum::serve` works too; this is what a
//! server facing the internet should use.
//!
//! - **A deadline for every request head.** A client must send a whole request head within
//!   `head_timeout` (30 s by default) of the connection opening or of its previous response.
//!   One deadline covers a head trickled a byte at a time and a connection that opens and sends
//!   nothing: each is closed when it runs out. Over HTTP/2 the same deadline closes a
//!   connection with no request for that long, whatever frames (pings, a header block sent a
//!   byte at a time) it sends meanwhile. A connection's deadlines are kept by one
//!   watchdog that looks eight times per the shorter timeout (a deadline is noticed up to a
//!   quarter of it late), so answering a request arms no timer and reads no clock.
//! - **An idle timeout** (30 s by default): a connection with no request in flight that sends
//!   and receives nothing for `idle_timeout` is closed; so is one whose handlers all wait for
//!   request bodies that do not come, or whose answer going out does not move (its client
//!   reads nothing, or a streamed answer sends nothing: keep a stream's keep-alive comments
//!   more frequent than this) for that long, over HTTP/2 as over HTTP/1.1 (the head
//!   deadline also applies while waiting for the next request, so the shorter one wins).
//! - **A cap on a request head** (16 KiB by default, at least 8 KiB): a larger one is answered
//!   `431` with the envelope (code `HEADERS_TOO_LARGE`, with a request id), and the connection
//!   is closed. A head over twice the cap is not even parsed: the HTTP layer answers a bare
//!   `431` and closes the connection (what else arrives is discarded while the close
//!   lingers), so a stalled connection holds at most twice the cap.
//! - **A cap on connections** (1,024 by default): past it, new connections wait in the
//!   operating system's queue until one closes.
//! - **A share of that cap per client address** (a quarter of it by default, at least 1): an
//!   address that holds its share has each further connection closed as soon as it is
//!   accepted, so one client cannot fill the cap and keep everyone else waiting. Counted by the
//!   connection's peer address; the proxies given to `with_trusted_proxies` are exempt, since
//!   every client behind them shares their address.
//! - **A lingering close.** An HTTP/1.1 connection the HTTP layer closes after an answer stops
//!   sending at once, then reads and discards what still arrives until its client's end, two
//!   seconds with nothing, or 5 s in all. Closed with bytes unread (a request body answered
//!   `413` before it came, say), the kernel would reset it, and the client, still writing,
//!   would report a broken connection instead of the answer. A connection closed by a
//!   deadline, or when the shutdown's grace ends, is dropped at once; the deadlines still run
//!   while a close lingers.
//! - **Graceful shutdown** on SIGTERM or Ctrl-C (or a future of your own): stop accepting, let
//!   requests in flight finish for up to `shutdown_grace` (30 s by default), close connections
//!   with nothing in flight at once (idle ones once their last answer is written, and ones that
//!   have not sent a whole first request), close the rest when the grace period ends, then
//!   return.
//! - **HTTP/1.1, and with the `http2` feature (a default one) HTTP/2 over plain TCP** (h2c with
//!   prior knowledge), told apart by the first bytes.
//!
//! Handlers read the client's address with [`ClientAddr`]: the peer, or behind proxies given
//! to `with_trusted_proxies`, the first untrusted hop of `X-Forwarded-For` (never believed by
//! default). The peer itself is `axum::extract::ConnectInfo<SocketAddr>`.

use crate::request::{ApiError, ClientAddr, FrameworkCode, RequestId, TrustedProxies};
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

mod liveness;
mod per_address;
mod unnamed_proxy;
mod watched;
use liveness::{Activity, Answering, Receiving, Stage, watchdog};
use per_address::PerAddress;
use unnamed_proxy::UnnamedProxies;
use watched::Watched;

/// The longest head or idle timeout: a deadline computed from a longer one could overflow.
const LONGEST_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// What an HTTP/2 connection starts with (RFC 9113, section 3.4).
#[cfg(feature = "http2")]
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Serves `app` on `listener` until SIGTERM or Ctrl-C; `.await` it. Its settings are set with
/// the `with_*` methods before awaiting.
///
/// ```no_run
/// # async fn run(app: axum::Router) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// plugin_routes::serve(listener, app)
///     .with_head_timeout(std::time::Duration::from_secs(10))
///     .await
/// # }
/// ```
pub fn serve(listener: TcpListener, app: Router) -> Serve {
    Serve {
        listener,
        app,
        head_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(30),
        max_head_size: 16 * 1024,
        max_connections: 1024,
        max_connections_per_address: None,
        shutdown_grace: Duration::from_secs(30),
        proxies: TrustedProxies::none(),
        signal: None,
    }
}

/// A server being configured; see [`serve`].
#[must_use = "a server does nothing until it is awaited"]
pub struct Serve {
    listener: TcpListener,
    app: Router,
    head_timeout: Duration,
    idle_timeout: Duration,
    max_head_size: usize,
    max_connections: usize,
    /// `None`: a quarter of `max_connections`.
    max_connections_per_address: Option<usize>,
    shutdown_grace: Duration,
    proxies: TrustedProxies,
    signal: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl std::fmt::Debug for Serve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve")
            .field("head_timeout", &self.head_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_head_size", &self.max_head_size)
            .field("max_connections", &self.max_connections)
            .field(
                "max_connections_per_address",
                &self.max_connections_per_address,
            )
            .field("shutdown_grace", &self.shutdown_grace)
            .finish_non_exhaustive()
    }
}

impl Serve {
    /// How long a client has to send a whole request head, from the connection's start or its
    /// previous response (default 30 s; at most a year).
    pub fn with_head_timeout(mut self, timeout: Duration) -> Self {
        self.head_timeout = timeout.min(LONGEST_TIMEOUT);
        self
    }

    /// How long a connection with no request in flight may send and receive nothing before it
    /// is closed, and how long an answer going out (or a request body a handler waits for) may
    /// not move (default 30 s; at most a year). Keep it above the keep-alive interval of
    /// event streams (15 s by default), which is what moves a quiet stream.
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout.min(LONGEST_TIMEOUT);
        self
    }

    /// The largest request head accepted, in bytes (default 16 KiB; at least 8 KiB).
    pub fn with_max_head_size(mut self, bytes: usize) -> Self {
        self.max_head_size = bytes.max(8 * 1024);
        self
    }

    /// How many connections are served at once (default 1,024; at least 1).
    pub fn with_max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// How many of those connections one client address may hold at once (default a quarter of
    /// [`Serve::with_max_connections`], at least 1): past it, the address's new connections are
    /// closed as soon as they are accepted, while other addresses are still served. Counted by
    /// the peer address; trusted proxies are exempt.
    pub fn with_max_connections_per_address(mut self, connections: usize) -> Self {
        self.max_connections_per_address = Some(connections.max(1));
        self
    }

    /// How long requests in flight may run on after shutdown starts (default 30 s).
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// The proxies in front of the server: through them, [`ClientAddr`] follows
    /// `X-Forwarded-For` (default: none, so it is always the peer).
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.proxies = proxies;
        self
    }

    /// Shuts down when `signal` completes, instead of on SIGTERM or Ctrl-C.
    pub fn with_shutdown_signal(
        mut self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        self.signal = Some(Box::pin(signal));
        self
    }

    async fn run(self) -> std::io::Result<()> {
        let Serve {
            listener,
            app,
            head_timeout,
            idle_timeout,
            max_head_size,
            max_connections,
            max_connections_per_address,
            shutdown_grace,
            proxies,
            signal,
        } = self;
        let per_address = Arc::new(PerAddress::new(
            max_connections_per_address.unwrap_or((max_connections / 4).max(1)),
        ));
        let signal = signal.unwrap_or_else(|| Box::pin(terminate()));
        tokio::pin!(signal);
        let graceful = GracefulShutdown::new();
        // What each connection's watchdog is told of the shutdown.
        let (stage, staged) = tokio::sync::watch::channel(Stage::Serving);
        let permits = Arc::new(Semaphore::new(max_connections));
        let settings = Arc::new(Settings {
            head_timeout,
            idle_timeout,
            max_head_size,
            proxies,
            unnamed_proxies: UnnamedProxies::default(),
        });
        loop {
            let permit = tokio::select! {
                () = &mut signal => break,
                permit = Arc::clone(&permits).acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let (stream, peer) = tokio::select! {
                () = &mut signal => break,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: pause rather than spin.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let ip = peer.ip().to_canonical();
            let share = if settings.proxies.contains(ip) {
                None
            } else {
                match PerAddress::take(&per_address, ip) {
                    Some(share) => Some(share),
                    None => {
                        // Its share is full: closed at once, which frees the cap's place too.
                        tracing::debug!(%peer, "closed: the address holds its share of connections");
                        drop(stream);
                        continue;
                    }
                }
            };
            let _ = stream.set_nodelay(true);
            let app = app.clone();
            let settings = Arc::clone(&settings);
            let watcher = graceful.watcher();
            let stage = staged.clone();
            tokio::spawn(async move {
                let (_permit, _share) = (permit, share);
                serve_connection(stream, peer, app, settings, watcher, stage).await;
            });
        }
        drop(listener);
        tracing::info!(
            connections = graceful.count(),
            "shutting down: no new connections; requests in flight may finish"
        );
        // Connections with nothing in flight close at once (hyper's own graceful shutdown
        // does not close one that has not sent its first request yet).
        stage.send_replace(Stage::Draining);
        let finished = graceful.shutdown();
        tokio::pin!(finished);
        if tokio::time::timeout(shutdown_grace, &mut finished)
            .await
            .is_err()
        {
            tracing::warn!(
                grace_ms = shutdown_grace.as_millis(),
                "requests were still running when the grace period ended; closing them"
            );
            stage.send_replace(Stage::Closing);
            // Each closes when its task next runs, at once.
            let _ = tokio::time::timeout(Duration::from_secs(1), finished).await;
        }
        Ok(())
    }
}

impl IntoFuture for Serve {
    type Output = std::io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

struct Settings {
    head_timeout: Duration,
    idle_timeout: Duration,
    max_head_size: usize,
    proxies: TrustedProxies,
    /// The proxies not named in `proxies` that this server has warned of.
    unnamed_proxies: UnnamedProxies,
}

/// Which protocol a connection speaks, from its first bytes; `None` if it sent too little in
/// time, or closed.
#[cfg(feature = "http2")]
async fn sniff(stream: &TcpStream, deadline: tokio::time::Instant) -> Option<bool> {
    let mut buf = [0u8; 24];
    let mut pause = Duration::from_millis(5);
    loop {
        let n = tokio::time::timeout_at(deadline, stream.peek(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        if buf[..n] != H2_PREFACE[..n] {
            return Some(false);
        }
        if n == H2_PREFACE.len() {
            return Some(true);
        }
        // A prefix of the HTTP/2 preface so far: wait for more (peek does not wait for new
        // bytes once some are there), looking less often the longer it takes, so a client
        // that stops part-way costs a few wake-ups, not a hundred a second.
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    settings: Arc<Settings>,
    watcher: hyper_util::server::graceful::Watcher,
    mut stage: tokio::sync::watch::Receiver<Stage>,
) {
    // The first head's deadline runs from here, through the sniffing of the protocol, which
    // a connection sending nothing may not outlast the shorter timeout in.
    let opened = tokio::time::Instant::now();
    #[cfg(feature = "http2")]
    let sniffed = tokio::select! {
        // A connection whose first bytes are in is told apart even as the shutdown begins.
        biased;
        sniffed = sniff(
            &stream,
            opened + settings.head_timeout.min(settings.idle_timeout),
        ) => sniffed,
        // Shutting down: nothing of it is in flight.
        _ = stage.wait_for(|s| *s != Stage::Serving) => None,
    };
    #[cfg(feature = "http2")]
    let Some(h2) = sniffed else {
        return;
    };
    let activity = Arc::new(Activity::new());
    // The service shares the server's settings: nothing is copied per connection.
    let shared = Arc::clone(&settings);
    let counted = Arc::clone(&activity);
    // Whether this connection's first request is to be looked at for a proxy nobody named.
    let unchecked = AtomicBool::new(
        settings
            .unnamed_proxies
            .worth_looking_at(&settings.proxies, peer.ip()),
    );
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        if unchecked.load(Ordering::Relaxed) && unchecked.swap(false, Ordering::Relaxed) {
            shared
                .unnamed_proxies
                .look_at(&shared.proxies, peer.ip(), request.headers());
        }
        let (max_head, client) = (
            shared.max_head_size,
            shared.proxies.client(peer.ip(), request.headers()),
        );
        request.extensions_mut().insert(ConnectInfo(peer));
        // `ClientAddr` falls back to the peer: an extension (an allocation) only where a
        // trusted proxy named another client.
        if client != peer.ip() {
            request.extensions_mut().insert(ClientAddr(client));
        }
        let app = app.clone();
        let size = head_size(&request);
        let answering = Answering::new(&counted);
        let request = request.map(|body| Receiving::new(body, &counted));
        async move {
            let response = if size > max_head {
                head_too_large(&request, size, max_head)
            } else {
                match app.oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            };
            Ok::<_, Infallible>(answering.carried_by(response))
        }
    });
    #[cfg(not(feature = "http2"))]
    let h2 = false;
    let io = TokioIo::new(Watched::new(stream, &activity, h2));
    #[cfg(feature = "http2")]
    if h2 {
        // The head deadline holds over HTTP/2 too: a connection with no request for it is
        // closed, however many frames (pings, a header block a byte at a time) it sends.
        let idle = watchdog(
            &activity,
            opened,
            settings.idle_timeout,
            Some(settings.head_timeout),
            false,
            &mut stage,
        );
        let mut builder =
            hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
        builder
            .timer(hyper_util::rt::TokioTimer::new())
            .max_header_list_size(u32::try_from(settings.max_head_size * 2).unwrap_or(u32::MAX))
            // Pings (to find a peer that went away while a request runs) are activity, but
            // they cannot keep a connection without requests open: the head deadline does not
            // count them. Sent no sooner than the idle timeout and its watchdog's lateness,
            // they mostly come while a request runs.
            .keep_alive_interval(Some(settings.idle_timeout + settings.idle_timeout / 2))
            .keep_alive_timeout(settings.head_timeout);
        let connection = watcher.watch(builder.serve_connection(io, service));
        let result = tokio::select! {
            // The connection first: what it has read is handled before the watchdog looks.
            biased;
            r = connection => r,
            () = idle => Ok(()),
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, %peer, "connection ended with an error");
        }
        return;
    }
    // The head deadline is the watchdog's, not hyper's: hyper's header timer is a timer
    // allocated, armed and disarmed for every request.
    let watchdog = watchdog(
        &activity,
        opened,
        settings.idle_timeout,
        Some(settings.head_timeout),
        true,
        &mut stage,
    );
    let result = {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .header_read_timeout(None)
            .max_header_size(settings.max_head_size * 2)
            .max_buf_size(settings.max_head_size * 4);
        let connection = watcher.watch(builder.serve_connection(io, service));
        tokio::select! {
            // The connection first: a head it has read is being handled before the watchdog
            // looks.
            biased;
            r = connection => r,
            () = watchdog => Ok(()),
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
}

/// The size of a request's head as sent over HTTP/1.1: its line and its headers.
fn head_size<B>(request: &hyper::Request<B>) -> usize {
    let line = request.method().as_str().len()
        + request
            .uri()
            .path_and_query()
            .map_or(1, |p| p.as_str().len())
        + " HTTP/1.1\r\n".len()
        + 1;
    let headers: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + ": \r\n".len())
        .sum();
    line + headers
}

/// `431` in the envelope; the connection is closed after it.
fn head_too_large<B>(
    request: &hyper::Request<B>,
    size: usize,
    limit: usize,
) -> axum::response::Response {
    let id = RequestId::from_headers(request.headers());
    let mut response = ApiError::framework(
        FrameworkCode::HeadersTooLarge,
        format!("the request head is {size} bytes; this server accepts at most {limit}"),
    )
    .into_response(&id);
    if request.version() < http::Version::HTTP_2 {
        response.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    response
}

/// SIGTERM (what a deploy sends) or Ctrl-C.
async fn terminate() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
