//! The routes that read a scope's changes. Every route takes `scope`, a directory of the
//! repository (the whole repository by default); a path that would leave it, or that git could
//! read as an option, is `400 PATH_OUTSIDE_SCOPE`, a directory that does not exist
//! `404 SCOPE_NOT_FOUND`. git failing in a way nobody declared is an opaque, logged `500`.

use crate::CommitState;
use crate::changes::{self, FileDiff, FileStat, GitStatus};
use crate::paths::{PathError, RelPath};
use plugin_runtime::RouteError;
use plugin_runtime::prelude::*;

/// The query of the routes that read a scope.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ScopeQuery {
    /// A directory of the repository, relative to its root; the whole repository if absent.
    #[garde(length(min = 1, max = 4096))]
    #[serde(default)]
    pub scope: Option<String>,
}

/// The query of `GET /diff`.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    /// A directory of the repository, relative to its root; the whole repository if absent.
    #[garde(length(min = 1, max = 4096))]
    #[serde(default)]
    pub scope: Option<String>,
    /// The file, relative to the scope.
    #[garde(length(min = 1, max = 4096))]
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
}

/// A scope, checked: inside the repository (links resolved) and an existing directory.
pub(crate) enum ScopeRefusal {
    Outside(String, PathError),
    Escapes(String),
    Missing(String),
}

impl CommitState {
    pub(crate) fn scope(&self, raw: Option<&str>) -> Result<RelPath, ScopeRefusal> {
        let Some(raw) = raw else {
            return Ok(RelPath::root());
        };
        let path = RelPath::parse(raw).map_err(|e| ScopeRefusal::Outside(raw.to_owned(), e))?;
        let resolved = std::fs::canonicalize(self.root.join(path.as_str()))
            .map_err(|_| ScopeRefusal::Missing(raw.to_owned()))?;
        if !resolved.starts_with(&self.root) {
            return Err(ScopeRefusal::Escapes(raw.to_owned()));
        }
        if !resolved.is_dir() {
            return Err(ScopeRefusal::Missing(raw.to_owned()));
        }
        Ok(path)
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
        }
    };
}

/// List the scopes
///
/// The repository's root and the directories configured as scopes.
#[plugin_route(method = "GET", path = "/scopes")]
pub(crate) async fn scopes(ctx: Ctx<CommitState>) -> RouteResult<Scopes> {
    Ok(Scopes {
        scopes: ctx
            .scopes
            .iter()
            .map(|s| ScopeInfo {
                path: s.as_str().to_owned(),
                root: s.is_root(),
            })
            .collect(),
    })
}

/// The scope's git status
///
/// Files staged, unstaged and untracked in the scope.
#[plugin_route(
    method = "GET",
    path = "/git-status",
    errors(
        PATH_OUTSIDE_SCOPE = (400, "the scope is not a relative path inside the repository"),
        SCOPE_NOT_FOUND = (404, "the repository has no such directory"),
    )
)]
pub(crate) async fn git_status(ctx: Ctx<CommitState>, input: ScopeQuery) -> RouteResult<GitStatus> {
    let scope = ctx
        .scope(input.scope.as_deref())
        .map_err(|r| refuse_scope!(r))?;
    changes::status(&ctx.git, &scope)
        .await
        .map_err(RouteError::internal)
}

/// The scope's changed files
///
/// Every file changed against the last commit (staged or not) and every untracked one, with
/// the lines added and deleted.
#[plugin_route(
    method = "GET",
    path = "/files",
    errors(
        PATH_OUTSIDE_SCOPE = (400, "the scope is not a relative path inside the repository"),
        SCOPE_NOT_FOUND = (404, "the repository has no such directory"),
    )
)]
pub(crate) async fn files(ctx: Ctx<CommitState>, input: ScopeQuery) -> RouteResult<Vec<FileStat>> {
    let scope = ctx
        .scope(input.scope.as_deref())
        .map_err(|r| refuse_scope!(r))?;
    changes::files(&ctx.git, &scope)
        .await
        .map_err(RouteError::internal)
}

/// One file's diff
///
/// The file's changes against the last commit (an untracked file's as all added), with the
/// lines added and deleted.
#[plugin_route(
    method = "GET",
    path = "/diff",
    errors(
        PATH_OUTSIDE_SCOPE = (400, "the scope or the file is not a relative path inside the repository"),
        SCOPE_NOT_FOUND = (404, "the repository has no such directory"),
        FILE_NOT_FOUND = (404, "the file neither exists nor is tracked"),
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
    let path = scope.join(&file);
    let on_disk = ctx.root.join(path.as_str());
    let tracked = changes::is_tracked(&ctx.git, &path)
        .await
        .map_err(RouteError::internal)?;
    if !tracked {
        // An untracked file must really be in the scope, links resolved.
        match std::fs::canonicalize(&on_disk) {
            Ok(real) if real.starts_with(ctx.root.join(scope.as_str())) && real.is_file() => {}
            Ok(_) => {
                return Err(route_error!(
                    PATH_OUTSIDE_SCOPE,
                    "file `{}` leads outside the scope",
                    input.file
                ));
            }
            Err(_) => {
                return Err(route_error!(
                    FILE_NOT_FOUND,
                    "`{path}` neither exists nor is tracked"
                ));
            }
        }
    }
    let base = ctx.git.base().await.map_err(RouteError::internal)?;
    changes::diff(&ctx.git, &path, base, tracked)
        .await
        .map_err(RouteError::internal)
}
