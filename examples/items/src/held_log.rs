//! The log of the first start of `--confine`, held back and handed to the confined start.
//!
//! That start opens everything and starts every plugin only to learn what the server will
//! reach, then starts again confined, where it says most of it again: its warnings would be
//! read twice. Its lines are kept in memory instead. If it stops there (a refused
//! configuration, a plugin that cannot start, an error, a panic, a signal), they are written
//! out. If it goes on, they go to the confined start in [`HANDED_OVER`], which, once it has
//! started (or failed, or was stopped), writes those it did not say itself: what only happens
//! once (budget holds left by a crashed server, released) is said once, and not lost.

use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use tracing_subscriber::fmt::MakeWriter;

/// The variable the first start's held lines go to the confined start in.
pub(crate) const HANDED_OVER: &str = "EXAMPLE_SERVER_FIRST_START_LOG";

/// The most held before the lines are written out as they come (a start logging at `trace`).
const MOST_HELD: usize = 64 * 1024;

/// Whether lines are being held or compared: every line of a server not confined takes only
/// this relaxed load.
static ACTIVE: AtomicBool = AtomicBool::new(false);

#[derive(Default)]
struct Held {
    /// The first start's lines, while it holds them.
    lines: Option<Vec<u8>>,
    /// Whether they grew too many to hold, and were written out.
    overflowed: bool,
    /// In the confined start, until it has started: the first start's lines, and what this
    /// start said (each line without its time).
    first: Option<(Vec<u8>, HashSet<Vec<u8>>)>,
}

static HELD: Mutex<Held> = Mutex::new(Held {
    lines: None,
    overflowed: false,
    first: None,
});

fn held() -> MutexGuard<'static, Held> {
    HELD.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A line as the two starts' lines are compared: without the time it begins with, its
/// colours, or how long a step took (`elapsed=`, as sqlx says of each statement at `debug`),
/// which differ between two starts saying the same thing.
fn said(line: &[u8]) -> Vec<u8> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = match line.iter().position(|&b| b == b' ') {
        Some(space) => &line[space..],
        None => line,
    };
    without_colours(line)
        .split(|&b| b == b' ')
        .filter(|word| !word.starts_with(b"elapsed=") && !word.starts_with(b"elapsed_secs="))
        .collect::<Vec<_>>()
        .join(&b' ')
}

/// `line` without the terminal's colour sequences (`ESC [ … m`) a log to a terminal has.
fn without_colours(line: &[u8]) -> Vec<u8> {
    let mut plain = Vec::with_capacity(line.len());
    let mut rest = line;
    while let Some(escape) = rest.iter().position(|&b| b == 0x1b) {
        plain.extend_from_slice(&rest[..escape]);
        let after = &rest[escape + 1..];
        rest = match after.strip_prefix(b"[") {
            // A control sequence ends at its first byte from `@` to `~`.
            Some(sequence) => match sequence.iter().position(|b| (0x40..=0x7e).contains(b)) {
                Some(end) => &sequence[end + 1..],
                None => &[],
            },
            None => after,
        };
    }
    plain.extend_from_slice(rest);
    plain
}

/// Holds every line logged from now on, until [`release`] or [`hand_over`]; a panic writes them
/// out before its message.
pub(crate) fn hold() {
    held().lines = Some(Vec::new());
    ACTIVE.store(true, Ordering::Relaxed);
    release_on_panic();
}

/// In the confined start: the first start's lines handed over, to be compared with this start's
/// until [`release`]; a panic writes those not said before its message.
pub(crate) fn compare(first: Vec<u8>) {
    held().first = Some((first, HashSet::new()));
    ACTIVE.store(true, Ordering::Relaxed);
    release_on_panic();
}

fn release_on_panic() {
    let before = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // Not where the panic may have left the lock held (in the writer itself).
        if HELD.try_lock().is_ok() {
            release();
        }
        before(info);
    }));
}

/// Writes out what was held; in the confined start, the first start's lines this start did not
/// say. Nothing is held or compared from now on.
pub(crate) fn release() {
    let (lines, first) = {
        let mut held = held();
        ACTIVE.store(false, Ordering::Relaxed);
        (held.lines.take(), held.first.take())
    };
    if let Some(lines) = lines {
        let _ = std::io::stderr().write_all(&lines);
    }
    if let Some((first, seen)) = first {
        let unsaid: Vec<&[u8]> = first
            .split_inclusive(|&b| b == b'\n')
            .filter(|line| !seen.contains(&said(line)))
            .collect();
        if !unsaid.is_empty() {
            // Shown with the lines under it whatever the level filtered to (they passed it).
            const HEADER: &str = "the first start, unconfined, also said:";
            if tracing::enabled!(tracing::Level::INFO) {
                tracing::info!("{HEADER}");
            } else if tracing::enabled!(tracing::Level::WARN) {
                tracing::warn!("{HEADER}");
            } else {
                tracing::error!("{HEADER}");
            }
            let mut out = std::io::stderr().lock();
            for line in unsaid {
                let _ = out.write_all(line);
            }
        }
    }
}

/// A copy of the held lines, for the confined start, or `None` if they were written out instead
/// (too many to pass in a variable). Nothing more is held; what was is kept for [`release`]
/// until the program is replaced, so a signal or a failure before then still shows it.
pub(crate) fn hand_over() -> Option<Vec<u8>> {
    let mut held = held();
    ACTIVE.store(false, Ordering::Relaxed);
    let why = match &held.lines {
        Some(lines) if !lines.contains(&0) => return Some(lines.clone()),
        Some(_) => "a NUL byte in it, which no variable can hold",
        None if held.overflowed => "more than the 64 KiB a start holds",
        None => return None,
    };
    let lines = held.lines.take();
    drop(held);
    if let Some(lines) = lines {
        let _ = std::io::stderr().write_all(&lines);
    }
    said_twice(why);
    None
}

/// Says why the first start's log was shown now: the confined start says much of it again.
pub(crate) fn said_twice(why: &str) {
    tracing::warn!(
        "the first start's log is shown above, not handed over ({why}): the confined start says \
         much of it again"
    );
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
        self.write_all(buf)?;
        Ok(buf.len())
    }

    /// One event, whole (tracing's writer writes each event at once).
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if ACTIVE.load(Ordering::Relaxed) {
            let mut held = held();
            if let Some(lines) = held.lines.as_mut() {
                lines.extend_from_slice(buf);
                if lines.len() > MOST_HELD {
                    // Too many to hold: written out, and the rest as it comes.
                    let lines = held.lines.take().unwrap_or_default();
                    held.overflowed = true;
                    drop(held);
                    return std::io::stderr().write_all(&lines);
                }
                return Ok(());
            }
            if let Some((_, seen)) = held.first.as_mut() {
                for line in buf.split_inclusive(|&b| b == b'\n') {
                    seen.insert(said(line));
                }
            }
        }
        std::io::stderr().write_all(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::said;

    #[test]
    fn lines_are_compared_without_their_time_colours_or_how_long_a_step_took() {
        let first = "2026-12-07T10:00:00.000001Z DEBUG sqlx::query: summary=\"SELECT 1\" \
                     rows_returned=1 elapsed=262.049\u{b5}s elapsed_secs=0.000262049\n";
        let confined = "2026-12-07T10:00:00.400000Z DEBUG sqlx::query: summary=\"SELECT 1\" \
                        rows_returned=1 elapsed=1.2ms elapsed_secs=0.0012\n";
        assert_eq!(said(first.as_bytes()), said(confined.as_bytes()));
        let coloured = "\x1b[2m2026-12-07T10:00:00.4Z\x1b[0m \x1b[34mDEBUG\x1b[0m \
                        \x1b[2msqlx::query\x1b[0m\x1b[2m:\x1b[0m summary=\"SELECT 1\" \
                        \x1b[3mrows_returned\x1b[0m\x1b[2m=\x1b[0m1 \
                        \x1b[3melapsed\x1b[0m\x1b[2m=\x1b[0m9ms \
                        \x1b[3melapsed_secs\x1b[0m\x1b[2m=\x1b[0m0.009";
        assert_eq!(said(coloured.as_bytes()), said(first.as_bytes()));
        // What the statement did still tells two lines apart.
        let other = first.replace("rows_returned=1", "rows_returned=2");
        assert_ne!(said(other.as_bytes()), said(first.as_bytes()));
        assert_eq!(
            said(b"2026-12-07T10:00:00Z  WARN the store is unreachable\n"),
            b"  WARN the store is unreachable"
        );
    }
}
