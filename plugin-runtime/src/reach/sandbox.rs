//! The kernel's half of a [`Reach`](super::Reach) (feature `sandbox`, Linux): a Landlock ruleset
//! per route, applied to every program started through the handle.
//!
//! Landlock confines the thread that calls `restrict_self` and everything that thread creates
//! afterwards, and cannot be lifted. The workspace forbids `unsafe`, so there is no `pre_exec`
//! hook to apply it between fork and exec; instead each spawn runs on a short-lived thread that
//! confines itself, enters the tokio runtime, starts the child (which inherits the confinement)
//! and ends. The server's own threads are confined only when it asks, before it has any
//! ([`ServerReach`](super::ServerReach)).

use super::resolve::{Allowed, ProgramRule};
use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, LandlockStatus, NetPort, Ruleset, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, RulesetError, RulesetStatus, Scope, path_beneath_rules,
};
use std::io;
use std::path::PathBuf;

/// The newest ABI whose rights are asked for; the crate's best-effort mode keeps those the
/// running kernel knows, and `Enforcement` says what that leaves out.
const REQUESTED: ABI = ABI::V10;

/// Read and run: the programs and the libraries they load.
const SYSTEM_EXEC: &[&str] = &[
    // Programs and shared libraries (`/usr/lib`, the loader, `/usr/share` for locales, zoneinfo
    // and git's templates).
    "/usr", // On merged-/usr systems these are links into `/usr`; elsewhere, the real thing.
    "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// Read only: what a plain program opens in `/etc` and `/dev`. Not all of `/etc`, which holds
/// secrets (`shadow`, ssh host keys, other services' configuration); not `/proc`, which shows
/// every process's command line.
const SYSTEM_READ: &[&str] = &[
    // The dynamic loader's cache and configuration.
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/ld.so.preload",
    // Users and groups by id (`git` and `ssh` look up the current user), name resolution.
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/resolv.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    // TLS roots for programs that make HTTPS connections to declared hosts.
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
    "/etc/pki",
    // Time zone, locale, terminal descriptions, the system's git configuration.
    "/etc/localtime",
    "/etc/timezone",
    "/etc/locale.alias",
    "/etc/locale.conf",
    "/etc/terminfo",
    "/etc/gitconfig",
    "/etc/mime.types",
    "/etc/os-release",
    // Devices a plain program reads, one by one: not all of `/dev`, which holds shared memory
    // (`/dev/shm`), the kernel's log and the disks. `/dev/null` is also writable, below.
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

/// Checks which Landlock ABI the kernel has, by confining a throwaway thread (the crate reports
/// the kernel's status only as the result of `restrict_self`): the ABI in effect, or why there
/// is none.
pub(super) fn probe() -> Result<u32, String> {
    let outcome = std::thread::Builder::new()
        .name("landlock-probe".into())
        .spawn(|| {
            Ruleset::default()
                .handle_access(AccessFs::Execute)?
                .create()?
                .restrict_self()
        })
        .map(std::thread::JoinHandle::join);
    match outcome {
        Ok(Ok(Ok(status))) => match status.landlock {
            LandlockStatus::Available { effective_abi, .. } => {
                Ok(effective_abi.to_string().parse().unwrap_or(0))
            }
            LandlockStatus::NotEnabled => {
                Err("kernel has Landlock, not enabled at boot (`lsm=` list)".to_owned())
            }
            LandlockStatus::NotImplemented => Err("kernel has no Landlock".to_owned()),
        },
        Ok(Ok(Err(e))) => Err(format!("Landlock probe failed: {e}")),
        Ok(Err(_)) | Err(_) => Err("Landlock probe thread failed".to_owned()),
    }
}

/// What a ruleset allows besides the system's programs and files.
pub(super) struct Rules<'a> {
    /// Read.
    pub(super) read: &'a [PathBuf],
    /// Read, written and run from: a repository's own hooks live under it, and git runs them
    /// (confined like git itself).
    pub(super) write: &'a [PathBuf],
    /// Programs that may be run; those outside the system directories get a rule of their own.
    pub(super) programs: &'a [PathBuf],
    /// TCP ports that may be connected to.
    pub(super) connect: &'a [u16],
    /// TCP ports that may be listened on.
    pub(super) bind: &'a [u16],
    /// Whether signals and abstract Unix sockets stay inside: for a route's programs, not for
    /// the server, which signals the process groups of the programs it started.
    pub(super) scoped: bool,
}

/// The ruleset for `rules`, plus what every program needs to run.
fn ruleset(rules: &Rules<'_>) -> Result<RulesetCreated, RulesetError> {
    let read: BitFlags<AccessFs> = AccessFs::ReadFile | AccessFs::ReadDir;
    let read_exec = AccessFs::from_read(REQUESTED);
    let read_write = read_exec | AccessFs::from_write(REQUESTED);
    // Programs found outside the system directories (`/usr/local` is inside `/usr`).
    let extra_programs = rules
        .programs
        .iter()
        .filter(|p| !SYSTEM_EXEC.iter().any(|dir| p.starts_with(dir)));
    let ports = |list: &[u16], access: AccessNet| {
        list.iter()
            .map(move |&port| Ok::<_, RulesetError>(NetPort::new(port, access)))
            .collect::<Vec<_>>()
    };
    let handled = Ruleset::default()
        .handle_access(AccessFs::from_all(REQUESTED))?
        // Only TCP: UDP rules (ABI 10) would stop DNS, which declared host names need.
        .handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)?;
    let handled = if rules.scoped {
        handled.scope(Scope::from_all(REQUESTED))?
    } else {
        handled
    };
    handled
        .create()?
        .add_rules(path_beneath_rules(SYSTEM_EXEC, read_exec))?
        .add_rules(path_beneath_rules(SYSTEM_READ, read))?
        .add_rules(path_beneath_rules(
            ["/dev/null"],
            AccessFs::WriteFile | AccessFs::Truncate,
        ))?
        .add_rules(path_beneath_rules(extra_programs, read_exec))?
        .add_rules(path_beneath_rules(rules.read, read))?
        .add_rules(path_beneath_rules(rules.write, read_write))?
        .add_rules(ports(rules.connect, AccessNet::ConnectTcp))?
        .add_rules(ports(rules.bind, AccessNet::BindTcp))
}

/// Confines the calling thread (and the threads it creates) to `rules`: the whole server's
/// ruleset ([`ServerReach`](super::ServerReach)).
pub(super) fn confine(rules: &Rules<'_>) -> Result<(), String> {
    let status = ruleset(rules)
        .and_then(RulesetCreated::restrict_self)
        .map_err(|e| e.to_string())?;
    match status.ruleset {
        RulesetStatus::FullyEnforced | RulesetStatus::PartiallyEnforced => Ok(()),
        RulesetStatus::NotEnforced => Err("the kernel did not enforce the ruleset".to_owned()),
    }
}

/// A route's ruleset, applied (through a duplicate) to every program it starts.
#[derive(Debug)]
pub(super) struct Confinement {
    ruleset: RulesetCreated,
}

impl Confinement {
    /// The ruleset for what `allowed` declares, plus what every program needs to run.
    pub(super) fn build(allowed: &Allowed, programs: &[ProgramRule]) -> Result<Self, RulesetError> {
        let programs: Vec<PathBuf> = programs.iter().filter_map(|p| p.path.clone()).collect();
        let mut connect: Vec<u16> = allowed.net.iter().map(|e| e.port).collect();
        connect.sort_unstable();
        connect.dedup();
        let ruleset = ruleset(&Rules {
            read: &allowed.read,
            write: &allowed.write,
            programs: &programs,
            connect: &connect,
            bind: &[],
            scoped: true,
        })?;
        Ok(Confinement { ruleset })
    }

    /// Runs `op` on a short-lived thread confined by this ruleset: what the server does on a
    /// route's behalf through the handle's file calls is then held by the kernel too, so a link
    /// a confined child swaps in between the handle's check and the operation leads nowhere.
    pub(super) fn run<T: Send>(&self, op: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
        self.on_confined_thread("reach-file", op)
    }

    /// Starts `cmd` from a thread confined by this ruleset.
    pub(super) fn spawn(
        &self,
        cmd: &mut tokio::process::Command,
    ) -> io::Result<tokio::process::Child> {
        let runtime = tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
        self.on_confined_thread("reach-spawn", move || {
            let _entered = runtime.enter();
            cmd.spawn()
        })
    }

    /// Runs `op` on a short-lived thread that confines itself first; refuses to run it if the
    /// kernel did not confine (`enforcement()` said it would: anything else would be silently
    /// weaker than declared).
    fn on_confined_thread<T: Send>(
        &self,
        name: &str,
        op: impl FnOnce() -> io::Result<T> + Send,
    ) -> io::Result<T> {
        let ruleset = self.ruleset.try_clone()?;
        std::thread::scope(|scope| {
            let confined = std::thread::Builder::new()
                .name(name.to_owned())
                .spawn_scoped(scope, move || {
                    let status = ruleset.restrict_self().map_err(io::Error::other)?;
                    if status.ruleset == RulesetStatus::NotEnforced {
                        return Err(io::Error::other("Landlock did not confine the thread"));
                    }
                    op()
                })?;
            confined
                .join()
                .unwrap_or_else(|_| Err(io::Error::other(format!("the {name} thread panicked"))))
        })
    }
}
