//! A scope's changes, as git reports them: `status --porcelain=v1 -z` for what is staged,
//! unstaged and untracked, `diff --numstat -z` against `HEAD` for lines added and deleted, and
//! one file's diff. Untracked files count their lines as additions.
//!
//! One path is one entry, whatever mix of index and work-tree states it is in: a file removed
//! from the index but kept in the work tree (`git rm --cached`) is a staged deletion, not also an
//! untracked file, since that is what a commit of it makes. Nothing reads through a link (an
//! untracked link is what git would commit: its target's text, one line), and every read is
//! bounded by [`Limits`]: how many files one request works on, how much of each file and of all
//! of them is read to count lines, how much of a diff is answered, how much of git's listings
//! is read. The listings themselves are in `changes/listing.rs`; a file whose name is not UTF-8
//! and an untracked nested repository are left out of them, counted.

use crate::git::{Git, GitError};
use crate::paths::RelPath;
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

mod listing;
pub use listing::{Counts, GitStatus, LeftOut, changed, counts, list, list_of, status};
use tokio::io::AsyncReadExt;

/// How much one request may read, and work on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most changed files a request that reads them (`/files`, `/generate`, `/summarize`)
    /// works on; a scope with more is `422 TOO_MANY_CHANGES`.
    pub files: usize,
    /// The most of one untracked file read to count its lines; a larger one is not counted.
    pub count_bytes: u64,
    /// The most read to count lines in one request; the files past it are not counted.
    pub count_total: u64,
    /// The most of one file's diff answered; a longer one is cut, marked `truncated`.
    pub diff_bytes: usize,
    /// The most of all diffs read in one request (to scan them, or send them to a model).
    pub diff_total: usize,
    /// The most of each of git's listings of a scope (its status, its counts against `HEAD`)
    /// read to list its files; past it, the scope is `422 TOO_MANY_CHANGES` like one with more
    /// than `files` files (with `details.listingBytes` instead of `details.files`). Counting them (`/status`) reads git's listings as they come, keeping
    /// none of them.
    pub listing_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            files: 1_000,
            count_bytes: 8 << 20,
            count_total: 64 << 20,
            diff_bytes: 1 << 20,
            diff_total: 16 << 20,
            listing_bytes: 8 << 20,
        }
    }
}

/// Why a scope's changed files cannot be listed.
#[derive(Debug)]
pub enum ChangesError {
    /// git failed.
    Git(GitError),
    /// The scope has more changed files than one request works on.
    TooMany {
        /// How many it has.
        files: usize,
        /// How many a request works on.
        limit: usize,
    },
    /// git's listing of the scope's changes is longer than one request reads: more files than
    /// a request works on, or names too long to list them.
    TooLarge {
        /// How much of it is read ([`Limits::listing_bytes`]).
        bytes: usize,
        /// How many files a request works on.
        limit: usize,
    },
}

impl From<GitError> for ChangesError {
    fn from(e: GitError) -> Self {
        ChangesError::Git(e)
    }
}

impl std::fmt::Display for ChangesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChangesError::Git(e) => e.fmt(f),
            ChangesError::TooMany { files, limit } => write!(
                f,
                "{files} changed files, more than the {limit} one request works on"
            ),
            ChangesError::TooLarge { bytes, .. } => write!(
                f,
                "git's listing of the changes is longer than the {bytes} bytes one request reads"
            ),
        }
    }
}

impl std::error::Error for ChangesError {}

/// How a file changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// New to git.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
    /// Moved (staged as a rename).
    Renamed,
    /// Its type changed (a file became a link).
    Typechange,
    /// Not tracked by git.
    Untracked,
}

impl Change {
    fn of(code: u8) -> Option<Change> {
        match code {
            b'A' | b'C' => Some(Change::Added),
            b'M' | b'U' => Some(Change::Modified),
            b'D' => Some(Change::Deleted),
            b'R' => Some(Change::Renamed),
            b'T' => Some(Change::Typechange),
            _ => None,
        }
    }
}

/// A file and how it changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FileChange {
    /// Its path from the repository's root.
    pub path: String,
    /// How it changed.
    pub change: Change,
}

/// One changed file with its lines added and deleted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FileStat {
    /// Its path from the repository's root.
    pub path: String,
    /// How it changed, against `HEAD`.
    pub change: Change,
    /// Lines added; absent for a binary file, and for an untracked file not read to its end
    /// (larger than the server reads to count lines).
    pub additions: Option<u64>,
    /// Lines deleted; absent when `additions` is.
    pub deletions: Option<u64>,
}

/// A path as git printed it: its own bytes, whatever they are (`-x`, `*`, a newline). Only
/// UTF-8 names reach a listing ([`LeftOut`]); a lossy name here would name no file.
fn path_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// [`list`], with untracked files' lines counted within `limits`.
///
/// # Errors
/// git failing, or more changed files than `limits` allow.
pub async fn files(
    git: &Git,
    scope: &RelPath,
    limits: &Limits,
) -> Result<Vec<FileStat>, ChangesError> {
    let mut out = list(git, scope, limits).await?;
    count_untracked(git.repo(), &mut out, limits).await;
    Ok(out)
}

/// Counts the lines of the untracked files in `files`, within `limits`.
pub async fn count_untracked(root: &Path, files: &mut [FileStat], limits: &Limits) {
    let mut left = limits.count_total;
    for f in files.iter_mut().filter(|f| f.change == Change::Untracked) {
        let cap = limits.count_bytes.min(left);
        let (lines, read) = count_lines(&root.join(&f.path), cap).await;
        // Every byte read counts against the request's total, the one past a cap too.
        left = left.saturating_sub(read);
        f.additions = lines;
        f.deletions = lines.map(|_| 0);
    }
}

/// The lines of an untracked file and the bytes read for them: `None` for a binary one (a NUL
/// in its first 8000 bytes, as git decides), one longer than `cap`, or one that cannot be read.
/// A link is one line (its target's text, as git stores it), never followed; a file that is
/// neither a link nor a regular file (a FIFO, a device) is not read.
async fn count_lines(path: &Path, cap: u64) -> (Option<u64>, u64) {
    let Ok(meta) = tokio::fs::symlink_metadata(path).await else {
        return (None, 0);
    };
    if meta.file_type().is_symlink() {
        return (Some(1), 0);
    }
    if !meta.is_file() {
        return (None, 0);
    }
    // Not through a link put there since, and never waiting on a FIFO.
    let flags = nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK;
    #[expect(
        clippy::disallowed_methods,
        reason = "a work-tree file git itself listed, opened without following a link: the handle's check resolves links, which this must never do"
    )]
    let Ok(mut file) = tokio::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits())
        .open(path)
        .await
    else {
        return (None, 0);
    };
    if !file.metadata().await.is_ok_and(|m| m.is_file()) {
        return (None, 0);
    }
    let (mut read, mut newlines, mut last) = (0_u64, 0_u64, b'\n');
    let mut chunk = vec![0; 64 * 1024];
    loop {
        // Never more than one byte past the cap.
        let most = usize::try_from(cap.saturating_add(1) - read).unwrap_or(usize::MAX);
        let Ok(n) = file.read(&mut chunk[..most.min(64 * 1024)]).await else {
            return (None, read);
        };
        if n == 0 {
            break;
        }
        let bytes = &chunk[..n];
        if read < 8000 {
            let head = usize::try_from(8000 - read).unwrap_or(usize::MAX).min(n);
            if bytes[..head].contains(&0) {
                return (None, read + n as u64);
            }
        }
        read += n as u64;
        if read > cap {
            return (None, read);
        }
        newlines += bytes.iter().filter(|b| **b == b'\n').count() as u64;
        last = bytes[n - 1];
    }
    (Some(newlines + u64::from(last != b'\n')), read)
}

/// One file's diff against `HEAD` (an untracked file's as all added), and its counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FileDiff {
    /// Its path from the repository's root.
    pub path: String,
    /// The unified diff; empty when the file did not change. Cut (at a line's end when one is
    /// near) when longer than the server answers; `truncated` says so.
    pub diff: String,
    /// Lines added, in the whole diff.
    pub additions: u64,
    /// Lines deleted, in the whole diff.
    pub deletions: u64,
    /// Whether `diff` was cut: it is longer than the server answers (1 MiB), or, read among
    /// many, past what one request reads of them all.
    pub truncated: bool,
}

/// Where a path the client named is, for its diff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// In the index, or in the last commit: diffed against the last commit.
    Tracked,
    /// Untracked and not ignored: diffed as all added.
    Untracked,
    /// Neither: it does not exist, is ignored, or is a directory, or behind a link.
    Unknown,
}

/// Whether `path` is a file git tracks (in the index or the last commit, `base`), an untracked
/// file it does not ignore, or neither. Only git's own listings decide, so nothing is reached
/// through a link and an ignored file is as unknown as a missing one.
///
/// # Errors
/// git failing.
pub async fn known(git: &Git, path: &RelPath, base: &str) -> Result<Known, GitError> {
    let is = |out: &[u8]| {
        out.split(|b| *b == 0)
            .any(|p| p == path.as_str().as_bytes())
    };
    let indexed = git
        .run(&["ls-files", "-z", "--cached"], &[path], &[])
        .await?;
    if is(&indexed.stdout) {
        return Ok(Known::Tracked);
    }
    let committed = git
        .run(&["ls-tree", "-z", "--name-only", base], &[path], &[])
        .await?;
    if is(&committed.stdout) {
        return Ok(Known::Tracked);
    }
    let others = git
        .run(
            &["ls-files", "-z", "--others", "--exclude-standard"],
            &[path],
            &[],
        )
        .await?;
    Ok(if is(&others.stdout) {
        Known::Untracked
    } else {
        Known::Unknown
    })
}

/// The diff of `path` (a path git printed, or one [`known`] found) against `base` (see
/// [`Git::base`]), an untracked file's as all added, cut at `cap` bytes.
///
/// # Errors
/// git failing.
pub async fn diff(
    git: &Git,
    path: &str,
    base: &str,
    tracked: bool,
    cap: usize,
) -> Result<FileDiff, GitError> {
    let patch = if tracked {
        let args = ["diff", "--no-color", "--no-ext-diff", base];
        git.run_capped(&args, &[path], &[], cap).await?
    } else {
        git.diff_untracked(path, false, cap).await?
    };
    let mut bytes = patch.stdout;
    if patch.truncated {
        // At the last line's end, when there is one in the last quarter of what was kept.
        if let Some(end) = bytes.iter().rposition(|b| *b == b'\n')
            && end >= bytes.len() - bytes.len() / 4
        {
            bytes.truncate(end + 1);
        }
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (additions, deletions) = if patch.truncated {
        // The whole diff's counts, which git reckons without printing it.
        let stat = if tracked {
            let args = ["diff", "--numstat", "-z", base];
            git.run_files(&args, &[path], &[]).await?
        } else {
            git.diff_untracked(path, true, 64 * 1024).await?
        };
        numstat_counts(&stat.stdout)
    } else {
        count_patch(&text)
    };
    Ok(FileDiff {
        path: path.to_owned(),
        diff: text,
        additions,
        deletions,
        truncated: patch.truncated,
    })
}

/// The counts of the first entry of a `--numstat` (`added\tdeleted\t…`, whatever ends it);
/// a binary file's `-` counts are 0.
fn numstat_counts(out: &[u8]) -> (u64, u64) {
    let mut fields = out.splitn(3, |b| *b == b'\t');
    let mut count = || {
        fields
            .next()
            .and_then(|n| std::str::from_utf8(n).ok()?.parse().ok())
            .unwrap_or(0)
    };
    (count(), count())
}

/// The lines a unified diff adds and deletes.
fn count_patch(text: &str) -> (u64, u64) {
    let (mut additions, mut deletions) = (0, 0);
    for line in text.lines() {
        if line.starts_with('+') && !line.starts_with("+++") {
            additions += 1;
        } else if line.starts_with('-') && !line.starts_with("---") {
            deletions += 1;
        }
    }
    (additions, deletions)
}

/// The diffs of `files` against the last commit, deleted files left out (they add nothing),
/// each cut at `limits.diff_bytes` and all of them at `limits.diff_total`: a file past it has an
/// empty diff, marked `truncated`.
///
/// # Errors
/// git failing.
pub async fn diffs(
    git: &Git,
    files: &[FileStat],
    limits: &Limits,
) -> Result<Vec<FileDiff>, GitError> {
    let base = git.base().await?;
    let mut left = limits.diff_total;
    let mut out = Vec::new();
    for f in files.iter().filter(|f| f.change != Change::Deleted) {
        if left == 0 {
            out.push(FileDiff {
                path: f.path.clone(),
                diff: String::new(),
                additions: f.additions.unwrap_or(0),
                deletions: f.deletions.unwrap_or(0),
                truncated: true,
            });
            continue;
        }
        let tracked = f.change != Change::Untracked;
        let d = diff(git, &f.path, base, tracked, limits.diff_bytes.min(left)).await?;
        left = left.saturating_sub(d.diff.len());
        out.push(d);
    }
    Ok(out)
}

/// The state of `files` (paths git printed) now, to tell whether they changed since: each
/// one's blob hash, `link:` and a link's target, `deleted`, or `special` for what is neither a
/// file nor a link; prefixed with `unindexed:` for a file of the last commit removed from the
/// index (`git rm --cached`), so adding it back changes its state. Nothing is read through a
/// link.
///
/// # Errors
/// git failing.
pub async fn fingerprint(
    git: &Git,
    files: &[String],
) -> Result<BTreeMap<String, String>, GitError> {
    let mut out = BTreeMap::new();
    let mut regular = Vec::new();
    for f in files {
        let state = match std::fs::symlink_metadata(git.repo().join(f)) {
            Err(_) => "deleted".to_owned(),
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(git.repo().join(f)).unwrap_or_default();
                format!("link:{}", target.to_string_lossy())
            }
            Ok(m) if m.is_file() => {
                regular.push(f.as_str());
                continue;
            }
            Ok(_) => "special".to_owned(),
        };
        out.insert(f.clone(), state);
    }
    if !regular.is_empty() {
        // One hash a line, in order; the paths are arguments, so any name is one path.
        let hashes = git.run_files(&["hash-object"], &regular, &[]).await?;
        let text = String::from_utf8_lossy(&hashes.stdout);
        for (path, hash) in regular.iter().zip(text.lines()) {
            out.insert((*path).to_owned(), hash.trim().to_owned());
        }
    }
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    for f in unindexed(git, &names).await? {
        if let Some(state) = out.get_mut(&f) {
            *state = format!("unindexed:{state}");
        }
    }
    Ok(out)
}

/// Those of `files` that the last commit has and the index no longer does: removed from the
/// index, whether or not the work tree still has them.
///
/// # Errors
/// git failing.
pub async fn unindexed(git: &Git, files: &[&str]) -> Result<BTreeSet<String>, GitError> {
    if files.is_empty() {
        return Ok(BTreeSet::new());
    }
    let base = git.base().await?;
    let args = [
        "diff",
        "--cached",
        "--name-only",
        "-z",
        "--no-renames",
        "--diff-filter=D",
        base,
    ];
    let out = git.run_files(&args, files, &[]).await?;
    let wanted: BTreeSet<&str> = files.iter().copied().collect();
    Ok(out
        .stdout
        .split(|b| *b == 0)
        .map(path_of)
        .filter(|p| wanted.contains(p.as_str()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numstat_counts_are_read_whatever_ends_the_entry() {
        assert_eq!(numstat_counts(b"12\t3\t\0/dev/null\0f\0"), (12, 3));
        assert_eq!(numstat_counts(b"4\t0\tsrc/a.rs\0"), (4, 0));
        assert_eq!(numstat_counts(b"-\t-\tlogo.png\n"), (0, 0));
    }
}
