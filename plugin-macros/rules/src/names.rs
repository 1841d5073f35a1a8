//! Plugin names, versions and base paths, and the operation ids derived from them.

/// Every plugin's base path starts with this, followed by its name by default.
pub const BASE_PREFIX: &str = "/v1/plugins/";

/// The base path of an authenticator's own routes (log in, log out, keys): the built-in store's
/// `AuthRoutes`, or a plugin of the user's that serves their login. The one base path outside
/// [`BASE_PREFIX`].
pub const AUTH_BASE_PATH: &str = "/v1/auth";

/// The base path of routes that serve the API's surroundings rather than belong to it: the
/// documents, Swagger UI, pages such as `/settings`. A plugin here writes its routes' whole
/// paths (`path = "/openapi.json"`), serves no default `GET /health` (that is the API's), and
/// its routes are in the document of everything but in no plugin's document.
pub const SITE_BASE_PATH: &str = "/";

/// Whether `path` may be declared as a plugin's base path (before its syntax is checked): an
/// absolute path, but not the plugin prefix alone (`/v1/plugins`), which names no plugin.
/// Whether the server serves it there is the host's rule, checked at start: a path under
/// `/v1/plugins/`, [`AUTH_BASE_PATH`] and [`SITE_BASE_PATH`] always, any other only under the
/// host's plugin prefix.
pub fn is_allowed_base_path(path: &str) -> bool {
    path.starts_with('/') && path.trim_end_matches('/') != BASE_PREFIX.trim_end_matches('/')
}

/// Whether `path` follows the default layout, `/v1/plugins/<...>`, which a host's plugin prefix
/// moves.
pub fn in_default_layout(path: &str) -> bool {
    path.starts_with(BASE_PREFIX) && path.len() > BASE_PREFIX.len()
}

/// Where a plugin declared at `base_path` is served on a server whose plugins live under
/// `prefix` (`/api/v1/plugin`): the default layout moves under it (`/v1/plugins/notes` →
/// `/api/v1/plugin/notes`); any other base path stays where it is declared. `None` when it
/// does not move.
pub fn rebase(base_path: &str, prefix: &str) -> Option<String> {
    let rest = base_path.strip_prefix(BASE_PREFIX)?;
    if rest.is_empty() || prefix == BASE_PREFIX.trim_end_matches('/') {
        return None;
    }
    Some(format!("{prefix}/{rest}"))
}

/// Whether `prefix` can hold plugins (`/api/v1/plugin`): absolute, without a trailing `/`,
/// parameters or characters a path segment does not take.
pub fn check_plugin_prefix(prefix: &str) -> Result<(), String> {
    if !prefix.starts_with('/') || prefix.len() < 2 || prefix.ends_with('/') {
        return Err(format!(
            "the plugin prefix `{prefix}` must start with `/`, name at least one segment and not end with `/`, e.g. `/api/v1/plugin`"
        ));
    }
    if prefix == AUTH_BASE_PATH || prefix.starts_with("/v1/auth/") {
        return Err(format!(
            "the plugin prefix `{prefix}` would put plugins among the authenticator's routes (`{AUTH_BASE_PATH}`)"
        ));
    }
    let ok = prefix[1..].split('/').all(|segment| {
        !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the plugin prefix `{prefix}` may hold only segments of letters, digits, `-`, `_`, `.` and `~`, without parameters"
        ))
    }
}

/// Whether a plugin at `base_path` serves the default `GET <base>/health` when it declares
/// none: every plugin but those at [`SITE_BASE_PATH`].
pub const fn serves_default_health(base_path: &str) -> bool {
    !crate::str_eq(base_path, SITE_BASE_PATH)
}

/// Whether `name` is a plugin name: lowercase letters, digits and `-` (it becomes a URL segment
/// and, with `-` read as `_`, the start of operation ids).
pub fn is_plugin_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A plugin name close to `name` that [`is_plugin_name`] accepts, for a diagnostic.
pub fn suggest_plugin_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() { "items".into() } else { s }
}

/// The base path of plugin `name` when it declares none: `/v1/plugins/<name>`.
pub fn default_base_path(name: &str) -> String {
    format!("{BASE_PREFIX}{name}")
}

/// MAJOR.MINOR.PATCH with optional `-pre.release` and `+build` parts (semver 2.0.0).
pub fn is_semver(v: &str) -> bool {
    let (rest, build) = match v.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let numeric = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
    };
    let ident =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let mut parts = 0;
    let core_ok = core.split('.').all(|p| {
        parts += 1;
        numeric(p)
    });
    core_ok
        && parts == 3
        && pre.is_none_or(|p| {
            p.split('.')
                .all(|i| ident(i) && (!i.bytes().all(|b| b.is_ascii_digit()) || numeric(i)))
        })
        && build.is_none_or(|b| b.split('.').all(ident))
}

/// The operation id of a route that sets none: `<plugin>_<handler>`, with each `-` of the plugin
/// name written `_` (`my-items` + `get_item` → `my_items_get_item`).
pub fn derive_operation_id(plugin: &str, handler: &str) -> String {
    let mut id = String::with_capacity(plugin.len() + 1 + handler.len());
    for i in 0..plugin.len() + 1 + handler.len() {
        id.push(char::from(operation_id_byte(plugin, handler, i)));
    }
    id
}

/// Byte `i` of [`derive_operation_id`]`(plugin, handler)`, for `const` comparisons; the id is
/// `plugin.len() + 1 + handler.len()` bytes long.
pub const fn operation_id_byte(plugin: &str, handler: &str, i: usize) -> u8 {
    let (plugin, handler) = (plugin.as_bytes(), handler.as_bytes());
    let n = plugin.len();
    if i < n {
        if plugin[i] == b'-' { b'_' } else { plugin[i] }
    } else if i == n {
        b'_'
    } else {
        handler[i - n - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_prefix_moves_the_default_layout_only() {
        assert_eq!(
            rebase("/v1/plugins/notes", "/api/v1/plugin").as_deref(),
            Some("/api/v1/plugin/notes")
        );
        assert_eq!(rebase("/v1/plugins/notes", "/v1/plugins"), None);
        assert_eq!(rebase("/api/notes", "/api"), None);
        assert_eq!(rebase("/v1/auth", "/api"), None);
        assert!(check_plugin_prefix("/api/v1/plugin").is_ok());
        for bad in [
            "api",
            "/",
            "/api/",
            "/api/{id}",
            "/a b",
            "/api//x",
            "/api/../x",
            "/v1/auth",
        ] {
            assert!(check_plugin_prefix(bad).is_err(), "{bad}");
        }
        assert!(is_allowed_base_path("/api/notes"));
        assert!(!is_allowed_base_path("/v1/plugins"));
        assert!(!is_allowed_base_path("/v1/plugins/"));
        assert!(!is_allowed_base_path("notes"));
    }

    #[test]
    fn semver() {
        for ok in [
            "1.0.0",
            "0.1.10",
            "1.2.3-alpha.1",
            "1.0.0+build.5",
            "1.0.0-rc.1+x",
        ] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in [
            "1.0", "01.0.0", "1.0.0-", "v1.0.0", "1.0.0-01", "1.a.0", "", "1.0.0.0",
        ] {
            assert!(!is_semver(bad), "{bad}");
        }
    }

    #[test]
    fn names() {
        assert!(is_plugin_name("items"));
        assert!(is_plugin_name("my-items2"));
        for bad in ["", "Items", "my_items", "a b"] {
            assert!(!is_plugin_name(bad), "{bad}");
            assert!(is_plugin_name(&suggest_plugin_name(bad)), "{bad}");
        }
        assert_eq!(default_base_path("items"), "/v1/plugins/items");
    }

    #[test]
    fn operation_ids() {
        assert_eq!(
            derive_operation_id("my-items", "get_item"),
            "my_items_get_item"
        );
        assert_eq!(derive_operation_id("auth", "me"), "auth_me");
    }
}
