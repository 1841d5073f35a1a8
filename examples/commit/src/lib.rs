//! The commit plugin, mounted under `/v1/plugins/commit`: a repository's changes read through
//! git, scope by scope (the repository or one of its directories), to be planned into
//! conventional commits, applied and pushed.
//!
//! Done so far: the reading routes (`GET /scopes`, `GET /git-status`, `GET /files`,
//! `GET /diff`), and planning without a model (`POST /generate`, with secrets caught first),
//! reading, editing and discarding a plan (`GET`/`PATCH`/`DELETE /plan`) and `GET /status`; git
//! runs as a subprocess with an argument vector, every client path checked to stay inside its
//! scope and passed after `--`; plans persist in the database.

pub mod changes;
pub mod git;
pub mod paths;
pub mod planner;
pub mod secrets;
pub mod store;
// Its `refuse_scope!` serves the routes declared after it.
#[macro_use]
mod routes;
mod plan_routes;

pub use plan_routes::{EditCommit, GenerateRequest, Status};
pub use routes::{DiffQuery, ScopeInfo, ScopeQuery, Scopes};
use store::Plans;

use git::Git;
use paths::RelPath;
use plugin_runtime::plugin;
use std::path::{Path, PathBuf};

/// The plugin's state: the repository and the scopes clients may use.
#[derive(Debug)]
pub struct CommitState {
    git: Git,
    /// The work tree's root, with links resolved: a scope must resolve inside it.
    root: PathBuf,
    scopes: Vec<RelPath>,
    plans: Plans,
}

/// Why the repository cannot be served.
#[derive(Debug)]
pub struct RepoError(pub String);

impl std::fmt::Display for RepoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RepoError {}

impl CommitState {
    /// The repository whose work tree is at `repo`, with `scopes` (paths relative to it) as the
    /// scopes clients may list; none means the root and each of its top-level directories.
    ///
    /// # Errors
    /// `repo` not being a git work tree's root, or a scope that is not a directory in it.
    pub async fn open(repo: &Path, scopes: &[String], plans: Plans) -> Result<Self, RepoError> {
        let root = std::fs::canonicalize(repo)
            .map_err(|e| RepoError(format!("{}: {e}", repo.display())))?;
        let git = Git::new(&root);
        let top = git
            .run(&["rev-parse", "--show-toplevel"], &[], &[])
            .await
            .map_err(|e| RepoError(format!("{} is not a git repository: {e}", root.display())))?;
        let top = PathBuf::from(String::from_utf8_lossy(&top.stdout).trim());
        if std::fs::canonicalize(&top).ok().as_deref() != Some(root.as_path()) {
            return Err(RepoError(format!(
                "{} is inside the repository at {}; give its root",
                root.display(),
                top.display()
            )));
        }
        let mut list = vec![RelPath::root()];
        if scopes.is_empty() {
            let mut dirs: Vec<String> = std::fs::read_dir(&root)
                .map_err(|e| RepoError(e.to_string()))?
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .collect();
            dirs.sort();
            list.extend(dirs.iter().filter_map(|d| RelPath::parse(d).ok()));
        } else {
            for s in scopes {
                let path = RelPath::parse(s).map_err(|e| RepoError(format!("scope `{s}`: {e}")))?;
                if !root.join(path.as_str()).is_dir() {
                    return Err(RepoError(format!(
                        "scope `{s}` is not a directory of the repository"
                    )));
                }
                if !path.is_root() {
                    list.push(path);
                }
            }
        }
        Ok(CommitState {
            git,
            root,
            scopes: list,
            plans,
        })
    }
}

/// Drive git: read a scope's changes, plan them into conventional commits, apply and push them.
#[plugin(
    name = "commit",
    version = "1.0.0",
    state = CommitState,
    security(user, token, oauth),
    permissions("commit:read"),
    routes(
        routes::scopes,
        routes::git_status,
        routes::files,
        routes::diff,
        plan_routes::status,
        plan_routes::generate,
        plan_routes::get_plan,
        plan_routes::edit_plan,
        plan_routes::discard_plan,
    )
)]
pub struct CommitPlugin;
