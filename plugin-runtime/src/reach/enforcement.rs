//! What the kernel enforces on the programs plugin code starts, worked out once per process and
//! logged once, so the manifest or a health answer can show it. Nothing is silently weaker than
//! declared: each part the kernel does not enforce says why, and each enforced part lists what
//! it still lets through.

use serde::Serialize;
use std::sync::OnceLock;

/// How far the kernel confines programs started through a [`Reach`](super::Reach).
///
/// The handle checks every request it is given whatever this says; this is about what the
/// started programs themselves can do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Enforcement {
    /// Whether Landlock is available and used.
    pub landlock: bool,
    /// The Landlock ABI in use (0 without Landlock).
    pub abi: u32,
    /// Files: reads and writes outside the declared paths refused.
    pub fs: Part,
    /// TCP: connections to undeclared ports and every bind refused.
    pub net: Part,
    /// Signals to, and abstract unix sockets of, processes outside the sandbox refused.
    pub scopes: Part,
    /// Programs: only the declared ones started.
    pub shell: Part,
}

/// One part of [`Enforcement`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Part {
    /// Whether the kernel enforces it.
    pub enforced: bool,
    /// Why not, when it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What it still lets through, when it does.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<&'static str>,
}

impl Part {
    fn on(limits: Vec<&'static str>) -> Self {
        Part {
            enforced: true,
            reason: None,
            limits,
        }
    }

    fn off(reason: impl Into<String>) -> Self {
        Part {
            enforced: false,
            reason: Some(reason.into()),
            limits: Vec::new(),
        }
    }
}

/// Landlock does not tell programs apart: it confines what they touch, not which of the system's
/// programs they run.
const SHELL_REASON: &str = "the handle checks the programs it starts and their first argument, \
                            not what they run: the kernel lets those run any program under the \
                            system directories and under the declared write paths (where a \
                            repository's hooks live), and options can make a program run \
                            another (`git push --receive-pack=..`)";

impl Enforcement {
    /// Nothing enforced by the kernel, for `reason`.
    pub(super) fn none(reason: &str) -> Self {
        Enforcement {
            landlock: false,
            abi: 0,
            fs: Part::off(reason),
            net: Part::off(reason),
            scopes: Part::off(reason),
            shell: Part::off(SHELL_REASON),
        }
    }

    /// What Landlock ABI `abi` enforces of the ruleset `sandbox.rs` builds.
    // Only `sandbox.rs` builds a ruleset, and it exists only with `sandbox` on Linux.
    #[cfg_attr(not(all(feature = "sandbox", target_os = "linux")), allow(dead_code))]
    pub(super) fn landlock(abi: u32) -> Self {
        let mut fs_limits = Vec::new();
        if abi < 3 {
            fs_limits.push("truncating files is not restricted (ABI < 3)");
        }
        if abi < 5 {
            fs_limits.push("ioctl on device files is not restricted (ABI < 5)");
        }
        if abi < 9 {
            fs_limits.push(
                "connecting to a Unix socket by its path is not restricted (ABI < 9): a program \
                 may reach a local daemon's socket (a database, an agent)",
            );
        }
        Enforcement {
            landlock: true,
            abi,
            fs: Part::on(fs_limits),
            net: if abi >= 4 {
                Part::on(vec![
                    "ports only: a program may connect to any host on a declared port",
                    "UDP is not restricted",
                ])
            } else {
                Part::off(format!("ABI {abi}: no TCP rules"))
            },
            scopes: if abi >= 6 {
                Part::on(Vec::new())
            } else {
                Part::off(format!("ABI {abi}: no signal or abstract socket scoping"))
            },
            shell: Part::off(SHELL_REASON),
        }
    }
}

/// What the kernel enforces on programs started through a [`Reach`](super::Reach), worked out
/// (and logged) the first time it is asked.
pub fn enforcement() -> &'static Enforcement {
    static ENFORCEMENT: OnceLock<Enforcement> = OnceLock::new();
    ENFORCEMENT.get_or_init(|| {
        let found = detect();
        if found.fs.enforced && found.net.enforced {
            tracing::info!(
                abi = found.abi,
                scopes = found.scopes.enforced,
                "Landlock confines the programs plugins start: files and TCP ports"
            );
        } else {
            tracing::warn!(
                landlock = found.landlock,
                abi = found.abi,
                fs = found.fs.reason.as_deref().unwrap_or("enforced"),
                net = found.net.reason.as_deref().unwrap_or("enforced"),
                "the programs plugins start are not fully confined by the kernel; \
                 the handle still checks every request"
            );
        }
        found
    })
}

#[cfg(all(feature = "sandbox", target_os = "linux"))]
fn detect() -> Enforcement {
    match super::sandbox::probe() {
        Ok(abi) => Enforcement::landlock(abi),
        Err(reason) => Enforcement::none(&reason),
    }
}

#[cfg(all(not(feature = "sandbox"), target_os = "linux"))]
fn detect() -> Enforcement {
    Enforcement::none("feature `sandbox` is off")
}

#[cfg(not(target_os = "linux"))]
fn detect() -> Enforcement {
    Enforcement::none("not Linux")
}
