//! Scopes: the directories clients name (`scope` in every route), each with the git repository
//! that holds it. The configuration offers scopes, each a path or a path with a label and a
//! description; by default the root and each top-level directory. A scope that is a git
//! repository of its own nested in the configured one (a submodule, or a repository checked out
//! inside a workspace), or a directory inside one, is served by that repository: git runs in it,
//! its files are named from its root, and it has its own index, branch, remotes and plans. A
//! nested repository is served only when a scope in `COMMIT_SCOPES` leads into it, never by
//! default (git would run with that repository's own configuration and hooks): a request naming
//! a directory inside any other nested repository is refused (`400 PATH_OUTSIDE_SCOPE`), since
//! the configured repository's git would only see an untracked directory there. A nested
//! repository is known by its git directory: one whose `.git` leads back to the configured
//! repository's (a linked worktree, a `gitdir:` file pointing there) is refused at start, and
//! two scopes reaching one repository by different paths (a link) share it, with one lock.

use crate::git::Git;
use crate::paths::{PathError, RelPath};
use crate::{RepoError, remotes};
use plugin_routes::reach::Placeholders;
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
    #[garde(length(chars, min = 1, max = 100))]
    pub label: Option<String>,
    /// What it holds, in a sentence or two.
    #[garde(length(chars, max = 1000))]
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
    /// Its work tree, links resolved: two paths to one repository are one repository.
    tree: PathBuf,
    /// Its git directory (the common one a linked worktree shares), links resolved: what
    /// servers sharing a database lock it by.
    pub(crate) git_dir: PathBuf,
}

/// The work tree's and the (common) git directory's resolved paths of the repository `git`
/// runs in.
pub(crate) async fn identity(git: &Git, at: &Path) -> Result<(PathBuf, PathBuf), RepoError> {
    if at.exists() && !at.is_dir() {
        return Err(RepoError(format!(
            "{} is not a git repository: it is a file, not a directory",
            at.display()
        )));
    }
    let out = git
        .run(
            &["rev-parse", "--show-toplevel", "--git-common-dir"],
            &[],
            &[],
        )
        .await
        .map_err(|e| RepoError(format!("{} is not a git repository: {e}", at.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let (Some(top), Some(common)) = (lines.next(), lines.next()) else {
        return Err(RepoError(format!(
            "git did not say where {} is",
            at.display()
        )));
    };
    let resolve = |p: &str| {
        // `--git-common-dir` is relative to where git ran unless absolute.
        std::fs::canonicalize(at.join(p)).map_err(|e| RepoError(format!("{p}: {e}")))
    };
    Ok((resolve(top)?, resolve(common)?))
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
    /// Each directory known to be a nested repository's work tree, with that repository: two
    /// paths (one through a link) may lead to one.
    nested: Vec<(RelPath, usize)>,
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
    /// In a nested repository (the second) whose `.git` is gone since the server started.
    Gone(String, RelPath),
}

/// Whether `dir` has a `.git` of its own (a directory, or a submodule's file), the last
/// component not followed.
fn has_git(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir.join(".git")).is_ok()
}

impl Scopes {
    /// The scopes `configured` (the root and each top-level directory if none) of the
    /// repository whose work tree is `root` (links resolved), whose git is `git` and whose git
    /// directory is `git_dir` (as [`identity`] finds them); the remotes
    /// of each nested repository go into `placeholders` like the configured one's.
    #[expect(
        clippy::disallowed_methods,
        reason = "the repository's directories, read once at start"
    )]
    pub(crate) async fn open(
        root: &Path,
        git: &Git,
        git_dir: PathBuf,
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
            for dir in dirs.iter().filter_map(|d| RelPath::parse(d).ok()) {
                // Served only when configured: git would run with its own configuration.
                if has_git(&root.join(dir.as_str())) {
                    tracing::info!(
                        directory = %dir,
                        "a top-level directory is a git repository of its own and is not offered as a scope; list it in COMMIT_SCOPES to serve it"
                    );
                } else {
                    wanted.push((dir, None, None));
                }
            }
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
                tree: root.to_owned(),
                git_dir,
            }],
            root: root.to_owned(),
            nested: Vec::new(),
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
                if let Some((_, known)) = scopes.nested.iter().find(|(d, _)| *d == prefix) {
                    repo = *known;
                } else if has_git(&root.join(prefix.as_str())) {
                    repo = scopes.nest(&prefix, git, placeholders).await?;
                    scopes.nested.push((prefix, repo));
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

    /// The repository nested at `dir`, added unless it is one already known by another path;
    /// answers its index. Refused when its `.git` does not make a repository whose work tree is
    /// `dir`, or leads to a known repository's git directory from another work tree (a linked
    /// worktree, a `gitdir:` file pointing at the configured repository's).
    async fn nest(
        &mut self,
        dir: &RelPath,
        git: &Git,
        placeholders: &mut Placeholders,
    ) -> Result<usize, RepoError> {
        let at = self.root.join(dir.as_str());
        let nested = Git::new(&at, git.reach().clone());
        let (tree, git_dir) = identity(&nested, &at)
            .await
            .map_err(|e| RepoError(format!("scope `{dir}` has a `.git` but: {e}")))?;
        if let Some(known) = self.repos.iter().position(|r| r.tree == tree) {
            return Ok(known);
        }
        if std::fs::canonicalize(&at).ok().as_ref() != Some(&tree) {
            return Err(RepoError(format!(
                "scope `{dir}` has a `.git` but git places its work tree at {}",
                tree.display()
            )));
        }
        if let Some(shared) = self.repos.iter().find(|r| r.git_dir == git_dir) {
            return Err(RepoError(format!(
                "scope `{dir}` has a `.git` leading to the git directory of `{}` (a linked worktree, or a `gitdir:` file pointing there); it cannot be served as a repository of its own",
                shared.dir
            )));
        }
        remotes(&nested, placeholders).await?;
        tracing::info!(scope = %dir, "a scope is a git repository of its own");
        self.repos.push(Repository {
            dir: dir.clone(),
            git: nested,
            applying: tokio::sync::Mutex::new(()),
            tree,
            git_dir,
        });
        Ok(self.repos.len() - 1)
    }

    /// The nested repositories whose `.git` is gone since the server started.
    pub(crate) fn gone(&self) -> Vec<&RelPath> {
        self.nested
            .iter()
            .filter(|(dir, _)| !has_git(&self.root.join(dir.as_str())))
            .map(|(dir, _)| dir)
            .collect()
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
        let (mut repo, mut tree) = (&self.repos[0], RelPath::root());
        for prefix in path.prefixes() {
            let has = has_git(&self.root.join(prefix.as_str()));
            if let Some((_, known)) = self.nested.iter().find(|(d, _)| *d == prefix) {
                // Without its `.git`, git there would find the configured repository instead.
                if !has {
                    return Err(ScopeRefusal::Gone(raw.to_owned(), prefix));
                }
                repo = &self.repos[*known];
                tree = prefix;
            } else if has {
                return Err(ScopeRefusal::Foreign(raw.to_owned(), prefix));
            }
        }
        let within = path.relative_to(&tree).unwrap_or_else(RelPath::root);
        Ok(Scope {
            name: path,
            repo,
            within,
        })
    }
}
