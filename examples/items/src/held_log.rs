//! The log of the first start of `--confine`, held back.
//!
//! That start opens everything and starts every plugin only to learn what the server will
//! reach, then starts again confined, where it says all of it again: its warnings would be read
//! twice. Its lines are kept in memory instead, and written out only if it stops there (a
//! refused configuration, a plugin that cannot start, an error, a panic); when it goes on to
//! the confined start they are dropped, that start saying them itself.

use std::io::Write;
use std::sync::{Mutex, MutexGuard, PoisonError};
use tracing_subscriber::fmt::MakeWriter;

/// The lines held, while they are.
static HELD: Mutex<Option<Vec<u8>>> = Mutex::new(None);

fn held() -> MutexGuard<'static, Option<Vec<u8>>> {
    HELD.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Holds every line logged from now on, until [`release`] or [`drop_held`]; a panic writes
/// them out before its message.
pub(crate) fn hold() {
    *held() = Some(Vec::new());
    let said = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        release();
        said(info);
    }));
}

/// Writes out what was held, and holds nothing from now on.
pub(crate) fn release() {
    if let Some(lines) = held().take() {
        let _ = std::io::stderr().write_all(&lines);
    }
}

/// Forgets what was held: a later start says it again.
pub(crate) fn drop_held() -> Option<Vec<u8>> {
    held().take()
}

/// The log's writer: stderr, or memory while lines are held.
pub(crate) struct Stderr;

impl<'a> MakeWriter<'a> for Stderr {
    type Writer = Stderr;

    fn make_writer(&'a self) -> Stderr {
        Stderr
    }
}

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match held().as_mut() {
            Some(lines) => {
                lines.extend_from_slice(buf);
                Ok(buf.len())
            }
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
