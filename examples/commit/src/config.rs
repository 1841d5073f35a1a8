//! The plugin's configuration, its start hook (which opens the repository, or refuses to start
//! saying why) and its ready hook.
//!
//! | variable | setting |
//! |---|---|
//! | `COMMIT_REPO` | the git repository (its work tree's root) the plugin drives; unset, a host may leave the plugin out |
//! | `COMMIT_SCOPES` | the directories offered as scopes, comma-separated, or as JSON with labels and descriptions (`[{"path":"web","label":"Web app","description":"…"}]`); by default the root and each top-level directory that is not a git repository of its own; one listed that is (or lies in) a git repository of its own is served by that repository |
//! | `COMMIT_MODEL` | a model of the AI plugin's configuration that plans, redoes and summarizes; unset, planning is done without a model and no diff leaves the machine |
//! | `COMMIT_GIT_TIMEOUT_SECS` | seconds a `git commit` or `git push` (hooks included) may run before it is killed (1 to 3600); by default the route's own timeout |
//!
//! The same keys, in lower case, go in a `[commit]` table of a shared file or in the file
//! `COMMIT_CONFIG` names.

use crate::model::Model;
use crate::store::Plans;
use crate::{CommitState, RepoError};
use ai_plugin::AiState;
use plugin_routes::database::Database;
use plugin_routes::{Readiness, Starting};
use std::path::PathBuf;
use std::time::Duration;

/// What the commit plugin reads at start (variables `COMMIT_*`).
#[derive(Debug, Default, serde::Deserialize, garde::Validate, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitConfig {
    /// The git repository (its work tree's root) the plugin drives.
    #[garde(custom(absolute))]
    pub repo: Option<PathBuf>,
    /// The repository's directories offered as scopes, each a path or a table with `path`,
    /// `label` and `description`; by default the root and each top-level directory. A scope
    /// that is a git repository of its own (or lies in one) is served by that repository.
    #[serde(default)]
    #[garde(length(max = 1000), dive)]
    pub scopes: Vec<crate::scope::ScopeConfig>,
    /// A model of the AI plugin's configuration that plans commits, redoes them and summarizes
    /// changes. Unset, planning is done without a model, and no diff leaves the machine.
    #[garde(length(min = 1, max = 200))]
    pub model: Option<String>,
    /// Seconds a `git commit` or `git push` (hooks included) may run before it is killed and
    /// answered with `504 GIT_TIMEOUT`; by default the route's own timeout bounds it.
    #[garde(range(min = 1, max = 3600))]
    pub git_timeout_secs: Option<u64>,
    /// Branches `POST /push` refuses to push (`409 PROTECTED_BRANCH`); `main` and `master` when
    /// unset. A list naming no real branch (`["none"]`) protects none.
    // Each branch's rule is written for garde and for the schema: see `plugin_route`'s input
    // rules, which a plugin's configuration follows too.
    #[garde(inner(inner(length(min = 1, max = 255))))]
    #[schemars(inner(length(min = 1, max = 255)))]
    pub protected_branches: Option<Vec<String>>,
}

fn absolute(repo: &Option<PathBuf>, (): &()) -> garde::Result {
    match repo {
        Some(path) if !path.is_absolute() => Err(garde::Error::new(
            "must be an absolute path (the server's working directory is not the repository's)",
        )),
        _ => Ok(()),
    }
}

/// The start hook: opens the repository (refusing to start when it is not a git repository's
/// root), its plans in the host's database, and the model in the AI plugin started before it.
///
/// # Errors
/// No repository configured, a repository or scope that cannot be served, a database that cannot
/// be opened, a model the AI plugin does not know.
pub async fn start(
    config: CommitConfig,
    cx: &mut Starting<'_>,
) -> Result<CommitState, Box<dyn std::error::Error + Send + Sync>> {
    let repo = config
        .repo
        .ok_or_else(|| RepoError("no repository is configured (COMMIT_REPO)".into()))?;
    let db = cx.require::<Database>()?;
    let plans = Plans::open(db.pool.clone(), &db.url).await?;
    let mut state = CommitState::open(&repo, &config.scopes, plans).await?;
    if let Some(name) = &config.model {
        // Its calls are charged to the caller's AI budget, in the AI plugin's ledger.
        let ai = cx.require::<AiState>()?;
        state = state.with_model(Model::from_config(ai.config(), name, ai.meter().clone())?);
    }
    if let Some(secs) = config.git_timeout_secs {
        state = state.with_git_timeout(Duration::from_secs(secs));
    }
    if let Some(branches) = config.protected_branches {
        state = state.with_protected_branches(branches);
    }
    // The server's metrics, when the host provides them: commits made and pushes.
    if let Some(metrics) = cx.get::<plugin_routes::Metrics>() {
        state = state.with_metrics(metrics);
    }
    cx.placeholders(&state.placeholders());
    tracing::info!(
        repository = %repo.display(),
        model = state.model().map_or("none", |m| m.name()),
        "the commit plugin drives this repository"
    );
    Ok(state)
}

/// The ready hook: ready while the repository, and each nested one a scope leads into, is
/// still there.
pub async fn ready(state: &CommitState) -> Readiness {
    // Asked off the runtime's threads' blocking path: a hung mount times the hook out.
    match tokio::fs::try_exists(state.root().join(".git")).await {
        Ok(true) => {}
        _ => return Readiness::not_ready("the repository is no longer there"),
    }
    match state.scopes.gone().first() {
        None => Readiness::Ready,
        Some(dir) => {
            Readiness::not_ready(format!("`{dir}` is no longer a git repository of its own"))
        }
    }
}
