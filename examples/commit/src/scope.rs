//! Scopes: the directories clients name (`scope` in every route), each with the git repository
//! that holds it. The configuration offers scopes, each a path or a path with a label and a
//! description; by default the root and each top-level directory. A scope that is a git
//! repository of its own nested in the configured one (a submodule, or a repository checked out
//! inside a workspace), or a directory inside one, is served by that repository: git runs in it,
//! its files are named from its root, and it has its own index, branch, remotes and plans. A
//! nested repository is known only when a configured scope leads into it: a request naming a
//! directory inside any other nested repository is refused (`400 PATH_OUTSIDE_SCOPE`), since
//! the configured repository's git would only see an untracked directory there.

use crate::git::Git;
use crate::paths::{PathError, RelPath};
use crate::{RepoError, remotes};
use plugin_runtime::reach::Placeholders;
use std::fmt;
use std::path::{Path, PathBuf};

/// One scope offered by the configuration: a directory's path (`COMMIT_SCOPES=src,docs`), or a
/// path with a label and a description (`[[commit.scopes]]` tables, or JSON in the variable).
#[derive(Clone, Debug, serde::Deserialize, garde::Validate, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ScopeConfig {
    /// A directory of the repository, relative to its root.
    Path(#[garde(length(min = 1, max = 4096))] String),
    /// A directory with what clients show for it.
    Described(#[garde(dive)] DescribedScope),
}

/// A scope with a label and a description.
#[derive(Clone, Debug, serde::Deserialize, garde::Validate, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DescribedScope {
    /// The directory, relative to the repository's root.
    #[garde(length(min = 1, max = 4096))]
    pub path: String,
    /// A short name to show for it (`Web app`).
    #[garde(inner(length(chars, min = 1, max = 100)))]
    pub label: Option<String>,
    /// What it holds, in a sentence or two.
    #[garde(inner(length(chars, max = 1000)))]
    pub description: Option<String>,
}

impl From<&str> for ScopeConfig {
    fn from(path: &str) -> Self {
        ScopeConfig::Path(path.to_owned())
    }
}

impl ScopeConfig {
    fn path(&self) -> &str {
        match self {
            ScopeConfig::Path(p) => p,
            ScopeConfig::Described(d) => &d.path,
        }
    }
}

/// A git repository the plugin drives: the configured one, or one nested in it that a scope
/// leads into.
#[derive(Debug)]
pub(crate) struct Repository {
    /// Where its work tree is, from the configured repository's root (`.` for that one).
    pub(crate) dir: RelPath,
    /// git in it as the server starts it; a request's is [`crate::RouteGit::git`].
    pub(crate) git: Git,
    /// Held while an apply or a push runs in it: one at a time per repository in this process.
    pub(crate) applying: tokio::sync::Mutex<()>,
}

/// A scope offered to clients.
#[derive(Debug)]
pub(crate) struct Offered {
    pub(crate) path: RelPath,
    pub(crate) label: Option<String>,
    pub(crate) description: Option<String>,
    /// Its repository, in [`Scopes::repos`].
    pub(crate) repo: usize,
}

/// The scopes offered and the repositories that hold them.
#[derive(Debug)]
pub(crate) struct Scopes {
    /// The root first, then the configured (or top-level) directories.
    pub(crate) offered: Vec<Offered>,
    /// The configured repository first, then the nested ones, each once.
    pub(crate) repos: Vec<Repository>,
    /// The configured repository's work tree, links resolved.
    root: PathBuf,
}

/// A scope a request names, resolved.
#[derive(Debug)]
pub(crate) struct Scope<'a> {
    /// As the client named it, normalized: its plan is kept under this name.
    pub(crate) name: RelPath,
    /// The repository that holds it.
    pub(crate) repo: &'a Repository,
    /// The directory inside that repository (`.` for its root): git's pathspec.
    pub(crate) within: RelPath,
}

impl fmt::Display for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.name.fmt(f)
    }
}

/// Why a scope a request names is refused.
pub(crate) enum ScopeRefusal {
    /// Not a path inside the repository.
    Outside(String, PathError),
    /// Leads outside through a link.
    Escapes(String),
    /// Not a directory.
    Missing(String),
    /// Inside a git repository of its own (the second) that no configured scope leads into.
    Foreign(String, RelPath),
}

/// Whether `dir` has a `.git` of its own (a directory, or a submodule's file), the last
/// component not followed.
fn has_git(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir.join(".git")).is_ok()
}

impl Scopes {
    /// The scopes `configured` (the root and each top-level directory if none) of the
    /// repository whose work tree is `root` (links resolved) and whose git is `git`; the remotes
    /// of each nested repository go into `placeholders` like the configured one's.
    #[expect(
        clippy::disallowed_methods,
        reason = "the repository's directories, read once at start"
    )]
    pub(crate) async fn open(
        root: &Path,
        git: &Git,
        configured: &[ScopeConfig],
        placeholders: &mut Placeholders,
    ) -> Result<Scopes, RepoError> {
        let mut wanted: Vec<(RelPath, Option<String>, Option<String>)> = Vec::new();
        if configured.is_empty() {
            let mut dirs: Vec<String> = std::fs::read_dir(root)
                .map_err(|e| RepoError(e.to_string()))?
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .collect();
            dirs.sort();
            wanted.extend(
                dirs.iter()
                    .filter_map(|d| RelPath::parse(d).ok())
                    .map(|p| (p, None, None)),
            );
        } else {
            for s in configured {
                let raw = s.path();
                let path =
                    RelPath::parse(raw).map_err(|e| RepoError(format!("scope `{raw}`: {e}")))?;
                let resolved = std::fs::canonicalize(root.join(path.as_str()));
                if !resolved
                    .as_ref()
                    .is_ok_and(|r| r.starts_with(root) && r.is_dir())
                {
                    return Err(RepoError(format!(
                        "scope `{raw}` is not a directory of the repository"
                    )));
                }
                let (label, description) = match s {
                    ScopeConfig::Path(_) => (None, None),
                    ScopeConfig::Described(d) => (d.label.clone(), d.description.clone()),
                };
                wanted.push((path, label, description));
            }
        }
        let mut scopes = Scopes {
            offered: Vec::new(),
            repos: vec![Repository {
                dir: RelPath::root(),
                git: git.clone(),
                applying: tokio::sync::Mutex::new(()),
            }],
            root: root.to_owned(),
        };
        // The root is always offered, first, with what the configuration says of it.
        let root_entry = wanted.iter().position(|(p, ..)| p.is_root());
        let (label, description) = root_entry
            .map(|i| (wanted[i].1.clone(), wanted[i].2.clone()))
            .unwrap_or_default();
        scopes.offered.push(Offered {
            path: RelPath::root(),
            label,
            description,
            repo: 0,
        });
        for (path, label, description) in wanted.into_iter().filter(|(p, ..)| !p.is_root()) {
            let mut repo = 0;
            for prefix in path.prefixes() {
                if let Some(known) = scopes.repos.iter().position(|r| r.dir == prefix) {
                    repo = known;
                } else if has_git(&root.join(prefix.as_str())) {
                    repo = scopes.nest(&prefix, git, placeholders).await?;
                }
            }
            scopes.offered.push(Offered {
                path,
                label,
                description,
                repo,
            });
        }
        Ok(scopes)
    }

    /// Adds the repository nested at `dir`, checking it is a work tree's root; answers its index.
    async fn nest(
        &mut self,
        dir: &RelPath,
        git: &Git,
        placeholders: &mut Placeholders,
    ) -> Result<usize, RepoError> {
        let at = self.root.join(dir.as_str());
        let nested = Git::new(&at, git.reach().clone());
        let top = nested
            .run(&["rev-parse", "--show-toplevel"], &[], &[])
            .await
            .map_err(|e| RepoError(format!("`{dir}` has a `.git` but is not a repository: {e}")))?;
        let top = PathBuf::from(String::from_utf8_lossy(&top.stdout).trim());
        if std::fs::canonicalize(&top).ok() != std::fs::canonicalize(&at).ok() {
            return Err(RepoError(format!(
                "`{dir}` has a `.git` but git places its work tree at {}",
                top.display()
            )));
        }
        remotes(&nested, placeholders).await?;
        tracing::info!(scope = %dir, "a scope is a git repository of its own");
        self.repos.push(Repository {
            dir: dir.clone(),
            git: nested,
            applying: tokio::sync::Mutex::new(()),
        });
        Ok(self.repos.len() - 1)
    }

    /// The scope `raw` names (the root if none): inside the repository (links resolved), an
    /// existing directory, in the configured repository or a nested one a configured scope
    /// leads into.
    pub(crate) fn resolve(&self, raw: Option<&str>) -> Result<Scope<'_>, ScopeRefusal> {
        let Some(raw) = raw else {
            return Ok(Scope {
                name: RelPath::root(),
                repo: &self.repos[0],
                within: RelPath::root(),
            });
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
        let mut repo = &self.repos[0];
        for prefix in path.prefixes() {
            if let Some(known) = self.repos.iter().find(|r| r.dir == prefix) {
                repo = known;
            } else if has_git(&self.root.join(prefix.as_str())) {
                return Err(ScopeRefusal::Foreign(raw.to_owned(), prefix));
            }
        }
        let within = path.relative_to(&repo.dir).unwrap_or_else(RelPath::root);
        Ok(Scope {
            name: path,
            repo,
            within,
        })
    }
}
