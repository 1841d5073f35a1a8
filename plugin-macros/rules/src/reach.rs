//! What a plugin's own code may do (`permissions(...)`): the grammar of each kind of entry, the
//! placeholders filled in at start, and the named presets. The macro checks declarations with
//! these rules and expands presets; the runtime resolves placeholders and checks requests with
//! the same functions.

/// The kinds of entry, as the attribute spells them.
pub const PERMISSION_KINDS: &[&str] = &["shell", "fs", "net", "env"];

/// The two halves of `fs(...)`.
pub const FS_KINDS: &[&str] = &["read", "write"];

/// A named set of permissions, combined with whatever else `permissions(...)` lists.
#[derive(Debug)]
pub struct Preset {
    /// Its name, written bare: `permissions(git)`.
    pub name: &'static str,
    /// What it is for, for the documents.
    pub about: &'static str,
    /// Programs, as `shell(...)` spells them.
    pub shell: &'static [&'static str],
    /// Paths read.
    pub read: &'static [&'static str],
    /// Paths written (and read).
    pub write: &'static [&'static str],
    /// Hosts and ports.
    pub net: &'static [&'static str],
    /// Environment variables.
    pub env: &'static [&'static str],
}

/// The presets, by name.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "git",
        about: "git in the plugin's repository: the `git` program, read-write under `{repo}`, \
                the user's git configuration (`{home}/.gitconfig`, `{home}/.config/git`), git's \
                own variables, `HOME`, `PATH` and the locale",
        shell: &["git"],
        read: &["{home}/.gitconfig", "{home}/.config/git"],
        write: &["{repo}"],
        net: &[],
        env: &["GIT_*", "HOME", "PATH", "LANG", "LC_ALL"],
    },
    Preset {
        name: "ssh",
        about: "ssh, for remotes reached over SSH: the `ssh` program, the user's SSH configuration \
                and keys (`{home}/.ssh`, read only: a new host is not remembered) and the \
                system's (`/etc/ssh`), and the agent's socket (`SSH_AUTH_SOCK`)",
        shell: &["ssh"],
        read: &["{home}/.ssh", "/etc/ssh"],
        write: &[],
        net: &[],
        env: &["SSH_AUTH_SOCK"],
    },
    Preset {
        name: "tmp",
        about: "read-write under the system's temporary directory (`{tmp}`)",
        shell: &[],
        read: &[],
        write: &["{tmp}"],
        net: &[],
        env: &["TMPDIR"],
    },
];

/// The names of the presets.
pub const PRESET_NAMES: &[&str] = &["git", "ssh", "tmp"];

/// The preset called `name`.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// Placeholders every plugin has without declaring them: `{tmp}`, the temporary directory, and
/// `{home}`, the server's `HOME`.
pub const BUILTIN_PLACEHOLDERS: &[&str] = &["tmp", "home"];

/// A program, optionally limited to one first argument: `git` or `git push`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Program<'a> {
    /// The program's name, looked up on `PATH` (never a path).
    pub name: &'a str,
    /// The only first argument it may be started with, if limited.
    pub first_arg: Option<&'a str>,
}

fn is_word(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'+'))
}

/// Parses a `shell(...)` entry: a program name (no `/`), optionally one first argument.
///
/// # Errors
/// What is wrong, for the compile error.
pub fn parse_program(s: &str) -> Result<Program<'_>, String> {
    let mut words = s.split(' ');
    let name = words.next().unwrap_or_default();
    if name.contains('/') {
        return Err(format!(
            "`{s}`: name the program (`git`), not a path: it is looked up on `PATH`"
        ));
    }
    if !is_word(name) {
        return Err(format!(
            "`{s}` is not a program: expected a name such as `git`, optionally with its first argument (`git push`)"
        ));
    }
    let first_arg = words.next();
    if let Some(arg) = first_arg
        && !is_word(arg)
    {
        return Err(format!(
            "`{s}`: the first argument must be a plain word such as `push`, separated by one space"
        ));
    }
    if words.next().is_some() {
        return Err(format!(
            "`{s}`: only the program and its first argument can be named, e.g. `git push`"
        ));
    }
    Ok(Program { name, first_arg })
}

/// `[A-Z_][A-Z0-9_]*`, optionally ending in `*` (`GIT_*`): an environment variable or a family.
pub fn is_env_pattern(s: &str) -> bool {
    let body = s.strip_suffix('*').unwrap_or(s);
    !body.is_empty()
        && body.starts_with(|c: char| c.is_ascii_uppercase() || c == '_')
        && body
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether the variable `name` is covered by `pattern` (`GIT_*` covers `GIT_DIR`).
pub fn env_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

fn is_placeholder_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Splits `{name}rest` into the placeholder's name and the rest; `None` for a literal.
pub fn split_placeholder(s: &str) -> Option<(&str, &str)> {
    let rest = s.strip_prefix('{')?;
    let end = rest.find('}')?;
    Some((&rest[..end], &rest[end + 1..]))
}

/// Checks an `fs(read(...))` or `fs(write(...))` entry: an absolute path, or one that starts with
/// a placeholder (`{repo}`, `{repo}/.git`), without `..`.
///
/// # Errors
/// What is wrong, for the compile error.
pub fn check_path(s: &str) -> Result<(), String> {
    let rest = match split_placeholder(s) {
        Some((name, rest)) => {
            if !is_placeholder_name(name) {
                return Err(format!(
                    "`{s}`: a placeholder is a lowercase name in braces, such as `{{repo}}`"
                ));
            }
            if !(rest.is_empty() || rest.starts_with('/')) {
                return Err(format!(
                    "`{s}`: what follows a placeholder starts with `/`, e.g. `{{{name}}}/.git`"
                ));
            }
            rest
        }
        None if s.starts_with('/') => s,
        None => {
            return Err(format!(
                "`{s}` is relative: write an absolute path (`/etc/ssl`) or start with a placeholder (`{{repo}}`)"
            ));
        }
    };
    if rest.contains('{') || rest.contains('}') {
        return Err(format!(
            "`{s}`: only the start of a path can be a placeholder"
        ));
    }
    if rest.split('/').any(|c| c == "..") {
        return Err(format!("`{s}` contains `..`: name the directory itself"));
    }
    Ok(())
}

/// Checks a `net(...)` entry: `host:port`, or a placeholder alone (`{provider}`), whose value is
/// a URL or `host:port`.
///
/// # Errors
/// What is wrong, for the compile error.
pub fn check_net(s: &str) -> Result<(), String> {
    if let Some((name, rest)) = split_placeholder(s) {
        if !is_placeholder_name(name) || !rest.is_empty() {
            return Err(format!(
                "`{s}`: a placeholder stands alone, a lowercase name in braces such as `{{provider}}`"
            ));
        }
        return Ok(());
    }
    parse_host_port(s).map(|_| ())
}

/// Splits `host:port` (`[::1]:443` for IPv6) into a lowercase host and a port.
///
/// # Errors
/// What is wrong.
pub fn parse_host_port(s: &str) -> Result<(String, u16), String> {
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!(
            "`{s}` has no port: write `host:port`, e.g. `api.openai.com:443`"
        ));
    };
    let port: u16 = match port.parse() {
        Ok(p) if p > 0 => p,
        _ => return Err(format!("`{s}`: the port must be 1–65535")),
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':'));
    if !ok {
        return Err(format!(
            "`{s}`: expected a host name or address, e.g. `api.openai.com:443` or `127.0.0.1:8080`"
        ));
    }
    Ok((host.to_ascii_lowercase(), port))
}

/// The host and port a URL connects to (`https://api.openai.com/v1` → `api.openai.com:443`), or
/// `host:port` itself.
///
/// # Errors
/// When neither a URL with a host nor `host:port`.
pub fn host_port_of(value: &str) -> Result<(String, u16), String> {
    let Some((scheme, rest)) = value.split_once("://") else {
        return parse_host_port(value);
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let has_port = if authority.starts_with('[') {
        authority.contains("]:")
    } else {
        authority.contains(':')
    };
    if has_port {
        return parse_host_port(authority);
    }
    let port = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        "ssh" => 22,
        "git" => 9418,
        other => return Err(format!("`{value}`: no default port for `{other}://`")),
    };
    parse_host_port(&format!("{authority}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs() {
        assert_eq!(
            parse_program("git push"),
            Ok(Program {
                name: "git",
                first_arg: Some("push")
            })
        );
        assert_eq!(
            parse_program("git"),
            Ok(Program {
                name: "git",
                first_arg: None
            })
        );
        assert!(parse_program("/usr/bin/git").is_err());
        assert!(parse_program("git push origin").is_err());
        assert!(parse_program("git  push").is_err());
        assert!(parse_program("git --exec").is_err());
        assert!(parse_program("").is_err());
    }

    #[test]
    fn env_names() {
        assert!(is_env_pattern("GIT_*") && is_env_pattern("HOME") && is_env_pattern("_X1"));
        assert!(!is_env_pattern("home") && !is_env_pattern("*") && !is_env_pattern("1X"));
        assert!(env_matches("GIT_*", "GIT_DIR") && !env_matches("GIT_*", "GITX"));
        assert!(env_matches("HOME", "HOME") && !env_matches("HOME", "HOMEX"));
    }

    #[test]
    fn paths() {
        for ok in ["/etc/ssl", "{repo}", "{repo}/.git", "/"] {
            assert_eq!(check_path(ok), Ok(()), "{ok}");
        }
        for bad in [
            "etc",
            "{Repo}",
            "{repo}x",
            "/a/../b",
            "/a/{repo}",
            "{repo}/..",
        ] {
            assert!(check_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hosts() {
        assert_eq!(check_net("{provider}"), Ok(()));
        assert_eq!(
            parse_host_port("API.openai.com:443"),
            Ok(("api.openai.com".into(), 443))
        );
        assert_eq!(parse_host_port("[::1]:8080"), Ok(("::1".into(), 8080)));
        assert!(check_net("api.openai.com").is_err());
        assert!(check_net("a:0").is_err());
        assert!(check_net("{p}x").is_err());
        assert_eq!(
            host_port_of("https://api.openai.com/v1"),
            Ok(("api.openai.com".into(), 443))
        );
        assert_eq!(
            host_port_of("http://127.0.0.1:9/x"),
            Ok(("127.0.0.1".into(), 9))
        );
        assert_eq!(
            host_port_of("ssh://git@host/r.git"),
            Ok(("host".into(), 22))
        );
        assert!(host_port_of("file:///srv/r.git").is_err());
    }

    #[test]
    fn presets_are_well_formed() {
        assert_eq!(PRESET_NAMES.len(), PRESETS.len());
        for p in PRESETS {
            assert!(PRESET_NAMES.contains(&p.name));
            p.shell
                .iter()
                .for_each(|s| assert!(parse_program(s).is_ok()));
            p.read
                .iter()
                .chain(p.write)
                .for_each(|s| assert_eq!(check_path(s), Ok(())));
            p.net.iter().for_each(|s| assert_eq!(check_net(s), Ok(())));
            p.env.iter().for_each(|s| assert!(is_env_pattern(s)));
        }
    }
}
