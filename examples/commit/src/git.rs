//! git, run as a subprocess with an argument vector (never a shell), in the configured
//! repository, started only through the route's [`Reach`]: the program, its environment and
//! its working directory are checked against the route's `permissions(...)`, and on Linux the
//! kernel confines git and its hooks to them. The subcommand is always the first argument (what
//! `shell("git push")` matches); what would be global options is said through git's variables.
//! Every path goes after `--`, and git reads every pathspec literally
//! (`GIT_LITERAL_PATHSPECS`): a file named `*` or `:(top)x` is that file, never a pattern or magic.
//! Each git runs in a process group of its own, and the whole group (hooks included) is killed
//! when the future running it is dropped: the request was cancelled or timed out, or the command
//! ran past its bound. What git prints is read up to a cap, and a git printing past it is killed.
//! git never prompts (no terminal, no credential helper asking), speaks C-locale English and
//! prints paths unquoted.

use crate::paths::RelPath;
use plugin_routes::reach::{Reach, ReachError, Refused};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The most of what git writes to stderr that is kept (a hook may print much more).
const STDERR_KEPT: usize = 64 * 1024;

/// git in one repository.
#[derive(Clone, Debug)]
pub struct Git {
    repo: PathBuf,
    /// The index git uses instead of the repository's, when set.
    index: Option<PathBuf>,
    /// What git may do: the route's permissions.
    reach: Reach,
    /// The `traceparent` sent to a remote over HTTP, when the request is traced.
    traceparent: Option<String>,
}

/// git could not be run, or failed.
#[derive(Debug)]
pub enum GitError {
    /// The `git` program could not be started.
    Spawn(std::io::Error),
    /// The repository's directory is gone, or is no directory: git was not started in it.
    NoDirectory(PathBuf),
    /// The route's permissions do not allow what was asked (logged where it was refused).
    Refused(Refused),
    /// git ran longer than it was allowed to, and was killed with its hooks.
    TimedOut {
        /// The subcommand.
        command: String,
        /// The bound it ran past.
        after: Duration,
    },
    /// git exited unsuccessfully.
    Failed {
        /// The subcommand, for the log.
        command: String,
        /// Its exit code, if it had one.
        code: Option<i32>,
        /// What it wrote to stderr.
        stderr: String,
    },
}

impl std::fmt::Display for GitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitError::Spawn(e) => write!(f, "git could not be started: {e}"),
            GitError::NoDirectory(path) => write!(
                f,
                "git was not started: the repository's directory {} is gone or is no directory",
                path.display()
            ),
            GitError::Refused(e) => write!(f, "git was not started: {e}"),
            GitError::TimedOut { command, after } => {
                write!(f, "git {command} ran longer than {} s", after.as_secs())
            }
            GitError::Failed {
                command,
                code,
                stderr,
            } => {
                match code {
                    Some(code) => write!(f, "git {command} exited with status {code}")?,
                    None => write!(f, "git {command} was stopped by a signal")?,
                }
                match stderr.trim() {
                    "" => Ok(()),
                    said => write!(f, ": {said}"),
                }
            }
        }
    }
}

impl std::error::Error for GitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GitError::Spawn(e) => Some(e),
            GitError::Refused(r) => Some(r),
            _ => None,
        }
    }
}

impl From<ReachError> for GitError {
    fn from(e: ReachError) -> Self {
        match e {
            ReachError::Refused(r) => GitError::Refused(r),
            ReachError::Io(e) => GitError::Spawn(e),
        }
    }
}

/// What a successful run printed.
#[derive(Debug)]
pub struct Output {
    /// Its stdout.
    pub stdout: Vec<u8>,
    /// Its stderr.
    pub stderr: Vec<u8>,
    /// Its exit code (some commands, such as `diff --no-index`, say "different" with 1); `-1`
    /// when it was killed for printing past its cap.
    pub code: i32,
    /// Whether stdout was cut at the cap given ([`Git::run_capped`]), git killed.
    pub truncated: bool,
}

/// Kills a git's process group, hooks included, unless the git finished.
struct Group(Option<u32>);

impl Group {
    fn kill(&self) {
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            // The group may be gone already; nothing else can be done about a failure here.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads `pipe` to its end, handing each chunk to `sink`; stops when `sink` answers `false`,
/// answering whether it did.
async fn read_into(
    pipe: Option<impl AsyncRead + Unpin>,
    mut sink: impl FnMut(&[u8]) -> bool,
) -> std::io::Result<bool> {
    let Some(mut pipe) = pipe else {
        return Ok(false);
    };
    let mut chunk = vec![0; 64 * 1024];
    loop {
        let n = pipe.read(&mut chunk).await?;
        if n == 0 {
            return Ok(false);
        }
        if !sink(&chunk[..n]) {
            return Ok(true);
        }
    }
}

/// A sink keeping at most `keep` bytes in `kept`; with `stop`, it stops at the first byte past
/// `keep` instead of reading on.
fn keeping(kept: &mut Vec<u8>, keep: usize, stop: bool) -> impl FnMut(&[u8]) -> bool + '_ {
    move |bytes| {
        let room = keep - kept.len();
        kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
        !(bytes.len() > room && stop)
    }
}

/// A git operation that, unfinished, a commit would take part in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `MERGE_HEAD`: a commit would be the merge's, with its other parent.
    Merge,
    /// `CHERRY_PICK_HEAD`.
    CherryPick,
    /// `REVERT_HEAD`.
    Revert,
    /// `rebase-merge` or `rebase-apply`.
    Rebase,
    /// An index entry in conflict (unmerged), whatever left it.
    Conflict,
}

impl Operation {
    /// Its name in an answer.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Merge => "merge",
            Operation::CherryPick => "cherry-pick",
            Operation::Revert => "revert",
            Operation::Rebase => "rebase",
            Operation::Conflict => "conflict",
        }
    }
}

impl Git {
    /// git in the repository at `repo` (its work tree's root), doing only what `reach` allows.
    pub fn new(repo: impl Into<PathBuf>, reach: Reach) -> Self {
        Git {
            repo: repo.into(),
            index: None,
            traceparent: None,
            reach,
        }
    }

    /// The work tree it runs in.
    pub fn root(&self) -> &std::path::Path {
        &self.repo
    }

    /// This git, using the index file at `index` instead of the repository's.
    pub fn with_index(&self, index: &Path) -> Self {
        Git {
            index: Some(index.to_owned()),
            ..self.clone()
        }
    }

    /// This git, doing only what `reach` (a route's permissions) allows.
    pub fn with_reach(&self, reach: Reach) -> Self {
        Git {
            reach,
            ..self.clone()
        }
    }

    /// Sends `traceparent` with every request to a remote over HTTP(S) (`http.extraHeader`), so
    /// a traced push continues its trace at the remote; other transports ignore it.
    #[must_use]
    pub fn with_traceparent(
        mut self,
        traceparent: Option<&plugin_routes::http::HeaderValue>,
    ) -> Self {
        self.traceparent = traceparent
            .and_then(|v| v.to_str().ok())
            .map(|v| format!("traceparent: {v}"));
        self
    }

    /// What it may do.
    pub fn reach(&self) -> &Reach {
        &self.reach
    }

    /// The work tree's root.
    pub fn repo(&self) -> &Path {
        &self.repo
    }

    /// Runs `git <args> -- <paths>`, accepting the exit codes in `ok` (0 always).
    ///
    /// # Errors
    /// git not starting, or exiting with another code.
    pub async fn run(
        &self,
        args: &[&str],
        paths: &[&RelPath],
        ok: &[i32],
    ) -> Result<Output, GitError> {
        let paths: Vec<&str> = paths.iter().map(|p| p.as_str()).collect();
        self.exec_kept(args, &paths, ok, None, None).await
    }

    /// Runs `git <args> -- <files>` on paths git itself printed (a status, a plan made from
    /// one): they are the repository's own names, whatever they hold (`-x`, `*`, a newline).
    ///
    /// # Errors
    /// git not starting, or exiting with a code not in `ok`.
    pub async fn run_files(
        &self,
        args: &[&str],
        files: &[&str],
        ok: &[i32],
    ) -> Result<Output, GitError> {
        self.exec_kept(args, files, ok, None, None).await
    }

    /// [`Git::run_files`] keeping at most `cap` bytes of stdout: a git printing more is killed
    /// and its output marked [`Output::truncated`] (its exit code then does not count).
    ///
    /// # Errors
    /// git not starting, or exiting on its own with a code not in `ok`.
    pub async fn run_capped(
        &self,
        args: &[&str],
        files: &[&str],
        ok: &[i32],
        cap: usize,
    ) -> Result<Output, GitError> {
        self.exec_kept(args, files, ok, None, Some(cap)).await
    }

    /// [`Git::run_files`] handing stdout to `each` chunk by chunk as it comes, nothing kept;
    /// when `each` answers `false`, git is killed and the output marked [`Output::truncated`]
    /// (its exit code then does not count).
    ///
    /// # Errors
    /// git not starting, or exiting on its own with a code not in `ok`.
    pub async fn run_streamed(
        &self,
        args: &[&str],
        files: &[&str],
        ok: &[i32],
        each: impl FnMut(&[u8]) -> bool,
    ) -> Result<Output, GitError> {
        self.exec(args, files, ok, None, each).await
    }

    /// [`Git::run`] for a command that runs hooks (`commit`, `push`): killed with its hooks
    /// after `bound`, if one is given.
    ///
    /// # Errors
    /// git not starting, running past `bound`, or exiting with a code not in `ok`.
    pub async fn run_bounded(
        &self,
        args: &[&str],
        ok: &[i32],
        bound: Option<Duration>,
    ) -> Result<Output, GitError> {
        self.exec_kept(args, &[], ok, bound, None).await
    }

    /// The diff of an untracked file against nothing, as if it were all added (a link as its
    /// target's text, as git would commit it, never what it points to), `numstat` or patch,
    /// stdout cut at `cap`.
    ///
    /// # Errors
    /// git not starting, or failing: `--no-index` says "they differ" and "could not read one"
    /// with the same exit code 1, so a 1 with nothing on stdout and something on stderr (`error:
    /// Could not access`) is a failure, never an empty diff.
    pub async fn diff_untracked(
        &self,
        path: &str,
        numstat: bool,
        cap: usize,
    ) -> Result<Output, GitError> {
        // git reads a link to a directory as that directory (and fails); it is written here as
        // git writes any other new link: its target as the one line of a file of mode 120000.
        let at = self.repo.join(path);
        if let Ok(target) = std::fs::read_link(&at)
            && at.is_dir()
        {
            let target = target.to_string_lossy();
            let text = if numstat {
                format!("1\t0\t/dev/null => {path}\n")
            } else {
                format!(
                    "diff --git a/{path} b/{path}\nnew file mode 120000\n--- /dev/null\n+++ b/{path}\n@@ -0,0 +1 @@\n+{target}\n\\ No newline at end of file\n"
                )
            };
            return Ok(Output {
                stdout: text.into_bytes(),
                stderr: Vec::new(),
                code: 1,
                truncated: false,
            });
        }
        let mut args = vec!["diff", "--no-color", "--no-ext-diff", "--no-index"];
        if numstat {
            args.push("--numstat");
        }
        let out = self
            .exec_kept(&args, &["/dev/null", path], &[1], None, Some(cap))
            .await?;
        let said = String::from_utf8_lossy(&out.stderr);
        let failed = out.code == 1 && out.stdout.is_empty() && !said.trim().is_empty();
        if !out.truncated && (failed || said.contains("Could not access")) {
            return Err(GitError::Failed {
                command: "diff".to_owned(),
                code: Some(out.code),
                stderr: said.into_owned(),
            });
        }
        Ok(out)
    }

    /// The unfinished operation a commit would take part in, if any: a merge, cherry-pick,
    /// revert or rebase stopped half-way (found where git keeps its state, which differs in a
    /// linked worktree), or an index entry in conflict.
    ///
    /// # Errors
    /// git failing.
    pub async fn in_progress(&self) -> Result<Option<Operation>, GitError> {
        let states = [
            ("MERGE_HEAD", Operation::Merge),
            ("CHERRY_PICK_HEAD", Operation::CherryPick),
            ("REVERT_HEAD", Operation::Revert),
            ("rebase-merge", Operation::Rebase),
            ("rebase-apply", Operation::Rebase),
        ];
        let mut args = vec!["rev-parse"];
        for (name, _) in &states {
            args.extend(["--git-path", name]);
        }
        let out = self.run(&args, &[], &[]).await?;
        let text = String::from_utf8_lossy(&out.stdout);
        for ((_, operation), path) in states.iter().zip(text.lines()) {
            // Relative to the work tree's root, where git ran, unless absolute.
            if self.repo.join(path).exists() {
                return Ok(Some(*operation));
            }
        }
        // One byte of `ls-files --unmerged` is enough to know there is a conflict.
        let unmerged = self
            .run_capped(&["ls-files", "--unmerged", "-z"], &[], &[], 1)
            .await?;
        Ok((!unmerged.stdout.is_empty()).then_some(Operation::Conflict))
    }

    async fn exec_kept(
        &self,
        args: &[&str],
        after: &[&str],
        ok: &[i32],
        bound: Option<Duration>,
        cap: Option<usize>,
    ) -> Result<Output, GitError> {
        let mut kept = Vec::new();
        let sink = keeping(&mut kept, cap.unwrap_or(usize::MAX), cap.is_some());
        let mut out = self.exec(args, after, ok, bound, sink).await?;
        out.stdout = kept;
        Ok(out)
    }

    /// Runs git, handing its stdout to `sink` (see [`read_into`]); the [`Output`]'s stdout is
    /// empty (the caller keeps what it wants through `sink`).
    async fn exec(
        &self,
        args: &[&str],
        after: &[&str],
        ok: &[i32],
        bound: Option<Duration>,
        sink: impl FnMut(&[u8]) -> bool,
    ) -> Result<Output, GitError> {
        let mut command = self.reach.command("git").map_err(GitError::Refused)?;
        // The subcommand first; `-C`, `-c` and `--literal-pathspecs` said another way.
        command.args(args);
        if !after.is_empty() {
            command.arg("--").args(after);
        }
        command.current_dir(&self.repo)?;
        // A traced request's `traceparent` is a third setting, for a remote over HTTP(S).
        let count = if self.traceparent.is_some() { "3" } else { "2" };
        for (key, value) in [
            ("GIT_LITERAL_PATHSPECS", "1"),
            ("GIT_CONFIG_COUNT", count),
            ("GIT_CONFIG_KEY_0", "core.quotepath"),
            ("GIT_CONFIG_VALUE_0", "off"),
            ("GIT_CONFIG_KEY_1", "color.ui"),
            ("GIT_CONFIG_VALUE_1", "false"),
            ("GIT_TERMINAL_PROMPT", "0"),
            ("GIT_OPTIONAL_LOCKS", "0"),
            ("LC_ALL", "C"),
        ] {
            command.env(key, value).map_err(GitError::Refused)?;
        }
        if let Some(header) = &self.traceparent {
            for (key, value) in [
                ("GIT_CONFIG_KEY_2", "http.extraHeader"),
                ("GIT_CONFIG_VALUE_2", header.as_str()),
            ] {
                command.env(key, value).map_err(GitError::Refused)?;
            }
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(index) = &self.index {
            command
                .env("GIT_INDEX_FILE", index)
                .map_err(GitError::Refused)?;
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            // Told apart from git itself missing, which fails the same way.
            Err(_) if !self.repo.is_dir() => return Err(GitError::NoDirectory(self.repo.clone())),
            Err(e) => return Err(e.into()),
        };
        // The group's id is the leader's pid; it is killed if this future is dropped early.
        let mut group = Group(child.id());
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let waiting = async {
            let mut err_kept = Vec::new();
            let (out, err) = tokio::join!(
                async {
                    let read = read_into(stdout, sink).await;
                    if matches!(read, Ok(true)) {
                        // Past what the caller wants: git is stopped rather than read to its end.
                        group.kill();
                    }
                    read
                },
                read_into(stderr, keeping(&mut err_kept, STDERR_KEPT, false)),
            );
            let (truncated, _) = (out?, err?);
            let status = child.wait().await?;
            Ok::<_, std::io::Error>((status, Vec::new(), err_kept, truncated))
        };
        let (status, stdout, stderr, truncated) = match bound {
            Some(after) => {
                tokio::time::timeout(after, waiting)
                    .await
                    .map_err(|_| GitError::TimedOut {
                        command: args.first().copied().unwrap_or_default().to_owned(),
                        after,
                    })?
            }
            None => waiting.await,
        }
        .map_err(GitError::Spawn)?;
        group.0 = None;
        let code = status.code().unwrap_or(-1);
        if code == 0 || ok.contains(&code) || truncated {
            Ok(Output {
                stdout,
                stderr,
                code,
                truncated,
            })
        } else {
            Err(GitError::Failed {
                command: args.first().copied().unwrap_or_default().to_owned(),
                code: status.code(),
                stderr: String::from_utf8_lossy(&stderr).into_owned(),
            })
        }
    }

    /// Whether the repository has a commit yet.
    ///
    /// # Errors
    /// git not starting.
    pub async fn has_head(&self) -> Result<bool, GitError> {
        Ok(self
            .run(&["rev-parse", "--verify", "--quiet", "HEAD"], &[], &[1])
            .await?
            .code
            == 0)
    }

    /// What the changes are compared with: `HEAD`, or the empty tree before the first commit.
    ///
    /// # Errors
    /// git not starting.
    pub async fn base(&self) -> Result<&'static str, GitError> {
        Ok(if self.has_head().await? {
            "HEAD"
        } else {
            // The hash of the tree with nothing in it, in every SHA-1 repository.
            "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
        })
    }
}
