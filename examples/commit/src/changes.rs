//! A scope's changes, as git reports them: `status --porcelain=v1 -z` for what is staged,
//! unstaged and untracked, `diff --numstat -z` against `HEAD` for lines added and deleted, and
//! one file's diff. Untracked files count their lines as additions.

use crate::git::{Git, GitError};
use crate::paths::RelPath;
use schemars::JsonSchema;
use serde::Serialize;

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

/// `GET /git-status`: the scope's files by where their changes are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct GitStatus {
    /// Changes in the index.
    pub staged: Vec<FileChange>,
    /// Changes in the work tree not in the index.
    pub unstaged: Vec<FileChange>,
    /// Files git does not track (ignored ones left out).
    pub untracked: Vec<String>,
}

impl GitStatus {
    /// Whether nothing changed.
    pub fn is_clean(&self) -> bool {
        self.staged.is_empty() && self.unstaged.is_empty() && self.untracked.is_empty()
    }
}

/// One changed file with its lines added and deleted (`None` for a binary file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FileStat {
    /// Its path from the repository's root.
    pub path: String,
    /// How it changed, against `HEAD`.
    pub change: Change,
    /// Lines added; absent for a binary file.
    pub additions: Option<u64>,
    /// Lines deleted; absent for a binary file.
    pub deletions: Option<u64>,
}

/// Reads `scope`'s status.
///
/// # Errors
/// git failing.
pub async fn status(git: &Git, scope: &RelPath) -> Result<GitStatus, GitError> {
    let out = git
        .run(
            &[
                "status",
                "--porcelain=v1",
                "-z",
                "--untracked-files=all",
                "--no-renames",
            ],
            &[scope],
            &[],
        )
        .await?;
    Ok(parse_status(&out.stdout))
}

fn parse_status(out: &[u8]) -> GitStatus {
    let mut status = GitStatus::default();
    for entry in out.split(|b| *b == 0).filter(|e| e.len() > 3) {
        let (x, y) = (entry[0], entry[1]);
        let path = String::from_utf8_lossy(&entry[3..]).into_owned();
        if x == b'?' {
            status.untracked.push(path);
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
    status
}

/// Every changed file of `scope` against `HEAD` (staged and unstaged together) and every
/// untracked one, with lines added and deleted, sorted by path.
///
/// # Errors
/// git failing.
pub async fn files(git: &Git, scope: &RelPath) -> Result<Vec<FileStat>, GitError> {
    let base = git.base().await?;
    let numstat = git
        .run(
            &["diff", "--numstat", "-z", "--no-renames", base],
            &[scope],
            &[],
        )
        .await?;
    let names = git
        .run(
            &["diff", "--name-status", "-z", "--no-renames", base],
            &[scope],
            &[],
        )
        .await?;
    let kinds = parse_name_status(&names.stdout);
    let mut out: Vec<FileStat> = parse_numstat(&numstat.stdout)
        .into_iter()
        .map(|(path, additions, deletions)| FileStat {
            change: kinds
                .iter()
                .find(|(p, _)| *p == path)
                .map_or(Change::Modified, |(_, c)| *c),
            path,
            additions,
            deletions,
        })
        .collect();
    for path in status(git, scope).await?.untracked {
        let lines = count_lines(&git.repo().join(&path)).await;
        out.push(FileStat {
            path,
            change: Change::Untracked,
            additions: lines,
            deletions: lines.map(|_| 0),
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// `additions\tdeletions\tpath\0` entries; `-` counts mean a binary file.
fn parse_numstat(out: &[u8]) -> Vec<(String, Option<u64>, Option<u64>)> {
    out.split(|b| *b == 0)
        .filter_map(|entry| {
            let text = std::str::from_utf8(entry).ok()?;
            let mut fields = text.splitn(3, '\t');
            let (add, del, path) = (fields.next()?, fields.next()?, fields.next()?);
            Some((path.to_owned(), add.parse().ok(), del.parse().ok()))
        })
        .collect()
}

/// `X\0path\0` pairs.
fn parse_name_status(out: &[u8]) -> Vec<(String, Change)> {
    let mut fields = out.split(|b| *b == 0);
    let mut list = Vec::new();
    while let (Some(kind), Some(path)) = (fields.next(), fields.next()) {
        if let Some(change) = kind.first().copied().and_then(Change::of) {
            list.push((String::from_utf8_lossy(path).into_owned(), change));
        }
    }
    list
}

/// The lines of a text file, or `None` for a binary one (a NUL in its first 8 KiB, as git
/// decides) or one that cannot be read.
async fn count_lines(path: &std::path::Path) -> Option<u64> {
    let bytes = tokio::fs::read(path).await.ok()?;
    if bytes.iter().take(8192).any(|b| *b == 0) {
        return None;
    }
    let newlines = bytes.iter().filter(|b| **b == b'\n').count() as u64;
    Some(newlines + u64::from(!bytes.is_empty() && !bytes.ends_with(b"\n")))
}

/// One file's diff against `HEAD` (an untracked file's as all added), and its counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct FileDiff {
    /// Its path from the repository's root.
    pub path: String,
    /// The unified diff; empty when the file did not change.
    pub diff: String,
    /// Lines added.
    pub additions: u64,
    /// Lines deleted.
    pub deletions: u64,
}

/// Whether git tracks `path`.
///
/// # Errors
/// git failing.
pub async fn is_tracked(git: &Git, path: &RelPath) -> Result<bool, GitError> {
    let out = git
        .run(&["ls-files", "--error-unmatch"], &[path], &[1])
        .await?;
    Ok(out.code == 0)
}

/// The diff of `path` against `base` (see [`Git::base`]); an untracked file's as all added.
/// Callers that diff many files find `base` and what is tracked once, not per file.
///
/// # Errors
/// git failing.
pub async fn diff(
    git: &Git,
    path: &RelPath,
    base: &str,
    tracked: bool,
) -> Result<FileDiff, GitError> {
    let patch = if tracked {
        git.run(&["diff", "--no-color", "--no-ext-diff", base], &[path], &[])
            .await?
    } else {
        git.diff_untracked(path).await?
    };
    let text = String::from_utf8_lossy(&patch.stdout).into_owned();
    let (mut additions, mut deletions) = (0, 0);
    for line in text.lines() {
        if line.starts_with('+') && !line.starts_with("+++") {
            additions += 1;
        } else if line.starts_with('-') && !line.starts_with("---") {
            deletions += 1;
        }
    }
    Ok(FileDiff {
        path: path.as_str().to_owned(),
        diff: text,
        additions,
        deletions,
    })
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
    fn numstat_reads_counts_and_binaries() {
        let out = b"3\t1\tsrc/a.rs\0-\t-\tlogo.png\0";
        assert_eq!(
            parse_numstat(out),
            [
                ("src/a.rs".to_owned(), Some(3), Some(1)),
                ("logo.png".to_owned(), None, None)
            ]
        );
    }
}
