//! Confining the server process itself: [`ServerReach`], the union of what its plugins' routes
//! declare and what the server needs (its database's directory, its port, the temporary
//! directory), applied by Landlock to the thread that asks and every thread it creates after.
//!
//! Landlock (ABI 7 here) cannot confine threads that already exist, so the server must apply it
//! before it has any: before the tokio runtime is built. What the plugins reach is known only
//! once their start hooks have run (a repository's remotes, the providers), so a server that
//! wants this starts twice — see [`ServerReach`].

use super::resolve::resolve;
use super::{Placeholders, ResolveError};
use crate::declare::{PluginMeta, served_routes};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::OnceLock;

/// What the whole server process may read, write, connect to and listen on, once confined.
///
/// A server confines itself in two starts: the first, unconfined, starts its plugins as usual,
/// collects their reach (`with_plugin` for each, with the placeholders its start gave) and its
/// own needs, and runs the same program again with the result in an environment variable
/// ([`ServerReach::ENV`], [`ServerReach::to_env`]); the second reads it first thing in `main`,
/// before any thread exists ([`ServerReach::from_env_value`]), confines itself
/// ([`confine_this_thread`](ServerReach::confine_this_thread)), and only then builds its runtime,
/// opens its database and starts its plugins — every thread of the process is then held to it,
/// and a start hook that needs something undeclared fails the start. `example-server --confine`
/// does this.
///
/// Besides what is listed, the process may read and run the system's programs and libraries,
/// and read the few files in `/etc` and `/dev` a program needs (the same set as the programs a
/// route starts). UDP (DNS) and, below Landlock ABI 9, Unix sockets are not restricted.
///
/// What this holds and what it does not:
/// - one process has one Landlock domain, so every thread is held to the *union*: code of one
///   route may read what another route declares (its own programs are still held to their
///   route's ruleset, nested inside);
/// - rules name the files and directories as they are when the server confines itself: a
///   declared path made later, or replaced (a repository cloned again, a file swapped for a new
///   one), is not reachable until the server starts again, and one missing at start is left out;
/// - the first start runs the plugins' start hooks unconfined, as any start does without this;
/// - give the SQLite database a directory of its own: the whole directory is writable.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerReach {
    /// Files and directories it may read.
    pub read: Vec<PathBuf>,
    /// Files and directories it may read and write.
    pub write: Vec<PathBuf>,
    /// Programs found outside the system directories, which it may run.
    pub programs: Vec<PathBuf>,
    /// TCP ports it may connect to.
    pub connect: Vec<u16>,
    /// TCP ports it may listen on.
    pub bind: Vec<u16>,
}

/// The reach the process confined itself to, if it did.
static CONFINED: OnceLock<ServerReach> = OnceLock::new();

impl ServerReach {
    /// The variable the first start passes the reach to the second in.
    pub const ENV: &'static str = "PLUGIN_SERVER_REACH";

    /// Nothing beyond the system's programs and files.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds what every route of `plugin` declares, with `placeholders` (the values its start
    /// gave, or those given to `with_placeholders`).
    ///
    /// # Errors
    /// A placeholder a route uses without a value, or a value that is not a path or address.
    pub fn with_plugin(
        mut self,
        plugin: &PluginMeta,
        placeholders: &Placeholders,
    ) -> Result<Self, ResolveError> {
        // The plugin's own permissions too: its start hook works under them, even where every
        // route declares its own.
        let own = plugin
            .permissions
            .map(|p| (format!("{} (start)", plugin.name), p));
        let routes = served_routes(plugin)
            .map(|route| (route.label(plugin), route.effective_permissions(plugin)));
        for (label, permissions) in own.into_iter().chain(routes) {
            let (allowed, programs) = resolve(&label, permissions, placeholders)?;
            self.read.extend(allowed.read);
            self.write.extend(allowed.write);
            self.connect.extend(allowed.net.iter().map(|e| e.port));
            self.programs
                .extend(programs.into_iter().filter_map(|p| p.path));
        }
        Ok(self.tidy())
    }

    /// May read `path` (a file or a directory and everything under it).
    #[must_use]
    pub fn read(mut self, path: impl Into<PathBuf>) -> Self {
        self.read.push(path.into());
        self.tidy()
    }

    /// May read and write `path`.
    #[must_use]
    pub fn write(mut self, path: impl Into<PathBuf>) -> Self {
        self.write.push(path.into());
        self.tidy()
    }

    /// May connect to TCP `port` (on any host: Landlock rules ports, not addresses).
    #[must_use]
    pub fn connect(mut self, port: u16) -> Self {
        self.connect.push(port);
        self.tidy()
    }

    /// May listen on TCP `port`.
    #[must_use]
    pub fn bind(mut self, port: u16) -> Self {
        self.bind.push(port);
        self.tidy()
    }

    fn tidy(mut self) -> Self {
        for list in [&mut self.read, &mut self.write, &mut self.programs] {
            list.sort();
            list.dedup();
        }
        for ports in [&mut self.connect, &mut self.bind] {
            ports.sort_unstable();
            ports.dedup();
        }
        self
    }

    /// As the value of [`ServerReach::ENV`].
    ///
    /// # Errors
    /// A path that is not UTF-8 (the value is JSON).
    pub fn to_env(&self) -> Result<String, String> {
        serde_json::to_string(self).map_err(|e| format!("{}: {e}", Self::ENV))
    }

    /// The reach a first start passed in [`ServerReach::ENV`], if any.
    ///
    /// # Errors
    /// A value that is not a reach.
    pub fn from_env_value(value: &str) -> Result<Self, String> {
        serde_json::from_str(value).map_err(|e| format!("{}: {e}", Self::ENV))
    }

    /// The reach this process confined itself to, if it did.
    pub fn confined() -> Option<&'static ServerReach> {
        CONFINED.get()
    }

    /// Confines the calling thread, and every thread it creates from now on, to this reach.
    /// Call it first in `main`, before anything makes a thread (a tokio runtime does): threads
    /// that already exist are not confined.
    ///
    /// # Errors
    /// Landlock is missing or did not confine (without the `sandbox` feature, or not on Linux,
    /// always): a server asked to confine itself should not serve unconfined.
    pub fn confine_this_thread(&self) -> Result<(), String> {
        self.apply()?;
        let _ = CONFINED.set(self.clone());
        tracing::info!(
            read = self.read.len(),
            write = ?self.write,
            connect = ?self.connect,
            bind = ?self.bind,
            "the server process is confined by Landlock"
        );
        Ok(())
    }

    #[cfg(all(feature = "sandbox", target_os = "linux"))]
    fn apply(&self) -> Result<(), String> {
        super::sandbox::confine(&super::sandbox::Rules {
            read: &self.read,
            write: &self.write,
            programs: &self.programs,
            connect: &self.connect,
            bind: &self.bind,
            scoped: false,
        })
        .map_err(|e| format!("Landlock: {e}"))
    }

    #[cfg(not(all(feature = "sandbox", target_os = "linux")))]
    fn apply(&self) -> Result<(), String> {
        Err(
            "this build cannot confine the server (Landlock needs Linux and the `sandbox` feature)"
                .to_owned(),
        )
    }
}
