//! git, run as a subprocess with an argument vector (never a shell), in the configured
//! repository. Every path a client gave goes after `--`. Each git runs in a process group of its
//! own, and the whole group (hooks included) is killed when the future running it is dropped:
//! the request was cancelled or timed out, or the command ran past its bound. git never prompts
//! (no terminal, no credential helper asking), speaks C-locale English and prints paths
//! unquoted.

use crate::paths::RelPath;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

/// git in one repository.
#[derive(Clone, Debug)]
pub struct Git {
    repo: PathBuf,
    /// The index git uses instead of the repository's, when set.
    index: Option<PathBuf>,
}

/// git could not be run, or failed.
#[derive(Debug)]
pub enum GitError {
    /// The `git` program could not be started.
    Spawn(std::io::Error),
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
            GitError::TimedOut { command, after } => {
                write!(f, "git {command} ran longer than {} s", after.as_secs())
            }
            GitError::Failed {
                command,
                code,
                stderr,
            } => {
                write!(f, "git {command} failed ({code:?}): {}", stderr.trim())
            }
        }
    }
}

impl std::error::Error for GitError {}

/// What a successful run printed.
#[derive(Debug)]
pub struct Output {
    /// Its stdout.
    pub stdout: Vec<u8>,
    /// Its stderr.
    pub stderr: Vec<u8>,
    /// Its exit code (some commands, such as `diff --no-index`, say "different" with 1).
    pub code: i32,
}

/// Kills a git's process group, hooks included, unless the git finished.
struct Group(Option<u32>);

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.0.and_then(|p| i32::try_from(p).ok()) {
            // The group may be gone already; nothing else can be done about a failure here.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl Git {
    /// git in the repository at `repo` (its work tree's root).
    pub fn new(repo: impl Into<PathBuf>) -> Self {
        Git {
            repo: repo.into(),
            index: None,
        }
    }

    /// This git, using the index file at `index` instead of the repository's.
    pub fn with_index(&self, index: &Path) -> Self {
        Git {
            repo: self.repo.clone(),
            index: Some(index.to_owned()),
        }
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
        self.exec(args, &paths, ok, None).await
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
        self.exec(args, &[], ok, bound).await
    }

    /// The diff of an untracked file against nothing, as if it were all added.
    ///
    /// # Errors
    /// git not starting, or failing.
    pub async fn diff_untracked(&self, path: &RelPath) -> Result<Output, GitError> {
        // `--no-index` compares two paths outside the index; 1 means "they differ".
        let args = ["diff", "--no-color", "--no-ext-diff", "--no-index"];
        self.exec(&args, &["/dev/null", path.as_str()], &[1], None)
            .await
    }

    async fn exec(
        &self,
        args: &[&str],
        after: &[&str],
        ok: &[i32],
        bound: Option<Duration>,
    ) -> Result<Output, GitError> {
        let mut command = Command::new("git");
        command
            .arg("-C")
            .arg(&self.repo)
            .args(["-c", "core.quotepath=off", "-c", "color.ui=false"])
            .args(args);
        if !after.is_empty() {
            command.arg("--").args(after);
        }
        command
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_OPTIONAL_LOCKS", "0")
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(index) = &self.index {
            command.env("GIT_INDEX_FILE", index);
        }
        let child = command.spawn().map_err(GitError::Spawn)?;
        // The group's id is the leader's pid; it is killed if this future is dropped early.
        let mut group = Group(child.id());
        let waiting = child.wait_with_output();
        let out = match bound {
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
        let code = out.status.code().unwrap_or(-1);
        if code == 0 || ok.contains(&code) {
            Ok(Output {
                stdout: out.stdout,
                stderr: out.stderr,
                code,
            })
        } else {
            Err(GitError::Failed {
                command: args.first().copied().unwrap_or_default().to_owned(),
                code: out.status.code(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
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
