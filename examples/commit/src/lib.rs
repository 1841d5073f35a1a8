//! The commit plugin, mounted under `/v1/plugins/commit`: a repository's changes read through
//! git, scope by scope (the repository or one of its directories, or a git repository of its own
//! nested in it, handled as that repository: see [`scope`]), to be planned into conventional
//! commits, applied and pushed.
//!
//! | route | does | needs |
//! |---|---|---|
//! | `GET /scopes` | the scopes clients may use, their labels and repositories | `commit:read` |
//! | `GET /status` | the plan's state, the scope's changes counted | `commit:read` |
//! | `GET /git-status`, `GET /files`, `GET /diff` | staged, unstaged and untracked files; changed files with their lines; one file's diff | `commit:read` |
//! | `POST /generate` | plans the changes into commits | `commit:write` |
//! | `GET`, `PATCH`, `DELETE /plan` | reads, edits one commit of, discards the plan | `commit:read`, `commit:write` |
//! | `POST /regenerate-commit` | writes one planned commit anew | `commit:write` |
//! | `POST /apply` | makes the planned commits (an operation: `202` and its `Location`) | `commit:write` |
//! | `POST /push` | pushes the branch (an operation, run again if its server dies) | `commit:push` |
//! | `POST /summarize` | summarizes the changes | `commit:read` (`commit:write` for `allowSecrets`) |
//! | `GET /actions` | what can be done next | `commit:read` |
//!
//! git runs as a subprocess with an argument vector, started only through the route's
//! [`Reach`]: the plugin declares `permissions(git, tmp)` (git,
//! read-write under the repository and the temporary directory, git's variables), and only
//! `POST /push` may also open TCP connections to the remotes' ports or write to a remote on this
//! machine; on Linux the kernel holds git and its hooks to that (by port: hosts are the handle's
//! check; UDP and, below Landlock ABI 9, Unix sockets are not restricted, as
//! `reach::enforcement()` says). It runs in a process group
//! killed with its hooks when the request (or the operation) is cancelled or times out; every client path is checked to stay inside its
//! scope and passed after `--`, read by git literally. Plans persist in the database with the
//! state of their files and who made them: only a plan's author edits, redoes, applies or
//! discards it (or replaces it before it is applied) unless the caller holds `commit:admin`.
//! Planning works without a model; with one ([`CommitState::with_model`]) generating,
//! redoing a commit and summarizing ask it, after scanning what it would be sent for secrets;
//! asking it needs `ai:generate` too, and is charged to the caller's AI budget
//! ([`model::Model::from_config`] takes the AI plugin's meter).

pub mod changes;
pub mod config;
pub mod git;
pub mod metrics;
pub mod model;
pub mod paths;
pub mod planner;
pub mod scope;
/// The secret scanner, shared with the AI plugin's history.
pub use secret_scan as secrets;
pub mod store;
// Its `refuse_scope!`, `refuse_secrets!` and `refuse_model!` serve the routes declared after it.
#[macro_use]
mod routes;
mod apply;
mod plan_routes;
mod rewrite;

pub use apply::{Applied, ApplyRequest, MadeCommit, PushRequest, Pushed};
pub use plan_routes::{EditCommit, GenerateRequest, Status};
pub use rewrite::{ChangeSummary, RegenerateCommit, SummarizeRequest};
pub use routes::{Actions, DiffQuery, NextAction, ScopeInfo, ScopeQuery, Scopes};
use store::Plans;

use git::Git;
use model::Model;
use paths::RelPath;
use plugin_routes::reach::{Placeholders, Reach};
use plugin_routes::{Ctx, Plugin, plugin};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The plugin's state: the repository, the scopes clients may use, the plans, and the model
/// that plans if one is configured.
#[derive(Debug)]
pub struct CommitState {
    /// The values of the placeholders in the plugin's permissions: `{repo}`, `{remote}` (the
    /// remotes reached over the network), `{remote_dir}` (those on this machine).
    placeholders: Placeholders,
    /// The work tree's root, with links resolved: a scope must resolve inside it.
    root: PathBuf,
    /// The scopes offered, and the repositories (the configured one, nested ones) holding them.
    scopes: scope::Scopes,
    plans: Plans,
    model: Option<Model>,
    /// How long a git that runs hooks (`commit`, `push`) may run; the route's timeout if none.
    git_timeout: Option<Duration>,
    /// Branches a push refuses.
    protected: Vec<String>,
    /// How much one request reads of the work tree, and how many files it works on.
    limits: changes::Limits,
    /// Where commits and pushes are counted, when the server has metrics.
    metrics: Option<metrics::CommitMetrics>,
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
    /// The repository whose work tree is at `repo`, with `scopes` (paths relative to it, with
    /// labels and descriptions if given) as the scopes clients may list; none means the root and
    /// each of its top-level directories. A scope that is a git repository of its own, or lies
    /// in one, is served by that repository ([`scope`]).
    ///
    /// # Errors
    /// `repo` not being a git work tree's root, a scope that is not a directory in it, or one
    /// with a `.git` that is not a repository's.
    pub async fn open(
        repo: &Path,
        scopes: &[scope::ScopeConfig],
        plans: Plans,
    ) -> Result<Self, RepoError> {
        let root = std::fs::canonicalize(repo)
            .map_err(|e| RepoError(format!("{}: {e}", repo.display())))?;
        let mut placeholders =
            Placeholders::new().with("repo", root.to_string_lossy().into_owned());
        let permissions = <CommitPlugin as Plugin>::META
            .permissions
            .unwrap_or(&plugin_routes::Permissions::NONE);
        let reach = Reach::resolve("commit (start)", permissions, &placeholders)
            .map_err(|e| RepoError(e.to_string()))?;
        let git = Git::new(&root, reach);
        let (top, git_dir) = scope::identity(&git, &root).await?;
        if top != root {
            return Err(RepoError(format!(
                "{} is inside the repository at {}; give its root",
                root.display(),
                top.display()
            )));
        }
        placeholders
            .insert_none("remote")
            .insert_none("remote_dir")
            .insert_none("provider");
        remotes(&git, &mut placeholders).await?;
        let scopes = scope::Scopes::open(&root, &git, git_dir, scopes, &mut placeholders).await?;
        Ok(CommitState {
            placeholders,
            root,
            scopes,
            plans,
            model: None,
            git_timeout: None,
            protected: vec!["main".to_owned(), "master".to_owned()],
            limits: changes::Limits::default(),
            metrics: None,
        })
    }

    /// The values of the placeholders in the plugin's permissions: the repository (`{repo}`),
    /// and the remotes as they were when the state was opened (`{remote}`, `{remote_dir}`).
    /// Give them to the plugin: `CommitPlugin::new(state).with_placeholders(&placeholders)`.
    pub fn placeholders(&self) -> Placeholders {
        self.placeholders.clone()
    }

    /// The work tree's root.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Plans, redoes commits and summarizes with `model` instead of without one.
    #[must_use]
    pub fn with_model(mut self, model: Model) -> Self {
        self.placeholders.insert("provider", model.endpoint());
        self.model = Some(model);
        self
    }

    /// Kills a `git commit` or `git push` (its hooks with it) that runs longer than `bound`,
    /// answering `504 GIT_TIMEOUT`; without a bound the route's own timeout applies.
    #[must_use]
    pub fn with_git_timeout(mut self, bound: Duration) -> Self {
        self.git_timeout = Some(bound);
        self
    }

    /// Refuses to push `branches` (`409 PROTECTED_BRANCH`) instead of `main` and `master`; an
    /// empty list protects none.
    #[must_use]
    pub fn with_protected_branches(mut self, branches: Vec<String>) -> Self {
        self.protected = branches;
        self
    }

    /// Counts the commits made and the pushes in `metrics` (`commit_commits_total`,
    /// `commit_pushes_total`).
    #[must_use]
    pub fn with_metrics(mut self, metrics: &plugin_routes::Metrics) -> Self {
        self.metrics = Some(metrics::CommitMetrics::register(metrics));
        self
    }

    /// Reads and works within `limits` instead of [`changes::Limits::default`].
    #[must_use]
    pub fn with_limits(mut self, limits: changes::Limits) -> Self {
        self.limits = limits;
        self
    }

    /// `scope`'s plan and the state of the files it was made from, if it has one; the database
    /// failing is an opaque, logged `500`.
    pub(crate) async fn plan_of(
        &self,
        scope: &RelPath,
    ) -> Result<
        Option<(store::Plan, std::collections::BTreeMap<String, String>)>,
        plugin_routes::RouteError,
    > {
        self.plans
            .load(scope.as_str())
            .await
            .map_err(plugin_routes::RouteError::internal)
    }

    /// Saves `plan`'s commits and state (the state of its files stays) over the revision it was
    /// read at, raising it; `false` if the scope's plan changed or was discarded meanwhile.
    pub(crate) async fn update_plan(
        &self,
        plan: &mut store::Plan,
    ) -> Result<bool, plugin_routes::RouteError> {
        self.plans
            .update(plan, plan_routes::now_ms())
            .await
            .map_err(plugin_routes::RouteError::internal)
    }

    /// The model that plans, if any.
    pub fn model(&self) -> Option<&Model> {
        self.model.as_ref()
    }
}

/// The remotes' addresses, as placeholders of the push route's permissions: each one reached
/// over the network (`https://`, `ssh://`, `git@host:path`, `git://`) by its host and port as
/// `{remote}`, each one on this machine (a path, `file://`) as `{remote_dir}`.
pub(crate) async fn remotes(git: &Git, placeholders: &mut Placeholders) -> Result<(), RepoError> {
    let out = git
        .run(
            &["config", "--get-regexp", r"^remote\..*\.(push)?url$"],
            &[],
            &[1],
        )
        .await
        .map_err(|e| RepoError(format!("the remotes could not be read: {e}")))?;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some((_, url)) = line.split_once(' ') else {
            continue;
        };
        let url = url.trim();
        let local = url
            .strip_prefix("file://")
            .or_else(|| url.starts_with('/').then_some(url));
        if let Some(dir) = local {
            // Only a git repository, and not this one nor one holding it: a remote of `/` (or
            // of the repository's parent) would let a push write anywhere under it.
            let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| PathBuf::from(dir));
            let is_repository = dir.join("HEAD").is_file() && dir.join("objects").is_dir()
                || dir.join(".git").exists();
            if is_repository && !git.root().starts_with(&dir) {
                placeholders.insert("remote_dir", dir.to_string_lossy().into_owned());
            } else {
                tracing::warn!(
                    remote = %dir.display(),
                    "a remote on this machine is not a git repository of its own; pushing to it is not allowed"
                );
            }
            continue;
        }
        // `git@host:path` is ssh to `host`.
        let network = match url.split_once("://") {
            Some(_) => url.to_owned(),
            None => match url.split_once(':') {
                Some((host, _)) => format!("ssh://{host}"),
                None => continue,
            },
        };
        match address_of(&network) {
            Some(address) => {
                placeholders.insert("remote", address);
            }
            None => {
                tracing::warn!(remote = %url, "a remote's address is not understood; pushing to it is not allowed")
            }
        }
    }
    Ok(())
}

/// `host:port` of a remote's URL.
fn address_of(url: &str) -> Option<String> {
    let (host, port) = plugin_routes::reach::host_port_of(url).ok()?;
    Some(if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

/// git for a request, doing only what its route's `permissions(...)` allow.
pub(crate) trait RouteGit {
    /// `repo`'s git (the scope's repository), through the route's handle.
    fn git(&self, repo: &scope::Repository) -> Git;
}

impl RouteGit for Ctx<CommitState> {
    fn git(&self, repo: &scope::Repository) -> Git {
        repo.git
            .with_reach(self.reach())
            .with_traceparent(self.traceparent().as_ref())
    }
}

/// Drive git: read a scope's changes, plan them into conventional commits, apply and push them.
#[plugin(
    name = "commit",
    version = "1.0.0",
    state = CommitState,
    config = config::CommitConfig,
    start = config::start,
    ready = config::ready,
    security(user, token, oauth),
    scopes("commit:read"),
    permissions(git, tmp),
    // Every route takes a scope, but `GET /scopes`, which lists them (and leaves these out).
    errors(
        PATH_OUTSIDE_SCOPE = (400, "the scope is not a relative path inside the repository"),
        SCOPE_NOT_FOUND = (404, "the repository has no such directory"),
    ),
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
        rewrite::regenerate_commit,
        apply::apply,
        apply::push,
        rewrite::summarize,
        routes::actions,
    )
)]
pub struct CommitPlugin;
