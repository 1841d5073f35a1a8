//! Scopes and grants. A scope is what a route requires (`items:write`); a grant is what a user,
//! key or token holds: a scope, `*` (everything) or `prefix:*` (every scope under `prefix:`).

/// `[a-z0-9_.-]+(:[a-z0-9_.-]+)*`: a concrete scope, as routes require them.
pub fn is_valid_scope(s: &str) -> bool {
    !s.is_empty()
        && s.split(':').all(|seg| {
            !seg.is_empty()
                && seg.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
                })
        })
}

/// Whether `s` is a wildcard (`*` or `prefix:*`): something to grant, never to require.
pub fn is_wildcard(s: &str) -> bool {
    s == "*" || s.ends_with(":*")
}

/// A scope, `*`, or `<scope>:*`.
pub fn is_valid_grant(s: &str) -> bool {
    s == "*" || is_valid_scope(s.strip_suffix(":*").unwrap_or(s))
}

/// Whether `grant` covers the concrete `scope`.
pub fn grant_covers(grant: &str, scope: &str) -> bool {
    grant == "*"
        || grant == scope
        || grant
            .strip_suffix('*')
            .is_some_and(|prefix| prefix.ends_with(':') && scope.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_grants() {
        for ok in ["items", "items:read", "a.b:c-d_e:1"] {
            assert!(is_valid_scope(ok), "{ok}");
            assert!(is_valid_grant(ok), "{ok}");
        }
        for bad in [
            "", "Items", "items:", ":read", "a::b", "items:*", "*", "a b",
        ] {
            assert!(!is_valid_scope(bad), "{bad}");
        }
        for grant in ["*", "items:*", "a:b:*"] {
            assert!(is_valid_grant(grant) && is_wildcard(grant), "{grant}");
        }
        assert!(!is_valid_grant("items*"));
        assert!(grant_covers("items:*", "items:read"));
        assert!(grant_covers("*", "x"));
        assert!(!grant_covers("items:*", "itemsx:read"));
        assert!(!grant_covers("items:read", "items:write"));
    }
}
