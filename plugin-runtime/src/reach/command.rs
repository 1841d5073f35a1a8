//! Starting programs through the handle: [`ReachCommand`] wraps `tokio::process::Command` with
//! only the methods whose effect the route's permissions can vouch for, checks the program and
//! its first argument, gives the child only the declared environment, and (feature `sandbox`)
//! starts it confined by the kernel.

use super::{Kind, Reach, ReachError, Refused};
use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};
use tokio::process::{Child, Command};

/// A program about to be started on behalf of a route, made by [`Reach::command`].
///
/// The child starts with an empty environment plus the variables declared by their exact name,
/// copied from the server's, plus those set with [`env`](Self::env). A declared family
/// (`GIT_*`) may be set, but is not copied: the server's own `GIT_DIR` never reaches a child.
///
/// **The first argument is literally `args[0]`.** A program declared with one (`git push`)
/// starts only when the first argument given is exactly that word: write options after the
/// subcommand (`git push --force-with-lease origin main`), and set what would be a global option
/// through git's variables (declare `GIT_*`, then `GIT_LITERAL_PATHSPECS=1`, or `GIT_CONFIG_COUNT`
/// with `GIT_CONFIG_KEY_0`/`GIT_CONFIG_VALUE_0` for `-c`, and `current_dir` rather than `-C`).
#[derive(Debug)]
pub struct ReachCommand {
    reach: Reach,
    program: String,
    found: bool,
    cmd: Command,
}

impl Reach {
    /// A command for `program` (a name, as `shell(...)` declares it, never a path), found on the
    /// server's `PATH` when the handle was resolved.
    ///
    /// # Errors
    /// [`Refused`] (logged) when the route does not declare `program`.
    pub fn command(&self, program: &str) -> Result<ReachCommand, Refused> {
        let Some(rule) = self.inner.programs.iter().find(|p| p.name == program) else {
            return Err(self.refuse(Kind::Shell, program));
        };
        let mut cmd = match &rule.path {
            Some(path) => Command::new(path),
            None => Command::new(program),
        };
        cmd.env_clear();
        cmd.envs(self.child_env());
        Ok(ReachCommand {
            reach: self.clone(),
            program: program.to_owned(),
            found: rule.path.is_some(),
            cmd,
        })
    }
}

impl ReachCommand {
    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.cmd.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Sets an environment variable of the child.
    ///
    /// # Errors
    /// [`Refused`] (logged) when `env(...)` does not declare `key`.
    pub fn env(&mut self, key: &str, value: impl AsRef<OsStr>) -> Result<&mut Self, Refused> {
        self.reach.check_env(key)?;
        self.cmd.env(key, value);
        Ok(self)
    }

    /// Sets the child's working directory, which must be inside a declared read or write path
    /// once `..` and links are resolved.
    ///
    /// # Errors
    /// [`ReachError::Refused`] (logged) outside the declared paths; [`ReachError::Io`] when the
    /// path cannot be resolved.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> Result<&mut Self, ReachError> {
        let canonical = self.reach.check_read(dir.as_ref())?;
        self.cmd.current_dir(canonical);
        Ok(self)
    }

    /// The child's standard input (inherited unless set).
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.cmd.stdin(cfg);
        self
    }

    /// The child's standard output (inherited unless set).
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.cmd.stdout(cfg);
        self
    }

    /// The child's standard error (inherited unless set).
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Self {
        self.cmd.stderr(cfg);
        self
    }

    /// Puts the child in process group `pgroup` (0: a new group of its own), so it and what it
    /// starts can be signalled together.
    #[cfg(unix)]
    pub fn process_group(&mut self, pgroup: i32) -> &mut Self {
        self.cmd.process_group(pgroup);
        self
    }

    /// Whether to kill the child when its [`Child`] is dropped.
    pub fn kill_on_drop(&mut self, kill: bool) -> &mut Self {
        self.cmd.kill_on_drop(kill);
        self
    }

    /// Starts the program: confined by the route's Landlock ruleset when
    /// [`enforcement()`](super::enforcement) says Landlock is available. Must be called inside
    /// a tokio runtime.
    ///
    /// # Errors
    /// [`ReachError::Refused`] (logged) when the first argument is not the declared one;
    /// [`ReachError::Io`] when the program is not on the server's `PATH` or cannot start.
    pub fn spawn(&mut self) -> Result<Child, ReachError> {
        self.check_first_arg()?;
        if !self.found {
            return Err(ReachError::Io(io::Error::new(
                io::ErrorKind::NotFound,
                format!("`{}` is not on the server's PATH", self.program),
            )));
        }
        Ok(self.reach.spawn_child(&mut self.cmd)?)
    }

    /// Starts the program with its standard output and error captured, and waits for it.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn), or when waiting fails.
    pub async fn output(&mut self) -> Result<Output, ReachError> {
        self.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        Ok(self.spawn()?.wait_with_output().await?)
    }

    /// Starts the program and waits for it.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn), or when waiting fails.
    pub async fn status(&mut self) -> Result<ExitStatus, ReachError> {
        Ok(self.spawn()?.wait().await?)
    }

    fn check_first_arg(&self) -> Result<(), Refused> {
        let first = self.cmd.as_std().get_args().next();
        let allowed = self.reach.inner.programs.iter().any(|p| {
            p.name == self.program
                && p.first_arg
                    .as_deref()
                    .is_none_or(|want| first == Some(OsStr::new(want)))
        });
        if allowed {
            return Ok(());
        }
        let asked = match first {
            Some(arg) => format!("{} {}", self.program, arg.to_string_lossy()),
            None => self.program.clone(),
        };
        Err(self.reach.refuse(Kind::Shell, asked))
    }
}

impl Reach {
    #[cfg(all(feature = "sandbox", target_os = "linux"))]
    fn spawn_child(&self, cmd: &mut Command) -> io::Result<Child> {
        if !super::enforcement().landlock {
            return cmd.spawn();
        }
        // Built for each spawn: Landlock's rules hold the files open when they are made, so a
        // declared directory made, replaced or moved since is ruled by what it is now.
        match super::sandbox::Confinement::build(&self.inner.allowed, &self.inner.programs) {
            Ok(confinement) => confinement.spawn(cmd),
            Err(e) => Err(io::Error::other(format!(
                "the route's Landlock ruleset could not be built: {e}"
            ))),
        }
    }

    #[cfg(not(all(feature = "sandbox", target_os = "linux")))]
    fn spawn_child(&self, cmd: &mut Command) -> io::Result<Child> {
        cmd.spawn()
    }
}
