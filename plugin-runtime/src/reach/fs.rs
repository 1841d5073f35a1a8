//! Files through the handle: every path is made canonical (`..` and links resolved, as far as it
//! exists) and compared with the declared read and write paths before it is touched.
//!
//! With Landlock (feature `sandbox`), the operation itself then runs on a short-lived thread
//! confined by the route's ruleset, so a link swapped in between the check and the operation (by
//! a child the route started, say) leads nowhere the route may not go. Without it these are
//! checks only. The server's own threads are never confined.

use super::{Kind, Reach, ReachError, paths};
use std::io;
use std::path::{Path, PathBuf};

impl Reach {
    /// `path` made canonical, if the route may read it (it is inside a declared read or write
    /// path).
    ///
    /// # Errors
    /// [`ReachError::Refused`] (logged) outside; [`ReachError::Io`] when it cannot be resolved
    /// (a dangling link, an unreadable directory).
    pub fn check_read(&self, path: impl AsRef<Path>) -> Result<PathBuf, ReachError> {
        self.check_path(path.as_ref(), Kind::Read)
    }

    /// `path` made canonical, if the route may write, create or remove it (it is inside a
    /// declared write path).
    ///
    /// # Errors
    /// As [`check_read`](Self::check_read).
    pub fn check_write(&self, path: impl AsRef<Path>) -> Result<PathBuf, ReachError> {
        self.check_path(path.as_ref(), Kind::Write)
    }

    fn check_path(&self, path: &Path, kind: Kind) -> Result<PathBuf, ReachError> {
        let canonical = match paths::canonical(path) {
            Ok(p) => p,
            // A dangling link: where it points is not known until it is written through.
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                return Err(self.refuse(kind, path.display().to_string()).into());
            }
            Err(e) => return Err(e.into()),
        };
        let allowed = &self.inner.allowed;
        let ok = match kind {
            Kind::Read => {
                paths::inside(&canonical, &allowed.read)
                    || paths::inside(&canonical, &allowed.write)
            }
            _ => paths::inside(&canonical, &allowed.write),
        };
        if ok {
            Ok(canonical)
        } else {
            Err(self.refuse(kind, refusal_text(path, &canonical)).into())
        }
    }

    /// Reads a whole file.
    ///
    /// # Errors
    /// As [`check_read`](Self::check_read), or the read's own error.
    pub async fn read(&self, path: impl AsRef<Path>) -> Result<Vec<u8>, ReachError> {
        self.blocking(path.as_ref(), Kind::Read, |p| std::fs::read(p))
            .await
    }

    /// Reads a whole file as UTF-8.
    ///
    /// # Errors
    /// As [`read`](Self::read), or when it is not UTF-8.
    pub async fn read_to_string(&self, path: impl AsRef<Path>) -> Result<String, ReachError> {
        self.blocking(path.as_ref(), Kind::Read, |p| std::fs::read_to_string(p))
            .await
    }

    /// Writes a whole file, creating or replacing it.
    ///
    /// # Errors
    /// As [`check_write`](Self::check_write), or the write's own error.
    pub async fn write(
        &self,
        path: impl AsRef<Path>,
        contents: impl AsRef<[u8]>,
    ) -> Result<(), ReachError> {
        let contents = contents.as_ref().to_vec();
        self.blocking(path.as_ref(), Kind::Write, move |p| {
            std::fs::write(p, contents)
        })
        .await
    }

    /// Creates a directory and its missing parents.
    ///
    /// # Errors
    /// As [`check_write`](Self::check_write), or the creation's own error.
    pub async fn create_dir_all(&self, path: impl AsRef<Path>) -> Result<(), ReachError> {
        self.blocking(path.as_ref(), Kind::Write, |p| std::fs::create_dir_all(p))
            .await
    }

    /// Removes a file (a link itself, not what it points to).
    ///
    /// # Errors
    /// As [`check_write`](Self::check_write) for the directory it is in, or the removal's own
    /// error.
    pub async fn remove_file(&self, path: impl AsRef<Path>) -> Result<(), ReachError> {
        // The link itself is removed, so its directory is what must be writable.
        let path = path.as_ref();
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(self.refuse(Kind::Write, path.display().to_string()).into());
        };
        let name = name.to_owned();
        self.blocking(dir, Kind::Write, move |d| {
            std::fs::remove_file(d.join(name))
        })
        .await
    }

    /// Checks `path` and runs `op` on its canonical form, both on tokio's blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        path: &Path,
        kind: Kind,
        op: impl FnOnce(&Path) -> io::Result<T> + Send + 'static,
    ) -> Result<T, ReachError> {
        let reach = self.clone();
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || {
            let canonical = reach.check_path(&path, kind)?;
            Ok(reach.confined(|| op(&canonical))?)
        })
        .await
        .map_err(|e| ReachError::Io(io::Error::other(e)))?
    }
}

impl Reach {
    /// Runs `op` confined by the route's ruleset, where the kernel can.
    #[cfg(all(feature = "sandbox", target_os = "linux"))]
    fn confined<T: Send>(&self, op: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
        if !super::enforcement().fs.enforced {
            return op();
        }
        super::sandbox::Confinement::build(&self.inner.allowed, &self.inner.programs)
            .map_err(io::Error::other)?
            .run(op)
    }

    /// Runs `op`: without the `sandbox` feature there is nothing to confine it with.
    #[cfg(not(all(feature = "sandbox", target_os = "linux")))]
    #[allow(clippy::unused_self)] // the same signature as the confining one
    fn confined<T: Send>(&self, op: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
        op()
    }
}

/// What a refusal names: the path as asked, and where it really leads when that differs.
fn refusal_text(asked: &Path, canonical: &Path) -> String {
    if asked == canonical {
        asked.display().to_string()
    } else {
        format!("{} (= {})", asked.display(), canonical.display())
    }
}
