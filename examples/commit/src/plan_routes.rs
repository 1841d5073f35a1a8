//! Making, reading, editing and discarding a scope's plan, and where the scope stands. A plan is
//! made only from a scope with changes, and only when what would leave the machine holds no
//! secret, unless the caller says `allowSecrets`: with a model, everything it would be sent
//! (every line of the diffs, the names); without one, what would be committed (added lines, the
//! names). A plan belongs to whoever made it: only they edit, redo, apply, discard or replace it,
//! unless they hold `commit:admin`; a change made while another request changed the plan is
//! refused with `409 PLAN_CHANGED`, never written over the other's.

use crate::changes::{self, FileDiff, FileStat};
use crate::model;
use crate::planner::{self, CommitType};
use crate::scope::{Scope, ScopeRefusal};
use crate::secrets::{self, Finding};
use crate::store::{Plan, PlanMetadata, PlanMethod, PlanState, PlannedCommit};
use crate::{CommitState, RouteGit};
use plugin_routes::RouteError;
use plugin_routes::prelude::*;
use std::collections::BTreeMap;

/// A subject stays one line: a line break would start a body, and a body can hold trailers
/// (`Signed-off-by: …`) that the plan's reviewer never saw as such.
fn one_line(value: &Option<String>, (): &()) -> garde::Result {
    match value {
        Some(text) if text.chars().any(planner::breaks_line) => Err(garde::Error::new(
            "must be one line, without line breaks or other control characters; put more in `body`",
        )),
        _ => Ok(()),
    }
}

/// The scope that lets a caller act on plans other users made.
pub(crate) const OVERRIDE_SCOPE: &str = "commit:admin";

/// A plan someone else made, which the caller may not change: its author's user id.
pub(crate) struct OwnedByOther(String);

impl std::fmt::Display for OwnedByOther {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the plan was made by another user (`{}`); only they, or a caller holding \
             `{OVERRIDE_SCOPE}`, may change it",
            self.0
        )
    }
}

impl OwnedByOther {
    /// The refusal's details: who made the plan.
    pub(crate) fn details(&self) -> serde_json::Value {
        serde_json::json!({ "createdBy": self.0 })
    }
}

/// Who made `plan`, if it is not `caller` and `caller` does not hold `commit:admin`. A plan made
/// before authors were recorded is nobody's: anyone who may write may change it.
pub(crate) fn owned_by_other(caller: &Principal, plan: &Plan) -> Option<OwnedByOther> {
    match &plan.created_by {
        Some(author) if author != caller.user_id() && !caller.has_scope(OVERRIDE_SCOPE) => {
            Some(OwnedByOther(author.clone()))
        }
        _ => None,
    }
}

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
    /// Answer the plan without keeping it: the scope's plan, if it has one, stays as it is.
    #[garde(skip)]
    #[serde(default)]
    pub dryRun: bool,
}

/// What `PATCH /plan` takes: one commit's new message, type, body or scope.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
#[allow(
    non_snake_case,
    reason = "fields are named as in JSON, so validation errors name them right"
)]
pub struct EditCommit {
    /// A directory of the repository; the whole repository if absent.
    #[garde(length(chars, min = 1, max = 200))]
    pub scope: Option<String>,
    /// The commit's id in the plan (`c1`).
    #[garde(length(min = 1, max = 20))]
    pub id: String,
    /// The new subject, 1 to 200 characters on one line: no line breaks or other control
    /// characters (trailers go in `body`).
    #[garde(length(chars, min = 1, max = 200), custom(one_line))]
    pub message: Option<String>,
    /// The new conventional type.
    #[garde(skip)]
    #[serde(default, rename = "type")]
    pub kind: Option<CommitType>,
    /// The new body; an empty string removes it.
    #[garde(length(chars, max = 10_000))]
    pub body: Option<String>,
    /// The new conventional-commit scope (`api` in `feat(api): …`), up to 50 characters of
    /// letters, digits, `-`, `_`, `.` and `/`; an empty string removes it.
    #[garde(length(chars, max = 50), custom(commit_scope))]
    #[schemars(pattern(r"^[A-Za-z0-9._/-]*$"))]
    pub commitScope: Option<String>,
}

fn commit_scope(value: &Option<String>, (): &()) -> garde::Result {
    match value {
        Some(s)
            if !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c)) =>
        {
            Err(garde::Error::new(
                "must be ASCII letters, digits, `-`, `_`, `.` and `/` only (no spaces, parentheses or colons)",
            ))
        }
        _ => Ok(()),
    }
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

/// The diffs of `files` against the last commit, deleted files left out (they add nothing),
/// each and all of them cut within the state's limits (see [`changes::diffs`]).
pub(crate) async fn diffs_of(
    state: &Ctx<CommitState>,
    scope: &Scope<'_>,
    files: &[FileStat],
) -> Result<Vec<FileDiff>, RouteError> {
    changes::diffs(&state.git(scope.repo), files, &state.limits)
        .await
        .map_err(RouteError::internal)
}

/// `files` (names from the scope's repository's root) as they stand now, those no longer
/// changed left out, with their lines counted (an untracked one's too).
pub(crate) async fn stats_of(
    state: &Ctx<CommitState>,
    scope: &Scope<'_>,
    files: &[String],
) -> Result<Vec<FileStat>, RouteError> {
    let named: Vec<&str> = files.iter().map(String::as_str).collect();
    let git = state.git(scope.repo);
    let mut stats = changes::list_of(&git, &named, &state.limits)
        .await
        .map_err(RouteError::internal)?;
    stats.retain(|f| files.contains(&f.path));
    changes::count_untracked(git.repo(), &mut stats, &state.limits).await;
    Ok(stats)
}

/// The secrets in what a model is sent about `files` and `diffs`: every name, and every line of
/// each diff as far as it is sent ([`model::sent_diffs`]), file by file.
pub(crate) fn secrets_sent(files: &[FileStat], diffs: &[FileDiff]) -> Vec<Finding> {
    let mut found: Vec<Finding> = Vec::new();
    let mut add = |more: Vec<Finding>| {
        for f in more {
            if !found.contains(&f) {
                found.push(f);
            }
        }
    };
    for f in files {
        add(secrets::scan_name(&f.path));
    }
    for (d, sent) in model::sent_diffs(diffs) {
        add(secrets::scan_name(&d.path));
        if let Some(text) = sent {
            add(secrets::scan_diff(&d.path, text));
        }
    }
    found
}

/// The secrets in what committing `files` would record: every name, and each diff's added lines
/// (what planning without a model looks at; nothing leaves the machine, so a secret being
/// removed, or one already committed beside a change, does not stop it).
pub(crate) fn secrets_committed(files: &[FileStat], diffs: &[FileDiff]) -> Vec<Finding> {
    let mut found: Vec<Finding> = Vec::new();
    for f in files {
        found.extend(secrets::scan_name(&f.path));
    }
    for d in diffs {
        found.extend(secrets::scan_name(&d.path));
        found.extend(secrets::scan_added(&d.path, &d.diff));
    }
    let mut once = Vec::new();
    for f in found {
        if !once.contains(&f) {
            once.push(f);
        }
    }
    once
}

/// The refusal of a change that lost a race: the scope's plan is no longer the one it read.
macro_rules! refuse_changed {
    ($scope:expr) => {
        route_error!(
            PLAN_CHANGED,
            "scope `{}`'s plan changed, or was discarded or replaced, while this request ran; \
             read it again (`GET /plan`) and retry",
            $scope
        )
    };
}
pub(crate) use refuse_changed;

/// The state of `files` now (see [`changes::fingerprint`]: never read through a link).
pub(crate) async fn fingerprint(
    state: &Ctx<CommitState>,
    scope: &Scope<'_>,
    files: &[String],
) -> Result<BTreeMap<String, String>, RouteError> {
    changes::fingerprint(&state.git(scope.repo), files)
        .await
        .map_err(RouteError::internal)
}

/// Where the scope stands
///
/// Its plan's state and its changes.
#[plugin_route(method = "GET", path = "/status")]
pub(crate) async fn status(ctx: Ctx<CommitState>, input: crate::ScopeQuery) -> RouteResult<Status> {
    let scope = ctx
        .scope(input.scope.as_deref())
        .map_err(|r| refuse_scope!(r))?;
    // Counted as git lists them, no name kept: it answers for a scope of any size.
    let counts = changes::counts(&ctx.git(scope.repo), &scope.within)
        .await
        .map_err(RouteError::internal)?;
    let plan = ctx.plan_of(&scope.name).await?;
    let (state, planned, applied) = match &plan {
        None => ("idle".to_owned(), 0, 0),
        Some((p, _)) => {
            let applied = p.commits.iter().filter(|c| c.sha.is_some()).count();
            (p.state.as_str().to_owned(), p.commits.len(), applied)
        }
    };
    Ok(Status {
        state,
        staged: counts.staged,
        unstaged: counts.unstaged,
        untracked: counts.untracked,
        files_changed: counts.files,
        commits_planned: planned,
        commits_applied: applied,
    })
}

/// Plan the scope's changes into commits
///
/// Groups the changed files into conventional commits, from what their diffs do (see the
/// plugin's README), and keeps the plan as the caller's, replacing the scope's previous one;
/// a plan another user made that is not applied yet is replaced only by a caller holding
/// `commit:admin`. With a model, what it would be sent (every line of the diffs, the file names)
/// is scanned for secrets first; without one, what would be committed (added lines, file
/// names). A plan made or changed by another request while this one ran is not replaced
/// (`409 PLAN_CHANGED`). With `dryRun`, the plan is answered and not kept. `metadata` says how
/// it was made (`model` or `heuristics`) and the tokens it took (`tokensUsed`, planning and
/// redoing its commits together), and a model's commits say why (`reasoning`).
///
/// With a model configured, it plans instead: asking it needs the scope `ai:generate` as well
/// (`403 FORBIDDEN` otherwise) and is charged to the caller's AI budget, shown by
/// `GET /v1/plugins/ai/usage` (`429 QUOTA_EXCEEDED` when it could cost more than is left).
#[plugin_route(
    method = "POST",
    path = "/generate",
    // Its model, when one is configured, is asked over the network.
    permissions(git, tmp, net("{provider}")),
    timeout_ms = 300_000,
    scopes("commit:write"),
    errors(
        NO_CHANGES = (400, "the scope has no changes to plan"),
        PLAN_OWNED_BY_OTHER = (403, "the scope's plan, not applied yet, was made by another user; only they or a caller holding `commit:admin` may replace it; `details.createdBy` names them"),
        PLAN_CHANGED = (409, "the scope's plan changed, or another was made, while this request ran (say, while the model planned); nothing was saved; read the plan again and retry"),
        SECRETS_DETECTED = (422, "what would leave the machine holds what looks like a secret: with a model, what it would be sent (every line of the diffs, the file names); without one, what would be committed (added lines, file names); `details.findings` lists file, line, part (`new`, `old` or `name`) and kind"),
        TOO_MANY_CHANGES = (422, "the scope has more changed files than one request works on; `details.files` and `details.limit` say how many (`details.listingBytes` instead of `details.files` when git's listing of them is longer than a request reads); give a narrower scope"),
        QUOTA_EXCEEDED = (429, "asking the model could cost more than is left of the caller's AI budget (see `GET /v1/plugins/ai/usage`); `details.budget` says which"),
        LLM_FAILED = (502, "the model failed, could not be reached, or answered something that is not a valid plan; no plan was kept"),
    )
)]
pub(crate) async fn generate(ctx: Ctx<CommitState>, input: GenerateRequest) -> RouteResult<Plan> {
    let scope = ctx
        .scope(input.scope.as_deref())
        .map_err(|r| refuse_scope!(r))?;
    let files = changes::files(&ctx.git(scope.repo), &scope.within, &ctx.limits)
        .await
        .map_err(|e| refuse_changes!(e))?;
    if files.is_empty() {
        return Err(route_error!(NO_CHANGES, "scope `{scope}` has no changes"));
    }
    let caller = ctx.caller()?.clone();
    // The plan this one replaces, as it is now: it is replaced only if it is still this one
    // when the new plan is saved (its owner is checked here, and may not change meanwhile).
    let seen = ctx.plan_of(&scope.name).await?.map(|(old, _)| old);
    if let Some(old) = &seen
        && !input.dryRun
        && old.state == PlanState::Ready
        && let Some(other) = owned_by_other(&caller, old)
    {
        return Err(route_error!(PLAN_OWNED_BY_OTHER, "{other}").with_details(other.details()));
    }
    // The files' state the plan records is taken before their diffs are read: what is scanned
    // and planned is this state or newer, so an edit made meanwhile makes the plan stale.
    let every: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
    let made_from = fingerprint(&ctx, &scope, &every).await?;
    // The diffs are scanned, sent to a model, or read by the planner.
    let diffs = diffs_of(&ctx, &scope, &files).await?;
    if !input.allowSecrets {
        let findings = if ctx.model.is_some() {
            secrets_sent(&files, &diffs)
        } else {
            secrets_committed(&files, &diffs)
        };
        if !findings.is_empty() {
            return Err(refuse_secrets!(findings));
        }
    }
    let mut tokens_used = 0;
    let commits: Vec<PlannedCommit> = match &ctx.model {
        Some(model) => {
            let (proposals, tokens) = model
                .plan(crate::model::caller_for_model(&ctx)?, &files, &diffs)
                .await
                .map_err(|e| refuse_model!(model, e))?;
            tokens_used = tokens;
            proposals
        }
        .into_iter()
        .enumerate()
        .map(|(i, p)| PlannedCommit {
            id: format!("c{}", i + 1),
            kind: p.kind,
            scope: p.scope,
            message: planner::one_line(&p.message),
            body: p.body,
            files: p.files,
            breaking: p.breaking,
            sha: None,
            reasoning: p
                .reasoning
                .map(|r| planner::one_line(&r.trim().chars().take(500).collect::<String>()))
                .filter(|r| !r.is_empty()),
        })
        .collect(),
        None => planner::plan(&files, &diffs)
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
                reasoning: None,
            })
            .collect(),
    };
    let mut plan = Plan {
        scope: scope.name.as_str().to_owned(),
        repository: Some(scope.repo.dir.as_str().to_owned()),
        state: PlanState::Ready,
        commits,
        model: ctx.model.as_ref().map(|m| m.name().to_owned()),
        created_at: now_ms(),
        created_by: Some(caller.user_id().to_owned()),
        edited_by: None,
        metadata: Some(PlanMetadata {
            method: if ctx.model.is_some() {
                PlanMethod::Model
            } else {
                PlanMethod::Heuristics
            },
            model: ctx.model.as_ref().map(|m| m.name().to_owned()),
            tokens_used,
        }),
        revision: 0,
    };
    if input.dryRun {
        return Ok(plan);
    }
    if !ctx
        .plans
        .save(&mut plan, &made_from, seen.as_ref())
        .await
        .map_err(RouteError::internal)?
    {
        return Err(refuse_changed!(scope));
    }
    Ok(plan)
}

/// The scope's plan
#[plugin_route(
    method = "GET",
    path = "/plan",
    errors(
        NO_PLAN = (404, "the scope has no plan; `POST /generate` makes one"),
    )
)]
pub(crate) async fn get_plan(ctx: Ctx<CommitState>, input: crate::ScopeQuery) -> RouteResult<Plan> {
    let scope = ctx
        .scope(input.scope.as_deref())
        .map_err(|r| refuse_scope!(r))?;
    match ctx.plan_of(&scope.name).await? {
        Some((plan, _)) => Ok(plan),
        None => Err(route_error!(NO_PLAN, "scope `{scope}` has no plan")),
    }
}

/// Edit one planned commit
///
/// Changes its message (one line), type, body (where trailers such as `Signed-off-by` go) or
/// conventional-commit scope (`commitScope`, empty to remove it); its files stay. Only the plan's author edits it, unless the caller holds `commit:admin`; the
/// plan records who edited it last (`editedBy`).
#[plugin_route(
    method = "PATCH",
    path = "/plan",
    scopes("commit:write"),
    errors(
        PLAN_OWNED_BY_OTHER = (403, "the plan was made by another user; only they or a caller holding `commit:admin` may edit it; `details.createdBy` names them"),
        NO_PLAN = (404, "the scope has no plan; `POST /generate` makes one"),
        COMMIT_NOT_FOUND = (404, "the plan has no commit with this id"),
        ALREADY_APPLIED = (409, "the commit was made already, or the plan is no longer `ready`"),
        PLAN_CHANGED = (409, "the plan changed (edited, redone, applied, replaced or discarded) while this request ran; nothing was saved; read it again and retry"),
    )
)]
pub(crate) async fn edit_plan(ctx: Ctx<CommitState>, input: EditCommit) -> RouteResult<Plan> {
    let scope = ctx
        .scope(input.scope.as_deref())
        .map_err(|r| refuse_scope!(r))?;
    let Some((mut plan, _)) = ctx.plan_of(&scope.name).await? else {
        return Err(route_error!(NO_PLAN, "scope `{scope}` has no plan"));
    };
    let caller = ctx.caller()?;
    if let Some(other) = owned_by_other(caller, &plan) {
        return Err(route_error!(PLAN_OWNED_BY_OTHER, "{other}").with_details(other.details()));
    }
    if plan.state != PlanState::Ready {
        return Err(route_error!(
            ALREADY_APPLIED,
            "scope `{scope}`'s plan is {}; it can no longer be edited",
            plan.state.as_str()
        ));
    }
    plan.edited_by = Some(caller.user_id().to_owned());
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
    if let Some(s) = input.commitScope {
        commit.scope = (!s.is_empty()).then_some(s);
    }
    if !ctx.update_plan(&mut plan).await? {
        return Err(refuse_changed!(scope));
    }
    Ok(plan)
}

/// Discard the scope's plan
///
/// Only its author discards it, unless the caller holds `commit:admin`.
#[plugin_route(
    method = "DELETE",
    path = "/plan",
    status = 204,
    scopes("commit:write"),
    errors(
        PLAN_OWNED_BY_OTHER = (403, "the plan was made by another user; only they or a caller holding `commit:admin` may discard it; `details.createdBy` names them"),
        NO_PLAN = (404, "the scope has no plan"),
        PLAN_CHANGED = (409, "the plan changed (edited, redone, applied, replaced or discarded) while this request ran; it was not discarded; read it again and retry"),
    )
)]
pub(crate) async fn discard_plan(
    ctx: Ctx<CommitState>,
    input: crate::ScopeQuery,
) -> RouteResult<()> {
    let scope = ctx
        .scope(input.scope.as_deref())
        .map_err(|r| refuse_scope!(r))?;
    let Some((plan, _)) = ctx.plan_of(&scope.name).await? else {
        return Err(route_error!(NO_PLAN, "scope `{scope}` has no plan"));
    };
    if let Some(other) = owned_by_other(ctx.caller()?, &plan) {
        return Err(route_error!(PLAN_OWNED_BY_OTHER, "{other}").with_details(other.details()));
    }
    if ctx
        .plans
        .discard(&plan)
        .await
        .map_err(RouteError::internal)?
    {
        Ok(())
    } else {
        Err(refuse_changed!(scope))
    }
}
