//! A connection's socket as the watchdog sees it: each byte read or written noted in the
//! connection's [`Activity`], and over HTTP/2 what the server writes read as frames, so that
//! only answers' data counts as answers moving; and closing an HTTP/1.1 connection lingers, so
//! that a client still sending reads its answer rather than a reset.

use super::liveness::Activity;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Poll, ready};
use std::time::Duration;
use tokio::net::TcpStream;

/// How long an HTTP/1.1 connection being closed is read and discarded at most, waiting for its
/// client's end, before it is closed regardless.
pub(super) const LINGER: Duration = Duration::from_secs(5);

/// How long a lingering close waits for more bytes, or the client's end, once none arrive.
pub(super) const LINGER_QUIET: Duration = Duration::from_secs(2);

/// A connection's socket, noting each byte read or written in its [`Activity`].
pub(super) struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
    /// Over HTTP/2, what is written read as frames: only the bytes of `DATA` frames are
    /// answers moving, not the server's answers to pings or its window updates.
    frames: Option<Frames>,
    /// The client's end was read, or a close has lingered: nothing more to wait for.
    drained: bool,
    /// Set while a close lingers.
    linger: Option<Linger>,
}

/// A close lingering: when it stops waiting for the client's end.
struct Linger {
    /// [`LINGER`] after it began.
    ends: tokio::time::Instant,
    /// When the last bytes arrived (or it began): it stops [`LINGER_QUIET`] after.
    quiet_from: tokio::time::Instant,
    /// Wakes it at the sooner of the two.
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl Watched {
    pub(super) fn new(inner: TcpStream, activity: &Arc<Activity>, http2: bool) -> Self {
        Watched {
            inner,
            activity: Arc::clone(activity),
            frames: http2.then(Frames::default),
            drained: false,
            linger: None,
        }
    }

    /// `n` bytes of `bufs`, in order, were written.
    fn wrote<'a>(&mut self, bufs: impl IntoIterator<Item = &'a [u8]>, mut n: usize) {
        let Some(frames) = &mut self.frames else {
            self.activity.wrote(n);
            return;
        };
        self.activity.io();
        let mut data = 0;
        for buf in bufs {
            let part = &buf[..n.min(buf.len())];
            data += frames.data_in(part);
            n -= part.len();
            if n == 0 {
                break;
            }
        }
        if data > 0 {
            self.activity.paid(data);
        }
    }
}

/// Where the server's HTTP/2 frames are in what it writes: a frame is a 9-byte header (its
/// payload's length in the first three bytes, its type in the fourth; `DATA` is 0) and its
/// payload.
#[derive(Default)]
struct Frames {
    header: [u8; 9],
    /// Bytes of the current frame's header written so far.
    filled: usize,
    /// Bytes of the current frame's payload still to come.
    left: usize,
    /// The current frame is `DATA`.
    data: bool,
}

impl Frames {
    /// Reads `bytes`, the next ones written; how many of them are `DATA` payload.
    fn data_in(&mut self, mut bytes: &[u8]) -> usize {
        let mut data = 0;
        while !bytes.is_empty() {
            if self.left > 0 {
                let n = self.left.min(bytes.len());
                if self.data {
                    data += n;
                }
                self.left -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (9 - self.filled).min(bytes.len());
            self.header[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
            if self.filled == 9 {
                self.filled = 0;
                let [a, b, c, kind, ..] = self.header;
                self.left = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
                self.data = kind == 0;
            }
        }
        data
    }
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
        } else if matches!(polled, Poll::Ready(Ok(()))) && buf.remaining() > 0 {
            self.drained = true;
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
        self.activity
            .blocked
            .store(polled.is_pending(), Ordering::Relaxed);
        if let std::task::Poll::Ready(Ok(n @ 1..)) = polled {
            self.wrote([buf], n);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.activity
            .blocked
            .store(polled.is_pending(), Ordering::Relaxed);
        if let std::task::Poll::Ready(Ok(n @ 1..)) = polled {
            self.wrote(bufs.iter().map(|b| &**b), n);
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

    /// Over HTTP/1.1, a lingering close. hyper closes a connection whose request body it did not
    /// read (an answer such as `413` sent before the body came); the kernel answers a close
    /// with unread bytes by a reset, and the client, still writing, then reports a broken
    /// connection instead of reading the answer it was sent. So the sending side is shut down
    /// (the client reads the answer and its end) and what still arrives is read and discarded,
    /// until the client's end, a pause of [`LINGER_QUIET`], or [`LINGER`] in all. A connection
    /// whose client's end was already read is closed at once.
    fn poll_shutdown(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if this.frames.is_some() || this.drained {
            return Pin::new(&mut this.inner).poll_shutdown(cx);
        }
        let linger = match &mut this.linger {
            Some(linger) => linger,
            None => {
                ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
                let now = tokio::time::Instant::now();
                this.linger.insert(Linger {
                    ends: now + LINGER,
                    quiet_from: now,
                    timer: Box::pin(tokio::time::sleep_until(now + LINGER_QUIET)),
                })
            }
        };
        let mut scratch = [std::mem::MaybeUninit::<u8>::uninit(); 16 * 1024];
        let mut heard = false;
        let ended = loop {
            let mut buf = tokio::io::ReadBuf::uninit(&mut scratch);
            match tokio::io::AsyncRead::poll_read(Pin::new(&mut this.inner), cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => heard = true,
                // The client's end, or its reset.
                Poll::Ready(_) => break true,
                // Also when the task has used its budget of work for now (it is woken again
                // at once); the clock, not the timer (which would say pending too), tells
                // whether a client that never stops sending has had its time.
                Poll::Pending => break false,
            }
        };
        if !ended {
            let now = tokio::time::Instant::now();
            if heard {
                linger.quiet_from = now;
            }
            let until = linger.ends.min(linger.quiet_from + LINGER_QUIET);
            if now < until {
                if linger.timer.deadline() != until {
                    linger.timer.as_mut().reset(until);
                }
                if linger.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
            }
        }
        this.drained = true;
        this.linger = None;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::Frames;

    /// A frame: its header (length, type, no flags, stream 1) and `len` bytes of payload.
    fn frame(kind: u8, len: usize) -> Vec<u8> {
        let mut f = vec![
            (len >> 16) as u8,
            (len >> 8) as u8,
            len as u8,
            kind,
            0,
            0,
            0,
            0,
            1,
        ];
        f.resize(9 + len, 0xaa);
        f
    }

    #[test]
    fn only_data_payloads_are_counted_however_the_writes_cut_the_frames() {
        let mut written = Vec::new();
        written.extend(frame(4, 0)); // SETTINGS acknowledged: a header alone
        written.extend(frame(6, 8)); // a ping's answer
        written.extend(frame(1, 20)); // HEADERS
        written.extend(frame(0, 70_000)); // DATA, longer than 16 bits
        written.extend(frame(8, 4)); // WINDOW_UPDATE
        written.extend(frame(0, 5)); // DATA
        for cut in [1, 2, 7, 9, 10, 4096, written.len()] {
            let mut frames = Frames::default();
            let data: usize = written.chunks(cut).map(|c| frames.data_in(c)).sum();
            assert_eq!(data, 70_005, "written {cut} bytes at a time");
        }
    }
}
