//! Redoing one planned commit and summarizing changes: by the model when one is configured
//! (after the diffs it would be sent are scanned for secrets), else from the files themselves.

use crate::changes::{self, Change, FileDiff, FileStat};
use crate::paths::RelPath;
use crate::plan_routes::{diffs_of, owned_by_other, refuse_changed, secrets_sent};
use crate::planner;
use crate::scope::ScopeRefusal;
use crate::secrets::{self, Part};
use crate::store::{Plan, PlanState};
use crate::{CommitState, RouteGit};
use plugin_routes::prelude::*;
use std::fmt::Write as _;

/// What `POST /regenerate-commit` takes.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
#[allow(
    non_snake_case,
    reason = "fields are named as in JSON, so validation errors name them right"
)]
pub struct RegenerateCommit {
    /// A directory of the repository; the whole repository if absent.
    #[garde(length(chars, min = 1, max = 200))]
    pub scope: Option<String>,
    /// The commit's id in the plan (`c1`).
    #[garde(length(min = 1, max = 20))]
    pub id: String,
    /// What the model should do differently ("mention the migration"); needs a model.
    #[garde(length(chars, min = 1, max = 2000))]
    pub instruction: Option<String>,
    /// Send the diff to the model even when it holds what looks like a secret.
    #[garde(skip)]
    #[serde(default)]
    pub allowSecrets: bool,
}

/// What `POST /summarize` takes.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
#[allow(
    non_snake_case,
    reason = "fields are named as in JSON, so validation errors name them right"
)]
pub struct SummarizeRequest {
    /// A directory of the repository; the whole repository if absent.
    #[garde(length(chars, min = 1, max = 200))]
    pub scope: Option<String>,
    /// One changed file, relative to the scope; every changed file of the scope if absent.
    #[garde(length(chars, min = 1, max = 800))]
    pub file: Option<String>,
    /// Send the diffs to the model even when they hold what looks like a secret.
    #[garde(skip)]
    #[serde(default)]
    pub allowSecrets: bool,
}

/// What `POST /summarize` answers.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeSummary {
    /// A few sentences on the changes.
    pub summary: String,
    /// The files summarized.
    pub files: usize,
    /// Lines they add.
    pub additions: u64,
    /// Lines they delete.
    pub deletions: u64,
    /// The model that wrote it; absent when it was written without one.
    pub model: Option<String>,
    /// Tokens the model used for it; 0 without a model.
    pub tokens_used: u64,
}

/// Redo one planned commit
///
/// Writes the commit's type, scope, message and body anew from its files' changes: by the model,
/// following the instruction if one is given, or else as planning without a model would. Its
/// files stay.
/// Only the plan's author redoes its commits, unless the caller holds `commit:admin`; a plan
/// changed by another request while the model wrote is left as that request left it
/// (`409 PLAN_CHANGED`).
///
/// Asking the model needs the scope `ai:generate` as well (`403 FORBIDDEN` otherwise) and is
/// charged to the caller's AI budget, shown by `GET /v1/plugins/ai/usage` (`429 QUOTA_EXCEEDED`
/// when it could cost more than is left).
#[plugin_route(
    method = "POST",
    path = "/regenerate-commit",
    // Its model, when one is configured, is asked over the network.
    permissions(git, tmp, net("{provider}")),
    timeout_ms = 300_000,
    scopes("commit:write"),
    errors(
        MODEL_NOT_CONFIGURED = (400, "an instruction was given, and this server plans without a model"),
        NO_PLAN = (404, "the scope has no plan; `POST /generate` makes one"),
        COMMIT_NOT_FOUND = (404, "the plan has no commit with this id"),
        ALREADY_APPLIED = (409, "the commit was made already, or the plan is no longer `ready`"),
        PLAN_CHANGED = (409, "the plan changed (edited, redone, applied, replaced or discarded) while this request ran; nothing was saved; read it again and retry"),
        PLAN_OWNED_BY_OTHER = (403, "the plan was made by another user; only they or a caller holding `commit:admin` may redo its commits; `details.createdBy` names them"),
        SECRETS_DETECTED = (422, "what the model would be sent (the diffs, the file names, the commit's message, the instruction) holds what looks like a secret; `details.findings` lists file, line, part (`new`, `old`, `name`, `message` or `instruction`) and kind"),
        QUOTA_EXCEEDED = (429, "asking the model could cost more than is left of the caller's AI budget (see `GET /v1/plugins/ai/usage`); `details.budget` says which"),
        LLM_FAILED = (502, "the model failed, could not be reached, or answered something that is not a valid commit; the plan is unchanged"),
    )
)]
pub(crate) async fn regenerate_commit(
    ctx: Ctx<CommitState>,
    input: RegenerateCommit,
) -> RouteResult<Plan> {
    let scope = ctx
        .scope(input.scope.as_deref())
        .map_err(|r| refuse_scope!(r))?;
    if input.instruction.is_some() && ctx.model.is_none() {
        return Err(route_error!(
            MODEL_NOT_CONFIGURED,
            "this server plans without a model, so it cannot follow an instruction; leave it out"
        )
        .with_details(serde_json::json!({"field": "instruction"})));
    }
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
            "scope `{scope}`'s plan is {}; its commits can no longer be redone",
            plan.state.as_str()
        ));
    }
    plan.edited_by = Some(caller.user_id().to_owned());
    let Some(at) = plan.commits.iter().position(|c| c.id == input.id) else {
        return Err(route_error!(
            COMMIT_NOT_FOUND,
            "the plan has no commit `{}`",
            input.id
        ));
    };
    if plan.commits[at].sha.is_some() {
        return Err(route_error!(
            ALREADY_APPLIED,
            "commit `{}` was made already",
            input.id
        ));
    }
    // Its files as they stand now, the ones no longer changed left out of the description.
    // Only its files are listed (a plan holds no more than a request works on).
    let own = crate::plan_routes::stats_of(&ctx, &scope, &plan.commits[at].files).await?;
    let commit = &mut plan.commits[at];
    match &ctx.model {
        Some(model) => {
            let diffs = diffs_of(&ctx, &scope, &own).await?;
            if !input.allowSecrets {
                // The prompt quotes the commit's subject and the instruction too.
                let mut findings = secrets_sent(&own, &diffs);
                findings.extend(secrets::scan_text(
                    Part::Message,
                    &crate::apply::subject(commit),
                ));
                if let Some(i) = &input.instruction {
                    findings.extend(secrets::scan_text(Part::Instruction, i));
                }
                if !findings.is_empty() {
                    return Err(refuse_secrets!(findings));
                }
            }
            let (p, tokens) = model
                .redo(
                    crate::model::caller_for_model(&ctx)?,
                    commit,
                    &diffs,
                    input.instruction.as_deref(),
                )
                .await
                .map_err(|e| refuse_model!(model, e))?;
            commit.kind = p.kind;
            commit.scope = p.scope;
            commit.message = planner::one_line(p.message.trim());
            commit.body = p.body.filter(|b| !b.trim().is_empty());
            commit.breaking = p.breaking;
            commit.reasoning = p
                .reasoning
                .map(|r| planner::one_line(&r.trim().chars().take(500).collect::<String>()))
                .filter(|r| !r.is_empty());
            if let Some(m) = &mut plan.metadata {
                m.tokens_used = m.tokens_used.saturating_add(tokens);
            }
        }
        None => {
            // As planning would write it; files no longer changed leave it as it was.
            let diffs = diffs_of(&ctx, &scope, &own).await?;
            if let [draft] = planner::plan(&own, &diffs).as_slice() {
                commit.kind = draft.kind;
                commit.scope.clone_from(&draft.scope);
                commit.message.clone_from(&draft.message);
                commit.body = None;
                commit.breaking = false;
                commit.reasoning = None;
            }
        }
    }
    if !ctx.update_plan(&mut plan).await? {
        return Err(refuse_changed!(scope));
    }
    Ok(plan)
}

/// Without a model: what changed, counted and named, and how it would be planned.
fn describe(files: &[FileStat], diffs: &[FileDiff]) -> String {
    let (adds, dels) = totals(files);
    let mut text = format!(
        "{} file{} changed, {adds} line{} added and {dels} deleted",
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        if adds == 1 { "" } else { "s" },
    );
    for (label, kinds) in [
        ("added", &[Change::Added, Change::Untracked][..]),
        (
            "modified",
            &[Change::Modified, Change::Renamed, Change::Typechange][..],
        ),
        ("deleted", &[Change::Deleted][..]),
    ] {
        let names: Vec<&str> = files
            .iter()
            .filter(|f| kinds.contains(&f.change))
            .map(|f| f.path.as_str())
            .collect();
        if !names.is_empty() {
            let _ = write!(text, "; {label}: {}", names.join(", "));
        }
    }
    let planned: Vec<String> = planner::plan(files, diffs)
        .iter()
        .map(|d| match &d.scope {
            Some(s) => format!("{}({s}): {}", d.kind.as_str(), d.message),
            None => format!("{}: {}", d.kind.as_str(), d.message),
        })
        .collect();
    let _ = write!(text, ". As commits: {}.", planned.join("; "));
    text
}

fn totals(files: &[FileStat]) -> (u64, u64) {
    files.iter().fold((0, 0), |(a, d), f| {
        (a + f.additions.unwrap_or(0), d + f.deletions.unwrap_or(0))
    })
}

/// Summarize the changes
///
/// A few sentences on the scope's changes, or on one file's: by the model when one is
/// configured, else which files changed how, and how they would be planned.
///
/// Needs `commit:read`; `allowSecrets: true` needs `commit:write` too. Asking the model needs the
/// scope `ai:generate` as well and is charged to the caller's AI budget, shown by
/// `GET /v1/plugins/ai/usage` (`429 QUOTA_EXCEEDED` when it could cost more than is left); a
/// missing scope is `403 FORBIDDEN` with `details.missingScopes`.
#[plugin_route(
    method = "POST",
    path = "/summarize",
    // Its model, when one is configured, is asked over the network.
    permissions(git, tmp, net("{provider}")),
    timeout_ms = 300_000,
    errors(
        PATH_OUTSIDE_SCOPE = (400, "the scope or the file is not a relative path inside the repository"),
        NO_CHANGES = (400, "the scope (or the file) has no changes"),
        SECRETS_DETECTED = (422, "what the model would be sent (the diffs, the file names) holds what looks like a secret; `details.findings` lists file, line, part (`new`, `old` or `name`) and kind"),
        TOO_MANY_CHANGES = (422, "the scope has more changed files than one request works on; `details.files` and `details.limit` say how many (`details.listingBytes` instead of `details.files` when git's listing of them is longer than a request reads); give a narrower scope"),
        QUOTA_EXCEEDED = (429, "asking the model could cost more than is left of the caller's AI budget (see `GET /v1/plugins/ai/usage`); `details.budget` says which"),
        LLM_FAILED = (502, "the model failed, could not be reached, or answered something that is not a summary"),
    )
)]
pub(crate) async fn summarize(
    ctx: Ctx<CommitState>,
    input: SummarizeRequest,
) -> RouteResult<ChangeSummary> {
    if input.allowSecrets {
        ctx.require_scopes(&["commit:write"])?;
    }
    let scope = ctx
        .scope(input.scope.as_deref())
        .map_err(|r| refuse_scope!(r))?;
    let mut files = changes::files(&ctx.git(scope.repo), &scope.within, &ctx.limits)
        .await
        .map_err(|e| refuse_changes!(e))?;
    if let Some(raw) = &input.file {
        let file = RelPath::parse(raw).map_err(|why| {
            route_error!(PATH_OUTSIDE_SCOPE, "file `{raw}`: {why}")
                .with_details(serde_json::json!({"field": "file"}))
        })?;
        let path = scope.within.join(&file);
        files.retain(|f| f.path == path.as_str());
    }
    if files.is_empty() {
        return Err(match &input.file {
            Some(f) => route_error!(NO_CHANGES, "`{f}` has no changes in scope `{scope}`"),
            None => route_error!(NO_CHANGES, "scope `{scope}` has no changes"),
        });
    }
    let (additions, deletions) = totals(&files);
    let (summary, model, tokens_used) = match &ctx.model {
        Some(model) => {
            let diffs = diffs_of(&ctx, &scope, &files).await?;
            if !input.allowSecrets {
                let findings = secrets_sent(&files, &diffs);
                if !findings.is_empty() {
                    return Err(refuse_secrets!(findings));
                }
            }
            let (text, tokens) = model
                .summarize(crate::model::caller_for_model(&ctx)?, &files, &diffs)
                .await
                .map_err(|e| refuse_model!(model, e))?;
            (text, Some(model.name().to_owned()), tokens)
        }
        None => (
            describe(&files, &diffs_of(&ctx, &scope, &files).await?),
            None,
            0,
        ),
    };
    Ok(ChangeSummary {
        summary,
        files: files.len(),
        additions,
        deletions,
        model,
        tokens_used,
    })
}
