//! Paths from clients, checked before git sees them: relative, inside the repository (no `..`,
//! no absolute path, no drive or root), never into git's own `.git`, and never read by git as an
//! option (no leading `-`; every path also goes after `--`, and git reads it literally, never
//! as a pattern or `:(magic)`). What is left is normalized: `./a//b/` is `a/b`, the root is `.`.

use std::fmt;

/// A path a client sent, checked: relative, inside the repository, `/`-separated.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RelPath(String);

/// Why a client's path is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathError {
    /// Empty, or a NUL or control character.
    Malformed,
    /// Absolute (`/etc`, `C:\`, `\\server`).
    Absolute,
    /// A `..` component.
    Parent,
    /// Starts with `-`, which git would read as an option.
    Option,
    /// Goes into git's own directory, `.git`.
    GitDir,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::Malformed => "the path is empty or has control characters",
            PathError::Absolute => "the path is absolute; give it relative to the repository",
            PathError::Parent => "the path has a `..` component, which could leave the scope",
            PathError::Option => "the path starts with `-`, which git would read as an option",
            PathError::GitDir => "the path goes into `.git`, git's own directory",
        })
    }
}

impl RelPath {
    /// The repository's root.
    pub fn root() -> Self {
        RelPath(".".into())
    }

    /// Checks and normalizes `raw`.
    ///
    /// # Errors
    /// See [`PathError`].
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        if raw.is_empty() || raw.chars().any(char::is_control) {
            return Err(PathError::Malformed);
        }
        if raw.starts_with('-') {
            return Err(PathError::Option);
        }
        let bytes = raw.as_bytes();
        let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
        if raw.starts_with('/') || raw.starts_with('\\') || drive {
            return Err(PathError::Absolute);
        }
        let mut parts = Vec::new();
        for part in raw.split(['/', '\\']) {
            match part {
                "" | "." => {}
                ".." => return Err(PathError::Parent),
                p if p.eq_ignore_ascii_case(".git") => return Err(PathError::GitDir),
                p if p.starts_with('-') && parts.is_empty() => return Err(PathError::Option),
                p => parts.push(p),
            }
        }
        if parts.is_empty() {
            return Ok(RelPath::root());
        }
        Ok(RelPath(parts.join("/")))
    }

    /// As git and the file system take it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the repository's root.
    pub fn is_root(&self) -> bool {
        self.0 == "."
    }

    /// Whether `path` (a path git printed, relative to the root) is inside this scope.
    pub fn contains(&self, path: &str) -> bool {
        self.is_root()
            || path == self.0
            || path
                .strip_prefix(self.0.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    }

    /// This path relative to `outer`, if it is `outer` or inside it (`a/b/c` in `a` is `b/c`).
    pub fn relative_to(&self, outer: &RelPath) -> Option<RelPath> {
        if outer.is_root() {
            return Some(self.clone());
        }
        if self == outer {
            return Some(RelPath::root());
        }
        let rest = self.0.strip_prefix(outer.0.as_str())?.strip_prefix('/')?;
        Some(RelPath(rest.to_owned()))
    }

    /// The directories leading to this path and the path itself, outermost first (`a`, `a/b`
    /// for `a/b`); none for the root.
    pub fn prefixes(&self) -> impl Iterator<Item = RelPath> + '_ {
        let parts: Vec<usize> = if self.is_root() {
            Vec::new()
        } else {
            self.0
                .match_indices('/')
                .map(|(i, _)| i)
                .chain([self.0.len()])
                .collect()
        };
        parts
            .into_iter()
            .map(|end| RelPath(self.0[..end].to_owned()))
    }

    /// `path`, given relative to this scope, as a path from the repository's root.
    pub fn join(&self, path: &RelPath) -> RelPath {
        match (self.is_root(), path.is_root()) {
            (true, _) => path.clone(),
            (false, true) => self.clone(),
            (false, false) => RelPath(format!("{}/{}", self.0, path.0)),
        }
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized() {
        assert_eq!(
            RelPath::parse("./src//lib.rs/").unwrap().as_str(),
            "src/lib.rs"
        );
        assert_eq!(RelPath::parse(".").unwrap(), RelPath::root());
        assert_eq!(RelPath::parse("a\\b").unwrap().as_str(), "a/b");
        assert_eq!(RelPath::parse("a/-b").unwrap().as_str(), "a/-b");
    }

    #[test]
    fn paths_that_could_escape_or_mislead_git_are_refused() {
        for (raw, why) in [
            ("", PathError::Malformed),
            ("a\0b", PathError::Malformed),
            ("a\nb", PathError::Malformed),
            ("/etc/passwd", PathError::Absolute),
            ("\\\\server\\share", PathError::Absolute),
            ("C:\\x", PathError::Absolute),
            ("..", PathError::Parent),
            ("src/../../x", PathError::Parent),
            ("-rf", PathError::Option),
            ("--output=x", PathError::Option),
            ("./-x", PathError::Option),
            (".git", PathError::GitDir),
            ("src/.GIT/config", PathError::GitDir),
        ] {
            assert_eq!(RelPath::parse(raw), Err(why), "{raw:?}");
        }
    }

    #[test]
    fn scopes_contain_their_paths_only() {
        let docs = RelPath::parse("docs").unwrap();
        assert!(docs.contains("docs/a.md") && docs.contains("docs"));
        assert!(!docs.contains("docs2/a.md") && !docs.contains("src/docs/a.md"));
        assert!(RelPath::root().contains("anything"));
        assert_eq!(
            docs.join(&RelPath::parse("a.md").unwrap()).as_str(),
            "docs/a.md"
        );
    }

    #[test]
    fn paths_are_taken_relative_to_a_directory() {
        let p = |s: &str| RelPath::parse(s).unwrap();
        assert_eq!(p("a/b/c").relative_to(&p("a")), Some(p("b/c")));
        assert_eq!(p("a").relative_to(&p("a")), Some(RelPath::root()));
        assert_eq!(p("ab/c").relative_to(&p("a")), None);
        assert_eq!(p("a/b").relative_to(&RelPath::root()), Some(p("a/b")));
        let prefixes: Vec<RelPath> = p("a/b/c").prefixes().collect();
        assert_eq!(prefixes, [p("a"), p("a/b"), p("a/b/c")]);
        assert_eq!(RelPath::root().prefixes().count(), 0);
    }
}
