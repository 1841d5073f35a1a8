//! URLs fit for a log line or an error message: their passwords left out.

/// `url` with its passwords replaced by `***`: the one in its user information
/// (`postgres://app:***@db/app`, `redis://:***@cache:6379`) and the value of a `password` or
/// `sslpassword` query parameter. The rest is kept as it is, so the message still names the
/// database or server meant.
///
/// ```
/// use plugin_routes::redacted_url;
///
/// assert_eq!(redacted_url("postgres://app:s3cret@db:5432/app"), "postgres://app:***@db:5432/app");
/// assert_eq!(
///     redacted_url("postgres://db/app?user=app&password=s3cret&x=@"),
///     "postgres://db/app?user=app&password=***&x=@"
/// );
/// assert_eq!(redacted_url("sqlite://data/items.db"), "sqlite://data/items.db");
/// ```
pub fn redacted_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len() + 3);
    // The user information runs from `://` (or a mistyped `//`) to the last `@` before the
    // query: a password may hold a `/` (base64 does), so an `@` in a path is taken for the
    // user's too, and the most that is lost is part of a host.
    let authority = url
        .find("://")
        .map(|at| at + 3)
        .or_else(|| url.find("//").map(|at| at + 2));
    let rest = match authority {
        Some(at) => {
            let (scheme, rest) = url.split_at(at);
            out.push_str(scheme);
            let mut query = rest.find(['?', '#']).unwrap_or(rest.len());
            // A `?` or `#` left unescaped in a password: from it to the next `@`, text that
            // holds no `=` or `&` is no query (nor a fragment) but the rest of the password.
            if !rest[..query].contains('@')
                && let Some(at) = rest[query..].find('@')
                && !rest[query..query + at].contains(['=', '&'])
            {
                let host = query + at + 1;
                query = host + rest[host..].find(['?', '#']).unwrap_or(rest.len() - host);
            }
            // The authority ends where the host after the user information does.
            let host = rest[..query].rfind('@').map_or(0, |at| at + 1);
            let end = host
                + rest[host..]
                    .find(['/', '?', '#'])
                    .unwrap_or(rest.len() - host);
            let (authority, rest) = rest.split_at(end);
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    match userinfo.split_once(':') {
                        Some((user, _password)) => {
                            out.push_str(user);
                            out.push_str(":***");
                        }
                        None => out.push_str(userinfo),
                    }
                    out.push('@');
                    out.push_str(host);
                }
                None => out.push_str(authority),
            }
            rest
        }
        None => url,
    };
    let Some((path, query)) = rest.split_once('?') else {
        out.push_str(rest);
        return out;
    };
    out.push_str(path);
    out.push('?');
    let (query, fragment) = match query.split_once('#') {
        Some((query, fragment)) => (query, Some(fragment)),
        None => (query, None),
    };
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, _))
                if key.eq_ignore_ascii_case("password")
                    || key.eq_ignore_ascii_case("sslpassword") =>
            {
                out.push_str(key);
                out.push_str("=***");
            }
            _ => out.push_str(pair),
        }
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redacted_url;

    #[test]
    fn passwords_are_left_out_and_the_rest_kept() {
        for (url, said) in [
            (
                "postgres://app:s3cret@db:5432/app",
                "postgres://app:***@db:5432/app",
            ),
            ("postgres://app@db/app", "postgres://app@db/app"),
            ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
            // An `@` in the password itself, and one in the query.
            (
                "postgres://app:p@ss@db/app?x=a@b",
                "postgres://app:***@db/app?x=a@b",
            ),
            (
                "postgresql://db/app?user=app&PASSWORD=s3cret&sslpassword=k#frag",
                "postgresql://db/app?user=app&PASSWORD=***&sslpassword=***#frag",
            ),
            (
                "postgress://app:s3cret@db/app",
                "postgress://app:***@db/app",
            ),
            (
                "sqlite:data/items.db?mode=rwc",
                "sqlite:data/items.db?mode=rwc",
            ),
            ("sqlite::memory:", "sqlite::memory:"),
            // A `?` or `#` left unescaped in a password is not taken for the query's start.
            ("postgres://app:pa?ss@db/app", "postgres://app:***@db/app"),
            (
                "postgres://app:p#w?d@db/app?sslmode=disable",
                "postgres://app:***@db/app?sslmode=disable",
            ),
            ("redis://:p?w@cache:6379", "redis://:***@cache:6379"),
            // A query that holds an `@` is still a query.
            (
                "postgres://db:5432/app?user=a@b",
                "postgres://db:5432/app?user=a@b",
            ),
            ("postgres://db?x=a@b", "postgres://db?x=a@b"),
        ] {
            assert_eq!(redacted_url(url), said, "{url}");
        }
    }
}
