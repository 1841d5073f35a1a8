//! Listing a scope's changes from git's own listings (`status --porcelain=v1 -z`, `diff
//! --numstat -z` and `--name-status -z` against `HEAD`), each read within
//! [`Limits::listing_bytes`], or counted as it comes with nothing kept. A name that is not UTF-8
//! and an untracked nested repository are left out of every listing, and counted ([`LeftOut`]).

use super::{Change, ChangesError, FileChange, FileStat, Limits, path_of};
use crate::git::{Git, GitError};
use crate::paths::RelPath;
use schemars::JsonSchema;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Changed files left out of every listing, plan and commit, counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LeftOut {
    /// Files whose name is not UTF-8: an answer (JSON) cannot carry it, nor a plan, so they are
    /// never listed, planned or committed here; commit them with git itself.
    pub non_utf8_names: usize,
    /// Untracked directories that are repositories of their own (git lists them as `dir/`, and
    /// tracks one only with `git submodule add`).
    pub nested_repositories: usize,
}

impl LeftOut {
    fn any(&self) -> bool {
        self.non_utf8_names + self.nested_repositories > 0
    }

    /// Whether `path` (as git printed it) is left out, counted if it is.
    fn leaves_out(&mut self, path: &[u8], untracked: bool) -> bool {
        if std::str::from_utf8(path).is_err() {
            self.non_utf8_names += 1;
            true
        } else if untracked && path.ends_with(b"/") {
            self.nested_repositories += 1;
            true
        } else {
            false
        }
    }
}

/// `GET /git-status`: the scope's files by where their changes are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct GitStatus {
    /// Changes in the index.
    pub staged: Vec<FileChange>,
    /// Changes in the work tree not in the index.
    pub unstaged: Vec<FileChange>,
    /// Files git does not track (ignored ones left out, and a file removed from the index but
    /// kept, which is a staged deletion).
    pub untracked: Vec<String>,
    /// Changed files none of these list (see [`LeftOut`]).
    #[serde(rename = "leftOut")]
    pub left_out: LeftOut,
}

impl GitStatus {
    /// Whether nothing changed (nothing listed, nothing left out).
    pub fn is_clean(&self) -> bool {
        self.staged.is_empty()
            && self.unstaged.is_empty()
            && self.untracked.is_empty()
            && !self.left_out.any()
    }

    /// How many files it names, once each.
    fn len(&self) -> usize {
        let tracked: BTreeSet<&str> = self
            .staged
            .iter()
            .chain(&self.unstaged)
            .map(|f| f.path.as_str())
            .collect();
        tracked.len() + self.untracked.len()
    }
}

/// The arguments of `git status` for a listing: one entry per path, every untracked file.
const STATUS: [&str; 5] = [
    "status",
    "--porcelain=v1",
    "-z",
    "--untracked-files=all",
    "--no-renames",
];

/// For a listing of the changes that ran past its cap.
fn too_large(limits: &Limits) -> ChangesError {
    ChangesError::TooLarge {
        bytes: limits.listing_bytes,
        limit: limits.files,
    }
}

/// Reads `scope`'s status: at most [`Limits::listing_bytes`] of it, and at most `limits.files`
/// files.
///
/// # Errors
/// git failing, or more changed files than `limits` allow.
pub async fn status(
    git: &Git,
    scope: &RelPath,
    limits: &Limits,
) -> Result<GitStatus, ChangesError> {
    let out = git
        .run_capped(&STATUS, &[scope.as_str()], &[], limits.listing_bytes)
        .await?;
    let status = parse_status(&out.stdout);
    let files = status.len();
    if out.truncated {
        return Err(too_large(limits));
    }
    if files > limits.files {
        return Err(ChangesError::TooMany {
            files,
            limit: limits.files,
        });
    }
    Ok(status)
}

fn parse_status(out: &[u8]) -> GitStatus {
    let mut status = GitStatus::default();
    let mut untracked = Vec::new();
    // A listing cut at its cap ends in a part of an entry: only whole ones (`\0`-ended) count.
    let whole = out.iter().rposition(|b| *b == 0).map_or(0, |end| end + 1);
    for entry in out[..whole].split(|b| *b == 0).filter(|e| e.len() > 3) {
        let (x, y) = (entry[0], entry[1]);
        if status.left_out.leaves_out(&entry[3..], x == b'?') {
            continue;
        }
        let path = path_of(&entry[3..]);
        if x == b'?' {
            untracked.push(path);
            continue;
        }
        if let Some(change) = Change::of(x) {
            status.staged.push(FileChange {
                path: path.clone(),
                change,
            });
        }
        if let Some(change) = Change::of(y) {
            status.unstaged.push(FileChange { path, change });
        }
    }
    // `git rm --cached`: deleted in the index, and the file kept is untracked; one entry.
    let staged: BTreeSet<&str> = status.staged.iter().map(|f| f.path.as_str()).collect();
    untracked.retain(|p| !staged.contains(p.as_str()));
    status.untracked = untracked;
    status
}

/// Whether `scope` has a change a plan could take (one not left out); reads no more of git's
/// status than its first entries.
///
/// # Errors
/// git failing.
pub async fn changed(git: &Git, scope: &RelPath) -> Result<bool, GitError> {
    let out = git
        .run_capped(&STATUS, &[scope.as_str()], &[], 64 * 1024)
        .await?;
    let listed = parse_status(&out.stdout);
    Ok(out.truncated
        || !(listed.staged.is_empty() && listed.untracked.is_empty() && listed.unstaged.is_empty()))
}

/// `scope`'s changes counted, for `/status`: git's listings read as they come, no name kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Files with staged changes.
    pub staged: usize,
    /// Files with unstaged changes.
    pub unstaged: usize,
    /// Untracked files (not a file removed from the index but kept: a staged deletion).
    pub untracked: usize,
    /// Files changed against `HEAD` or untracked, once each, as [`list`] has them.
    pub files: usize,
    /// Files left out of every listing.
    pub left_out: LeftOut,
}

/// Hands each whole `\0`-ended record of a stream to `each`; a part of one waits for the rest.
struct Records<F: FnMut(&[u8])> {
    partial: Vec<u8>,
    each: F,
}

impl<F: FnMut(&[u8])> Records<F> {
    fn feed(&mut self, mut bytes: &[u8]) {
        while let Some(end) = bytes.iter().position(|b| *b == 0) {
            if self.partial.is_empty() {
                (self.each)(&bytes[..end]);
            } else {
                self.partial.extend_from_slice(&bytes[..end]);
                (self.each)(&self.partial);
                self.partial.clear();
            }
            bytes = &bytes[end + 1..];
        }
        // What is left is part of one path, which the file system bounds (4 KiB on Linux).
        self.partial.extend_from_slice(bytes);
    }
}

/// Counts `scope`'s changes without keeping their names: memory stays bounded however many
/// there are, but for a hash (8 bytes) of each staged deletion, to count a file removed from
/// the index but kept once.
///
/// # Errors
/// git failing.
pub async fn counts(git: &Git, scope: &RelPath) -> Result<Counts, GitError> {
    use std::hash::{BuildHasher, RandomState};
    let hasher = RandomState::new();
    let mut counts = Counts::default();
    let mut deleted = std::collections::HashSet::new();
    let mut records = Records {
        partial: Vec::new(),
        each: |entry: &[u8]| {
            if entry.len() <= 3 {
                return;
            }
            let (x, y, path) = (entry[0], entry[1], &entry[3..]);
            if counts.left_out.leaves_out(path, x == b'?') {
                return;
            }
            if x == b'?' {
                // git prints tracked entries first, then untracked ones.
                counts.untracked += usize::from(!deleted.contains(&hasher.hash_one(path)));
                return;
            }
            if x == b'D' {
                deleted.insert(hasher.hash_one(path));
            }
            counts.staged += usize::from(Change::of(x).is_some());
            counts.unstaged += usize::from(Change::of(y).is_some());
        },
    };
    git.run_streamed(&STATUS, &[scope.as_str()], &[], |chunk| {
        records.feed(chunk);
        true
    })
    .await?;
    drop(records);
    let base = git.base().await?;
    let mut against_base = 0;
    let mut records = Records {
        partial: Vec::new(),
        each: |entry: &[u8]| {
            let path = entry.splitn(3, |b| *b == b'\t').nth(2).unwrap_or_default();
            against_base += usize::from(!path.is_empty() && std::str::from_utf8(path).is_ok());
        },
    };
    let args = ["diff", "--numstat", "-z", "--no-renames", base];
    git.run_streamed(&args, &[scope.as_str()], &[], |chunk| {
        records.feed(chunk);
        true
    })
    .await?;
    drop(records);
    counts.files = against_base + counts.untracked;
    Ok(counts)
}

/// Every changed file of `scope` against `HEAD` (staged and unstaged together) and every
/// untracked one, once each, sorted by path; untracked files' lines not counted (nothing in the
/// work tree is read). At most `limits.files` of them, and at most [`Limits::listing_bytes`] of
/// each of git's listings read; a name that is not UTF-8 and a nested repository are left out
/// (see [`LeftOut`]), and logged.
///
/// # Errors
/// git failing, or more changed files than `limits` allow.
pub async fn list(
    git: &Git,
    scope: &RelPath,
    limits: &Limits,
) -> Result<Vec<FileStat>, ChangesError> {
    list_of(git, &[scope.as_str()], limits).await
}

/// [`list`] for the files named by `paths` (paths git printed, each taken literally).
///
/// # Errors
/// git failing, or more changed files than `limits` allow.
pub async fn list_of(
    git: &Git,
    paths: &[&str],
    limits: &Limits,
) -> Result<Vec<FileStat>, ChangesError> {
    let base = git.base().await?;
    let cap = limits.listing_bytes;
    let args = ["diff", "--numstat", "-z", "--no-renames", base];
    let numstat = git.run_capped(&args, paths, &[], cap).await?;
    let args = ["diff", "--name-status", "-z", "--no-renames", base];
    let names = git.run_capped(&args, paths, &[], cap).await?;
    let status = git.run_capped(&STATUS, paths, &[], cap).await?;
    let kinds: BTreeMap<String, Change> = parse_name_status(&names.stdout).into_iter().collect();
    let mut out: BTreeMap<String, FileStat> = BTreeMap::new();
    for (path, additions, deletions) in parse_numstat(&numstat.stdout) {
        // Counted in the status's entries, which name every changed path too.
        let Ok(path) = String::from_utf8(path) else {
            continue;
        };
        let change = kinds.get(&path).copied().unwrap_or(Change::Modified);
        out.entry(path.clone()).or_insert(FileStat {
            path,
            change,
            additions,
            deletions,
        });
    }
    let status_now = parse_status(&status.stdout);
    let left_out = status_now.left_out;
    for path in status_now.untracked {
        out.entry(path.clone()).or_insert(FileStat {
            path,
            change: Change::Untracked,
            additions: None,
            deletions: None,
        });
    }
    if left_out.any() {
        tracing::info!(
            non_utf8_names = left_out.non_utf8_names,
            nested_repositories = left_out.nested_repositories,
            "changed files left out of a listing"
        );
    }
    if numstat.truncated || names.truncated || status.truncated {
        return Err(too_large(limits));
    }
    if out.len() > limits.files {
        return Err(ChangesError::TooMany {
            files: out.len(),
            limit: limits.files,
        });
    }
    Ok(out.into_values().collect())
}

/// The whole `\0`-ended records of `out` (a listing cut at its cap ends in a part of one).
fn whole_records(out: &[u8]) -> impl Iterator<Item = &[u8]> {
    let whole = out.iter().rposition(|b| *b == 0).map_or(0, |end| end + 1);
    out[..whole].split(|b| *b == 0).filter(|r| !r.is_empty())
}

/// `additions\tdeletions\tpath\0` entries, paths as git printed them; `-` counts mean a
/// binary file.
fn parse_numstat(out: &[u8]) -> Vec<(Vec<u8>, Option<u64>, Option<u64>)> {
    whole_records(out)
        .filter_map(|entry| {
            let mut fields = entry.splitn(3, |b| *b == b'\t');
            let (add, del, path) = (fields.next()?, fields.next()?, fields.next()?);
            let count = |n: &[u8]| std::str::from_utf8(n).ok()?.parse().ok();
            Some((path.to_vec(), count(add), count(del)))
        })
        .collect()
}

/// `X\0path\0` pairs, UTF-8 paths only (no other is listed).
fn parse_name_status(out: &[u8]) -> Vec<(String, Change)> {
    let mut fields = whole_records(out);
    let mut list = Vec::new();
    while let (Some(kind), Some(path)) = (fields.next(), fields.next()) {
        if let (Some(change), Ok(path)) = (
            kind.first().copied().and_then(Change::of),
            std::str::from_utf8(path),
        ) {
            list.push((path.to_owned(), change));
        }
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn porcelain_entries_are_sorted_into_their_places() {
        let out =
            b" M src/a.rs\0M  src/b.rs\0MM src/c.rs\0A  new.txt\0 D gone.md\0?? notes/todo.txt\0";
        let s = parse_status(out);
        let staged: Vec<&str> = s.staged.iter().map(|f| f.path.as_str()).collect();
        let unstaged: Vec<&str> = s.unstaged.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(staged, ["src/b.rs", "src/c.rs", "new.txt"]);
        assert_eq!(unstaged, ["src/a.rs", "src/c.rs", "gone.md"]);
        assert_eq!(s.unstaged[2].change, Change::Deleted);
        assert_eq!(s.untracked, ["notes/todo.txt"]);
    }

    #[test]
    fn a_file_removed_from_the_index_but_kept_is_one_staged_deletion() {
        let s = parse_status(b"D  .env\0?? .env\0?? new\nline\0");
        assert_eq!(
            s.staged,
            [FileChange {
                path: ".env".into(),
                change: Change::Deleted
            }]
        );
        assert_eq!(s.untracked, ["new\nline"]);
    }

    #[test]
    fn numstat_reads_counts_and_binaries() {
        let out = b"3\t1\tsrc/a.rs\0-\t-\tlogo.png\0";
        assert_eq!(
            parse_numstat(out),
            [
                (b"src/a.rs".to_vec(), Some(3), Some(1)),
                (b"logo.png".to_vec(), None, None)
            ]
        );
    }

    #[test]
    fn names_not_utf8_and_nested_repositories_are_left_out_counted() {
        let s = parse_status(b"?? caf\xe9.txt\0?? vendor/tool/\0 M a\xffb\0?? readme.txt\0");
        assert_eq!(s.untracked, ["readme.txt"]);
        assert!(s.unstaged.is_empty());
        assert_eq!(
            s.left_out,
            LeftOut {
                non_utf8_names: 2,
                nested_repositories: 1
            }
        );
        assert!(!s.is_clean());
    }

    #[test]
    fn a_listing_cut_at_its_cap_counts_whole_entries_only() {
        let s = parse_status(b"?? one\0?? two\0?? thr");
        assert_eq!(s.untracked, ["one", "two"]);
        assert_eq!(
            parse_numstat(b"1\t0\ta\0\x32\t"),
            [(b"a".to_vec(), Some(1), Some(0))]
        );
    }

    #[test]
    fn records_split_across_chunks_are_whole() {
        let mut seen = Vec::new();
        let mut records = Records {
            partial: Vec::new(),
            each: |r: &[u8]| seen.push(r.to_vec()),
        };
        for chunk in [&b"?? a"[..], b"b\0?? c\0", b"", b"?? d", b"\0"] {
            records.feed(chunk);
        }
        drop(records);
        assert_eq!(
            seen,
            [b"?? ab".to_vec(), b"?? c".to_vec(), b"?? d".to_vec()]
        );
    }
}
