//! The network and the environment through the handle: a host and port is checked against
//! `net(...)` (hosts compared without regard to case) before connecting, a variable against
//! `env(...)` before reading it, and a child's environment is built from the declared names only.

use super::{Kind, Reach, ReachError, Refused};
use std::ffi::OsString;
use tokio::net::TcpStream;

impl Reach {
    /// Whether the route may connect to `host` on `port`.
    ///
    /// # Errors
    /// [`Refused`] (logged) when `net(...)` does not declare that host and port.
    pub fn check_host(&self, host: &str, port: u16) -> Result<(), Refused> {
        let host_bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let declared = self
            .inner
            .allowed
            .net
            .iter()
            .any(|e| e.port == port && e.host.eq_ignore_ascii_case(host_bare));
        if declared {
            Ok(())
        } else {
            Err(self.refuse(Kind::Net, format!("{host}:{port}")))
        }
    }

    /// Whether the route may connect where `url` points (`https://api.example.com/v1`: its host,
    /// and its port or the scheme's), for a client of its own (an HTTP client) to ask before each
    /// request.
    ///
    /// # Errors
    /// [`Refused`] (logged) when `net(...)` does not declare that host and port, or `url` names
    /// neither.
    pub fn check_url(&self, url: &str) -> Result<(), Refused> {
        // Credentials (`user@`) and backslashes are refused: parsers disagree on where such a
        // URL's host is (a WHATWG parser reads `\` as `/`), so the host checked could differ
        // from the one reached. Neither is logged: they may carry a password.
        let authority = url
            .split_once("://")
            .map_or(url, |(_, rest)| rest)
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default();
        if authority.contains(['@', '\\']) || url.contains('\\') {
            return Err(self.refuse(
                Kind::Net,
                "a URL with credentials or a backslash".to_owned(),
            ));
        }
        match plugin_routes_rules::host_port_of(url) {
            Ok((host, port)) => self.check_host(&host, port),
            Err(_) => Err(self.refuse(Kind::Net, "a URL naming no host and port".to_owned())),
        }
    }

    /// Connects to `host` on `port` over TCP, after [`check_host`](Self::check_host).
    ///
    /// # Errors
    /// [`ReachError::Refused`] (logged), or the connection's own error.
    pub async fn connect(&self, host: &str, port: u16) -> Result<TcpStream, ReachError> {
        self.check_host(host, port)?;
        let host_bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        Ok(TcpStream::connect((host_bare, port)).await?)
    }

    /// The server's environment variable `name`, if the route declares it (`None` when unset or
    /// not UTF-8).
    ///
    /// # Errors
    /// [`Refused`] (logged) when `env(...)` does not cover `name`.
    pub fn env(&self, name: &str) -> Result<Option<String>, Refused> {
        self.check_env(name)?;
        Ok(std::env::var(name).ok())
    }

    pub(super) fn check_env(&self, name: &str) -> Result<(), Refused> {
        if self.env_declared(name) {
            Ok(())
        } else {
            Err(self.refuse(Kind::Env, name))
        }
    }

    fn env_declared(&self, name: &str) -> bool {
        self.inner
            .allowed
            .env
            .iter()
            .any(|pattern| plugin_routes_rules::env_matches(pattern, name))
    }

    /// The declared variables of the server's environment, for a child's: only those declared
    /// by their exact name. A family (`GIT_*`) lets plugin code set its members on a child, but
    /// does not pass on whatever the server happens to have (`GIT_DIR`, `GIT_SSH_COMMAND` in a
    /// developer's shell would send git elsewhere).
    pub(super) fn child_env(&self) -> Vec<(OsString, OsString)> {
        self.inner
            .allowed
            .env
            .iter()
            .filter(|pattern| !pattern.ends_with('*'))
            .filter_map(|name| std::env::var_os(name).map(|v| (OsString::from(name), v)))
            .collect()
    }
}
