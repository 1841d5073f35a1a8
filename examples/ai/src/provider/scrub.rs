//! What a provider said, made safe to keep: for the operator's log ([`for_log`]) without keys,
//! tokens or other secrets, and for a client ([`for_client`]) without upstream addresses too.
//! Both are cut short and put on one line.

use secret_scan::redact_text;

/// The most characters of what a provider said that are logged.
pub const LOG_MAX_CHARS: usize = 1_000;

/// The most characters of what a provider said that a client is shown.
pub const CLIENT_MAX_CHARS: usize = 300;

/// `said` for the log: `key` (the provider's own key, which some providers quote back) and
/// anything shaped like a key, token or other secret replaced by `[redacted]`, on one line, at
/// most [`LOG_MAX_CHARS`] characters.
pub fn for_log(said: &str, key: Option<&str>) -> String {
    let mut text = said.to_owned();
    if let Some(key) = key.filter(|k| k.len() >= 4) {
        text = text.replace(key, "[redacted]");
    }
    let text = redact_text(&text).text;
    let words: Vec<String> = text.split_whitespace().map(redact_keys).collect();
    cut(&words.join(" "), LOG_MAX_CHARS)
}

/// `said` for a client: as [`for_log`] (with the provider's `key`), and every upstream address
/// (a URL, an IP address, a host name, with or without a port) replaced by `[address]`, at most
/// [`CLIENT_MAX_CHARS`] characters.
pub fn for_client(said: &str, key: Option<&str>) -> String {
    let logged = for_log(said, key);
    let words: Vec<String> = logged.split(' ').map(hide_addresses).collect();
    cut(&words.join(" "), CLIENT_MAX_CHARS)
}

/// `word` with each part that is an address replaced; parts are split at the characters that
/// put an address in a message: `=`, quotes, brackets of a call, commas.
fn hide_addresses(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut part = String::new();
    let flush = |part: &mut String, out: &mut String| {
        if is_address(part) {
            out.push_str("[address]");
        } else {
            out.push_str(part);
        }
        part.clear();
    };
    for c in word.chars() {
        if "=()'\"`,;<>{}".contains(c) {
            flush(&mut part, &mut out);
            out.push(c);
        } else {
            part.push(c);
        }
    }
    flush(&mut part, &mut out);
    out
}

fn cut(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// `word` with each run of key characters that looks like a key replaced: one starting `sk-`
/// (OpenAI's and Anthropic's keys), or 32 characters and more of letters and digits mixed.
fn redact_keys(word: &str) -> String {
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(start) = rest.find(is_key_char) {
        out.push_str(&rest[..start]);
        let run_len = rest[start..]
            .find(|c: char| !is_key_char(c))
            .unwrap_or(rest.len() - start);
        let run = &rest[start..start + run_len];
        let keyish = run.starts_with("sk-")
            || (run.len() >= 32
                && run.bytes().any(|b| b.is_ascii_digit())
                && run.bytes().any(|b| b.is_ascii_alphabetic())
                && run.matches('-').count() <= 2);
        out.push_str(if keyish { "[redacted]" } else { run });
        rest = &rest[start + run_len..];
    }
    out.push_str(rest);
    out
}

/// Whether `part` (a full stop or a colon after it aside) is an address: an IPv4 or IPv6
/// address or a host name (`vllm.internal`), with or without a port and a path after it.
fn is_address(part: &str) -> bool {
    if part.contains("://") {
        return true;
    }
    let p = part.trim_end_matches(['.', ':']);
    // `host:port/path`: the path tells nothing.
    let p = p.split('/').next().unwrap_or_default();
    if p.is_empty() {
        return false;
    }
    // `[v6]:port`, or a bare IPv6 address (two colons at least, hex digits only).
    let v6 = |s: &str| {
        s.matches(':').count() >= 2 && s.bytes().all(|b| b.is_ascii_hexdigit() || b == b':')
    };
    if let Some(rest) = p.strip_prefix('[') {
        return rest.split(']').next().is_some_and(v6);
    }
    if v6(p) {
        return true;
    }
    let host = match p.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => p,
    };
    let labels: Vec<&str> = host.split('.').collect();
    if host == "localhost" {
        return true;
    }
    // Host names are written in lower case; `litellm.APIConnectionError` is not one.
    let lower = |l: &&str| {
        !l.is_empty()
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    if labels.len() < 2 || !labels.iter().all(lower) {
        return false;
    }
    let ipv4 = labels.len() == 4
        && labels
            .iter()
            .all(|l| l.len() <= 3 && l.bytes().all(|b| b.is_ascii_digit()));
    // A name ends in letters; file names and versions (`config.json`, `llama-3.1`) are not
    // hosts.
    let last = labels[labels.len() - 1];
    const FILES: &[&str] = &[
        "json",
        "yaml",
        "yml",
        "toml",
        "txt",
        "md",
        "py",
        "rs",
        "ts",
        "js",
        "go",
        "html",
        "log",
        "csv",
        "gguf",
        "bin",
        "safetensors",
    ];
    let named = last.len() >= 2
        && last.bytes().all(|b| b.is_ascii_alphabetic())
        && !FILES.contains(&last.to_ascii_lowercase().as_str());
    ipv4 || named
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_what_was_said_without_keys() {
        let said = r#"{"error": {"message": "Incorrect API key provided: sk-proj-abcdefghijklmnopqrstuvwx. You can find your API key at https://platform.openai.com/account/api-keys.", "type": "invalid_request_error", "code": "invalid_api_key"}}"#;
        let logged = for_log(said, Some("sk-proj-abcdefghijklmnopqrstuvwx"));
        assert!(
            logged.contains("Incorrect API key provided: [redacted]."),
            "{logged}"
        );
        assert!(logged.contains("invalid_api_key"), "{logged}");
        assert!(!logged.contains("abcdefghijklmnop"), "{logged}");
        // A key of no known shape is still taken out when it is the provider's own.
        let logged = for_log("bad key hunter2-local given", Some("hunter2-local"));
        assert_eq!(logged, "bad key [redacted] given");
        let long = "x".repeat(5_000);
        assert_eq!(for_log(&long, None).chars().count(), LOG_MAX_CHARS + 1);
    }

    #[test]
    fn a_client_is_never_shown_an_upstream_address() {
        let said = "litellm.APIConnectionError: cannot reach api_base=http://10.0.0.7:8000/v1 (vllm.internal:8000, 10.0.0.7) with Bearer abcdefghijklmnopqrstuvwxyz012345";
        let shown = for_client(said, None);
        assert_eq!(
            shown,
            "litellm.APIConnectionError: cannot reach api_base=[address] ([address], [address]) with [redacted]"
        );
        for (said, shown) in [
            (
                "HTTPConnectionPool(host='10.0.0.7', port=8000): Max retries exceeded",
                "HTTPConnectionPool(host='[address]', port=8000): Max retries exceeded",
            ),
            (
                "connect to [fd00::7]:8000 failed",
                "connect to [address] failed",
            ),
            ("connect to fd00::7 failed", "connect to [address] failed"),
            ("no route to vllm.internal.", "no route to [address]"),
            (
                "posting to 10.0.0.7:8000/v1 failed",
                "posting to [address] failed",
            ),
            ("api_base=10.0.0.8", "api_base=[address]"),
            (
                "model not found: llama-3.1-8b",
                "model not found: llama-3.1-8b",
            ),
            (
                "bad value in config.json at 3.5",
                "bad value in config.json at 3.5",
            ),
        ] {
            assert_eq!(for_client(said, None), shown, "{said}");
        }
        // The provider's own key, whatever its shape.
        assert_eq!(
            for_client(
                "bad key 1f2e-3d4c-5b6a-7988 given",
                Some("1f2e-3d4c-5b6a-7988")
            ),
            "bad key [redacted] given"
        );
    }
}
