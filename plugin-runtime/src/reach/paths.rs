//! Canonical paths, for comparing what plugin code asks for with what its route declares: `..`
//! and symbolic links are resolved first, so `{work}/../etc/passwd` and a link inside `{work}`
//! that points outside are both seen for what they are.
//!
//! A path that does not exist yet (a file about to be created, a directory tree about to be made)
//! is resolved as far as it exists; the rest cannot contain a link, since it does not exist, so it
//! is appended as written, with `..` and `.` applied to it.

use std::io;
use std::path::{Component, Path, PathBuf};

/// `path` made absolute, its links and `..` resolved as far as it exists.
///
/// # Errors
/// When an existing part cannot be read, or a part of it is a link whose target does not exist
/// (a dangling link would let a write land wherever it points).
pub(super) fn canonical(path: &Path) -> io::Result<PathBuf> {
    match std::fs::canonicalize(path) {
        Ok(p) => return Ok(p),
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let absolute = std::path::absolute(path)?;
    // Walk up to the longest prefix that exists, remembering the rest.
    let mut base = absolute.as_path();
    let mut rest: Vec<Component<'_>> = Vec::new();
    let canonical_base = loop {
        if base.symlink_metadata().is_ok() {
            // It exists as something; if it cannot be canonicalized it is a dangling link.
            break std::fs::canonicalize(base).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("`{}` is a link to nothing", base.display()),
                )
            })?;
        }
        let Some(parent) = base.parent() else {
            break PathBuf::from("/");
        };
        if let Some(last) = base.components().next_back() {
            rest.push(last);
        }
        base = parent;
    };
    let mut out = canonical_base;
    for component in rest.into_iter().rev() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    Ok(out)
}

/// `value` as an absolute path without `..`, canonical if it exists (as [`canonical`]).
pub(super) fn declared(value: &str) -> Option<PathBuf> {
    let path = Path::new(value);
    if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        return None;
    }
    canonical(path).ok()
}

/// Whether `path` is `root` or inside it, component by component (`/a/bc` is not inside `/a/b`).
pub(super) fn inside(path: &Path, roots: &[PathBuf]) -> bool {
    roots.iter().any(|root| path.starts_with(root))
}

/// The file `name` would run as, found on the server's `PATH` (the child's own environment has
/// no `PATH` unless declared). Not canonicalized: a multi-call program (busybox) reads which
/// tool to be from the name it was started as.
pub(super) fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}
