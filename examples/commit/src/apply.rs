//! Making a plan's commits and pushing them. One apply or push runs at a time in a repository
//! (they share its index and its branch): a second is refused with `409 APPLY_IN_PROGRESS`
//! while the first runs — in this process by a lock of its own, across the servers sharing a
//! PostgreSQL database by an advisory lock on the repository's git directory (each server must
//! reach it by the same path; the lock is let go when the holder ends, its server's process
//! dying included). On SQLite one server owns the database, and nothing of this plugin spans
//! processes: another git working in the repository at the same moment (a person's commit, a
//! second server) is met only through git's own lock files, answered `409 APPLY_IN_PROGRESS`
//! rather than a `500`, and a commit made by another process between an apply's reading of
//! the last commit and its own commit is not detected: run one server per repository there.
//!
//! A plan is applied only while its files are as they were when it was made
//! (`409 PLAN_STALE` otherwise, unless `force`); each commit takes exactly its files' work-tree
//! contents, whatever else is staged, through an index of its own, and runs the repository's
//! hooks.

use crate::changes;
use crate::git::{Git, GitError, Operation};
use crate::metrics::PushEnd;
use crate::plan_routes::fingerprint;
use crate::scope::{Scope, ScopeRefusal};
use crate::store::{Plan, PlanState, PlannedCommit, RepositoryLock};
use crate::{CommitState, RouteGit};
use plugin_routes::RouteError;
use plugin_routes::prelude::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::oneshot::error::TryRecvError;

/// What `POST /apply` takes.
#[derive(Debug, Serialize, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// A directory of the repository; the whole repository if absent.
    #[garde(length(chars, min = 1, max = 200))]
    pub scope: Option<String>,
    /// The ids of the commits to make, made in the plan's order; every commit not yet made if
    /// absent.
    // garde applies `inner` on an `Option` to the list inside it, the schema to the list's
    // items: the items' rule is written once for each (see `plugin_route`'s input rules).
    #[garde(length(min = 1, max = 1000), inner(inner(length(min = 1, max = 20))))]
    #[schemars(inner(length(min = 1, max = 20)))]
    pub commits: Option<Vec<String>>,
    /// Apply even though files changed since the plan was made: each commit takes its files as
    /// they are now, and a commit whose files hold nothing to commit any more is skipped (and
    /// dropped from the plan). The answer's `changedSincePlan` names the files that changed.
    #[garde(skip)]
    #[serde(default)]
    pub force: bool,
    /// With `force`: commit even when what changed since the plan was made holds what looks
    /// like a secret (it is scanned as planning scans, since planning never saw it).
    #[garde(skip)]
    #[serde(default, rename = "allowSecrets")]
    pub allow_secrets: bool,
}

/// One commit made.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MadeCommit {
    /// Its id in the plan.
    pub id: String,
    /// Its hash.
    pub sha: String,
    /// Its subject line.
    pub subject: String,
}

/// What `POST /apply` answers.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    /// The commits made by this request, in order.
    pub made: Vec<MadeCommit>,
    /// With `force`: the commits skipped because their files held nothing to commit any more,
    /// dropped from the plan.
    pub skipped: Vec<String>,
    /// With `force`: the files of the commits asked for that changed since the plan was made,
    /// committed as they are now (without `force` any such file refuses the apply).
    pub changed_since_plan: Vec<String>,
    /// The plan as it stands now.
    pub plan: Plan,
}

/// What `POST /push` takes.
#[derive(Debug, Serialize, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// A directory of the repository; the whole repository if absent. Its plan, once applied,
    /// is marked pushed.
    #[garde(length(chars, min = 1, max = 200))]
    pub scope: Option<String>,
    /// The remote's name; `origin` if absent.
    #[garde(length(min = 1, max = 200))]
    pub remote: Option<String>,
    /// Replace the remote's branch even when it has commits this one lacks, but only if it is
    /// still where this repository last saw it (`git push --force-with-lease`): work pushed
    /// there since by someone else is never overwritten. Never a plain force.
    #[garde(skip)]
    #[serde(default)]
    pub force: bool,
}

/// What `POST /push` answers.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pushed {
    /// The remote pushed to.
    pub remote: String,
    /// The branch pushed, to the remote's branch of the same name.
    pub branch: String,
    /// The commit the remote's branch is at now.
    pub head: String,
    /// Whether the remote had it already.
    pub up_to_date: bool,
    /// The scope's plan state now: `pushed` if it had been applied, else as it was (`idle` for
    /// none).
    pub state: String,
}

/// The subject line of `c`: `type(scope)!: message`.
pub(crate) fn subject(c: &PlannedCommit) -> String {
    let scope = c
        .scope
        .as_ref()
        .map(|s| format!("({s})"))
        .unwrap_or_default();
    let bang = if c.breaking { "!" } else { "" };
    // One line whatever a stored plan holds: a line break would start a body of trailers.
    let subject = format!("{}{scope}{bang}: {}", c.kind.as_str(), c.message);
    crate::planner::one_line(&subject)
}

/// A temporary index file, removed (with git's lock beside it) when dropped.
struct TempIndex(PathBuf);

impl TempIndex {
    fn new() -> TempIndex {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        TempIndex(
            std::env::temp_dir().join(format!("commit-plugin-index-{}-{n}", std::process::id())),
        )
    }
}

impl Drop for TempIndex {
    #[expect(
        clippy::disallowed_methods,
        reason = "the plugin's own temporary index in `{tmp}`, named by it, removed in `drop` where nothing async can run"
    )]
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_file(self.0.with_extension("lock"));
    }
}

/// Why one commit was not made.
enum CommitFailure {
    /// Its files hold nothing to commit any more.
    Empty,
    /// `git commit` refused (a hook, say), with what it said.
    Refused(String),
    /// Another git (another server's apply, a person's commit) holds one of git's lock files.
    Locked(String),
    TimedOut(GitError),
    Git(GitError),
}

/// Whether git stopped (exit code 128, git's own `fatal:`: a hook's refusal is exit code 1)
/// because another git holds one of its lock files: `fatal: Unable to create '….lock': File
/// exists.` or `fatal: cannot lock ref …`, followed by git's advice.
fn locked_out(code: Option<i32>, stderr: &str) -> bool {
    code == Some(128)
        && stderr.lines().any(|line| {
            line.strip_prefix("fatal: ").is_some_and(|said| {
                said.starts_with("cannot lock ref ")
                    || (said.starts_with("Unable to create '")
                        && said.contains(".lock': File exists"))
            })
        })
}

impl From<GitError> for CommitFailure {
    fn from(e: GitError) -> Self {
        match e {
            GitError::TimedOut { .. } => CommitFailure::TimedOut(e),
            GitError::Failed {
                code, ref stderr, ..
            } if locked_out(code, stderr) => CommitFailure::Locked(stderr.trim().to_owned()),
            e => CommitFailure::Git(e),
        }
    }
}

/// Makes one commit of exactly `c`'s files as they are in the work tree (a file removed from
/// the index but kept, removed), and answers the commit's hash ([`sync_index`] then sets the
/// repository's index for them). The files are the names git printed, each passed whole as one
/// literal path (`*`, `-x`, a newline in a name).
async fn make_commit(
    state: &Ctx<CommitState>,
    scope: &Scope<'_>,
    c: &PlannedCommit,
) -> Result<String, CommitFailure> {
    let files: Vec<&str> = c.files.iter().map(String::as_str).collect();
    let index = TempIndex::new();
    let own: Git = state.git(scope.repo).with_index(&index.0);
    // The last commit's tree, or the empty tree before the first commit.
    let base = state.git(scope.repo).base().await?;
    own.run(&["read-tree", base], &[], &[]).await?;
    // `git rm --cached`: the commit removes what the user took out of the index.
    let unindexed = changes::unindexed(&state.git(scope.repo), &files).await?;
    let (removed, kept): (Vec<&str>, Vec<&str>) =
        files.iter().partition(|f| unindexed.contains(**f));
    // Each other file as the work tree has it (a link as a link): added or updated if it is
    // there, removed if it is not (a path in neither the tree nor the index is passed over).
    if !kept.is_empty() {
        own.run_files(&["update-index", "--add", "--remove"], &kept, &[])
            .await?;
    }
    if !removed.is_empty() {
        own.run_files(&["update-index", "--force-remove"], &removed, &[])
            .await?;
    }
    let staged = own
        .run(&["diff", "--cached", "--quiet", base], &[], &[1])
        .await?;
    if staged.code == 0 {
        return Err(CommitFailure::Empty);
    }
    let subject = subject(c);
    let mut args = vec!["commit", "-q", "-m", subject.as_str()];
    if let Some(body) = &c.body {
        args.extend(["-m", body.as_str()]);
    }
    let done = own
        .run_bounded(&args, &[1], state.git_timeout)
        .await
        .map_err(CommitFailure::from)?;
    if done.code != 0 {
        let said = String::from_utf8_lossy(&done.stderr);
        let mut said = said.trim().to_owned();
        if said.len() > 2000 {
            let cut = (0..=2000).rev().find(|i| said.is_char_boundary(*i));
            said.truncate(cut.unwrap_or(0));
        }
        return Err(CommitFailure::Refused(said));
    }
    let sha = state
        .git(scope.repo)
        .run(&["rev-parse", "HEAD"], &[], &[])
        .await?;
    let sha = String::from_utf8_lossy(&sha.stdout).trim().to_owned();
    Ok(sha)
}

/// Sets the repository's index for `files` to commit `sha`'s, just made: other staged work
/// stays. The commit is made: another git holding the index only delays this (git holds it for
/// moments), and past a few seconds the commit stands with the index left as it was.
async fn sync_index(
    state: &Ctx<CommitState>,
    scope: &Scope<'_>,
    files: &[&str],
    sha: &str,
) -> Result<(), CommitFailure> {
    for attempt in 0..50 {
        match state
            .git(scope.repo)
            .run_files(&["reset", "-q", "HEAD"], files, &[])
            .await
        {
            Ok(_) => break,
            Err(GitError::Failed { code, stderr, .. }) if locked_out(code, &stderr) => {
                if attempt == 49 {
                    tracing::warn!(commit = %sha, "the index stayed locked: a commit was made but the index was not updated for its files");
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The scope's repository, held for one apply or push.
struct Held<'a> {
    /// This process's hold.
    _local: tokio::sync::MutexGuard<'a, ()>,
    /// The hold across the servers sharing the database.
    shared: RepositoryLock,
}

impl Held<'_> {
    async fn release(self) {
        self.shared.release().await;
    }
}

/// Holds the scope's repository for one apply or push: in this process, and across every
/// server sharing the database (an advisory lock on PostgreSQL); `None` while another holds it.
async fn hold<'a>(ctx: &'a CommitState, scope: &Scope<'a>) -> Result<Option<Held<'a>>, RouteError> {
    let Ok(local) = scope.repo.applying.try_lock() else {
        return Ok(None);
    };
    let shared = ctx
        .plans
        .lock_repository(&scope.repo.git_dir)
        .await
        .map_err(RouteError::internal)?;
    Ok(shared.map(|shared| Held {
        _local: local,
        shared,
    }))
}

/// Make the planned commits
///
/// Makes the plan's commits, all of them or those named, in the plan's order: each with exactly
/// its files as they are in the work tree (whatever else is staged stays staged), running the
/// repository's hooks. Refused if any of their files changed since the plan was made (unless
/// `force`: then each commit takes its files as they are now, and one left with nothing to
/// commit is skipped), and while a merge, cherry-pick, revert or rebase is unfinished or a file
/// is in conflict. A commit that fails stops the apply; those made before it stay made and
/// recorded in the plan, along with any edit made to the plan meanwhile. Only the plan's author
/// applies it, unless the caller holds `commit:admin`.
///
/// An operation: the answer is `202 Accepted` with its `Location`, and its progress reports
/// each commit made. Cancelled (or past its time), the git it is running is killed with its
/// hooks: every commit made stays in the repository and is recorded in the plan (one git
/// finished as it was killed included), the rest are not made, and applying again makes them
/// once the repository is let go (moments after). It is not run again after a server dies
/// mid-apply (the operation fails): commits made then are in the repository but not recorded
/// in the plan.
#[plugin_route(
    method = "POST",
    path = "/apply",
    operation,
    timeout_ms = 600_000,
    scopes("commit:write"),
    errors(
        PLAN_OWNED_BY_OTHER = (403, "the plan was made by another user; only they or a caller holding `commit:admin` may apply it; `details.createdBy` names them"),
        NO_PLAN = (404, "the scope has no plan; `POST /generate` makes one"),
        COMMIT_NOT_FOUND = (404, "the plan has no commit with this id"),
        ALREADY_APPLIED = (409, "the commits asked for were made already"),
        PLAN_CHANGED = (409, "the commits were made, but the plan was replaced or discarded meanwhile, so it does not record them; `details.made` lists them (id, sha, subject)"),
        APPLY_IN_PROGRESS = (409, "another apply or push is running in this repository, on this server or another sharing its PostgreSQL database, or another git holds git's lock there"),
        OPERATION_IN_PROGRESS = (409, "a merge, cherry-pick, revert or rebase is unfinished, or a file is in conflict; finish or abort it first; `details.operation` says which (`merge`, `cherry-pick`, `revert`, `rebase`, `conflict`)"),
        PLAN_STALE = (409, "files changed since the plan was made (`details.files` names them): generate a new plan, or apply with `force` to commit them as they are now; or the scope is no longer served by the repository the plan was made in, or `force` left nothing to commit: generate a new plan"),
        SECRETS_DETECTED = (422, "with `force`, what changed since the plan was made holds what looks like a secret (added lines, file names); `details.findings` lists file, line, part and kind; `allowSecrets` commits it anyway"),
        COMMIT_REFUSED = (409, "git refused a commit (a hook rejected it, say); `details.output` has what it said"),
        GIT_TIMEOUT = (504, "a commit ran longer than the server allows git (a slow hook, say) and was killed"),
    )
)]
pub(crate) async fn apply(ctx: Ctx<CommitState>, input: ApplyRequest) -> RouteResult<Applied> {
    // The apply runs as a task of its own, told to stop when this future is dropped (its
    // operation cancelled or out of time): it kills the git it is running (and its hooks), then
    // records in the plan every commit made, the one git may have finished as it was killed
    // included. Dropped itself, it would leave that to chance. (A server stopping past its
    // grace ends with the process: commits made then are not recorded.)
    let (_running, mut stop) = tokio::sync::oneshot::channel::<std::convert::Infallible>();
    let run = async move {
        let scope = ctx
            .scope(input.scope.as_deref())
            .map_err(|r| refuse_scope!(r))?;
        let Some(held) = hold(&ctx, &scope).await? else {
            return Err(route_error!(
                APPLY_IN_PROGRESS,
                "another apply or push is running in this repository; try again when it is done"
            ));
        };
        let outcome: RouteResult<Applied> = async {
            // Told to stop before a commit is made, the checks' git is killed and nothing else
            // is done.
            let checked = async {
                // A commit made now would take part in it: `git commit` makes a merge's commit, with its
                // other parent, from whatever index it is given.
                if let Some(operation) = ctx
                    .git(scope.repo)
                    .in_progress()
                    .await
                    .map_err(RouteError::internal)?
                {
                    let what = match operation {
                        Operation::Conflict => "files are in conflict (unmerged)".to_owned(),
                        other => format!("a {} is in progress", other.as_str()),
                    };
                    return Err(route_error!(
                        OPERATION_IN_PROGRESS,
                        "{what}; finish or abort it first, then apply"
                    )
                    .with_details(serde_json::json!({ "operation": operation.as_str() })));
                }
                let Some((plan, made_from)) = ctx.plan_of(&scope.name).await? else {
                    return Err(route_error!(NO_PLAN, "scope `{scope}` has no plan"));
                };
                if let Some(other) = crate::plan_routes::owned_by_other(ctx.caller()?, &plan) {
                    return Err(route_error!(PLAN_OWNED_BY_OTHER, "{other}").with_details(other.details()));
                }
                let chosen: Vec<usize> = match &input.commits {
                    None => (0..plan.commits.len())
                        .filter(|i| plan.commits[*i].sha.is_none())
                        .collect(),
                    Some(ids) => {
                        if let Some(id) = ids
                            .iter()
                            .find(|id| !plan.commits.iter().any(|c| c.id == **id))
                        {
                            return Err(route_error!(
                                COMMIT_NOT_FOUND,
                                "the plan has no commit `{id}`"
                            ));
                        }
                        if let Some(c) = plan
                            .commits
                            .iter()
                            .find(|c| c.sha.is_some() && ids.contains(&c.id))
                        {
                            return Err(route_error!(
                                ALREADY_APPLIED,
                                "commit `{}` was made already",
                                c.id
                            ));
                        }
                        (0..plan.commits.len())
                            .filter(|i| ids.contains(&plan.commits[*i].id))
                            .collect()
                    }
                };
                if chosen.is_empty() {
                    return Err(route_error!(
                        ALREADY_APPLIED,
                        "every commit of scope `{scope}`'s plan was made already"
                    ));
                }
                let files: Vec<String> = chosen
                    .iter()
                    .flat_map(|i| plan.commits[*i].files.iter().cloned())
                    .collect();
                // The plan names files from the root of the repository it was made in: it is applied
                // only there, and only to files inside the scope.
                let made_in = plan.repository.as_deref().unwrap_or(".");
                if made_in != scope.repo.dir.as_str() {
                    return Err(route_error!(
                        PLAN_STALE,
                        "scope `{scope}`'s plan was made in repository `{made_in}`, but the scope is now served by `{}`; generate a new plan",
                        scope.repo.dir
                    ));
                }
                let outside: Vec<&String> = files.iter().filter(|f| !scope.within.contains(f)).collect();
                if !outside.is_empty() {
                    return Err(route_error!(
                        PLAN_STALE,
                        "scope `{scope}`'s plan names files outside it; generate a new plan"
                    )
                    .with_details(serde_json::json!({ "files": outside })));
                }
                let now = fingerprint(&ctx, &scope, &files).await?;
                let changed: Vec<String> = files
                    .iter()
                    .filter(|f| now.get(*f) != made_from.get(*f))
                    .cloned()
                    .collect();
                if !changed.is_empty() && !input.force {
                    return Err(route_error!(
                        PLAN_STALE,
                        "{} file(s) changed since the plan was made; generate a new plan, or apply with `force`",
                        changed.len()
                    )
                    .with_details(serde_json::json!({ "files": changed })));
                }
                if !changed.is_empty() && !input.allow_secrets {
                    // What changed since planning was never scanned: it is now, as planning scans.
                    let stats = crate::plan_routes::stats_of(&ctx, &scope, &changed).await?;
                    let diffs = crate::plan_routes::diffs_of(&ctx, &scope, &stats).await?;
                    let findings = crate::plan_routes::secrets_committed(&stats, &diffs);
                    if !findings.is_empty() {
                        return Err(refuse_secrets!(findings));
                    }
                }
                // A commit waits for nothing: another git holding the index (a person's `git add`, a
                // crashed git's lock left behind) is answered now, before anything is made.
                let index_lock = ctx
                    .git(scope.repo)
                    .run(&["rev-parse", "--git-path", "index.lock"], &[], &[])
                    .await
                    .map_err(RouteError::internal)?;
                let index_lock = String::from_utf8_lossy(&index_lock.stdout).trim().to_owned();
                if scope.repo.git.repo().join(&index_lock).exists() {
                    return Err(route_error!(
                        APPLY_IN_PROGRESS,
                        "another git is working in this repository: git's index is locked (`.git/index.lock`; remove it if no git is running)"
                    ));
                }
                Ok((plan, chosen, changed))
            };
            let (mut plan, chosen, changed) = tokio::select! {
                checked = checked => checked?,
                _ = &mut stop => return Err(stopped("before making a commit", &[], &[])),
            };
            let mut made = Vec::new();
            let mut skipped = Vec::new();
            let total = chosen.len();
            ctx.progress(Some(0.0), format!("making {total} commit(s)"));
            // Where `HEAD` is before each commit: read once, then each commit made moves it.
            let mut before = head(&ctx, &scope).await.map_err(RouteError::internal)?;
            for (done, i) in chosen.into_iter().enumerate() {
                // Told to stop between two commits.
                if matches!(stop.try_recv(), Err(TryRecvError::Closed)) {
                    keep_made(&ctx, &scope, &mut plan, &made, &skipped).await;
                    return Err(stopped("between two commits", &made, &skipped));
                }
                if done > 0 {
                    let fraction = done as f64 / total as f64;
                    ctx.progress(
                        Some(fraction),
                        format!(
                            "made {} of {total} commit(s); making `{}`",
                            made.len(),
                            plan.commits[i].id
                        ),
                    );
                }
                // Only git's making of the commit is stopped: setting the repository's index
                // afterwards is moments, and a git killed then would leave its lock behind.
                let outcome = tokio::select! {
                    outcome = make_commit(&ctx, &scope, &plan.commits[i]) => outcome,
                    _ = &mut stop => {
                        // Told to stop while git makes the commit: it was killed, its hooks
                        // with it, when `make_commit`'s future was dropped. It may have made
                        // the commit first (a `post-commit` hook runs after): that is read.
                        let c = &plan.commits[i];
                        match made_as_killed(&ctx, &scope, before.as_deref(), c).await {
                            Ok(Some(sha)) => {
                                if let Some(metrics) = &ctx.metrics {
                                    metrics.committed(1);
                                }
                                made.push(MadeCommit { id: c.id.clone(), sha: sha.clone(), subject: subject(c) });
                                plan.commits[i].sha = Some(sha);
                            }
                            Ok(None) => {}
                            Err(e) => tracing::warn!(commit = %c.id, error = %e, "after an apply was stopped, whether git had made its commit could not be read; if it did, the plan does not record it"),
                        }
                        keep_made(&ctx, &scope, &mut plan, &made, &skipped).await;
                        return Err(stopped("while git made a commit", &made, &skipped));
                    }
                };
                let outcome = match outcome {
                    Ok(sha) => {
                        before = Some(sha.clone());
                        let files: Vec<&str> =
                            plan.commits[i].files.iter().map(String::as_str).collect();
                        sync_index(&ctx, &scope, &files, &sha).await.map(|()| sha)
                    }
                    failed => failed,
                };
                let sha = match outcome {
                    Ok(sha) => {
                        // Counted as made, whatever happens to the rest of the apply.
                        if let Some(metrics) = &ctx.metrics {
                            metrics.committed(1);
                        }
                        sha
                    }
                    Err(CommitFailure::Empty) if input.force => {
                        skipped.push(plan.commits[i].id.clone());
                        continue;
                    }
                    Err(failure) => {
                        // What was made stays recorded before the refusal is answered.
                        if !made.is_empty() || !skipped.is_empty() {
                            record(&ctx, &scope.name, &mut plan, &made, &skipped).await?;
                        }
                        let id = &plan.commits[i].id;
                        return Err(match failure {
                            CommitFailure::Empty => route_error!(
                                PLAN_STALE,
                                "commit `{id}`'s files hold nothing to commit any more; generate a new plan"
                            )
                            .with_details(serde_json::json!({ "files": plan.commits[i].files })),
                            CommitFailure::Refused(output) => {
                                route_error!(COMMIT_REFUSED, "git refused to make commit `{id}`")
                                    .with_details(serde_json::json!({ "id": id, "output": output }))
                            }
                            CommitFailure::TimedOut(e) => {
                                tracing::warn!(error = %e, "a commit was killed");
                                route_error!(GIT_TIMEOUT, "making commit `{id}`: {e}; it was killed")
                            }
                            CommitFailure::Locked(said) => {
                                tracing::info!(git = %said, "another git holds the repository's lock");
                                route_error!(
                                    APPLY_IN_PROGRESS,
                                    "another git is working in this repository (it holds git's lock); commit `{id}` was not made; try again when it is done"
                                )
                            }
                            CommitFailure::Git(e) => RouteError::internal(e),
                        });
                    }
                };
                let c = &mut plan.commits[i];
                c.sha = Some(sha.clone());
                made.push(MadeCommit {
                    id: c.id.clone(),
                    sha,
                    subject: subject(c),
                });
            }
            if made.is_empty() {
                // `force` found nothing left to commit in any commit asked for: the plan stays.
                return Err(route_error!(
                    PLAN_STALE,
                    "none of the commits asked for has anything left to commit; generate a new plan"
                )
                .with_details(serde_json::json!({ "files": changed })));
            }
            if record(&ctx, &scope.name, &mut plan, &made, &skipped).await? {
                ctx.progress(Some(1.0), format!("made {} commit(s)", made.len()));
                Ok(Applied {
                    made,
                    skipped,
                    changed_since_plan: changed,
                    plan,
                })
            } else {
                Err(route_error!(
                    PLAN_CHANGED,
                    "the commits were made, but scope `{scope}`'s plan was replaced or discarded \
                     meanwhile, so they are not recorded in it; `details.made` lists them"
                )
                .with_details(serde_json::json!({ "made": made, "skipped": skipped })))
            }
        }
        .await;
        held.release().await;
        outcome
    };
    tokio::spawn(tracing::Instrument::in_current_span(
        plugin_routes::in_current_trace(run),
    ))
    .await
    .map_err(RouteError::internal)?
}

/// The commit `HEAD` names; `None` before the first.
async fn head(ctx: &Ctx<CommitState>, scope: &Scope<'_>) -> Result<Option<String>, GitError> {
    let out = ctx
        .git(scope.repo)
        .run(&["rev-parse", "-q", "--verify", "HEAD"], &[], &[1])
        .await?;
    let sha = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok((out.code == 0 && !sha.is_empty()).then_some(sha))
}

/// Whether the git making commit `c` on `before` made it before it was killed (it writes the
/// commit, then moves the branch, then runs `post-commit`): `HEAD`'s hash if `HEAD` moved to a
/// child of `before`. The repository is held, so no other apply moved it; its index is then set
/// for `c`'s files as [`make_commit`] sets it.
async fn made_as_killed(
    ctx: &Ctx<CommitState>,
    scope: &Scope<'_>,
    before: Option<&str>,
    c: &PlannedCommit,
) -> Result<Option<String>, GitError> {
    let Some(now) = head(ctx, scope).await? else {
        return Ok(None);
    };
    if Some(now.as_str()) == before {
        return Ok(None);
    }
    let parents = ctx
        .git(scope.repo)
        .run(&["log", "-1", "--format=%P", now.as_str()], &[], &[])
        .await?;
    let parents = String::from_utf8_lossy(&parents.stdout).trim().to_owned();
    if parents != before.unwrap_or_default() {
        return Ok(None);
    }
    let files: Vec<&str> = c.files.iter().map(String::as_str).collect();
    if sync_index(ctx, scope, &files, &now).await.is_err() {
        tracing::warn!(commit = %now, "a commit made as its apply was stopped is recorded, but the index was not set for its files");
    }
    Ok(Some(now))
}

/// Records in the plan what a stopped apply made; nobody waits for its answer, so what could
/// not be recorded is logged.
async fn keep_made(
    ctx: &Ctx<CommitState>,
    scope: &Scope<'_>,
    plan: &mut Plan,
    made: &[MadeCommit],
    skipped: &[String],
) {
    if made.is_empty() && skipped.is_empty() {
        return;
    }
    let ids: Vec<&str> = made.iter().map(|m| m.id.as_str()).collect();
    match record(ctx, &scope.name, plan, made, skipped).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(made = ?ids, skipped = ?skipped, "a stopped apply's commits are made, but the plan was replaced or discarded meanwhile, so it does not record them")
        }
        Err(e) => {
            tracing::warn!(made = ?ids, skipped = ?skipped, error = %e, "a stopped apply's commits are made, but could not be recorded in the plan")
        }
    }
}

/// The error a stopped apply ends with (nobody reads it: its operation ended when it was
/// told to stop), logged with what it made.
fn stopped(when: &str, made: &[MadeCommit], skipped: &[String]) -> RouteError {
    let ids: Vec<&str> = made.iter().map(|m| m.id.as_str()).collect();
    tracing::info!(made = ?ids, skipped = ?skipped, "an apply was stopped {when}");
    RouteError::internal("the apply was stopped")
}

/// Records the commits `made` (their shas, and their messages as committed) in the scope's
/// plan, `plan` as this apply read it and changed it, drops the commits `skipped` (nothing left
/// to commit, under `force`), and marks it applied once every commit is made. If another request changed the plan meanwhile (an edit, a redo), the plan is read
/// again and the commits merged into it, so no record of a commit made is lost; `false` only if
/// the plan was replaced or discarded meanwhile. `plan` ends as stored.
async fn record(
    ctx: &CommitState,
    scope: &crate::paths::RelPath,
    plan: &mut Plan,
    made: &[MadeCommit],
    skipped: &[String],
) -> Result<bool, RouteError> {
    // The commits exist whatever the database says: one that cannot answer for a while (`503`)
    // is waited out, a little longer each time, so that their record is not lost to an apply
    // answered as failed (asked again, it would find nothing left to commit).
    let give_up = tokio::time::Instant::now() + RECORD_WAIT;
    let mut wait = std::time::Duration::from_millis(200);
    loop {
        match record_once(ctx, scope, plan, made, skipped).await {
            Err(e)
                if e.status().as_u16() == 503 && tokio::time::Instant::now() + wait < give_up =>
            {
                let shas: Vec<&str> = made.iter().map(|m| m.sha.as_str()).collect();
                tracing::warn!(
                    ?shas,
                    "the commits made could not be recorded yet; trying again"
                );
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(5));
            }
            Err(e) => {
                let shas: Vec<&str> = made.iter().map(|m| m.sha.as_str()).collect();
                tracing::error!(
                    ?shas,
                    "the commits made could not be recorded in their plan"
                );
                return Err(e);
            }
            ok => return ok,
        }
    }
}

/// How long an apply waits for the database to record the commits it made.
const RECORD_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// One try of [`record`].
async fn record_once(
    ctx: &CommitState,
    scope: &crate::paths::RelPath,
    plan: &mut Plan,
    made: &[MadeCommit],
    skipped: &[String],
) -> Result<bool, RouteError> {
    let mark = |plan: &mut Plan| {
        plan.commits.retain(|c| !skipped.contains(&c.id));
        if plan.commits.iter().all(|c| c.sha.is_some()) {
            plan.state = PlanState::Applied;
        }
    };
    mark(plan);
    let ours = plan.clone();
    // Each lost race is another request's change written; a few are plenty.
    for _ in 0..8 {
        if ctx.update_plan(plan).await? {
            return Ok(true);
        }
        match ctx.plan_of(scope).await? {
            Some((now, _)) if now.created_at == ours.created_at => *plan = now,
            _ => return Ok(false),
        }
        for m in made {
            let mine = ours.commits.iter().find(|c| c.id == m.id);
            let theirs = plan.commits.iter_mut().find(|c| c.id == m.id);
            if let (Some(mine), Some(theirs)) = (mine, theirs) {
                theirs.clone_from(mine);
            }
        }
        mark(plan);
    }
    Err(RouteError::internal(
        "the plan kept changing while an apply recorded its commits",
    ))
}

/// How `git push --porcelain` reported the one ref pushed.
#[derive(Debug, PartialEq, Eq)]
enum PushReport {
    /// `=`: the remote had it.
    UpToDate,
    /// ` `, `*` or `+`: the remote's branch moved.
    Updated,
    /// `!`: refused, with the reason git gave (`non-fast-forward`, `fetch first`, a hook).
    Rejected(String),
}

fn push_report(stdout: &str) -> Option<PushReport> {
    let line = stdout.lines().find(|l| l.contains('\t'))?;
    let flag = line.chars().next()?;
    let summary = line.split('\t').nth(2).unwrap_or_default();
    Some(match flag {
        '=' => PushReport::UpToDate,
        '!' => {
            let reason = summary
                .split_once('(')
                .map_or(summary, |(_, r)| r.trim_end_matches(')'));
            PushReport::Rejected(reason.trim().to_owned())
        }
        _ => PushReport::Updated,
    })
}

/// Push the branch
///
/// Pushes the current branch to the branch of the same name on the remote (`origin` unless
/// named), without forcing: a remote that has moved on is `409 PUSH_REJECTED`. With `force`,
/// the remote's branch is replaced only if it is still where this repository last fetched it
/// (`--force-with-lease`), never with a plain force. Protected branches (`main` and `master`
/// unless configured) are never pushed (`409 PROTECTED_BRANCH`). The scope's plan, once
/// applied, is marked pushed.
///
/// An operation: the answer is `202 Accepted` with its `Location`. Cancelled, the push is
/// killed; the remote takes a branch's update whole or not at all. Pushing again is safe (what
/// the remote has is up to date), so a push whose server died is run again by another.
#[plugin_route(
    method = "POST",
    path = "/push",
    operation(rerun),
    timeout_ms = 600_000,
    scopes("commit:push"),
    permissions(git, ssh, net("{remote}"), fs(write("{remote_dir}"))),
    errors(
        REMOTE_NOT_FOUND = (404, "the repository has no remote with this name"),
        NO_BRANCH = (409, "the repository is not on a branch (a detached HEAD, or no commit yet)"),
        PROTECTED_BRANCH = (409, "the branch is protected (`main` and `master` unless the server configures others): push from another branch; `details.branch` names it"),
        APPLY_IN_PROGRESS = (409, "another apply or push is running in this repository, on this server or another sharing its PostgreSQL database, or another git holds git's lock there"),
        PUSH_REJECTED = (409, "the remote refused the push (it has commits this branch lacks, say); `details.reason` says why"),
        REMOTE_UNREACHABLE = (502, "the remote could not be reached, or refused the connection or the credentials"),
        GIT_TIMEOUT = (504, "the push ran longer than the server allows git and was killed"),
    )
)]
pub(crate) async fn push(ctx: Ctx<CommitState>, input: PushRequest) -> RouteResult<Pushed> {
    let scope = ctx
        .scope(input.scope.as_deref())
        .map_err(|r| refuse_scope!(r))?;
    let remote = input.remote.unwrap_or_else(|| "origin".to_owned());
    let Some(held) = hold(&ctx, &scope).await? else {
        return Err(route_error!(
            APPLY_IN_PROGRESS,
            "another apply or push is running in this repository; try again when it is done"
        ));
    };
    let outcome: RouteResult<Pushed> = async {
        let remotes = ctx
            .git(scope.repo)
            .run(&["remote"], &[], &[])
            .await
            .map_err(RouteError::internal)?;
        let known = String::from_utf8_lossy(&remotes.stdout).into_owned();
        // Only a listed name reaches git's arguments, and none that git could read as an option.
        if remote.starts_with('-') || !known.lines().any(|r| r == remote) {
            return Err(
                route_error!(REMOTE_NOT_FOUND, "the repository has no remote `{remote}`")
                    .with_details(serde_json::json!({"field": "remote"})),
            );
        }
        let branch = ctx
            .git(scope.repo)
            .run(&["symbolic-ref", "-q", "--short", "HEAD"], &[], &[1])
            .await
            .map_err(RouteError::internal)?;
        let branch = String::from_utf8_lossy(&branch.stdout).trim().to_owned();
        if branch.is_empty() || !ctx.git(scope.repo).has_head().await.map_err(RouteError::internal)? {
            return Err(route_error!(
                NO_BRANCH,
                "the repository is not on a branch with commits; nothing to push"
            ));
        }
        if ctx.protected.contains(&branch) {
            return Err(route_error!(
                PROTECTED_BRANCH,
                "branch `{branch}` is protected and is not pushed from here; push from another branch"
            )
            .with_details(serde_json::json!({"branch": branch})));
        }
        let refspec = format!("HEAD:refs/heads/{branch}");
        // The lease: the remote's branch must still be where this repository's tracking ref says.
        let lease = format!("--force-with-lease=refs/heads/{branch}");
        let mut args = vec!["push", "--porcelain"];
        if input.force {
            args.push(lease.as_str());
        }
        args.extend([remote.as_str(), refspec.as_str()]);
        ctx.progress(None, format!("pushing `{branch}` to `{remote}`"));
        let out = match ctx
            .git(scope.repo)
            .run_bounded(&args, &[1, 128], ctx.git_timeout)
            .await
        {
            Ok(out) => out,
            Err(e @ GitError::TimedOut { .. }) => {
                tracing::warn!(error = %e, "a push was killed");
                count_push(&ctx, PushEnd::Failed);
                return Err(route_error!(GIT_TIMEOUT, "{e}; it was killed"));
            }
            Err(e) => return Err(RouteError::internal(e)),
        };
        let report = push_report(&String::from_utf8_lossy(&out.stdout));
        let up_to_date = match report {
            Some(PushReport::Rejected(reason)) => {
                count_push(&ctx, PushEnd::Rejected);
                return Err(route_error!(
                    PUSH_REJECTED,
                    "`{remote}` refused the push of `{branch}` ({reason}); pull or rebase, then push again"
                )
                .with_details(serde_json::json!({ "reason": reason })));
            }
            Some(PushReport::UpToDate) if out.code == 0 => true,
            Some(PushReport::Updated) if out.code == 0 => false,
            _ if locked_out(Some(out.code), &String::from_utf8_lossy(&out.stderr)) => {
                return Err(route_error!(
                    APPLY_IN_PROGRESS,
                    "another git is working in this repository (it holds git's lock); try again when it is done"
                ));
            }
            _ => {
                // git says why on stderr; it may name the remote's address, so it goes to the log only.
                let said = String::from_utf8_lossy(&out.stderr);
                tracing::warn!(remote = %remote, code = out.code, stderr = %said.trim(), "a push failed");
                count_push(&ctx, PushEnd::Failed);
                return Err(route_error!(
                    REMOTE_UNREACHABLE,
                    "pushing to `{remote}` failed: the remote could not be reached or refused the connection"
                ));
            }
        };
        count_push(
            &ctx,
            if up_to_date {
                PushEnd::UpToDate
            } else {
                PushEnd::Pushed
            },
        );
        let head = ctx
            .git(scope.repo)
            .run(&["rev-parse", "HEAD"], &[], &[])
            .await
            .map_err(RouteError::internal)?;
        let head = String::from_utf8_lossy(&head.stdout).trim().to_owned();
        let plan = ctx.plan_of(&scope.name).await?;
        let state = match plan {
            None => "idle".to_owned(),
            Some((mut plan, _)) => {
                if plan.state == PlanState::Applied {
                    plan.state = PlanState::Pushed;
                    ctx.update_plan(&mut plan).await?;
                }
                plan.state.as_str().to_owned()
            }
        };
        Ok(Pushed {
            remote,
            branch,
            head,
            up_to_date,
            state,
        })
    }
    .await;
    held.release().await;
    outcome
}

/// Counts a push that ended as `end`, when the server has metrics.
fn count_push(ctx: &CommitState, end: PushEnd) {
    if let Some(metrics) = &ctx.metrics {
        metrics.pushed(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_git_s_own_lock_failures_are_read_as_locks() {
        let advice = "\n\nAnother git process seems to be running in this repository, e.g.\nan editor opened by 'git commit'.\nremove the file manually to continue.\n";
        let reference = format!(
            "fatal: cannot lock ref 'HEAD': Unable to create '/r/.git/refs/heads/main.lock': File exists.{advice}"
        );
        let index = format!("fatal: Unable to create '/r/.git/index.lock': File exists.{advice}");
        assert!(locked_out(Some(128), &reference));
        assert!(locked_out(Some(128), &index));
        // A hook that prints the same words and fails is a hook's refusal (exit code 1).
        assert!(!locked_out(Some(1), &reference));
        assert!(!locked_out(Some(128), "fatal: not a git repository"));
        assert!(!locked_out(None, &index));
    }

    #[test]
    fn porcelain_push_reports_are_read() {
        let ok = "To /tmp/origin.git\n \tHEAD:refs/heads/main\t1a2b..3c4d\nDone\n";
        assert_eq!(push_report(ok), Some(PushReport::Updated));
        let same = "To /tmp/o\n=\tHEAD:refs/heads/main\t[up to date]\nDone\n";
        assert_eq!(push_report(same), Some(PushReport::UpToDate));
        let refused = "To /tmp/o\n!\tHEAD:refs/heads/main\t[rejected] (non-fast-forward)\nDone\n";
        assert_eq!(
            push_report(refused),
            Some(PushReport::Rejected("non-fast-forward".into()))
        );
        assert_eq!(push_report("fatal: no\n"), None);
    }
}
