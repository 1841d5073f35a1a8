//! Secrets caught before anything leaves the machine: the lines a change adds are scanned for
//! private key blocks, cloud and service credentials of well-known shapes, and assignments of
//! long, random-looking values to names like `password` or `api_key`. A finding names the file,
//! the line and the kind, never the secret.

use regex::Regex;
use schemars::JsonSchema;
use serde::Serialize;
use std::sync::LazyLock;

/// One secret found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Finding {
    /// The file, from the repository's root.
    pub file: String,
    /// The line in the file's new version, from 1.
    pub line: u64,
    /// What it looks like (`private key`, `AWS access key`, `high-entropy assignment`, …).
    pub kind: String,
}

struct Rule {
    kind: &'static str,
    pattern: Regex,
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let rule = |kind, pattern: &str| Rule {
        kind,
        pattern: Regex::new(pattern).unwrap_or_else(|e| panic!("rule `{kind}`: {e}")),
    };
    vec![
        rule(
            "private key",
            r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----",
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
    ]
});

static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret)\w*["']?\s*[:=]\s*["']?([A-Za-z0-9+/=_\-.]{20,})"#,
    )
    .unwrap_or_else(|e| panic!("the assignment rule: {e}"))
});

/// Bits of entropy per character of `s` (Shannon): random keys reach 4 and more, words and
/// placeholders stay well below.
fn entropy(s: &str) -> f64 {
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

/// What kind of secret `line` holds, if any.
pub fn scan_line(line: &str) -> Option<&'static str> {
    if let Some(rule) = RULES.iter().find(|r| r.pattern.is_match(line)) {
        return Some(rule.kind);
    }
    ASSIGNMENT
        .captures_iter(line)
        .any(|c| c.get(2).is_some_and(|v| entropy(v.as_str()) >= 3.5))
        .then_some("high-entropy assignment")
}

/// The secrets in a unified diff's added lines, with the lines they are on in the new file.
pub fn scan_diff(file: &str, diff: &str) -> Vec<Finding> {
    let mut found = Vec::new();
    let mut line = 0u64;
    for text in diff.lines() {
        if let Some(hunk) = text.strip_prefix("@@ ") {
            // `@@ -a,b +c,d @@`: the next new line is c.
            line = hunk
                .split_whitespace()
                .find_map(|p| p.strip_prefix('+'))
                .and_then(|p| p.split(',').next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(1);
            continue;
        }
        if text.starts_with("+++") || text.starts_with("---") {
            continue;
        }
        if let Some(added) = text.strip_prefix('+') {
            if let Some(kind) = scan_line(added) {
                found.push(Finding {
                    file: file.to_owned(),
                    line,
                    kind: kind.to_owned(),
                });
            }
            line += 1;
        } else if !text.starts_with('-') && !text.starts_with('\\') {
            line += 1;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_shapes_are_found() {
        let cases = [
            ("-----BEGIN OPENSSH PRIVATE KEY-----", "private key"),
            ("-----BEGIN RSA PRIVATE KEY-----", "private key"),
            ("-----BEGIN PRIVATE KEY-----", "private key"),
            ("aws_id = AKIAIOSFODNN7EXAMPLE", "AWS access key"),
            (
                "token: ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                "GitHub token",
            ),
            ("SLACK=xoxb-123456789012-abcdefghij", "Slack token"),
            (
                "OPENAI_API_KEY=sk-proj-AbCdEfGhIjKlMnOpQrStUv12",
                "OpenAI API key",
            ),
            (
                "client_secret = \"q8Zt3LmN0pR7vX2yB5cD9fG1hJ4kW6sE\"",
                "high-entropy assignment",
            ),
        ];
        for (line, kind) in cases {
            assert_eq!(scan_line(line), Some(kind), "{line}");
        }
    }

    #[test]
    fn ordinary_lines_are_not_secrets() {
        for line in [
            "let password = read_password()?;",
            "api_key: \"<your key here>\"",
            "token = \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"",
            "// The PRIVATE KEY block starts with dashes",
            "fn secret_sauce() {}",
        ] {
            assert_eq!(scan_line(line), None, "{line}");
        }
    }

    #[test]
    fn findings_carry_the_new_file_s_line() {
        let diff = "diff --git a/k b/k\n--- a/k\n+++ b/k\n@@ -1,2 +1,3 @@\n one\n-two\n+AKIAIOSFODNN7EXAMPLE\n three\n@@ -10,1 +11,2 @@\n ten\n+-----BEGIN EC PRIVATE KEY-----\n";
        let found = scan_diff("k", diff);
        let lines: Vec<(u64, &str)> = found.iter().map(|f| (f.line, f.kind.as_str())).collect();
        assert_eq!(lines, [(2, "AWS access key"), (12, "private key")]);
        assert!(
            !format!("{found:?}").contains("AKIA"),
            "findings never hold the secret"
        );
    }
}
