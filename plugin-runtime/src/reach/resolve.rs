//! From what a route declares (`Permissions`, placeholders still in braces) to what its handle
//! allows: placeholders filled in, paths made canonical, hosts and ports parsed, programs found
//! on `PATH`. Done once per route when the server starts, so every later check is a comparison.

use super::paths;
use super::placeholders::Placeholders;
use super::refused::ResolveError;
use crate::declare::Permissions;
use serde::Serialize;
use std::path::PathBuf;

/// What a resolved handle allows, for the manifest and health answers (and for reading).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Allowed {
    /// The route, as log lines name it.
    pub route: String,
    /// Programs, as declared (`git`, `git push`).
    pub programs: Vec<String>,
    /// Directories and files that may be read (canonical), besides the write paths.
    pub read: Vec<PathBuf>,
    /// Directories and files that may be written and read (canonical).
    pub write: Vec<PathBuf>,
    /// Hosts and ports that may be connected to.
    pub net: Vec<Endpoint>,
    /// Environment variables (`GIT_*` is a family).
    pub env: Vec<String>,
}

/// A host and port that may be connected to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// Lowercase host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// A program that may be started, and where it was found.
#[derive(Clone, Debug)]
pub(super) struct ProgramRule {
    pub(super) name: String,
    /// The only first argument allowed, if limited.
    pub(super) first_arg: Option<String>,
    /// Where it is on the server's `PATH`, if anywhere.
    pub(super) path: Option<PathBuf>,
}

/// Resolves `perms` for `route` with `values`.
pub(super) fn resolve(
    route: &str,
    perms: &Permissions,
    values: &Placeholders,
) -> Result<(Allowed, Vec<ProgramRule>), ResolveError> {
    let mut allowed = Allowed {
        route: route.to_owned(),
        ..Allowed::default()
    };
    let mut programs = Vec::new();
    for entry in perms.shell {
        let program = plugin_routes_rules::parse_program(entry).map_err(|problem| {
            ResolveError::BadProgram {
                route: route.to_owned(),
                problem,
            }
        })?;
        programs.push(ProgramRule {
            name: program.name.to_owned(),
            first_arg: program.first_arg.map(str::to_owned),
            path: paths::find_program(program.name),
        });
        allowed.programs.push((*entry).to_owned());
    }
    for entry in perms.read {
        for path in resolve_path(route, entry, values)? {
            push_new(&mut allowed.read, path);
        }
    }
    for entry in perms.write {
        for path in resolve_path(route, entry, values)? {
            push_new(&mut allowed.write, path);
        }
    }
    for entry in perms.net {
        for (host, port) in resolve_net(route, entry, values)? {
            push_new(&mut allowed.net, Endpoint { host, port });
        }
    }
    for entry in perms.env {
        push_new(&mut allowed.env, (*entry).to_owned());
    }
    Ok((allowed, programs))
}

fn push_new<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// The values `entry` stands for: itself, or one per value of its placeholder.
fn expand<'a>(
    route: &str,
    entry: &'a str,
    values: &'a Placeholders,
) -> Result<Vec<(String, &'a str)>, ResolveError> {
    let Some((name, rest)) = plugin_routes_rules::split_placeholder(entry) else {
        return Ok(vec![(entry.to_owned(), entry)]);
    };
    let given = values.get(name);
    if !values.is_given(name) {
        return Err(ResolveError::UnknownPlaceholder {
            route: route.to_owned(),
            name: name.to_owned(),
            entry: entry.to_owned(),
        });
    }
    Ok(given
        .iter()
        .map(|value| (format!("{value}{rest}"), entry))
        .collect())
}

fn resolve_path(
    route: &str,
    entry: &str,
    values: &Placeholders,
) -> Result<Vec<PathBuf>, ResolveError> {
    expand(route, entry, values)?
        .into_iter()
        .map(|(value, entry)| {
            paths::declared(&value).ok_or_else(|| ResolveError::NotAbsolute {
                route: route.to_owned(),
                entry: entry.to_owned(),
                value,
            })
        })
        .collect()
}

fn resolve_net(
    route: &str,
    entry: &str,
    values: &Placeholders,
) -> Result<Vec<(String, u16)>, ResolveError> {
    expand(route, entry, values)?
        .into_iter()
        .map(|(value, entry)| {
            plugin_routes_rules::host_port_of(&value).map_err(|problem| ResolveError::BadHost {
                route: route.to_owned(),
                entry: entry.to_owned(),
                problem,
            })
        })
        .collect()
}
