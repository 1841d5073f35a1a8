//! URLs fit for a log line or an error message: their passwords left out.

/// `url` with its passwords replaced by `***`: the one in its user information
/// (`postgres://app:***@db/app`, `redis://:***@cache:6379`) and the value of a `password` or
/// `sslpassword` query parameter. The rest is kept as it is, so the message still names the
/// database or server meant.
///
/// A password typed unescaped may hold the characters that end a URL's parts (`/ ? # @ &`);
/// where it is unclear where it ends, more is masked rather than less (up to the URL's last
/// `@`, which may take the host with it). One shape is still printed in part, as a URL parser
/// reads it as a URL too: a password that begins with digits and makes the rest read as a port,
/// a path and a query in which every `@` is inside a parameter's value with no `/`, `?` or `#`
/// (`redis://:12?a=b@cache:6379`), which is printed. Escape passwords (`%2F`, `%3F`, `%23`, `%40`) and none of this
/// arises. libpq's `host=db password=…` form is masked too.
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
    // A URL never passes this: its first key would hold a `:`. A string that names a
    // `password=` and has no `://` is read as libpq's form too (a stray word before its first
    // key), as the URL's rules would print it.
    if starts_with_keyword(url) || (!url.contains("://") && names_a_password(url)) {
        return keywords(url);
    }
    let mut out = String::with_capacity(url.len() + 3);
    // The authority starts after `://`, or a mistyped `//` after a scheme without its `:`
    // (`postgres//…`); a `//` after a `:` is in a password or a path.
    let rest = match url
        .find("://")
        .filter(|&at| !url[..at].contains(':'))
        .map(|at| at + 3)
        .or_else(|| {
            url.find("//")
                .filter(|&at| !url[..at].contains(':'))
                .map(|at| at + 2)
        }) {
        Some(at) => {
            let scheme = &url[..at];
            out.push_str(scheme);
            // Redis reads user information without a `:` as the password alone.
            let bare_is_password = scheme.to_ascii_lowercase().starts_with("redis");
            authority(&mut out, &url[at..], bare_is_password)
        }
        // No `//` at all (`postgres:app:s3cret@db/app`): a `user:secret@` after the scheme is
        // masked all the same.
        None => match (url.split_once(':'), url.rfind('@')) {
            (Some((scheme, rest)), Some(at))
                if at
                    .checked_sub(scheme.len() + 1)
                    .is_some_and(|end| rest[..end].contains(':')) =>
            {
                let colon = scheme.len() + 1 + rest.find(':').unwrap_or(0);
                out.push_str(&url[..colon]);
                out.push_str(":***");
                authority(&mut out, &url[at..], false)
            }
            _ => url,
        },
    };
    query(&mut out, rest);
    out
}

/// The spaces libpq's connection strings are split at (C's `isspace`, ASCII only).
fn libpq_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// Whether `key` is a password's (`password`, `sslpassword`, whatever the case; a key run into a
/// word before it by a space libpq does not split at, such as a pasted no-break space), its
/// escapes decoded (`pass%77ord`, which sqlx decodes).
fn is_password_key(key: &str) -> bool {
    let bytes = key.trim_end().as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                decoded.push(u8::try_from(high * 16 + low).unwrap_or(b'%'));
                i += 3;
            }
            (b, _, _) => {
                decoded.push(b.to_ascii_lowercase());
                i += 1;
            }
        }
    }
    decoded.to_ascii_lowercase().ends_with(b"password")
}

/// Whether `text` names a password as a keyword: `password` (in any case), then spaces, `=`.
fn names_a_password(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower
        .match_indices("password")
        .any(|(at, word)| lower[at + word.len()..].trim_start().starts_with('='))
}

/// Whether `text` begins as libpq's `keyword=value` form does (`host=db password=…`).
fn starts_with_keyword(text: &str) -> bool {
    text.trim_start_matches(libpq_space)
        .split_once('=')
        .is_some_and(|(key, _)| {
            let key = key.trim_end_matches(libpq_space);
            !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
}

/// libpq's `keyword=value` form with the values of `password` and `sslpassword` masked. A
/// value runs to the next space not escaped by `\`, or is quoted in `'…'` with `\` escaping; a
/// quote left open (which libpq refuses) is masked whatever its key, as it takes in the rest.
fn keywords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let spaces = rest.len() - rest.trim_start_matches(libpq_space).len();
        out.push_str(&rest[..spaces]);
        rest = &rest[spaces..];
        let Some((mut key, after)) = rest.split_once('=') else {
            out.push_str(rest);
            break;
        };
        // `key = value` is allowed; a word without `=` before the key is kept as it is.
        let key_trimmed = key.trim_end_matches(libpq_space);
        if let Some(space) = key_trimmed.rfind(libpq_space) {
            // An ASCII space: one byte.
            out.push_str(&key[..=space]);
            key = &key_trimmed[space + 1..];
        }
        let key = key.trim_end_matches(libpq_space);
        let after = after.trim_start_matches(libpq_space);
        // The value's end, and whether it is a quote left open.
        let mut escaped = false;
        let (end, open) = if let Some(quoted) = after.strip_prefix('\'') {
            quoted
                .char_indices()
                .find(|&(_, c)| {
                    let closes = c == '\'' && !escaped;
                    escaped = c == '\\' && !escaped;
                    closes
                })
                .map_or((after.len(), true), |(i, _)| (i + 2, false))
        } else {
            let end = after
                .char_indices()
                .find(|&(_, c)| {
                    let ends = libpq_space(c) && !escaped;
                    escaped = c == '\\' && !escaped;
                    ends
                })
                .map_or(after.len(), |(i, _)| i);
            (end, false)
        };
        out.push_str(key);
        out.push('=');
        // A value holding `password=` after a space libpq does not split at is masked too.
        if open || is_password_key(key) || names_a_password(&after[..end]) {
            out.push_str("***");
        } else {
            out.push_str(&after[..end]);
        }
        rest = &after[end..];
    }
    out
}

/// Writes the authority at the start of `rest`, its password masked; what follows it.
///
/// A password is written as it was typed more often than escaped, and may then hold the `/`,
/// `?`, `#` or `@` that end the parts of a URL (base64 holds `/`). Where it is unclear where a
/// password ends, more is masked rather than less: it runs to the last `@` of the URL, so that
/// an `@` in the query (`?x=a@b`) costs the host its place in the message, and the password
/// is never printed.
fn authority<'a>(out: &mut String, rest: &'a str, bare_is_password: bool) -> &'a str {
    let (authority, user_end) = split_authority(rest);
    let end = authority.len();
    let colon = authority[..user_end].find(':').or_else(|| {
        // None: after it, a host; or the rest of `user:secret` cut short by a `/`, `?` or `#`
        // in the secret (a user name may hold an `@`, as Azure's did), which reads as a host
        // whose port is no number ([`port_is_real`]).
        let host = &authority[user_end..];
        host.find(':')
            .filter(|_| !port_is_real(host, &rest[end..]))
            .map(|c| user_end + c)
    });
    let Some(colon) = colon else {
        // Redis reads user information without a `:` as the password alone; and a bare one
        // cut short by a `/`, `?` or `#` leaves an `@` further on.
        if bare_is_password && (user_end > 0 || rest[end..].contains('@')) {
            let at = rest.rfind('@').unwrap_or(0);
            out.push_str("***");
            let host = &rest[at..];
            let host_end = host.find(['/', '?', '#', '&']).unwrap_or(host.len());
            out.push_str(&host[..host_end]);
            return &host[host_end..];
        }
        out.push_str(authority);
        return &rest[end..];
    };
    out.push_str(&rest[..colon]);
    out.push_str(":***");
    match rest.rfind('@') {
        Some(at) if at > colon => {
            let host = &rest[at..];
            let end = host.find(['/', '?', '#', '&']).unwrap_or(host.len());
            out.push_str(&host[..end]);
            &host[end..]
        }
        // No `@` at all: what stood after the `:` is masked, whatever it was.
        _ => &rest[end..],
    }
}

/// The authority at the start of `rest` (what follows `scheme://`) as a URL parser reads it, up
/// to its first `/`, `?` or `#`; and where its user information ends, after its last `@` (0
/// without one).
fn split_authority(rest: &str) -> (&str, usize) {
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    (authority, authority.rfind('@').map_or(0, |at| at + 1))
}

/// Whether the port of a `scheme://` URL, as a URL parser reads it (after the host, after the
/// user information), is written as digits: one too large is not a password's doing, one that
/// is not digits may be.
#[cfg(any(test, feature = "auth-store"))]
pub(crate) fn port_is_digits(url: &str) -> bool {
    url.split_once("://").is_some_and(|(_, rest)| {
        let (authority, user_end) = split_authority(rest);
        authority[user_end..]
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Whether the port in `host` (`db:5432`, or several, `db:5432,db2:5433`; an address in brackets
/// too) is one: digits, with what follows the authority, `after`, reading as a path and a query
/// ([`port_then_query`]).
fn port_is_real(host: &str, after: &str) -> bool {
    let digits = |port: &str| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
    host.split(',').all(|one| match one.rsplit_once(':') {
        // `[::1]` and `[::1]:5432`: the address's own `:` are inside the brackets.
        _ if one.starts_with('[') => one
            .rsplit_once(']')
            .is_some_and(|(_, port)| port.is_empty() || port.strip_prefix(':').is_some_and(digits)),
        Some((_, port)) => digits(port),
        None => true,
    }) && port_then_query(after)
}

/// Whether `after`, what follows `host:1234`, reads as a URL's path and query with every `@` in
/// a parameter's value, as a user name may hold one (`?user=me@srv`, as Azure's once did): a
/// key of letters, digits and `_`, and a value with no `/`, `?` or `#`. Otherwise an `@` there
/// is taken for the end of a password that began with digits and held one of these.
fn port_then_query(after: &str) -> bool {
    let (path, query) = after.split_once('?').unwrap_or((after, ""));
    !path.contains('@')
        && query.split('&').filter(|p| p.contains('@')).all(|param| {
            param.split_once('=').is_some_and(|(key, value)| {
                !key.is_empty()
                    && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    && !value.contains(['/', '?', '#'])
            })
        })
}

/// Writes the path and the query, the values of `password` and `sslpassword` masked. Such a
/// value runs to the next parameter (`&key=`): a `&` or `#` in it is taken for part of it.
fn query(out: &mut String, rest: &str) {
    // Without a `?`, what followed a password cut short (`@srv&password=…`) may still hold
    // parameters after a `&`.
    let Some((path, query, mark)) = rest
        .split_once('?')
        .map(|(path, query)| (path, query, '?'))
        .or_else(|| rest.split_once('&').map(|(path, query)| (path, query, '&')))
    else {
        out.push_str(rest);
        return;
    };
    out.push_str(path);
    out.push(mark);
    let mut in_password = false;
    for (i, pair) in query.split('&').enumerate() {
        let key = pair.split_once('=').map(|(key, _)| key).filter(|key| {
            !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'%'))
        });
        if in_password && key.is_none() {
            continue;
        }
        if i > 0 {
            out.push('&');
        }
        in_password = key.is_some_and(is_password_key);
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
    use super::{port_is_digits, redacted_url};

    #[test]
    fn a_port_is_read_after_the_user_information() {
        for (url, digits) in [
            ("postgres://u:p@db:5432/x", true),
            ("postgres://u@db:654321/x", true),
            ("postgres://u:pa/ss@db:5432/x", false),
            ("postgres://u:p:q@db/x?a=b", false),
            ("postgres://db:5432", true),
            ("sqlite:data.db", false),
        ] {
            assert_eq!(port_is_digits(url), digits, "{url}");
        }
    }

    /// Passwords of every mix of the characters that end a URL's parts, typed unescaped: none
    /// is printed, whatever follows.
    #[test]
    fn no_password_is_printed_whatever_it_holds() {
        let alphabet = b"aZ9/?#@&=:%+";
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let len = 1 + (seed >> 60) as usize;
            let password: String = (0..len)
                .map(|i| alphabet[((seed >> (i * 4)) & 0xff) as usize % alphabet.len()] as char)
                .collect();
            for (url, said) in [
                (
                    format!("postgres://app:{password}@db/app"),
                    "postgres://app:***@db/app",
                ),
                (
                    format!("postgres://app:{password}@db:5432/app?sslmode=disable"),
                    "postgres://app:***@db:5432/app?sslmode=disable",
                ),
                (
                    format!("redis://:{password}@cache:6379"),
                    "redis://:***@cache:6379",
                ),
                (
                    format!("postgres://db/app?password={password}"),
                    "postgres://db/app?password=***",
                ),
                // An `@` in the query too: masked to it.
                (
                    format!("postgres://app:{password}@db/app?user=me@srv"),
                    "postgres://app:***@srv",
                ),
            ] {
                let out = redacted_url(&url);
                // Redis's user information may be masked whole, the `:` with it.
                if out == "redis://***@cache:6379" {
                    continue;
                }
                // A password that reads as parameters of their own (`a&b=c`) keeps them.
                if url.contains("?password=") && password.contains('&') {
                    assert!(out.starts_with(said), "{url} gave {out}");
                    continue;
                }
                // The one shape left printed: a password of digits after which the URL reads as
                // a port, a path and a query whose every `@` is in a parameter's value.
                let digits = password.bytes().take_while(u8::is_ascii_digit).count();
                if let Some(at) = url.find(&password)
                    && !url.contains("?password=")
                    && digits > 0
                    && password[digits..].starts_with(['/', '?', '#'])
                    && super::port_then_query(&url[at + digits..])
                {
                    continue;
                }
                assert_eq!(out, said, "{url}");
            }
        }
    }

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
            // A port, then an `@` with no `=` before it: may be a password, so masked.
            ("postgres://db:5432/app?x@y", "postgres://db:***@y"),
            ("postgres://db:5432/app#x@y", "postgres://db:***@y"),
            (
                "postgres://op:12/QQx=QQy@db/app",
                "postgres://op:***@db/app",
            ),
            (
                "postgres://app:2024/Secret@db/app?user=me@srv",
                "postgres://app:***@srv",
            ),
            (
                "postgres://app:12#Secret@db:5432/app?application_name=ops@team",
                "postgres://app:***@team",
            ),
            (
                "postgres://app:6?8094K@db/app?user=me@srv",
                "postgres://app:***@srv",
            ),
            (
                "postgres://app:12/x?y@db/app?user=me@srv",
                "postgres://app:***@srv",
            ),
            // A `//` in a password, with or without the scheme's.
            ("postgres:app:K//@x@db/app", "postgres:app:***@db/app"),
            (
                "host=db password=Ab//x9 dbname=x",
                "host=db password=*** dbname=x",
            ),
            ("host=db password='a//b'", "host=db password=***"),
            // libpq's escapes and spaces; a quote left open takes in the rest, masked.
            (
                "host=db password=p4ss\\ w0rd dbname=x",
                "host=db password=*** dbname=x",
            ),
            (
                "host=db password=ab\u{a0}cd dbname=x",
                "host=db password=*** dbname=x",
            ),
            (
                "host=db application_name='my app password=s3cret",
                "host=db application_name=***",
            ),
            ("dbname='a\\' password=s3cret", "dbname=***"),
            ("host=db x\u{a0}password=y", "host=db x\u{a0}password=***"),
            // A user name holding `@` (as Azure's did), and a password holding `/`, `?` or `#`.
            (
                "postgres://app@srv:Ab/cd+ef==@srv.example.com:5432/db?sslmode=require",
                "postgres://app@srv:***@srv.example.com:5432/db?sslmode=require",
            ),
            (
                "postgres://me@x.io:p?w@db/app",
                "postgres://me@x.io:***@db/app",
            ),
            (
                "redis://me@x.io:p/w@cache:6379",
                "redis://me@x.io:***@cache:6379",
            ),
            // Redis's bare password holding them.
            ("redis://ab/cd@cache:6379", "redis://***@cache:6379"),
            ("redis://K?x@cache", "redis://***@cache"),
            ("redis://cache:6379/0", "redis://cache:6379/0"),
            // `://` inside a password, with no `//` of the scheme's.
            ("postgres:app:a://b@db/app", "postgres:app:***@db/app"),
            // libpq's form with a no-break space where libpq does not split, a stray word first,
            // an escaped key in a URL's query.
            ("host=db\u{a0}password=s3cret", "host=***"),
            ("password\u{a0}=s3cret", "password\u{a0}=***"),
            ("stray host=db password=x", "stray host=db password=***"),
            (
                "postgres://db/app?pass%77ord=K&x=1",
                "postgres://db/app?pass%77ord=***&x=1",
            ),
            (
                "postgres://db/app?%70assword=K",
                "postgres://db/app?%70assword=***",
            ),
            // Several hosts, each with its port; and no port.
            (
                "postgres://db:5432,db2:5433/app",
                "postgres://db:5432,db2:5433/app",
            ),
            ("postgres://db,db2/app", "postgres://db,db2/app"),
            (
                "postgres://[::1]:5432,db2/app",
                "postgres://[::1]:5432,db2/app",
            ),
            // Redis reads a bare user information as the password.
            ("rediss://s3cret@cache:6380", "rediss://***@cache:6380"),
            ("redis://default:s3cret@cache", "redis://default:***@cache"),
            // A user name with `@` in the query (as Azure's once were) keeps the URL whole.
            (
                "postgres://host:5432/db?user=me@srv&password=x",
                "postgres://host:5432/db?user=me@srv&password=***",
            ),
            // A password cut short whose host is followed by parameters: they are read too.
            (
                "postgres://host:abc/db?user=me@srv&password=x",
                "postgres://host:***@srv&password=***",
            ),
            ("postgres://[::1]:5432/app", "postgres://[::1]:5432/app"),
            (
                "postgres://u:p@[::1]:5432/app",
                "postgres://u:***@[::1]:5432/app",
            ),
            ("postgres://app@db/app?x=a@b", "postgres://app@db/app?x=a@b"),
            // libpq's `keyword=value` form.
            (
                "host=127.0.0.1 port=5432 user=op password=QQa dbname=opdb",
                "host=127.0.0.1 port=5432 user=op password=*** dbname=opdb",
            ),
            (
                "host=db password='a b\\' c' sslpassword=k user=x",
                "host=db password=*** sslpassword=*** user=x",
            ),
            ("dbname=x PASSWORD='unclosed", "dbname=x PASSWORD=***"),
            (
                "host = db password = s3cret dbname=x",
                "host=db password=*** dbname=x",
            ),
            (
                "host=db stray password=s3cret",
                "host=db stray password=***",
            ),
            // Without `//`.
            ("postgres:app:s3cret@db/app", "postgres:app:***@db/app"),
            ("postgres:/app:s3/cret@db/app", "postgres:/app:***@db/app"),
            ("sqlite:a@b.db", "sqlite:a@b.db"),
            ("a@b:c", "a@b:c"),
            ("@:", "@:"),
        ] {
            assert_eq!(redacted_url(url), said, "{url}");
        }
    }
}
