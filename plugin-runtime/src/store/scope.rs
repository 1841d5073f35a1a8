//! Scopes and grants. A scope is what a route requires (`items:write`); a grant is what a user,
//! key or token holds: a scope, `*` (everything) or `prefix:*` (every scope under `prefix:`).

pub(crate) use plugin_routes_rules::{grant_covers, is_valid_grant};

/// Parses a comma-separated list of grants (`items:read,items:*`), ignoring blanks around
/// entries and repeated entries. An empty list is valid (no scopes).
///
/// # Errors
/// The first malformed entry, described.
pub fn parse_grants(list: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        if !is_valid_grant(entry) {
            return Err(format!(
                "malformed scope `{entry}`: expected e.g. `items:read`, `items:*` or `*`"
            ));
        }
        if !out.iter().any(|o| o == entry) {
            out.push(entry.to_owned());
        }
    }
    Ok(out)
}

/// Whether the grant `inner` gives nothing that `outer` does not (`items:read` within
/// `items:*`, `items:*` within `*`).
fn grant_within(inner: &str, outer: &str) -> bool {
    match inner.strip_suffix('*') {
        // A wildcard is within an equal or wider wildcard.
        Some(prefix) => {
            outer == "*"
                || outer
                    .strip_suffix('*')
                    .is_some_and(|o| o.ends_with(':') && prefix.starts_with(o))
        }
        None => grant_covers(outer, inner),
    }
}

/// Whether every grant in `requested` is within one of `held`: a key's scopes may never exceed
/// its owner's.
pub fn grants_within(requested: &[String], held: &[String]) -> bool {
    requested
        .iter()
        .all(|r| held.iter().any(|h| grant_within(r, h)))
}

/// The grants both lists give: what an API key may do when its owner's scopes have changed since
/// the key was made.
pub(crate) fn intersect(a: &[String], b: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |g: &String| {
        if !out.contains(g) {
            out.push(g.clone());
        }
    };
    for x in a {
        for y in b {
            if grant_within(x, y) {
                push(x);
            } else if grant_within(y, x) {
                push(y);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn wildcards_cover() {
        assert!(grant_covers("*", "items:read"));
        assert!(grant_covers("items:*", "items:read"));
        assert!(grant_covers("items:*", "items:a:b"));
        assert!(!grant_covers("items:*", "itemsx:read"));
        assert!(!grant_covers("items:*", "items"));
        assert!(grant_covers("items:read", "items:read"));
        assert!(!grant_covers("items:read", "items:write"));
    }

    #[test]
    fn key_scopes_within_owner() {
        assert!(grants_within(&v(&["items:read"]), &v(&["items:*"])));
        assert!(grants_within(&v(&["items:*"]), &v(&["*"])));
        assert!(grants_within(&v(&["items:a:*"]), &v(&["items:*"])));
        assert!(!grants_within(&v(&["items:*"]), &v(&["items:read"])));
        assert!(!grants_within(&v(&["*"]), &v(&["items:*"])));
        assert!(grants_within(&v(&[]), &v(&[])));
    }

    #[test]
    fn intersection_narrows_keys() {
        assert_eq!(
            intersect(&v(&["items:*"]), &v(&["items:read", "other:x"])),
            v(&["items:read"])
        );
        assert_eq!(
            intersect(&v(&["items:read"]), &v(&["*"])),
            v(&["items:read"])
        );
        assert!(intersect(&v(&["items:read"]), &v(&["admin"])).is_empty());
    }

    #[test]
    fn parsing() {
        assert_eq!(
            parse_grants(" items:read , items:*,*,items:read").ok(),
            Some(v(&["items:read", "items:*", "*"]))
        );
        assert!(parse_grants("Items").is_err());
        assert!(parse_grants("items:**").is_err());
        assert_eq!(parse_grants("").ok(), Some(vec![]));
    }
}
