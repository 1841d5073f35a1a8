//! Making, reading, editing and discarding a scope's plan, and where the scope stands. A plan is
//! made only from a scope with changes, and only when the lines it adds hold no secret (unless
//! the caller says `allowSecrets`): nothing is planned, and nothing would leave the machine, from
//! a diff with a private key in it.

use crate::CommitState;
use crate::changes::{self, Change, FileDiff, FileStat};
use crate::paths::RelPath;
use crate::planner::{self, CommitType};
use crate::routes::ScopeRefusal;
use crate::secrets::{self, Finding};
use crate::store::{Plan, PlanState, PlannedCommit};
use plugin_runtime::RouteError;
use plugin_runtime::prelude::*;
use std::collections::BTreeMap;

/// What `POST /generate` takes.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
#[allow(
    non_snake_case,
    reason = "fields are named as in JSON, so validation errors name them right"
)]
pub struct GenerateRequest {
    /// A directory of the repository; the whole repository if absent.
    #[garde(length(chars, min = 1, max = 200))]
    pub scope: Option<String>,
    /// Plan even when the changes hold what looks like a secret.
    #[garde(skip)]
    #[serde(default)]
    pub allowSecrets: bool,
}

/// What `PATCH /plan` takes: one commit's new message, type or body.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct EditCommit {
    /// A directory of the repository; the whole repository if absent.
    #[garde(length(chars, min = 1, max = 200))]
    pub scope: Option<String>,
    /// The commit's id in the plan (`c1`).
    #[garde(length(min = 1, max = 20))]
    pub id: String,
    /// The new subject, 1 to 200 characters.
    #[garde(length(chars, min = 1, max = 200))]
    pub message: Option<String>,
    /// The new conventional type.
    #[garde(skip)]
    #[serde(default, rename = "type")]
    pub kind: Option<CommitType>,
    /// The new body; an empty string removes it.
    #[garde(length(chars, max = 10_000))]
    pub body: Option<String>,
}

/// Where a scope stands: its plan, its changes.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// `idle` (no plan), `ready`, `applied` or `pushed`.
    pub state: String,
    /// Files with staged changes.
    pub staged: usize,
    /// Files with unstaged changes.
    pub unstaged: usize,
    /// Untracked files.
    pub untracked: usize,
    /// Files changed against the last commit, untracked ones included.
    pub files_changed: usize,
    /// Commits the plan has.
    pub commits_planned: usize,
    /// Commits of the plan that were made.
    pub commits_applied: usize,
}

pub(crate) fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// The diffs of `files` against the last commit, deleted files left out (they add nothing).
pub(crate) async fn diffs_of(
    state: &CommitState,
    files: &[FileStat],
) -> Result<Vec<FileDiff>, RouteError> {
    let base = state.git.base().await.map_err(RouteError::internal)?;
    let mut out = Vec::new();
    for f in files.iter().filter(|f| f.change != Change::Deleted) {
        let Ok(path) = RelPath::parse(&f.path) else {
            continue;
        };
        let tracked = f.change != Change::Untracked;
        let diff = changes::diff(&state.git, &path, base, tracked)
            .await
            .map_err(RouteError::internal)?;
        out.push(diff);
    }
    Ok(out)
}

/// The secrets in the lines `diffs` add.
pub(crate) fn secrets_in(diffs: &[FileDiff]) -> Vec<Finding> {
    diffs
        .iter()
        .flat_map(|d| secrets::scan_diff(&d.path, &d.diff))
        .collect()
}

/// The state of `files` now: each one's blob hash, or `deleted`.
pub(crate) async fn fingerprint(
    state: &CommitState,
    files: &[String],
) -> Result<BTreeMap<String, String>, RouteError> {
    let present: Vec<RelPath> = files
        .iter()
        .filter(|f| state.root.join(f).is_file())
        .filter_map(|f| RelPath::parse(f).ok())
        .collect();
    let mut out: BTreeMap<String, String> = files
        .iter()
        .map(|f| (f.clone(), "deleted".to_owned()))
        .collect();
    if !present.is_empty() {
        let refs: Vec<&RelPath> = present.iter().collect();
        let hashes = state
            .git
            .run(&["hash-object"], &refs, &[])
            .await
            .map_err(RouteError::internal)?;
        let text = String::from_utf8_lossy(&hashes.stdout);
        for (path, hash) in present.iter().zip(text.lines()) {
            out.insert(path.as_str().to_owned(), hash.trim().to_owned());
        }
    }
    Ok(out)
}

/// Where the scope stands
///
/// Its plan's state and its changes.
#[plugin_route(
    method = "GET",
    path = "/status",
    errors(
        PATH_OUTSIDE_SCOPE = (400, "the scope is not a relative path inside the repository"),
        SCOPE_NOT_FOUND = (404, "the repository has no such directory"),
    )
)]
pub(crate) async fn status(ctx: Ctx<CommitState>, input: crate::ScopeQuery) -> RouteResult<Status> {
    let scope = ctx
        .scope(input.scope.as_deref())
        .map_err(|r| refuse_scope!(r))?;
    let git_status = changes::status(&ctx.git, &scope)
        .await
        .map_err(RouteError::internal)?;
    let files = changes::files(&ctx.git, &scope)
        .await
        .map_err(RouteError::internal)?;
    let plan = ctx.plan_of(&scope).await?;
    let (state, planned, applied) = match &plan {
        None => ("idle".to_owned(), 0, 0),
        Some((p, _)) => {
            let applied = p.commits.iter().filter(|c| c.sha.is_some()).count();
            (p.state.as_str().to_owned(), p.commits.len(), applied)
        }
    };
    Ok(Status {
        state,
        staged: git_status.staged.len(),
        unstaged: git_status.unstaged.len(),
        untracked: git_status.untracked.len(),
        files_changed: files.len(),
        commits_planned: planned,
        commits_applied: applied,
    })
}

/// Plan the scope's changes into commits
///
/// Groups the changed files into conventional commits (documentation, tests, build and CI files,
/// source by directory) and keeps the plan, replacing the scope's previous one. The added lines
/// are scanned for secrets first.
#[plugin_route(
    method = "POST",
    path = "/generate",
    timeout_ms = 300_000,
    permissions("commit:write"),
    errors(
        PATH_OUTSIDE_SCOPE = (400, "the scope is not a relative path inside the repository"),
        NO_CHANGES = (400, "the scope has no changes to plan"),
        SCOPE_NOT_FOUND = (404, "the repository has no such directory"),
        SECRETS_DETECTED = (422, "the changes hold what looks like a secret; `details.findings` lists file, line and kind"),
        LLM_FAILED = (502, "the model failed, could not be reached, or answered something that is not a valid plan; no plan was kept"),
    )
)]
pub(crate) async fn generate(ctx: Ctx<CommitState>, input: GenerateRequest) -> RouteResult<Plan> {
    let scope = ctx
        .scope(input.scope.as_deref())
        .map_err(|r| refuse_scope!(r))?;
    let files = changes::files(&ctx.git, &scope)
        .await
        .map_err(RouteError::internal)?;
    if files.is_empty() {
        return Err(route_error!(NO_CHANGES, "scope `{scope}` has no changes"));
    }
    // The diffs are read when they are scanned, or sent to a model; planning without a model
    // from changes let through with `allowSecrets` needs only the file list.
    let diffs = if !input.allowSecrets || ctx.model.is_some() {
        diffs_of(&ctx, &files).await?
    } else {
        Vec::new()
    };
    if !input.allowSecrets {
        let findings = secrets_in(&diffs);
        if !findings.is_empty() {
            return Err(refuse_secrets!(findings));
        }
    }
    let commits: Vec<PlannedCommit> = match &ctx.model {
        Some(model) => model
            .plan(&files, &diffs)
            .await
            .map_err(|e| refuse_model!(model, e))?
            .into_iter()
            .enumerate()
            .map(|(i, p)| PlannedCommit {
                id: format!("c{}", i + 1),
                kind: p.kind,
                scope: p.scope,
                message: p.message,
                body: p.body,
                files: p.files,
                breaking: p.breaking,
                sha: None,
            })
            .collect(),
        None => planner::plan(&files)
            .into_iter()
            .enumerate()
            .map(|(i, d)| PlannedCommit {
                id: format!("c{}", i + 1),
                kind: d.kind,
                scope: d.scope,
                message: d.message,
                body: None,
                files: d.files,
                breaking: false,
                sha: None,
            })
            .collect(),
    };
    let every: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
    let state = fingerprint(&ctx, &every).await?;
    let plan = Plan {
        scope: scope.as_str().to_owned(),
        state: PlanState::Ready,
        commits,
        model: ctx.model.as_ref().map(|m| m.name().to_owned()),
        created_at: now_ms(),
    };
    ctx.plans
        .save(&plan, &state)
        .await
        .map_err(RouteError::internal)?;
    Ok(plan)
}

/// The scope's plan
#[plugin_route(
    method = "GET",
    path = "/plan",
    errors(
        PATH_OUTSIDE_SCOPE = (400, "the scope is not a relative path inside the repository"),
        SCOPE_NOT_FOUND = (404, "the repository has no such directory"),
        NO_PLAN = (404, "the scope has no plan; `POST /generate` makes one"),
    )
)]
pub(crate) async fn get_plan(ctx: Ctx<CommitState>, input: crate::ScopeQuery) -> RouteResult<Plan> {
    let scope = ctx
        .scope(input.scope.as_deref())
        .map_err(|r| refuse_scope!(r))?;
    match ctx.plan_of(&scope).await? {
        Some((plan, _)) => Ok(plan),
        None => Err(route_error!(NO_PLAN, "scope `{scope}` has no plan")),
    }
}

/// Edit one planned commit
///
/// Changes its message, type or body; its files stay.
#[plugin_route(
    method = "PATCH",
    path = "/plan",
    permissions("commit:write"),
    errors(
        PATH_OUTSIDE_SCOPE = (400, "the scope is not a relative path inside the repository"),
        SCOPE_NOT_FOUND = (404, "the repository has no such directory"),
        NO_PLAN = (404, "the scope has no plan; `POST /generate` makes one"),
        COMMIT_NOT_FOUND = (404, "the plan has no commit with this id"),
        ALREADY_APPLIED = (409, "the commit was made already"),
    )
)]
pub(crate) async fn edit_plan(ctx: Ctx<CommitState>, input: EditCommit) -> RouteResult<Plan> {
    let scope = ctx
        .scope(input.scope.as_deref())
        .map_err(|r| refuse_scope!(r))?;
    let Some((mut plan, _)) = ctx.plan_of(&scope).await? else {
        return Err(route_error!(NO_PLAN, "scope `{scope}` has no plan"));
    };
    let Some(commit) = plan.commits.iter_mut().find(|c| c.id == input.id) else {
        return Err(route_error!(
            COMMIT_NOT_FOUND,
            "the plan has no commit `{}`",
            input.id
        ));
    };
    if commit.sha.is_some() {
        return Err(route_error!(
            ALREADY_APPLIED,
            "commit `{}` was made already; it can no longer be edited",
            input.id
        ));
    }
    if let Some(m) = input.message {
        commit.message = m;
    }
    if let Some(k) = input.kind {
        commit.kind = k;
    }
    if let Some(b) = input.body {
        commit.body = (!b.is_empty()).then_some(b);
    }
    if !ctx.update_plan(&plan).await? {
        return Err(route_error!(
            NO_PLAN,
            "scope `{scope}`'s plan was discarded meanwhile"
        ));
    }
    Ok(plan)
}

/// Discard the scope's plan
#[plugin_route(
    method = "DELETE",
    path = "/plan",
    status = 204,
    permissions("commit:write"),
    errors(
        PATH_OUTSIDE_SCOPE = (400, "the scope is not a relative path inside the repository"),
        SCOPE_NOT_FOUND = (404, "the repository has no such directory"),
        NO_PLAN = (404, "the scope has no plan"),
    )
)]
pub(crate) async fn discard_plan(
    ctx: Ctx<CommitState>,
    input: crate::ScopeQuery,
) -> RouteResult<()> {
    let scope = ctx
        .scope(input.scope.as_deref())
        .map_err(|r| refuse_scope!(r))?;
    if ctx
        .plans
        .discard(scope.as_str())
        .await
        .map_err(RouteError::internal)?
    {
        Ok(())
    } else {
        Err(route_error!(NO_PLAN, "scope `{scope}` has no plan"))
    }
}
