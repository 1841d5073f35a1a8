//! Whether a connection is still of use: what its requests and socket have done, flagged by the
//! request path without a clock, and the watchdog that closes it when a deadline has passed.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// What a connection has done since its watchdog last looked: flags, so that the request path
/// reads no clock (the watchdog reads it, a few times a timeout).
pub(super) struct Activity {
    /// A byte was read or written, or an answer moved on.
    active: AtomicBool,
    /// An answer moved on (its handler finished, or hyper took the last of its body): the
    /// head deadline starts again.
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
    /// Bytes of a request body reached its handler.
    received: AtomicBool,
    /// Bytes of answers hyper has taken and not yet written (over HTTP/2 exactly, counting
    /// the `DATA` frames written; over HTTP/1.1 about, a write paying for all it writes,
    /// never below zero). While some are owed, an answer is going
    /// out even after hyper took the last of its body, so the connection is not waiting for
    /// a head; what a client makes the server write by itself (pings' answers) cannot make
    /// any owed.
    owed: AtomicUsize,
    /// An answer moved: hyper took a frame of its body, or wrote some of what was owed.
    progressed: AtomicBool,
    /// The last write waited for the client to read.
    pub(super) blocked: AtomicBool,
}

impl Activity {
    pub(super) fn new() -> Self {
        Activity {
            active: AtomicBool::new(false),
            answered: AtomicBool::new(false),
            handling: AtomicUsize::new(0),
            sending: AtomicUsize::new(0),
            receiving: AtomicUsize::new(0),
            received: AtomicBool::new(false),
            owed: AtomicUsize::new(0),
            progressed: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
        }
    }

    /// Bytes were read or written.
    pub(super) fn io(&self) {
        self.active.store(true, Ordering::Relaxed);
    }

    /// An answer moved on.
    fn answered(&self) {
        self.active.store(true, Ordering::Relaxed);
        self.answered.store(true, Ordering::Relaxed);
    }

    /// `n` bytes were written (HTTP/1.1, where all of them are answers): they pay for what
    /// answers owe.
    pub(super) fn wrote(&self, n: usize) {
        self.io();
        if self.owed.load(Ordering::Relaxed) > 0 {
            self.paid(n);
        }
    }

    /// `n` bytes of answers' data were written (HTTP/2, where they are told apart).
    pub(super) fn paid(&self, n: usize) {
        let _ = self
            .owed
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |owed| {
                Some(owed.saturating_sub(n))
            });
        self.progressed.store(true, Ordering::Relaxed);
    }

    /// Hyper took a frame of an answer's body, `n` bytes of data.
    fn handed(&self, n: usize) {
        if n > 0 {
            self.owed.fetch_add(n, Ordering::Relaxed);
        }
        self.progressed.store(true, Ordering::Relaxed);
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
            answering: self,
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
    answering: Answering,
}

impl<B: http_body::Body + Unpin> http_body::Body for Sending<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(frame))) = &polled {
            let n = frame.data_ref().map_or(0, bytes::Buf::remaining);
            this.answering.activity.handed(n);
        }
        polled
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
        if let (std::task::Poll::Ready(Some(Ok(_))), Some(activity)) = (&polled, &this.activity) {
            activity.received.store(true, Ordering::Relaxed);
        }
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
    /// Shutting down: an HTTP/1.1 connection that has answered nothing and handles nothing
    /// is closed at once (hyper's graceful shutdown closes the others once their answers are
    /// written).
    Draining,
    /// The grace period is over: every connection is closed.
    Closing,
}

/// How many times a timeout the watchdog looks at its connection.
const LOOKS_PER_TIMEOUT: u32 = 8;

/// Completes when the connection should be closed:
///
/// - it has had no request being handled and no byte either way for `idle`;
/// - an answer going out has not moved for `idle` (its client reads none of it), or every
///   handler it runs waits for more of its request body and none has come for `idle`:
///   whatever else the client sends (pings) does not count;
/// - (with `head`) it has been waiting for a request head for `head` since `opened` or since
///   its last answer went out, however many bytes of that head (or pings) arrived;
/// - the server is shutting down (`stage`): at once for a connection that has answered
///   nothing and is handling nothing over HTTP/1.1 (`http1`; hyper closes the others once
///   their answers are written, and HTTP/2 connections by `GOAWAY`), and for every connection
///   when the grace period is over.
///
/// It wakes eight times per the shorter timeout and reads the flags the request path set, so a
/// deadline is noticed up to a quarter of the shorter timeout late (a look to see the last
/// activity, and one to see the deadline passed).
pub(super) async fn watchdog(
    activity: &Activity,
    opened: tokio::time::Instant,
    idle: Duration,
    head: Option<Duration>,
    http1: bool,
    stage: &mut tokio::sync::watch::Receiver<Stage>,
) {
    let step =
        (head.map_or(idle, |h| h.min(idle)) / LOOKS_PER_TIMEOUT).max(Duration::from_millis(1));
    let mut quiet_since = opened;
    let (mut waiting_since, mut body_since, mut moved_since) = (opened, opened, opened);
    let mut answered_once = false;
    loop {
        tokio::select! {
            () = tokio::time::sleep(step) => {}
            changed = stage.changed() => if changed.is_err() {
                // The server is gone.
                return;
            },
        }
        let now = tokio::time::Instant::now();
        if activity.active.swap(false, Ordering::Relaxed) {
            quiet_since = now;
        }
        if activity.answered.swap(false, Ordering::Relaxed) {
            (waiting_since, moved_since, answered_once) = (now, now, true);
        }
        if activity.progressed.swap(false, Ordering::Relaxed) {
            moved_since = now;
        }
        if activity.received.swap(false, Ordering::Relaxed) {
            body_since = now;
        }
        let handling = activity.handling.load(Ordering::Relaxed);
        match *stage.borrow() {
            Stage::Serving => {}
            Stage::Closing => return,
            Stage::Draining => {
                if http1 && !answered_once && handling == 0 {
                    return;
                }
            }
        }
        // An answer is going out: its body not all taken by hyper (`sending` counts the
        // requests being handled too), or some of it not yet written.
        let going_out = activity.sending.load(Ordering::Relaxed) > handling
            || activity.owed.load(Ordering::Relaxed) > 0
            // Over HTTP/1.1 a write that waits for the client is an answer (what is owed is
            // paid by the head's bytes too, so it runs out before the body's last bytes).
            || (http1 && activity.blocked.load(Ordering::Relaxed));
        if handling > 0 {
            waiting_since = now;
            if activity.receiving.load(Ordering::Relaxed) < handling {
                // A handler is at work: neither deadline applies until it is done.
                (quiet_since, body_since, moved_since) = (now, now, now);
                continue;
            }
            // Every running handler waits for its client to send more of its body, and any
            // answer going out waits for its client to read: timed by their own progress, not
            // by other bytes (pings).
            let since = if going_out {
                body_since.max(moved_since)
            } else {
                body_since
            };
            if now.duration_since(since) >= idle {
                return;
            }
            continue;
        }
        if going_out {
            // Not waiting for a head; an answer that has not moved for the idle timeout is
            // not read (unless it is reading its request's body, which is still arriving).
            waiting_since = now;
            if now.duration_since(moved_since.max(body_since)) >= idle {
                return;
            }
            continue;
        }
        (body_since, moved_since) = (now, now);
        let head_passed = head.is_some_and(|h| now.duration_since(waiting_since) >= h);
        if head_passed || now.duration_since(quiet_since) >= idle {
            return;
        }
    }
}
