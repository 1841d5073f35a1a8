//! Secrets caught before text leaves the machine or is kept: the commit plugin scans what a model
//! would be sent, the AI plugin removes secrets from the prompts and answers it keeps.
//!
//! What a model would be sent is scanned whole: every line of every diff as far as it is sent
//! (added, removed, unchanged beside a change, the headers and what a hunk header quotes), every
//! file's name, and the message and instruction a redo quotes; without a model, only what would
//! be committed ([`scan_added`]). Each line is checked for the shapes `shapes.rs` knows (key
//! blocks, well-known credentials, long random-looking values assigned to names like
//! `password`, the same base64-encoded); up to four neighbouring lines, blank ones passed over,
//! are checked joined (a secret split into string literals), and a run of base64 lines is a
//! private key's body seen beside a change with its header out of sight. A finding names the
//! file, the line, which part of what would be sent it is in, and the kind; never the secret.
//!
//! Text to be kept is cleaned with [`redact_text`]: each secret replaced by `[redacted]`, a
//! private key's block and lines that hold a secret only joined replaced whole.

mod shapes;

use schemars::JsonSchema;
use serde::Serialize;
pub use shapes::scan_line;
use shapes::{PEM, PRIVATE_KEY, entropy, redact};

/// Which part of what would be sent a secret is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// A line of the file's new version: added, or unchanged beside a change. `line` counts in
    /// the new version.
    New,
    /// A line only the file's old version has: removed. `line` counts in the old version; a
    /// line a hunk header quotes (the enclosing function, say) has none.
    Old,
    /// The file's name, in the list of changed files or a diff's header.
    Name,
    /// The commit's message, which a redo quotes.
    Message,
    /// The instruction given for a redo.
    Instruction,
}

/// One secret found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Finding {
    /// The file, from the repository's root; absent for a message or an instruction.
    pub file: Option<String>,
    /// The line, from 1, in the version `part` names; absent for a name, a message, an
    /// instruction or a hunk header.
    pub line: Option<u64>,
    /// Which part of what would be sent it is in: `new`, `old`, `name`, `message` or
    /// `instruction`.
    pub part: Part,
    /// What it looks like (`private key`, `AWS access key`, `high-entropy assignment`, …).
    pub kind: String,
}

/// How findings name `file`: as it is, or with the secrets its name holds redacted (joined
/// across control characters, if that is where the secret shows).
fn shown_name(file: &str) -> String {
    redact(file)
        .or_else(|| {
            let joined: String = file.chars().filter(|c| !c.is_control()).collect();
            redact(&joined)
        })
        .unwrap_or_else(|| file.to_owned())
}

/// What kind of secret neighbouring lines hold joined, quotes, `+`, `\`, `,` and indentation
/// around each break left out (`"AKIA" +` then `"…"`), if any.
fn scan_joined(lines: &[&str]) -> Option<&'static str> {
    let last = lines.len() - 1;
    let mut joined = String::new();
    for (i, line) in lines.iter().enumerate() {
        let mut part = *line;
        if i > 0 {
            part = part.trim_start_matches(|c: char| c.is_whitespace() || "\"'+.".contains(c));
        }
        if i < last {
            part = part.trim_end_matches(|c: char| c.is_whitespace() || "\"'+\\,".contains(c));
        }
        if part.is_empty() {
            return None;
        }
        joined.push_str(part);
    }
    scan_line(&joined)
}

/// How many lines a secret is looked for across: a key cut into three or four string literals.
const WINDOW: usize = 4;

/// Whether `line` looks like a line of a PEM or OpenSSH key's body: nothing but a long
/// random-looking base64 run.
fn key_body_line(line: &str) -> bool {
    let t = line.trim();
    let body = t.trim_end_matches('=');
    (40..=100).contains(&t.len())
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        && body.bytes().any(|b| b.is_ascii_uppercase())
        && body.bytes().any(|b| b.is_ascii_lowercase())
        && body.bytes().any(|b| b.is_ascii_digit())
        && entropy(body) >= 4.0
}

/// Where a line is: which part, which line.
type Place = (Part, Option<u64>);

/// One version of a file read line after line: the old one (unchanged and removed lines) or the
/// new one (unchanged and added).
#[derive(Default)]
struct Side {
    /// The lines before (up to [`WINDOW`] − 1, blank ones skipped), where each is, and whether
    /// it held a secret by itself or as part of lines joined.
    recent: Vec<(String, Place, bool)>,
    /// Inside a private key's block whose header was seen (and reported).
    in_key: bool,
    /// Inside another PEM block (a certificate, a public key).
    in_public: bool,
    /// A run of key-body lines: where it started, how long it is.
    run: Option<(Place, usize)>,
}

const OLD: usize = 0;
const NEW: usize = 1;

/// A scan of one file's lines (or one text's), collecting findings once each.
struct Scan {
    file: Option<String>,
    sides: [Side; 2],
    found: Vec<Finding>,
}

impl Scan {
    fn new(file: Option<&str>) -> Scan {
        Scan {
            file: file.map(shown_name),
            sides: [Side::default(), Side::default()],
            found: Vec::new(),
        }
    }

    fn report(&mut self, (part, line): Place, kind: String) {
        let finding = Finding {
            file: self.file.clone(),
            line,
            part,
            kind,
        };
        if !self.found.contains(&finding) {
            self.found.push(finding);
        }
    }

    /// Lines that do not follow each other (another hunk): nothing joins across.
    fn gap(&mut self) {
        for side in &mut self.sides {
            side.recent.clear();
            side.run = None;
        }
    }

    /// Scans `text`, at `place`, a line of the versions `sides`.
    fn line(&mut self, text: &str, place: Place, sides: &[usize]) {
        let hit = scan_line(text);
        let in_key = sides.iter().any(|s| self.sides[*s].in_key);
        match hit {
            // A key's footer or body line, the key reported at its header already.
            Some(PRIVATE_KEY) if in_key => {}
            Some(kind) => self.report(place, kind.to_owned()),
            None => {}
        }
        let pem = PEM.captures(text).map(|c| {
            let begin = &c[1] == "BEGIN";
            let private = c[2].ends_with("PRIVATE KEY") || c[2].ends_with("PRIVATE KEY BLOCK");
            (begin, private)
        });
        let body = key_body_line(text);
        let mut reports = Vec::new();
        let blank = text.trim().is_empty();
        for s in sides {
            let side = &mut self.sides[*s];
            let mut joined_hit = false;
            if hit.is_none() && !blank {
                // The fewest lines before this one that hold a secret joined with it, none of
                // them holding one already (each secret is found once, at its first line).
                for k in 1..=side.recent.len() {
                    let from = side.recent.len() - k;
                    if side.recent[from..].iter().any(|(_, _, held)| *held) {
                        break;
                    }
                    let mut lines: Vec<&str> = side.recent[from..]
                        .iter()
                        .map(|(l, _, _)| l.as_str())
                        .collect();
                    lines.push(text);
                    if let Some(kind) = scan_joined(&lines) {
                        let count = ["two", "three", "four"][k - 1];
                        reports.push((
                            side.recent[from].1,
                            format!("{kind}, split over {count} lines"),
                        ));
                        for line in &mut side.recent[from..] {
                            line.2 = true;
                        }
                        joined_hit = true;
                        break;
                    }
                }
            }
            if body && !side.in_key && !side.in_public {
                let run = side.run.get_or_insert((place, 0));
                run.1 += 1;
                if run.1 == 2 {
                    reports.push((run.0, "private key body".to_owned()));
                }
            } else {
                side.run = None;
            }
            match pem {
                Some((begin, true)) => side.in_key = begin,
                Some((begin, false)) => side.in_public = begin,
                None => {}
            }
            if !blank {
                if side.recent.len() == WINDOW - 1 {
                    side.recent.remove(0);
                }
                side.recent
                    .push((text.to_owned(), place, hit.is_some() || joined_hit));
            }
        }
        for (at, kind) in reports {
            self.report(at, kind);
        }
    }
}

/// The secrets in every line of a unified diff of `file` (or the first part of one, as a model
/// is sent it): added and unchanged lines with their lines in the new file, removed ones with
/// theirs in the old, headers as the file's name.
pub fn scan_diff(file: &str, diff: &str) -> Vec<Finding> {
    scan_hunks(file, diff, false)
}

/// The secrets in what committing a unified diff of `file` would record: its added lines (with
/// their lines in the new file) and its headers (the file's name); removed lines, unchanged ones
/// and what hunk headers quote are left out, and nothing joins across them.
pub fn scan_added(file: &str, diff: &str) -> Vec<Finding> {
    scan_hunks(file, diff, true)
}

fn scan_hunks(file: &str, diff: &str, only_added: bool) -> Vec<Finding> {
    let mut scan = Scan::new(Some(file));
    let (mut old, mut new, mut in_hunk) = (1u64, 1u64, false);
    for text in diff.lines() {
        if let Some(hunk) = text.strip_prefix("@@ ") {
            // `@@ -a,b +c,d @@ quoted`: the next old line is a, the next new one c.
            let (ranges, quoted) = hunk.split_once("@@").unwrap_or((hunk, ""));
            let start = |sign: char| {
                ranges
                    .split_whitespace()
                    .find_map(|p| p.strip_prefix(sign))
                    .and_then(|p| p.split(',').next())
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(1)
            };
            (old, new, in_hunk) = (start('-'), start('+'), true);
            scan.gap();
            if !only_added {
                scan.line(quoted, (Part::Old, None), &[]);
            }
            continue;
        }
        if !in_hunk || text.starts_with("diff ") {
            in_hunk = false;
            scan.line(text, (Part::Name, None), &[]);
            continue;
        }
        if let Some(added) = text.strip_prefix('+') {
            scan.line(added, (Part::New, Some(new)), &[NEW]);
            new += 1;
        } else if only_added {
            // Not committed by this change: skipped, and what is on either side of it is apart.
            scan.gap();
            if text.starts_with('-') {
                old += 1;
            } else if !text.starts_with('\\') {
                (old, new) = (old + 1, new + 1);
            }
        } else if let Some(removed) = text.strip_prefix('-') {
            scan.line(removed, (Part::Old, Some(old)), &[OLD]);
            old += 1;
        } else if !text.starts_with('\\') {
            let same = text.strip_prefix(' ').unwrap_or(text);
            scan.line(same, (Part::New, Some(new)), &[OLD, NEW]);
            (old, new) = (old + 1, new + 1);
        }
    }
    scan.found
}

/// The secrets in a file's name, control characters in it left out too (a name can hold a
/// newline that splits a secret). Findings name the file with its secrets redacted.
pub fn scan_name(file: &str) -> Vec<Finding> {
    let mut scan = Scan::new(Some(file));
    scan.line(file, (Part::Name, None), &[]);
    let joined: String = file.chars().filter(|c| !c.is_control()).collect();
    scan.line(&joined, (Part::Name, None), &[]);
    scan.found
}

/// The secrets in `text` quoted whole (a commit's message, an instruction), line by line and
/// up to four neighbouring lines joined.
pub fn scan_text(part: Part, text: &str) -> Vec<Finding> {
    let mut scan = Scan::new(None);
    for line in text.lines() {
        scan.line(line, (part, None), &[NEW]);
    }
    scan.found
}

/// Text with its secrets taken out, and how many there were.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redacted {
    /// The text, each secret replaced by `[redacted]`.
    pub text: String,
    /// How many secrets were replaced: a key's block, a run of key-body lines or lines holding a
    /// secret joined count once each.
    pub secrets: usize,
}

/// `text` with every secret [`scan_text`] would find replaced by `[redacted]`: on a line, the
/// secret alone; a private key's block from its header to its footer (or to the end), a run of
/// key-body lines and neighbouring lines that hold a secret only joined, the lines whole. Line
/// breaks are kept.
pub fn redact_text(text: &str) -> Redacted {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let bare = |l: &str| l.trim_end_matches(['\n', '\r']).to_owned();
    let mut out: Vec<Option<String>> = lines.iter().map(|l| Some(bare(l))).collect();
    let mut whole = vec![false; lines.len()];
    // Where each block or run replaced whole starts: it becomes one `[redacted]`.
    let mut starts = vec![false; lines.len()];
    let mut secrets = 0;
    // Key blocks, and runs of key-body lines outside any block.
    let (mut i, mut in_public) = (0, false);
    while i < lines.len() {
        let line = bare(lines[i]);
        if let Some(c) = PEM.captures(&line) {
            let private = c[2].ends_with("PRIVATE KEY") || c[2].ends_with("PRIVATE KEY BLOCK");
            let begin = &c[1] == "BEGIN";
            if private && begin {
                secrets += 1;
                starts[i] = true;
                while i < lines.len() {
                    whole[i] = true;
                    // Its footer, on a line of its own or on the same one (a key inside a
                    // one-line JSON string, its breaks written `\n`).
                    let end = PEM.captures_iter(&bare(lines[i])).any(|c| &c[1] == "END");
                    i += 1;
                    if end {
                        break;
                    }
                }
                continue;
            }
            in_public = begin && !private;
        } else if !in_public && key_body_line(&line) {
            let start = i;
            while i < lines.len() && key_body_line(&bare(lines[i])) {
                i += 1;
            }
            if i - start >= 2 {
                secrets += 1;
                starts[start] = true;
                whole[start..i].fill(true);
            }
            continue;
        }
        i += 1;
    }
    // Each line by itself, then with up to three lines before it joined (blank ones passed
    // over, as `scan_text` does), none of which held a secret by itself.
    let mut held = vec![false; lines.len()];
    for n in 0..lines.len() {
        let line = bare(lines[n]);
        if whole[n] || line.trim().is_empty() {
            continue;
        }
        if let Some(clean) = shapes::redact(&line) {
            secrets += clean.matches("[redacted]").count();
            out[n] = Some(clean);
            held[n] = true;
            continue;
        }
        let mut before = Vec::new();
        let mut j = n;
        while j > 0 && before.len() < WINDOW - 1 {
            j -= 1;
            if bare(lines[j]).trim().is_empty() {
                continue;
            }
            if whole[j] || held[j] {
                break;
            }
            before.push(j);
        }
        for k in 1..=before.len() {
            let first = before[k - 1];
            let joined: Vec<String> = before[..k]
                .iter()
                .rev()
                .chain([&n])
                .map(|&j| bare(lines[j]))
                .collect();
            let joined: Vec<&str> = joined.iter().map(String::as_str).collect();
            if scan_joined(&joined).is_some() {
                secrets += 1;
                starts[first] = true;
                whole[first..=n].fill(true);
                break;
            }
        }
    }
    let mut text_out = String::with_capacity(text.len());
    for (n, line) in lines.iter().enumerate() {
        let ending = &line[line.trim_end_matches(['\n', '\r']).len()..];
        if whole[n] {
            // A block or a run is one `[redacted]`, however many lines it had.
            if starts[n] {
                text_out.push_str("[redacted]");
            }
            let last = n + 1 == lines.len() || !whole[n + 1] || starts[n + 1];
            if last {
                text_out.push_str(ending);
            }
        } else if let Some(l) = out[n].take() {
            text_out.push_str(&l);
            text_out.push_str(ending);
        }
    }
    Redacted {
        text: text_out,
        secrets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three lines of a made-up key's body.
    const BODY: [&str; 3] = [
        "pTyGJMuHbEL31IeL2HPcHyGcFRl1SPnXNYvMIHa/2o76umfXfKm/r5kJP1VrT+1F",
        "Jors/6ILi8IHn5kxsC7tVO/HbkQfyy/KV5zjR3j1twdTKWTddB+XhkAS1voQG6yy",
        "zyN9zHYIa4UOrGNATMuDJawTgsu8PO+799nKSNrh9UCauSDmLhuVtcqcYezdZ/tD",
    ];

    fn places(found: &[Finding]) -> Vec<(Part, Option<u64>, &str)> {
        found
            .iter()
            .map(|f| (f.part, f.line, f.kind.as_str()))
            .collect()
    }

    #[test]
    fn well_known_shapes_are_found() {
        let cases = [
            ("-----BEGIN OPENSSH PRIVATE KEY-----", "private key"),
            ("-----BEGIN RSA PRIVATE KEY-----", "private key"),
            ("-----BEGIN PRIVATE KEY-----", "private key"),
            ("-----END EC PRIVATE KEY-----", "private key"),
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
            // `aws_access_key_id = AKIAIOSFODNN7EXAMPLE`, base64-encoded.
            (
                "data: YXdzX2FjY2Vzc19rZXlfaWQgPSBBS0lBSU9TRk9ETk43RVhBTVBMRQ==",
                "base64-encoded secret",
            ),
            // An OpenSSH key's first body line.
            ("b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", "private key"),
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
            "\"integrity\": \"sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUR6N2jbovgG6lmw==\"",
            "const EMPTY: &str = \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\";",
            "github.com/stretchr/testify v1.8.4 h1:CcVxjf3Q8PM0mHUKJCdn+eZZtm5yQwehR5yeSVQQcUk=",
            "    let configuration_directory = std::env::current_dir()?;",
        ] {
            assert_eq!(scan_line(line), None, "{line}");
        }
        // Neighbouring ordinary lines stay ordinary joined.
        let diff = "@@ -1,3 +1,4 @@\n fn main() {\n+    let token = read_token();\n+    println!(\"{token}\");\n }\n";
        assert_eq!(scan_diff("m.rs", diff), []);
    }

    #[test]
    fn findings_carry_the_line_of_the_side_they_are_on() {
        let diff = "diff --git a/k b/k\n--- a/k\n+++ b/k\n@@ -1,2 +1,3 @@\n one\n-two\n+AKIAIOSFODNN7EXAMPLE\n three\n@@ -10,1 +11,2 @@\n ten\n+-----BEGIN EC PRIVATE KEY-----\n";
        let found = scan_diff("k", diff);
        assert_eq!(
            places(&found),
            [
                (Part::New, Some(2), "AWS access key"),
                (Part::New, Some(12), "private key")
            ]
        );
        assert_eq!(found[0].file.as_deref(), Some("k"));
        assert!(
            !format!("{found:?}").contains("AKIA"),
            "findings never hold the secret"
        );
    }

    #[test]
    fn unchanged_and_removed_lines_are_scanned_too() {
        // A secret beside a change, and one being deleted (the usual clean-up).
        let diff = "@@ -4,4 +4,4 @@ fn keys() {\n const AWS: &str = \"AKIAIOSFODNN7EXAMPLE\";\n-const GH: &str = \"ghp_abcdefghijklmnopqrstuvwxyz0123456789\";\n+const GH: &str = env!(\"GH\");\n fn x() {}\n";
        assert_eq!(
            places(&scan_diff("k.rs", diff)),
            [
                (Part::New, Some(4), "AWS access key"),
                (Part::Old, Some(5), "GitHub token")
            ]
        );
        // What a hunk header quotes is sent too.
        let diff = "@@ -9,1 +9,1 @@ const AWS: &str = \"AKIAIOSFODNN7EXAMPLE\";\n-a\n+b\n";
        assert_eq!(
            places(&scan_diff("k.rs", diff)),
            [(Part::Old, None, "AWS access key")]
        );
    }

    #[test]
    fn a_key_s_body_beside_a_change_is_found_without_its_header() {
        let diff = format!(
            "@@ -7,5 +7,5 @@\n {}\n {}\n-{}\n+{}\n {}\n",
            BODY[0], BODY[1], BODY[2], BODY[0], BODY[1]
        );
        assert_eq!(
            places(&scan_diff("id_rsa", &diff)),
            [(Part::New, Some(7), "private key body")]
        );
        // A certificate's body is public.
        let cert = format!(
            "@@ -0,0 +1,4 @@\n+-----BEGIN CERTIFICATE-----\n+{}\n+{}\n+-----END CERTIFICATE-----\n",
            BODY[0], BODY[1]
        );
        assert_eq!(scan_diff("ca.pem", &cert), []);
        // A whole key is one finding, at its header.
        let key = format!(
            "@@ -0,0 +1,5 @@\n+-----BEGIN RSA PRIVATE KEY-----\n+{}\n+{}\n+{}\n+-----END RSA PRIVATE KEY-----\n",
            BODY[0], BODY[1], BODY[2]
        );
        assert_eq!(
            places(&scan_diff("id_rsa", &key)),
            [(Part::New, Some(1), "private key")]
        );
        // Removed: found on the old side.
        let gone = key
            .replace("@@ -0,0 +1,5 @@", "@@ -1,5 +0,0 @@")
            .replace("\n+", "\n-");
        assert_eq!(
            places(&scan_diff("id_rsa", &gone)),
            [(Part::Old, Some(1), "private key")]
        );
    }

    #[test]
    fn a_secret_split_over_two_lines_is_found() {
        let diff = "@@ -1,1 +1,3 @@\n fn k() {}\n+const AWS: &str = \"AKIAIOSF\" +\n+    \"ODNN7EXAMPLE\";\n";
        assert_eq!(
            places(&scan_diff("k.rs", diff)),
            [(Part::New, Some(2), "AWS access key, split over two lines")]
        );
        let diff = "@@ -1,2 +1,2 @@\n-client_secret =\n-  \"q8Zt3LmN0pR7vX2yB5cD9fG1hJ4kW6sE\"\n+client_secret = env\n+  \"CLIENT_SECRET\"\n";
        assert_eq!(
            places(&scan_diff("k.toml", diff)),
            [(
                Part::Old,
                Some(1),
                "high-entropy assignment, split over two lines"
            )]
        );
    }

    #[test]
    fn names_and_quoted_text_are_scanned() {
        assert_eq!(
            places(&scan_name("keys/AKIAIOSFODNN7EXAMPLE.txt")),
            [(Part::Name, None, "AWS access key")]
        );
        assert_eq!(
            places(&scan_name("keys/AKIAIOSF\nODNN7EXAMPLE")),
            [(Part::Name, None, "AWS access key")]
        );
        assert_eq!(scan_name("src/secret_sauce.rs"), []);
        let found = scan_name("keys/AKIAIOSFODNN7EXAMPLE.txt");
        assert_eq!(found[0].file.as_deref(), Some("keys/[redacted].txt"));
        let found = scan_name("k/AKIAIOSF\nODNN7EXAMPLE");
        assert_eq!(found[0].file.as_deref(), Some("k/[redacted]"));
        let found = scan_text(Part::Message, "use the token xoxb-123456789012-abcdefghij");
        assert_eq!(
            (
                found[0].file.as_deref(),
                found[0].part,
                found[0].kind.as_str()
            ),
            (None, Part::Message, "Slack token")
        );
    }

    #[test]
    fn a_secret_split_over_three_or_four_lines_is_found_once() {
        let diff = "@@ -0,0 +1,6 @@\n+const K: &str = concat!(\n+    \"AKIA\",\n+    \"IOSFODNN\",\n+    \"7EXAMPLE\",\n+);\n+const L: u8 = 1;\n";
        assert_eq!(
            places(&scan_diff("k.rs", diff)),
            [(Part::New, Some(2), "AWS access key, split over three lines")]
        );
        // A blank line between the parts is passed over.
        let diff =
            "@@ -0,0 +1,5 @@\n+key = \"AKIA\" +\n+  \"IOSFODNN\" +\n+\n+  \"7EXAMPLE\"\n+done\n";
        assert_eq!(
            places(&scan_diff("k.py", diff)),
            [(Part::New, Some(1), "AWS access key, split over three lines")]
        );
        let diff = "@@ -0,0 +1,4 @@\n+\"AKIA\" +\n+\"IOSF\" +\n+\"ODNN\" +\n+\"7EXAMPLE\"\n";
        assert_eq!(
            places(&scan_diff("k.js", diff)),
            [(Part::New, Some(1), "AWS access key, split over four lines")]
        );
        // Ordinary neighbours stay ordinary, however many are joined.
        let diff = "@@ -0,0 +1,4 @@\n+let token = read_token();\n+let password = read_password();\n+\n+println!(\"{token}\");\n";
        assert_eq!(scan_diff("m.rs", diff), []);
    }

    #[test]
    fn what_would_be_committed_is_only_the_added_lines_and_names() {
        let diff = "diff --git a/k.rs b/k.rs\n--- a/k.rs\n+++ b/k.rs\n@@ -4,4 +4,4 @@ const OLD: &str = \"AKIAIOSFODNN7EXAMPLE\";\n const AWS: &str = \"AKIAIOSFODNN7EXAMPLE\";\n-const GH: &str = \"ghp_abcdefghijklmnopqrstuvwxyz0123456789\";\n+const GH: &str = env!(\"GH\");\n+const SLACK: &str = \"xoxb-123456789012-abcdefghij\";\n";
        assert_eq!(
            places(&scan_added("k.rs", diff)),
            [(Part::New, Some(6), "Slack token")]
        );
        // Nothing joins across a line that is not added.
        let diff = "@@ -1,2 +1,3 @@\n+x = \"AKIAIOSF\" +\n \"ODNN7EXAMPLE\"\n+y\n";
        assert_eq!(scan_added("k.py", diff), []);
    }

    #[test]
    fn text_to_keep_loses_its_secrets_and_nothing_else() {
        let text = format!(
            "Deploy with key AKIAIOSFODNN7EXAMPLE please.\n-----BEGIN RSA PRIVATE KEY-----\n{}\n{}\n-----END RSA PRIVATE KEY-----\nkey = \"AKIA\" +\n  \"IOSFODNN7EXAMPLE\"\nThanks!\n",
            BODY[0], BODY[1]
        );
        let r = redact_text(&text);
        assert_eq!(
            r.text,
            "Deploy with key [redacted] please.\n[redacted]\n[redacted]\nThanks!\n"
        );
        assert_eq!(r.secrets, 3);
        let plain = "An ordinary prompt:\nwrite a haiku about tokens and passwords.";
        assert_eq!(
            redact_text(plain),
            Redacted {
                text: plain.into(),
                secrets: 0
            }
        );
        // The line after a secret is kept; a secret split over a blank line is found.
        let r = redact_text("Here is my key sk-proj-abcdefghijklmnopqrstuvwx\nWhy does it fail?\n");
        assert_eq!(r.text, "Here is my key [redacted]\nWhy does it fail?\n");
        assert_eq!(r.secrets, 1);
        let r = redact_text("key = \"AKIA\" +\n\n  \"IOSFODNN7EXAMPLE\"\nnext\n");
        assert_eq!((r.text.as_str(), r.secrets), ("[redacted]\nnext\n", 1));
        // A key inside a one-line JSON string ends on its own line.
        let json = format!(
            "{{\"private_key\": \"-----BEGIN PRIVATE KEY-----\\n{}\\n-----END PRIVATE KEY-----\\n\"}}\nWhat does this do?",
            BODY[0]
        );
        let r = redact_text(&json);
        assert_eq!(
            (r.text.as_str(), r.secrets),
            ("[redacted]\nWhat does this do?", 1)
        );
        // A key's body without its header is a run of key-body lines.
        let r = redact_text(&format!("{}\n{}\n{}", BODY[0], BODY[1], BODY[2]));
        assert_eq!((r.text.as_str(), r.secrets), ("[redacted]", 1));
    }
}
