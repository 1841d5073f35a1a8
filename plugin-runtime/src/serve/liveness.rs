//! Whether a connection is still of use: what its requests and socket have done, flagged by the
//! request path without a clock, and the watchdog that closes it when a deadline has passed.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;

/// What a connection has done since its watchdog last looked: flags, so that the request path
/// reads no clock (the watchdog reads it, a few times a timeout).
pub(super) struct Activity {
    /// A byte was read or written, or an answer moved on.
    active: AtomicBool,
    /// An answer moved on (its handler finished, or its body was sent): the head deadline
    /// starts again. Bytes written need not say so: they are only written while `sending`.
    answered: AtomicBool,
    /// Requests whose handlers are running: neither deadline applies.
    handling: AtomicUsize,
    /// Answers whose bodies are still being sent: the connection is not waiting for a head,
    /// but a body that sends nothing for the idle timeout still has its connection closed.
    sending: AtomicUsize,
    /// Request bodies a handler is waiting on (the client has not sent the next bytes yet):
    /// while every running handler is, the idle timeout applies, so a client that announces
    /// a body and sends none of it does not hold its connection for as long as the handler
    /// would wait.
    receiving: AtomicUsize,
}

impl Activity {
    pub(super) fn new() -> Self {
        Activity {
            active: AtomicBool::new(false),
            answered: AtomicBool::new(false),
            handling: AtomicUsize::new(0),
            sending: AtomicUsize::new(0),
            receiving: AtomicUsize::new(0),
        }
    }

    /// Bytes were read or written.
    fn io(&self) {
        self.active.store(true, Ordering::Relaxed);
    }

    /// An answer moved on.
    fn answered(&self) {
        self.active.store(true, Ordering::Relaxed);
        self.answered.store(true, Ordering::Relaxed);
    }
}

/// One request, from its head to the last of its answer: counted as handling until its
/// response is given to [`Answering::carried_by`], and as sending until dropped with that
/// response's body (sent, or its connection closed).
pub(super) struct Answering {
    activity: Arc<Activity>,
    handling: bool,
}

impl Answering {
    pub(super) fn new(activity: &Arc<Activity>) -> Self {
        activity.handling.fetch_add(1, Ordering::Relaxed);
        activity.sending.fetch_add(1, Ordering::Relaxed);
        Answering {
            activity: Arc::clone(activity),
            handling: true,
        }
    }

    /// The handler is done with `response`, whose body now carries this account: no
    /// allocation, the type wraps the body in place.
    pub(super) fn carried_by<B>(
        mut self,
        response: http::Response<B>,
    ) -> http::Response<Sending<B>> {
        self.handled();
        response.map(|body| Sending {
            body,
            _answering: self,
        })
    }

    fn handled(&mut self) {
        if std::mem::take(&mut self.handling) {
            self.activity.handling.fetch_sub(1, Ordering::Relaxed);
            self.activity.answered();
        }
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.handled();
        self.activity.sending.fetch_sub(1, Ordering::Relaxed);
        self.activity.answered();
    }
}

/// An answer's body, holding its [`Answering`] until hyper drops it.
pub(super) struct Sending<B> {
    body: B,
    _answering: Answering,
}

impl<B: http_body::Body + Unpin> http_body::Body for Sending<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A request's body as its handler reads it, counted in [`Activity`] as awaited while the
/// client has not sent what the handler asks for.
pub(super) struct Receiving<B> {
    body: B,
    /// `None` for a request without a body (most `GET`s): nothing to wait for, nothing shared.
    activity: Option<Arc<Activity>>,
    awaited: bool,
}

impl<B: http_body::Body> Receiving<B> {
    pub(super) fn new(body: B, activity: &Arc<Activity>) -> Self {
        Receiving {
            activity: (!body.is_end_stream()).then(|| Arc::clone(activity)),
            body,
            awaited: false,
        }
    }
}

impl<B> Receiving<B> {
    fn awaited(&mut self, awaited: bool) {
        let Some(activity) = &self.activity else {
            return;
        };
        if self.awaited != awaited {
            self.awaited = awaited;
            if awaited {
                activity.receiving.fetch_add(1, Ordering::Relaxed);
            } else {
                activity.receiving.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

impl<B> Drop for Receiving<B> {
    fn drop(&mut self) {
        self.awaited(false);
    }
}

impl<B: http_body::Body + Unpin> http_body::Body for Receiving<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        this.awaited(polled.is_pending());
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Where the server is in its life, as its connections' watchdogs are told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stage {
    Serving,
    /// Shutting down: a connection with nothing in flight is closed at once.
    Draining,
    /// The grace period is over: every connection is closed.
    Closing,
}

/// How many times a timeout the watchdog looks at its connection.
const LOOKS_PER_TIMEOUT: u32 = 8;

/// Completes when the connection should be closed: it has had no request being handled (or
/// only handlers waiting for their request's body) and no byte either way for `idle`, or (with `head`) it has been waiting for a
/// request head for `head` since `opened` or since its last answer was sent, however many bytes
/// of that head arrived. It wakes eight times per the shorter timeout and reads the flags the
/// request path set, so a deadline is noticed up to a quarter of the shorter timeout late (a
/// look to see the last activity, and one to see the deadline passed). Told of a shutdown by
/// `stage`, it completes at once when nothing is in flight, and when the grace period is over.
pub(super) async fn watchdog(
    activity: &Activity,
    opened: tokio::time::Instant,
    idle: Duration,
    head: Option<Duration>,
    stage: &mut tokio::sync::watch::Receiver<Stage>,
) {
    let step =
        (head.map_or(idle, |h| h.min(idle)) / LOOKS_PER_TIMEOUT).max(Duration::from_millis(1));
    let (mut quiet_since, mut waiting_since) = (opened, opened);
    loop {
        tokio::select! {
            () = tokio::time::sleep(step) => {}
            changed = stage.changed() => if changed.is_err() {
                // The server is gone.
                return;
            },
        }
        match *stage.borrow() {
            Stage::Serving => {}
            Stage::Closing => return,
            Stage::Draining => {
                if activity.handling.load(Ordering::Relaxed) == 0
                    && activity.sending.load(Ordering::Relaxed) == 0
                {
                    return;
                }
            }
        }
        let now = tokio::time::Instant::now();
        if activity.active.swap(false, Ordering::Relaxed) {
            quiet_since = now;
        }
        if activity.answered.swap(false, Ordering::Relaxed) {
            waiting_since = now;
        }
        let handling = activity.handling.load(Ordering::Relaxed);
        if handling > 0 {
            waiting_since = now;
            if activity.receiving.load(Ordering::Relaxed) < handling {
                // A handler is at work: neither deadline applies until it is done.
                quiet_since = now;
                continue;
            }
            // Every running handler waits for its client to send more of its body: the idle
            // timeout applies, the bytes of a body arriving being activity.
            if now.duration_since(quiet_since) >= idle {
                return;
            }
            continue;
        }
        if activity.sending.load(Ordering::Relaxed) > 0 {
            // A body is being sent: not waiting for a head (the idle timeout still applies).
            waiting_since = now;
        }
        let head_passed = head.is_some_and(|h| now.duration_since(waiting_since) >= h);
        if head_passed || now.duration_since(quiet_since) >= idle {
            return;
        }
    }
}

/// A connection's socket, noting each byte read or written in its [`Activity`].
pub(super) struct Watched {
    pub(super) inner: TcpStream,
    pub(super) activity: Arc<Activity>,
}

impl tokio::io::AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.io();
        }
        polled
    }
}

impl tokio::io::AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.activity.io();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, std::task::Poll::Ready(Ok(n)) if n > 0) {
            self.activity.io();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
