//! Floor 2, reach: the only door from plugin code to processes, files, the network and the
//! environment: a [`Reach`] handle that knows its route's declared permissions, checks every
//! request against them, and (feature `sandbox`, Linux) has the kernel confine every program it
//! starts. It imports only the declared floor.
//!
//! A route's `permissions(...)` are resolved into a handle once, when the server starts
//! ([`Reach::resolve`], with the [`Placeholders`]' values). Anything the handle refuses is a
//! [`Refused`], logged once (one `error` line with `route`, `kind` and `asked`) where it is made;
//! with `?` in a handler it becomes a `500 INTERNAL` whose body says nothing about permissions.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use plugin_routes::Permissions;
//! use plugin_routes::reach::{Placeholders, Reach};
//!
//! static PERMS: Permissions = Permissions {
//!     presets: &[],
//!     shell: &["git push"],
//!     read: &[],
//!     write: &["{repo}"],
//!     net: &["{remote}"],
//!     env: &["GIT_*", "HOME"],
//! };
//! let values = Placeholders::new()
//!     .with("repo", "/srv/repos/site")
//!     .with("remote", "https://git.example.com/site.git");
//! let reach = Reach::resolve("commit POST /push", &PERMS, &values)?;
//!
//! let status = reach
//!     .command("git")?
//!     .arg("push") // the declared first argument, literally first
//!     .args(["origin", "main"])
//!     .current_dir("/srv/repos/site")?
//!     .status()
//!     .await?;
//! # let _ = status; Ok(()) }
//! ```
//!
//! What the kernel enforces on this machine: [`enforcement()`].

mod command;
mod enforcement;
mod fs;
mod outside;
mod paths;
mod placeholders;
mod refused;
mod resolve;
#[cfg(all(feature = "sandbox", target_os = "linux"))]
mod sandbox;
mod server;

pub use command::ReachCommand;
pub use enforcement::{Enforcement, Part, enforcement};
pub use placeholders::Placeholders;
/// The host and port a URL (or `host:port`) connects to, as `net(...)` placeholders resolve it.
pub use plugin_routes_rules::host_port_of;
pub use refused::{Kind, ReachError, Refused, ResolveError, SpawnError};
pub use resolve::{Allowed, Endpoint};
pub use server::ServerReach;

use crate::declare::Permissions;
use resolve::ProgramRule;
use std::sync::Arc;

/// What one route's plugin code may reach: cheap to clone, the only door to processes, files,
/// the network and the environment.
#[derive(Clone, Debug)]
pub struct Reach {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    allowed: Allowed,
    programs: Vec<ProgramRule>,
}

impl Reach {
    /// The handle for the route `route_label` (what log lines name it: `commit POST /push`) with
    /// `perms`, its placeholders filled in from `values`.
    ///
    /// Paths that exist are made canonical (links resolved), so later checks compare canonical
    /// paths; write paths may also be read. Programs are looked up on the server's `PATH` now.
    ///
    /// # Errors
    /// A placeholder without a value (naming it and the entry), a path value that is not
    /// absolute, a net value that is neither a URL nor `host:port`.
    pub fn resolve(
        route_label: impl Into<String>,
        perms: &Permissions,
        values: &Placeholders,
    ) -> Result<Reach, ResolveError> {
        let route = route_label.into();
        let (allowed, programs) = resolve::resolve(&route, perms, values)?;
        Ok(Reach::from_parts(allowed, programs))
    }

    /// A handle that allows nothing.
    pub fn none(route_label: impl Into<String>) -> Reach {
        let allowed = Allowed {
            route: route_label.into(),
            ..Allowed::default()
        };
        Reach::from_parts(allowed, Vec::new())
    }

    fn from_parts(allowed: Allowed, programs: Vec<ProgramRule>) -> Reach {
        Reach {
            inner: Arc::new(Inner { allowed, programs }),
        }
    }

    /// The route's label.
    pub fn route(&self) -> &str {
        &self.inner.allowed.route
    }

    /// What it allows, resolved (serializable, for the manifest and health answers).
    pub fn describe(&self) -> &Allowed {
        &self.inner.allowed
    }

    /// Makes (and so logs) a refusal by this route.
    fn refuse(&self, kind: Kind, asked: impl Into<String>) -> Refused {
        Refused::new(self.route(), kind, asked)
    }
}

impl serde::Serialize for Reach {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.inner.allowed.serialize(s)
    }
}
