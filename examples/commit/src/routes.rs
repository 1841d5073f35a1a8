//! The routes that read a scope's changes. Every route takes `scope`, a directory of the
//! repository (the whole repository by default); a path that would leave it, or that git could
//! read as an option, is `400 PATH_OUTSIDE_SCOPE`, a directory that does not exist
//! `404 SCOPE_NOT_FOUND`. git failing in a way nobody declared is an opaque, logged `500`.
//! The routes that read the changed files' contents work on at most so many files
//! (`422 TOO_MANY_CHANGES` past it) and read each within [`crate::changes::Limits`].

use crate::changes::{self, FileDiff, FileStat, GitStatus, Known};
use crate::paths::RelPath;
use crate::scope::{Scope, ScopeRefusal};
use crate::store::PlanState;
use crate::{CommitState, RouteGit};
use plugin_routes::RouteError;
use plugin_routes::prelude::*;

/// The query of the routes that read a scope.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ScopeQuery {
    /// A directory of the repository, relative to its root; the whole repository if absent.
    #[garde(length(chars, min = 1, max = 200))]
    pub scope: Option<String>,
}

/// The query of `GET /diff`.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    /// A directory of the repository, relative to its root; the whole repository if absent.
    #[garde(length(chars, min = 1, max = 200))]
    pub scope: Option<String>,
    /// The file, relative to the scope.
    #[garde(length(chars, min = 1, max = 800))]
    pub file: String,
}

/// The scopes clients may use.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Scopes {
    /// The repository's root (`.`) first, then its configured directories.
    pub scopes: Vec<ScopeInfo>,
}

/// One scope.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ScopeInfo {
    /// The path to give as `scope`.
    pub path: String,
    /// Whether it is the whole repository.
    pub root: bool,
    /// A short name to show for it, when the configuration gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// What it holds, when the configuration says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The git repository that holds it, from the configured repository's root: `.` for that
    /// one, else a repository of its own nested in it, where git runs for this scope and from
    /// whose root the scope's plans and listings name files.
    pub repository: String,
}

impl CommitState {
    /// The scope `raw` names (the root if none), resolved: see [`crate::scope`].
    pub(crate) fn scope(&self, raw: Option<&str>) -> Result<Scope<'_>, ScopeRefusal> {
        self.scopes.resolve(raw)
    }
}

/// A declared error for a refused scope, in the calling handler's terms.
macro_rules! refuse_scope {
    ($refusal:expr) => {
        match $refusal {
            ScopeRefusal::Outside(raw, why) => {
                route_error!(PATH_OUTSIDE_SCOPE, "scope `{raw}`: {why}")
                    .with_details(serde_json::json!({"field": "scope"}))
            }
            ScopeRefusal::Escapes(raw) => route_error!(
                PATH_OUTSIDE_SCOPE,
                "scope `{raw}` leads outside the repository"
            )
            .with_details(serde_json::json!({"field": "scope"})),
            ScopeRefusal::Missing(raw) => {
                route_error!(SCOPE_NOT_FOUND, "the repository has no directory `{raw}`")
            }
            ScopeRefusal::Foreign(raw, nested) => route_error!(
                PATH_OUTSIDE_SCOPE,
                "scope `{raw}` is inside `{nested}`, a git repository of its own that the server does not serve (list it in COMMIT_SCOPES, and restart, to serve it)"
            )
            .with_details(serde_json::json!({"field": "scope"})),
            ScopeRefusal::Gone(raw, nested) => route_error!(
                SCOPE_NOT_FOUND,
                "scope `{raw}` is in `{nested}`, which was a git repository of its own when the server started and is no longer"
            ),
        }
    };
}

/// `422 TOO_MANY_CHANGES` for a scope with more changed files than a request works on, an
/// opaque `500` for git failing, in the calling handler's terms.
macro_rules! refuse_changes {
    ($error:expr) => {
        match $error {
            $crate::changes::ChangesError::TooMany { files, limit } => route_error!(
                TOO_MANY_CHANGES,
                "the scope has {files} changed files, more than the {limit} one request works on; give a narrower scope"
            )
            .with_details(serde_json::json!({ "files": files, "limit": limit })),
            $crate::changes::ChangesError::TooLarge { bytes, limit } => route_error!(
                TOO_MANY_CHANGES,
                "git's listing of the scope's changes is longer than the {bytes} bytes one request reads (more than the {limit} files one request works on, or very long names); give a narrower scope"
            )
            .with_details(serde_json::json!({ "listingBytes": bytes, "limit": limit })),
            $crate::changes::ChangesError::Git(e) => plugin_routes::RouteError::internal(e),
        }
    };
}

/// `422 SECRETS_DETECTED` for `findings`, in the calling handler's terms.
macro_rules! refuse_secrets {
    ($findings:expr) => {{
        let findings = $findings;
        route_error!(
            SECRETS_DETECTED,
            "{} possible secret(s) in the changes; remove them, or go on with `allowSecrets`",
            findings.len()
        )
        .with_details(serde_json::json!({ "findings": findings }))
    }};
}

/// `502 LLM_FAILED` for a model that failed, logged, or `429 QUOTA_EXCEEDED` for a call over
/// the caller's AI budget, in the calling handler's terms.
macro_rules! refuse_model {
    ($model:expr, $error:expr) => {{
        match $error {
            $crate::model::ModelError::Over(over) => route_error!(
                QUOTA_EXCEEDED,
                "asking the model could cost more than is left of your {} AI budget",
                over.as_str()
            )
            .with_details(serde_json::json!({ "budget": over.as_str() })),
            $crate::model::ModelError::Internal(e) => plugin_routes::RouteError::internal(e),
            error => {
                tracing::warn!(model = $model.name(), error = %error, "the model failed");
                route_error!(LLM_FAILED, "{error}")
            }
        }
    }};
}

/// List the scopes
///
/// The repository's root and the directories configured as scopes, with their labels and
/// descriptions, and the git repository each is in: a scope that is (or lies in) a repository
/// of its own nested in the configured one is served by that repository, and its files are
/// named from that repository's root.
#[plugin_route(
    method = "GET",
    path = "/scopes",
    errors(PATH_OUTSIDE_SCOPE = none, SCOPE_NOT_FOUND = none)
)]
pub(crate) async fn scopes(ctx: Ctx<CommitState>) -> RouteResult<Scopes> {
    Ok(Scopes {
        scopes: ctx
            .scopes
            .offered
            .iter()
            .map(|s| ScopeInfo {
                path: s.path.as_str().to_owned(),
                root: s.path.is_root(),
                label: s.label.clone(),
                description: s.description.clone(),
                repository: ctx.scopes.repos[s.repo].dir.as_str().to_owned(),
            })
            .collect(),
    })
}

/// The scope's git status
///
/// Files staged, unstaged and untracked in the scope, at most as many as `/files` lists.
/// Files whose name is not UTF-8 and untracked nested repositories are left out of every
/// listing and plan, counted in `leftOut`.
#[plugin_route(
    method = "GET",
    path = "/git-status",
    errors(
        TOO_MANY_CHANGES = (422, "the scope has more changed files than one request works on; `details.files` and `details.limit` say how many (`details.listingBytes` instead of `details.files` when git's listing of them is longer than a request reads); give a narrower scope"),
    )
)]
pub(crate) async fn git_status(ctx: Ctx<CommitState>, input: ScopeQuery) -> RouteResult<GitStatus> {
    let scope = ctx
        .scope(input.scope.as_deref())
        .map_err(|r| refuse_scope!(r))?;
    changes::status(&ctx.git(scope.repo), &scope.within, &ctx.limits)
        .await
        .map_err(|e| refuse_changes!(e))
}

/// The scope's changed files
///
/// Every file changed against the last commit (staged or not) and every untracked one, once
/// each, with the lines added and deleted; a file whose name is not UTF-8 and an untracked
/// nested repository are left out (`/git-status` counts them). An untracked link counts as git stores it (one line,
/// its target's text), never through it; an untracked file too large to read is not counted.
#[plugin_route(
    method = "GET",
    path = "/files",
    errors(
        TOO_MANY_CHANGES = (422, "the scope has more changed files than one request works on; `details.files` and `details.limit` say how many (`details.listingBytes` instead of `details.files` when git's listing of them is longer than a request reads); give a narrower scope"),
    )
)]
pub(crate) async fn files(ctx: Ctx<CommitState>, input: ScopeQuery) -> RouteResult<Vec<FileStat>> {
    let scope = ctx
        .scope(input.scope.as_deref())
        .map_err(|r| refuse_scope!(r))?;
    changes::files(&ctx.git(scope.repo), &scope.within, &ctx.limits)
        .await
        .map_err(|e| refuse_changes!(e))
}

/// One file's diff
///
/// The file's changes against the last commit (an untracked file's as all added, a link's as
/// its target's text), with the lines added and deleted. A diff longer than 1 MiB is cut and
/// marked `truncated`. A file git ignores is not found, like one that does not exist.
#[plugin_route(
    method = "GET",
    path = "/diff",
    errors(
        PATH_OUTSIDE_SCOPE = (400, "the scope or the file is not a relative path inside the repository"),
        FILE_NOT_FOUND = (404, "the file is neither tracked nor an untracked file git does not ignore"),
    )
)]
pub(crate) async fn diff(ctx: Ctx<CommitState>, input: DiffQuery) -> RouteResult<FileDiff> {
    let scope = ctx
        .scope(input.scope.as_deref())
        .map_err(|r| refuse_scope!(r))?;
    let file = RelPath::parse(&input.file).map_err(|why| {
        route_error!(PATH_OUTSIDE_SCOPE, "file `{}`: {why}", input.file)
            .with_details(serde_json::json!({"field": "file"}))
    })?;
    let path = scope.within.join(&file);
    let base = ctx
        .git(scope.repo)
        .base()
        .await
        .map_err(RouteError::internal)?;
    // git's own listings decide: nothing through a link, and an ignored file (`.env`) answers
    // exactly as a missing one, so its existence is not told either.
    let tracked = match changes::known(&ctx.git(scope.repo), &path, base)
        .await
        .map_err(RouteError::internal)?
    {
        Known::Tracked => true,
        Known::Untracked => false,
        Known::Unknown => {
            return Err(route_error!(
                FILE_NOT_FOUND,
                "`{path}` is neither tracked nor an untracked file"
            )
            .with_details(serde_json::json!({"field": "file"})));
        }
    };
    changes::diff(
        &ctx.git(scope.repo),
        path.as_str(),
        base,
        tracked,
        ctx.limits.diff_bytes,
    )
    .await
    .map_err(RouteError::internal)
}

/// What can be done next with a scope.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Actions {
    /// The plan's state: `idle` (none), `ready`, `applied` or `pushed`.
    pub state: String,
    /// What can be done now, in the order a person would usually do it.
    pub actions: Vec<NextAction>,
}

/// One thing that can be done.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NextAction {
    /// Its name (`generate`, `edit`, `regenerate-commit`, `apply`, `push`, `discard`,
    /// `summarize`).
    pub name: String,
    /// The route's method.
    pub method: String,
    /// The route's path, under the plugin's (`/v1/plugins/commit`).
    pub path: String,
    /// What it would do now.
    pub description: String,
}

/// What can be done next
///
/// The actions that make sense for the scope as it stands: planning its changes, editing,
/// redoing, applying or discarding its plan, pushing what was applied. Applying is not offered
/// while a merge, cherry-pick, revert or rebase is unfinished, or a file is in conflict; another
/// caller's plan is not offered for applying, editing, redoing, discarding or (while ready)
/// replacing, unless the caller holds `commit:admin`.
#[plugin_route(method = "GET", path = "/actions")]
pub(crate) async fn actions(ctx: Ctx<CommitState>, input: ScopeQuery) -> RouteResult<Actions> {
    let scope = ctx
        .scope(input.scope.as_deref())
        .map_err(|r| refuse_scope!(r))?;
    let changed = changes::changed(&ctx.git(scope.repo), &scope.within)
        .await
        .map_err(RouteError::internal)?;
    let busy = ctx
        .git(scope.repo)
        .in_progress()
        .await
        .map_err(RouteError::internal)?;
    let plan = ctx.plan_of(&scope.name).await?.map(|(p, _)| p);
    // Another caller's plan is theirs to apply, edit, redo, discard or (while ready) replace:
    // it is not offered to this one (`commit:admin` excepted).
    let caller = ctx.caller()?;
    let theirs = plan
        .as_ref()
        .is_some_and(|p| crate::plan_routes::owned_by_other(caller, p).is_some());
    let mut list = Vec::new();
    let mut add = |name: &str, method: &str, path: &str, description: String| {
        list.push(NextAction {
            name: name.to_owned(),
            method: method.to_owned(),
            path: path.to_owned(),
            description,
        });
    };
    let state = plan.as_ref().map_or("idle", |p| p.state.as_str());
    if let Some(p) = plan
        .as_ref()
        .filter(|p| p.state == PlanState::Ready && !theirs)
    {
        let left = p.commits.iter().filter(|c| c.sha.is_none()).count();
        if busy.is_none() {
            add(
                "apply",
                "POST",
                "/apply",
                format!("make the plan's {left} remaining commit(s)"),
            );
        }
        add(
            "edit",
            "PATCH",
            "/plan",
            "change a planned commit's message, type or body".into(),
        );
        add(
            "regenerate-commit",
            "POST",
            "/regenerate-commit",
            "write a planned commit anew".into(),
        );
    }
    if plan.as_ref().is_some_and(|p| p.state == PlanState::Applied) {
        add(
            "push",
            "POST",
            "/push",
            "push the commits made to the remote".into(),
        );
    }
    let replaceable = !(theirs && plan.as_ref().is_some_and(|p| p.state == PlanState::Ready));
    if changed && replaceable {
        let description = if plan.is_some() {
            "plan the changes anew, replacing the plan"
        } else {
            "plan the changes into commits"
        };
        add("generate", "POST", "/generate", description.into());
    }
    if changed {
        add(
            "summarize",
            "POST",
            "/summarize",
            "summarize the changes".into(),
        );
    }
    if plan.is_some() && !theirs {
        add(
            "discard",
            "DELETE",
            "/plan",
            "discard the plan (commits made stay made)".into(),
        );
    }
    Ok(Actions {
        state: state.to_owned(),
        actions: list,
    })
}
