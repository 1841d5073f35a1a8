//! What goes wrong when plugin code asks its [`Reach`](super::Reach) for something: a refusal
//! (not declared), an I/O failure, or a declaration that cannot be resolved at start.
//!
//! A [`Refused`] is logged once, by the only function that makes one, so every refusal leaves
//! exactly one line naming the route, the kind and what was asked, whatever the caller does with
//! the error afterwards. (These types are written by hand rather than with `thiserror`, which
//! the crate's core does not depend on.)

use std::fmt;
use std::io;

/// The kind of thing a plugin asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Starting a program (`shell(...)`).
    Shell,
    /// Reading a file or directory (`fs(read(...))`, or a write path).
    Read,
    /// Writing, creating or removing (`fs(write(...))`).
    Write,
    /// Connecting to a host and port (`net(...)`).
    Net,
    /// Reading or passing on an environment variable (`env(...)`).
    Env,
}

impl Kind {
    /// The kind as `permissions(...)` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Shell => "shell",
            Kind::Read => "read",
            Kind::Write => "write",
            Kind::Net => "net",
            Kind::Env => "env",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Plugin code asked for something its route does not declare.
///
/// Already logged (one `error` line with `route`, `kind` and `asked`) when you receive it.
/// Converted into a `RouteError` with `?`, it answers `500 INTERNAL` and its body says nothing
/// about the permission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    route: String,
    kind: Kind,
    asked: String,
}

impl Refused {
    /// Makes and logs a refusal: the only way one comes to exist.
    pub(super) fn new(route: &str, kind: Kind, asked: impl Into<String>) -> Self {
        let asked = asked.into();
        tracing::error!(
            route,
            kind = kind.as_str(),
            asked = asked.as_str(),
            "refused: not declared in the route's permissions"
        );
        Refused {
            route: route.to_owned(),
            kind,
            asked,
        }
    }

    /// The route whose handle refused (`commit POST /push`).
    pub fn route(&self) -> &str {
        &self.route
    }

    /// What kind of thing was asked for.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// What was asked for: the program (with its first argument), the path, `host:port`, the
    /// variable.
    pub fn asked(&self) -> &str {
        &self.asked
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "route `{}` does not declare {} `{}`",
            self.route, self.kind, self.asked
        )
    }
}

impl std::error::Error for Refused {}

/// Refused, or the operation itself failed.
#[derive(Debug)]
pub enum ReachError {
    /// Not declared (already logged).
    Refused(Refused),
    /// Allowed, but the system said no (not found, permission denied by the OS or by the kernel's
    /// sandbox, …).
    Io(io::Error),
}

impl ReachError {
    /// The refusal, if it was one.
    pub fn refused(&self) -> Option<&Refused> {
        match self {
            ReachError::Refused(r) => Some(r),
            ReachError::Io(_) => None,
        }
    }
}

impl fmt::Display for ReachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReachError::Refused(r) => r.fmt(f),
            ReachError::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ReachError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReachError::Refused(r) => Some(r),
            ReachError::Io(e) => Some(e),
        }
    }
}

impl From<Refused> for ReachError {
    fn from(r: Refused) -> Self {
        ReachError::Refused(r)
    }
}

impl From<io::Error> for ReachError {
    fn from(e: io::Error) -> Self {
        ReachError::Io(e)
    }
}

/// What [`ReachCommand::spawn`](super::ReachCommand::spawn) fails with.
pub type SpawnError = ReachError;

/// A route's permissions could not be resolved when the server started.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResolveError {
    /// An entry names a placeholder that was given no value.
    UnknownPlaceholder {
        /// The route.
        route: String,
        /// The placeholder's name, without braces.
        name: String,
        /// The entry that names it, as declared.
        entry: String,
    },
    /// A path entry's placeholder value is not an absolute path, or contains `..`.
    NotAbsolute {
        /// The route.
        route: String,
        /// The entry, as declared.
        entry: String,
        /// The path it resolved to.
        value: String,
    },
    /// A net entry's value is neither a URL with a host nor `host:port`.
    BadHost {
        /// The route.
        route: String,
        /// The entry, as declared.
        entry: String,
        /// What is wrong.
        problem: String,
    },
    /// A program entry does not parse (only possible for hand-built `Permissions`).
    BadProgram {
        /// The route.
        route: String,
        /// What is wrong.
        problem: String,
    },
}

impl fmt::Display for ResolveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResolveError::UnknownPlaceholder { route, name, entry } => write!(
                f,
                "route `{route}`: permission `{entry}` names the placeholder `{{{name}}}`, \
                 which was given no value"
            ),
            ResolveError::NotAbsolute {
                route,
                entry,
                value,
            } => write!(
                f,
                "route `{route}`: permission `{entry}` resolves to `{value}`, which is not an \
                 absolute path without `..`"
            ),
            ResolveError::BadHost {
                route,
                entry,
                problem,
            } => write!(f, "route `{route}`: permission `{entry}`: {problem}"),
            ResolveError::BadProgram { route, problem } => write!(f, "route `{route}`: {problem}"),
        }
    }
}

impl std::error::Error for ResolveError {}
