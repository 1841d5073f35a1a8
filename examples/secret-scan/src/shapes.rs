//! The shapes secrets take, line by line: private key blocks, cloud and service credentials of
//! well-known shapes (AWS, GitHub, GitLab, Slack, Stripe, OpenAI, Google, SendGrid, npm,
//! Hugging Face, JWTs and `Bearer` tokens, passwords in URLs), assignments of long,
//! random-looking values to names like `password` or `api_key` (`=`, `:`, `:=`, `=>`, a call's
//! `'name', 'value'`, an XML element), and the same in the text of long base64 tokens decoded
//! at each of the four alignments a token can start at.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use regex::Regex;
use std::sync::LazyLock;

struct Rule {
    kind: &'static str,
    pattern: Regex,
}

fn regex(what: &str, pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("{what}: {e}"))
}

pub(super) const PRIVATE_KEY: &str = "private key";

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let rule = |kind, pattern: &str| Rule {
        kind,
        pattern: regex(kind, pattern),
    };
    vec![
        rule(
            PRIVATE_KEY,
            r"-----(BEGIN|END) ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----",
        ),
        rule("AWS access key", r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
        rule(
            "GitHub token",
            r"\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b",
        ),
        rule("Slack token", r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"),
        rule("Stripe secret key", r"\b[rs]k_live_[0-9A-Za-z]{20,}\b"),
        rule("OpenAI API key", r"\bsk-(proj-)?[A-Za-z0-9_-]{20,}\b"),
        rule("Google API key", r"\bAIza[0-9A-Za-z_-]{35}\b"),
        rule("GitLab token", r"\bglpat-[A-Za-z0-9_-]{20,}"),
        rule(
            "SendGrid API key",
            r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}",
        ),
        rule("npm token", r"\bnpm_[A-Za-z0-9]{36}\b"),
        rule("Hugging Face token", r"\bhf_[A-Za-z0-9]{30,}\b"),
        rule(
            "JSON Web Token",
            r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
        ),
        // A token after `Bearer` (a header, a curl line); `Bearer ${TOKEN}` and `Bearer <token>`
        // are placeholders.
        rule("bearer token", r"\bBearer\s+[A-Za-z0-9._~+/-]{20,}=*"),
        // `scheme://user:password@host`; a placeholder (`${…}`, `<…>`, `{…}`, `%s`, `*`) is none.
        rule(
            "password in a URL",
            r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@'\x22]+:[^\s:/@'\x22$<{%*]{3,}@[A-Za-z0-9]",
        ),
    ]
});

static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        "the assignment rule",
        // The name, then `=`, `:`, `:=`, `=>` or `>` (an XML element), or `, '` (a call's
        // `define('DB_PASSWORD', '…')`), then the value: long, and symbols allowed, but not `$`
        // (`${PASSWORD}`, `$ENV_NAME`) or brackets (`read_password()`).
        r#"(?i)(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret)\w*["']?\s*(?:(?::=|=>|[:=>])\s*["']?|,\s*["'])([A-Za-z0-9+/=_\-.!@#%^&*~?]{20,})"#,
    )
});

/// A PEM block's header or footer: `BEGIN`/`END`, and whether it is a private key's.
pub(super) static PEM: LazyLock<Regex> =
    LazyLock::new(|| regex("the PEM rule", r"-----(BEGIN|END) ([A-Z0-9 ]+)-----"));

/// A token that may be base64 (standard or URL-safe alphabet), long enough to hide a secret.
static BASE64_TOKEN: LazyLock<Regex> =
    LazyLock::new(|| regex("the base64 rule", r"[A-Za-z0-9+/_-]{20,}={0,2}"));

/// Bits of entropy per character of `s` (Shannon): random keys reach 4 and more, words and
/// placeholders stay well below.
pub(super) fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[usize::from(b)] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Whether `found`, a match of the rule `kind`, is a documentation placeholder rather than a
/// secret: `postgres://user:password@host`.
fn placeholder(kind: &str, found: &str) -> bool {
    kind == "password in a URL"
        && found.rsplit_once('@').is_some_and(|(head, _)| {
            let password = head.rsplit_once(':').map_or("", |(_, p)| p);
            [
                "password", "pass", "passwd", "secret", "changeme", "pw", "xxx",
            ]
            .contains(&password.to_ascii_lowercase().as_str())
        })
}

/// What kind of secret `line` holds as written, if any.
fn plain(line: &str) -> Option<&'static str> {
    if let Some(rule) = RULES.iter().find(|r| {
        r.pattern
            .find_iter(line)
            .any(|m| !placeholder(r.kind, m.as_str()))
    }) {
        return Some(rule.kind);
    }
    ASSIGNMENT
        .captures_iter(line)
        .any(|c| c.get(2).is_some_and(|v| entropy(v.as_str()) >= 3.5))
        .then_some("high-entropy assignment")
}

/// `token` decoded as base64 (either alphabet, padded or not), if it is.
fn decode(token: &str) -> Option<Vec<u8>> {
    let config = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    let standard = GeneralPurpose::new(&base64::alphabet::STANDARD, config);
    let url_safe = GeneralPurpose::new(&base64::alphabet::URL_SAFE, config);
    let mut token = token.trim_end_matches('=');
    // A token cut from a longer line may have one character too many to decode.
    if token.len() % 4 == 1 {
        token = &token[..token.len() - 1];
    }
    if token.is_empty() {
        return None;
    }
    standard
        .decode(token)
        .or_else(|_| url_safe.decode(token))
        .ok()
}

/// What kind of secret the base64 tokens of `line` hold once decoded, if any: an OpenSSH
/// private key's body, or text holding a secret.
///
/// A token's first characters may not be base64 of the secret (`/` or `my-data_` before it, the
/// same alphabet): it is decoded from each of its first four characters, one of which starts a
/// group of four, and what does not decode to text is passed over.
fn encoded(line: &str) -> Option<&'static str> {
    BASE64_TOKEN.find_iter(line).find_map(|m| {
        (0..4).find_map(|skip| {
            let bytes = decode(m.as_str().get(skip..)?)?;
            if bytes.windows(14).any(|w| w == b"openssh-key-v1") {
                return Some(PRIVATE_KEY);
            }
            let text = String::from_utf8_lossy(&bytes);
            plain(&text).map(|_| "base64-encoded secret")
        })
    })
}

/// `text` with every secret in it (as written or base64-encoded) replaced by `[redacted]`, if it
/// holds one: how a file whose name holds a secret is named in findings.
pub(super) fn redact(text: &str) -> Option<String> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for rule in RULES.iter() {
        spans.extend(
            rule.pattern
                .find_iter(text)
                .filter(|m| !placeholder(rule.kind, m.as_str()))
                .map(|m| (m.start(), m.end())),
        );
    }
    spans.extend(
        ASSIGNMENT
            .captures_iter(text)
            .filter_map(|c| c.get(2))
            .filter(|v| entropy(v.as_str()) >= 3.5)
            .map(|v| (v.start(), v.end())),
    );
    spans.extend(
        BASE64_TOKEN
            .find_iter(text)
            .filter(|m| encoded(m.as_str()).is_some())
            .map(|m| (m.start(), m.end())),
    );
    if spans.is_empty() {
        return None;
    }
    spans.sort_unstable();
    let mut out = String::new();
    let mut at = 0;
    for (start, end) in spans {
        if end <= at {
            continue;
        }
        out.push_str(&text[at..start.max(at)]);
        out.push_str("[redacted]");
        at = end;
    }
    out.push_str(&text[at..]);
    Some(out)
}

/// What kind of secret `line` holds, as written or base64-encoded, if any.
pub fn scan_line(line: &str) -> Option<&'static str> {
    plain(line).or_else(|| encoded(line))
}

#[cfg(test)]
mod tests {
    use super::scan_line;

    #[test]
    fn more_shapes_are_found() {
        let cases = [
            (
                "apiKey := \"q8Zt3LmN0pR7vX2yB5cD9fG1hJ4kW6sE\"",
                "high-entropy assignment",
            ),
            (
                "'db_password' => 'q8Zt3LmN0pR7vX2yB5cD9fG1hJ4kW6sE',",
                "high-entropy assignment",
            ),
            (
                "define('DB_PASSWORD', 'q8Zt3LmN0pR7vX2yB5cD9fG1hJ4kW6sE');",
                "high-entropy assignment",
            ),
            (
                "define('DB_PASSWORD','q8Zt3LmN0pR7vX2yB5cD9fG1hJ4kW6sE');",
                "high-entropy assignment",
            ),
            (
                "<password>q8Zt3LmN0pR7vX2yB5cD9fG1hJ4kW6sE</password>",
                "high-entropy assignment",
            ),
            (
                "password = \"Tr0ub4dor&3-horse#battery!staple\"",
                "high-entropy assignment",
            ),
            (
                "DATABASE_URL=postgres://admin:hunter2xyz@db:5432/app",
                "password in a URL",
            ),
            (
                "curl -H 'Authorization: Bearer abcdef0123456789ABCDEFghijkl' https://x",
                "bearer token",
            ),
            (
                "const T = \"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U\";",
                "JSON Web Token",
            ),
            ("GITLAB_TOKEN=glpat-xY3kP9qL2mN8vB4cR7tZ", "GitLab token"),
            (
                "SENDGRID=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",
                "SendGrid API key",
            ),
            (
                "//registry.npmjs.org/:_authToken=npm_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5",
                "npm token",
            ),
            (
                "HF_TOKEN=hf_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3x",
                "Hugging Face token",
            ),
            // `aws_access_key_id = AKIAIOSFODNN7EXAMPLE`, base64, after `/` and after `my-data_`.
            (
                "/YXdzX2FjY2Vzc19rZXlfaWQgPSBBS0lBSU9TRk9ETk43RVhBTVBMRQ==",
                "base64-encoded secret",
            ),
            (
                "my-data_YXdzX2FjY2Vzc19rZXlfaWQgPSBBS0lBSU9TRk9ETk43RVhBTVBMRQ==",
                "base64-encoded secret",
            ),
            (
                "x-YXdzX2FjY2Vzc19rZXlfaWQgPSBBS0lBSU9TRk9ETk43RVhBTVBMRQ==",
                "base64-encoded secret",
            ),
        ];
        for (line, kind) in cases {
            assert_eq!(scan_line(line), Some(kind), "{line}");
        }
    }

    #[test]
    fn placeholders_and_ordinary_lines_stay_ordinary() {
        for line in [
            "let password = read_password()?;",
            "password: \"${PASSWORD}\"",
            "password = \"${DATABASE_PASSWORD_FROM_THE_ENVIRONMENT}\"",
            "password=$DATABASE_PASSWORD_FROM_ENVIRONMENT",
            "DATABASE_URL=postgres://user:password@localhost/app",
            "DATABASE_URL=postgres://user:${DB_PASSWORD}@localhost/app",
            "url = \"postgres://{user}:{password}@{host}/db\"",
            "curl -H \"Authorization: Bearer ${TOKEN}\" https://x",
            "headers.insert(\"authorization\", format!(\"Bearer {token}\"));",
            "apiKey := os.Getenv(\"API_KEY\")",
            "'db_password' => env('DB_PASSWORD'),",
            "<password></password>",
            "fn token_for(user: &User, expires_at: Instant) -> Token {",
            "see https://example.com/a/b@c for details",
            "SG.name.field = 1;",
        ] {
            assert_eq!(scan_line(line), None, "{line}");
        }
    }
}
