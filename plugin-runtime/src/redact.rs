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
    // The authority starts after `://` (or a mistyped `//`).
    let rest = match url
        .find("://")
        .map(|at| at + 3)
        .or_else(|| url.find("//").map(|at| at + 2))
    {
        Some(at) => {
            out.push_str(&url[..at]);
            authority(&mut out, &url[at..])
        }
        None => url,
    };
    query(&mut out, rest);
    out
}

/// Writes the authority at the start of `rest`, its password masked; what follows it.
///
/// A password is written as it was typed more often than escaped, and may then hold the `/`,
/// `?`, `#` or `@` that end the parts of a URL (base64 holds `/`). Where it is unclear where a
/// password ends, more is masked rather than less: it runs to the last `@` of the URL, so that
/// an `@` in the query (`?x=a@b`) costs the host its place in the message, and the password
/// is never printed.
fn authority<'a>(out: &mut String, rest: &'a str) -> &'a str {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let colon = match authority.rfind('@') {
        // User information as a URL parser reads it: a password after its first `:`.
        Some(at) => authority[..at].find(':'),
        // None: a host, or `user:secret` cut short by a `/`, `?` or `#` in the secret, which
        // reads as a host whose port is no number. An address in brackets is a host.
        None if authority.starts_with('[') => None,
        None => authority
            .find(':')
            .filter(|&c| !authority[c + 1..].bytes().all(|b| b.is_ascii_digit())),
    };
    let Some(colon) = colon else {
        out.push_str(authority);
        return &rest[end..];
    };
    out.push_str(&rest[..colon]);
    out.push_str(":***");
    match rest.rfind('@') {
        Some(at) if at > colon => {
            let host = &rest[at..];
            let end = host.find(['/', '?', '#']).unwrap_or(host.len());
            out.push_str(&host[..end]);
            &host[end..]
        }
        // No `@` at all: what stood after the `:` is masked, whatever it was.
        _ => &rest[end..],
    }
}

/// Writes the path and the query, the values of `password` and `sslpassword` masked. Such a
/// value runs to the next parameter (`&key=`): a `&` or `#` in it is taken for part of it.
fn query(out: &mut String, rest: &str) {
    let Some((path, query)) = rest.split_once('?') else {
        out.push_str(rest);
        return;
    };
    out.push_str(path);
    out.push('?');
    let mut in_password = false;
    for (i, pair) in query.split('&').enumerate() {
        let key = pair.split_once('=').map(|(key, _)| key).filter(|key| {
            !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        });
        if in_password && key.is_none() {
            continue;
        }
        if i > 0 {
            out.push('&');
        }
        in_password = key.is_some_and(|key| {
            key.eq_ignore_ascii_case("password") || key.eq_ignore_ascii_case("sslpassword")
        });
        match key {
            Some(key) if in_password => {
                out.push_str(key);
                out.push_str("=***");
            }
            _ => out.push_str(pair),
        }
    }
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
            // An `@` in the password itself.
            ("postgres://app:p@ss@db/app", "postgres://app:***@db/app"),
            // And one in the query too: where the password ends is unclear, so more is masked.
            ("postgres://app:p@ss@db/app?x=a@b", "postgres://app:***@b"),
            (
                "postgresql://db/app?user=app&PASSWORD=s3cret&sslpassword=k&x=1#frag",
                "postgresql://db/app?user=app&PASSWORD=***&sslpassword=***&x=1#frag",
            ),
            // A `&` or `#` in a password parameter's value is part of it.
            (
                "postgres://db/app?password=a&b&sslmode=disable",
                "postgres://db/app?password=***&sslmode=disable",
            ),
            (
                "postgres://db/app?password=ab#cd",
                "postgres://db/app?password=***",
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
            // ... whatever follows it, up to the last `@`.
            ("postgres://app:pa?ss=1@db/app", "postgres://app:***@db/app"),
            ("postgres://app:K9?x&2@db/app", "postgres://app:***@db/app"),
            (
                "postgres://app:a#b=c@db:5432/app",
                "postgres://app:***@db:5432/app",
            ),
            ("postgres://app:p@s?s@db/app", "postgres://app:***@db/app"),
            ("postgres://app:p@ss#1@db/app", "postgres://app:***@db/app"),
            ("postgres://app:ab/cd@db/app", "postgres://app:***@db/app"),
            // `user:secret` with no `@` at all: masked, as it may be no port.
            ("redis://default:s3cret", "redis://default:***"),
            // A user that is an email address.
            (
                "postgres://me@x.io:pw@db/app",
                "postgres://me@x.io:***@db/app",
            ),
            // No password: an `@` in a query or fragment changes nothing, nor does a port.
            (
                "postgres://db:5432/app?user=a@b",
                "postgres://db:5432/app?user=a@b",
            ),
            ("postgres://db?x=a@b", "postgres://db?x=a@b"),
            ("postgres://db:5432/app?x@y", "postgres://db:5432/app?x@y"),
            ("postgres://db:5432/app#x@y", "postgres://db:5432/app#x@y"),
            ("postgres://[::1]:5432/app", "postgres://[::1]:5432/app"),
            (
                "postgres://u:p@[::1]:5432/app",
                "postgres://u:***@[::1]:5432/app",
            ),
            ("postgres://app@db/app?x=a@b", "postgres://app@db/app?x=a@b"),
        ] {
            assert_eq!(redacted_url(url), said, "{url}");
        }
    }
}
