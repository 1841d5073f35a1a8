//! What one changed file is and what its diff does, read from its path and its unified diff
//! alone: the kind of file, the public items it adds, removes or renames, whether only comments
//! changed, the version or dependencies a manifest changes, the functions a change touches.

use crate::changes::{Change, FileStat};

/// What a file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Kind {
    /// Continuous integration: workflows, `ci/` and `.ci/` scripts.
    Ci,
    /// A package manifest (`Cargo.toml`, `package.json`, `pyproject.toml`, `go.mod`).
    Manifest,
    /// A lock file.
    Lock,
    /// The toolchain's pin (`rust-toolchain`, `.nvmrc`, …) or the build's own configuration.
    Toolchain,
    /// A changelog.
    Changelog,
    /// Prose: Markdown and the like, or anything under `docs/`.
    Docs,
    /// Tests.
    Test,
    /// Examples and benchmarks: code that uses the library.
    Example,
    /// The repository's own housekeeping (`.gitignore`, lint and format settings).
    Chore,
    /// Code.
    Source,
}

/// What a diff does to a manifest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct ManifestChange {
    /// The package's own version, if it changed: the new one.
    pub version: Option<String>,
    /// The minimum toolchain version, if it changed (`rust-version`, `engines.node`).
    pub msrv: Option<String>,
    /// The language edition, if it changed.
    pub edition: Option<String>,
    /// Dependencies added, with their version if one is written.
    pub added: Vec<(String, Option<String>)>,
    /// Dependencies whose version changed: the new one.
    pub bumped: Vec<(String, String)>,
    /// Dependencies removed.
    pub removed: Vec<String>,
    /// Lines changed that are none of these.
    pub other: usize,
}

/// One file's facts.
#[derive(Clone, Debug)]
pub(super) struct Facts {
    pub path: String,
    pub kind: Kind,
    pub change: Change,
    /// Public items the diff adds (their names), in order, none twice.
    pub added_items: Vec<String>,
    /// Public items the diff removes.
    pub removed_items: Vec<String>,
    /// Test functions the diff adds.
    pub added_tests: Vec<String>,
    /// Functions and types whose bodies the diff changes (from hunk headers and changed
    /// definitions).
    pub touched: Vec<String>,
    /// Whether every changed line is a comment (or blank), or changed only in a comment after
    /// its code: a documentation edit.
    pub comments_only: bool,
    /// Whether the lines removed and added are the same but for whitespace: formatting.
    pub format_only: bool,
    /// Items the diff marks deprecated.
    pub deprecated: Vec<String>,
    /// Actions a CI file moves to another version: (action, version).
    pub actions_bumped: Vec<(String, String)>,
    /// Headings a prose diff adds.
    pub headings: Vec<String>,
    /// What a manifest's diff does.
    pub manifest: Option<ManifestChange>,
    /// The toolchain a pin moves to.
    pub toolchain: Option<String>,
    /// Lines added or removed, blank ones aside.
    pub changed_lines: usize,
    /// How many of them hold a version (`1.2.3`).
    pub version_lines: usize,
    /// The versions the added lines hold.
    pub versions_named: Vec<String>,
    /// The added lines, joined.
    pub added_text: String,
}

/// What `path` is.
pub(super) fn kind_of(path: &str) -> Kind {
    let name = path.rsplit('/').next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    let parts: Vec<&str> = path.split('/').collect();
    let dirs = &parts[..parts.len() - 1];
    let in_dir = |names: &[&str]| dirs.iter().any(|d| names.contains(d));
    if path.starts_with(".github/")
        || path.starts_with(".gitlab")
        || path.starts_with(".circleci/")
        || path.starts_with(".buildkite/")
        || dirs.first().is_some_and(|d| *d == "ci" || *d == ".ci")
        || [
            ".travis.yml",
            "appveyor.yml",
            ".cirrus.yml",
            "azure-pipelines.yml",
            "codecov.yml",
            ".codecov.yml",
        ]
        .contains(&lower.as_str())
    {
        return Kind::Ci;
    }
    if [
        "cargo.toml",
        "package.json",
        "pyproject.toml",
        "setup.py",
        "setup.cfg",
        "go.mod",
        "requirements.txt",
        "gemfile",
        "pom.xml",
        "build.gradle",
    ]
    .contains(&lower.as_str())
    {
        return Kind::Manifest;
    }
    if lower.ends_with(".lock")
        || [
            "package-lock.json",
            "pnpm-lock.yaml",
            "go.sum",
            "npm-shrinkwrap.json",
        ]
        .contains(&lower.as_str())
    {
        return Kind::Lock;
    }
    if lower.starts_with("rust-toolchain")
        || [
            ".nvmrc",
            ".node-version",
            ".python-version",
            ".tool-versions",
            "makefile",
            "justfile",
            "dockerfile",
        ]
        .contains(&lower.as_str())
        || path.starts_with(".cargo/")
    {
        return Kind::Toolchain;
    }
    let prose_ext = [".md", ".rst", ".adoc", ".txt"]
        .iter()
        .any(|e| lower.ends_with(e));
    let changelog_name = lower.starts_with("changelog")
        || lower.starts_with("changes.")
        || lower.starts_with("news.");
    if changelog_name && (prose_ext || !lower.contains('.')) {
        return Kind::Changelog;
    }
    if [
        ".gitignore",
        ".gitattributes",
        ".editorconfig",
        "rustfmt.toml",
        ".rustfmt.toml",
        "clippy.toml",
        ".clippy.toml",
        "deny.toml",
        "typos.toml",
        "_typos.toml",
        ".pre-commit-config.yaml",
        "codeowners",
        ".mailmap",
    ]
    .contains(&lower.as_str())
    {
        return Kind::Chore;
    }
    // Plain text is prose only as a well-known page or under `docs/`: elsewhere it is a
    // fixture or a build file (`CMakeLists.txt`).
    let known_page = [
        "readme",
        "license",
        "licence",
        "notice",
        "authors",
        "contributing",
        "copying",
    ]
    .iter()
    .any(|p| lower.starts_with(p));
    let prose = [".md", ".rst", ".adoc"].iter().any(|e| lower.ends_with(e)) || known_page;
    if prose || in_dir(&["docs", "doc"]) && !lower.ends_with(".rs") {
        return Kind::Docs;
    }
    let test = in_dir(&[
        "tests",
        "test",
        "spec",
        "__tests__",
        "testdata",
        "test_suite",
    ]) || lower.contains("_test.")
        || lower.contains(".test.")
        || lower.contains(".spec.")
        || lower.starts_with("test_")
        || lower == "tests.rs";
    if test {
        return Kind::Test;
    }
    if in_dir(&["examples", "example", "benches", "bench", "benchmarks"]) {
        return Kind::Example;
    }
    Kind::Source
}

/// The facts of `file`, from its `diff` when there is one.
pub(super) fn facts(file: &FileStat, diff: Option<&str>) -> Facts {
    let kind = kind_of(&file.path);
    let mut f = Facts {
        path: file.path.clone(),
        kind,
        change: file.change,
        added_items: Vec::new(),
        removed_items: Vec::new(),
        added_tests: Vec::new(),
        touched: Vec::new(),
        comments_only: false,
        headings: Vec::new(),
        manifest: None,
        toolchain: None,
        format_only: false,
        deprecated: Vec::new(),
        actions_bumped: Vec::new(),
        changed_lines: 0,
        version_lines: 0,
        versions_named: Vec::new(),
        added_text: String::new(),
    };
    let Some(diff) = diff.filter(|d| !d.is_empty()) else {
        return f;
    };
    let (added, removed, headers) = lines_of(diff);
    for l in added
        .iter()
        .chain(&removed)
        .filter(|l| !l.trim().is_empty())
    {
        f.changed_lines += 1;
        if !versions_in(l).is_empty() {
            f.version_lines += 1;
        }
    }
    for l in &added {
        for v in versions_in(l) {
            push_once(&mut f.versions_named, v);
        }
    }
    f.added_text = added.join("\n");
    let comment = comment_style(&file.path);
    f.comments_only = (!added.is_empty() || !removed.is_empty())
        && comment.is_some_and(|c| {
            let code = |lines: &[&str]| -> Vec<String> {
                let mut code: Vec<String> = lines
                    .iter()
                    .filter(|l| !l.trim().is_empty() && !is_comment(l, c))
                    .map(|l| code_part(l, c))
                    .collect();
                code.sort();
                code
            };
            // The same code, and a comment among what changed (else it is whitespace).
            code(&added) == code(&removed)
                && added
                    .iter()
                    .chain(&removed)
                    .any(|l| is_comment(l, c) || code_part(l, c) != l.trim())
        });
    // The same code, whitespace and trailing commas aside, in the same order: lines reflowed
    // and re-indented as a formatter does; imports may be sorted anew. Never in a language
    // whose indentation is meaning (Python, YAML).
    let is_import = |l: &str| {
        let t = l.trim_start();
        t.starts_with("use ") || t.starts_with("pub use ") || t.starts_with("import ")
    };
    // Code in order; imports (a statement from `use` to its `;`, however a formatter splits or
    // merges them) as a bag of characters.
    let squeeze = |lines: &[&str]| -> (Vec<char>, Vec<char>) {
        let (mut code, mut imports) = (Vec::new(), Vec::new());
        let mut in_import = false;
        for l in lines {
            in_import = in_import || is_import(l);
            let kept = l.chars().filter(|ch| !ch.is_whitespace() && *ch != ',');
            if in_import {
                imports.extend(kept);
                in_import = !l.contains(';');
            } else {
                code.extend(kept);
            }
        }
        imports.sort_unstable();
        (code, imports)
    };
    let lower_path = f.path.to_ascii_lowercase();
    let meaningful_indent = [".py", ".yml", ".yaml", "makefile"]
        .iter()
        .any(|e| lower_path.ends_with(e));
    f.format_only = !f.comments_only
        && !meaningful_indent
        && !added.is_empty()
        && !removed.is_empty()
        && squeeze(&added) == squeeze(&removed);
    if f.kind == Kind::Ci {
        let uses = |lines: &[&str]| -> Vec<(String, String)> {
            lines
                .iter()
                .filter_map(|l| l.trim().trim_start_matches("- ").strip_prefix("uses:"))
                .filter_map(|u| {
                    let (action, version) = u.trim().trim_matches(['"', '\'']).split_once('@')?;
                    Some((
                        action.to_owned(),
                        version.split_whitespace().next()?.to_owned(),
                    ))
                })
                .collect()
        };
        let old = uses(&removed);
        for (action, version) in uses(&added) {
            if old.iter().any(|(a, v)| *a == action && *v != version)
                && !f.actions_bumped.iter().any(|(a, _)| *a == action)
            {
                f.actions_bumped.push((action, version));
            }
        }
    }
    match kind {
        Kind::Manifest => {
            let json = f.path.ends_with(".json");
            let (added, removed) = sectioned(diff, json);
            f.manifest = Some(manifest(&added, &removed, json));
        }
        Kind::Toolchain if f.path.to_ascii_lowercase().contains("toolchain") => {
            f.toolchain = added.iter().find_map(|l| quoted_or_bare_version(l));
        }
        Kind::Docs | Kind::Changelog => {
            f.headings = added
                .iter()
                .filter_map(|l| l.strip_prefix('#'))
                .map(|h| h.trim_start_matches('#').trim().to_owned())
                .filter(|h| !h.is_empty())
                .take(3)
                .collect();
        }
        _ => {}
    }
    let mut test_next = false;
    let mut deprecated_next = false;
    for l in &added {
        let t = l.trim();
        if t.starts_with("#[deprecated") {
            deprecated_next = true;
            continue;
        }
        if deprecated_next && let Some(name) = item_name(t, &file.path) {
            push_once(&mut f.deprecated, name);
            deprecated_next = false;
            continue;
        }
        if t.starts_with("#[test]") || t.starts_with("#[tokio::test") || t.contains("::test]") {
            test_next = true;
            continue;
        }
        if let Some(name) = item_name(t, &file.path) {
            if test_next || kind == Kind::Test && is_fn(t) {
                push_once(&mut f.added_tests, name);
            } else if is_public(t, &file.path) {
                push_once(&mut f.added_items, name);
            }
        } else if let Some(name) = test_name(t, &file.path) {
            push_once(&mut f.added_tests, name);
        }
        if !t.starts_with("#[") && !t.is_empty() {
            test_next = false;
        }
    }
    for l in &removed {
        let t = l.trim();
        if let Some(name) = item_name(t, &file.path)
            && is_public(t, &file.path)
        {
            push_once(&mut f.removed_items, name);
        }
    }
    // An item removed and added again (its signature changed) is neither.
    let both: Vec<String> = f
        .added_items
        .iter()
        .filter(|n| f.removed_items.contains(n))
        .cloned()
        .collect();
    f.added_items.retain(|n| !both.contains(n));
    f.removed_items.retain(|n| !both.contains(n));
    for n in both {
        push_once(&mut f.touched, n);
    }
    for h in headers {
        if let Some(name) = item_name(h.trim(), &file.path) {
            push_once(&mut f.touched, name);
        }
    }
    f
}

/// The versions (`1.2.3`, three numbers at least) in `line`.
pub(super) fn versions_in(line: &str) -> Vec<String> {
    line.split(|c: char| !c.is_ascii_digit() && c != '.')
        .map(|t| t.trim_matches('.'))
        .filter(|t| t.split('.').count() >= 3 && t.split('.').all(|p| !p.is_empty()))
        .map(str::to_owned)
        .collect()
}

fn push_once(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

/// The added lines, the removed lines and what the hunk headers quote.
fn lines_of(diff: &str) -> (Vec<&str>, Vec<&str>, Vec<&str>) {
    let (mut added, mut removed, mut headers) = (Vec::new(), Vec::new(), Vec::new());
    let mut in_hunk = false;
    for l in diff.lines() {
        if let Some(h) = l.strip_prefix("@@") {
            in_hunk = true;
            if let Some((_, quoted)) = h.split_once("@@") {
                headers.push(quoted);
            }
            continue;
        }
        if !in_hunk || l.starts_with("diff ") {
            in_hunk = false;
            continue;
        }
        if let Some(a) = l.strip_prefix('+') {
            added.push(a);
        } else if let Some(r) = l.strip_prefix('-') {
            removed.push(r);
        }
    }
    (added, removed, headers)
}

/// How a line comment starts in the language of `path`, if it has one the planner knows.
fn comment_style(path: &str) -> Option<&'static str> {
    let ext = path.rsplit('.').next().unwrap_or_default();
    match ext {
        "rs" | "js" | "ts" | "tsx" | "jsx" | "go" | "c" | "h" | "cpp" | "hpp" | "java" | "kt"
        | "swift" | "scala" | "cs" => Some("//"),
        "py" | "rb" | "sh" | "toml" | "yml" | "yaml" => Some("#"),
        _ => None,
    }
}

fn is_comment(line: &str, style: &str) -> bool {
    let t = line.trim_start();
    t.starts_with(style)
        || (style == "//"
            && (t.starts_with("/*") || t == "*" || t.starts_with("* ") || t.starts_with("*/")))
        || (style == "#" && (t.starts_with("\"\"\"")))
}

fn is_fn(line: &str) -> bool {
    let t = strip_visibility(line);
    [
        "fn ",
        "async fn ",
        "const fn ",
        "unsafe fn ",
        "def ",
        "async def ",
        "func ",
    ]
    .iter()
    .any(|k| t.starts_with(k))
}

fn strip_visibility(line: &str) -> &str {
    let mut t = line;
    for p in [
        "pub(crate) ",
        "pub(super) ",
        "pub ",
        "export default ",
        "export ",
    ] {
        if let Some(rest) = t.strip_prefix(p) {
            t = rest;
        }
    }
    t
}

/// A line's code without a comment after it (`x // why`); `://` is no comment.
fn code_part(line: &str, style: &str) -> String {
    let mut at = 0;
    while let Some(i) = line[at..].find(style) {
        let i = at + i;
        let before = &line[..i];
        // Not a comment: inside a string (an odd number of quotes before it), a URL's `://`,
        // or `#` right after a word (`a#b`).
        let in_string =
            before.matches('"').count() % 2 == 1 || before.matches('\'').count() % 2 == 1;
        let glued = !before.is_empty() && !before.ends_with(char::is_whitespace);
        if in_string || (style == "//" && before.ends_with(':')) || (style == "#" && glued) {
            at = i + style.len();
            continue;
        }
        return before.trim().to_owned();
    }
    line.trim().to_owned()
}

/// Whether a definition is public: `pub` in Rust (not `pub(crate)`), `export` in JavaScript,
/// a name without a leading `_` at the start of a Python line, a capital in Go. A Rust name
/// starting `__` is hidden by convention, public only to macros.
fn is_public(line: &str, path: &str) -> bool {
    let ext = path.rsplit('.').next().unwrap_or_default();
    if item_name(line, path).is_some_and(|n| n.starts_with("__")) {
        return false;
    }
    match ext {
        "rs" => line.starts_with("pub ") || line.starts_with("#[macro_export]"),
        "js" | "ts" | "tsx" | "jsx" | "mjs" => line.starts_with("export "),
        "py" => !line.starts_with('_') && !line.contains(" _"),
        "go" => line
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.chars().next())
            .is_some_and(char::is_uppercase),
        _ => false,
    }
}

/// The name a definition line defines: `pub fn name(`, `struct Name<`, `export class Name`,
/// `def name(`, `func Name(`, `macro_rules! name`.
fn item_name(line: &str, path: &str) -> Option<String> {
    let ext = path.rsplit('.').next().unwrap_or_default();
    let t = strip_visibility(line);
    let keywords: &[&str] = match ext {
        "rs" => &[
            "fn ",
            "async fn ",
            "const fn ",
            "unsafe fn ",
            "struct ",
            "enum ",
            "trait ",
            "type ",
            "const ",
            "static ",
            "mod ",
            "union ",
            "macro_rules! ",
            "unsafe trait ",
        ],
        "js" | "ts" | "tsx" | "jsx" | "mjs" => &[
            "function ",
            "async function ",
            "class ",
            "const ",
            "let ",
            "interface ",
            "type ",
            "enum ",
        ],
        "py" => &["def ", "async def ", "class "],
        "go" => &["func ", "type "],
        _ => return None,
    };
    // Python and Go define at the line's start only; Rust items may be indented in an `impl`.
    if matches!(ext, "py") && line.starts_with([' ', '\t']) {
        return None;
    }
    let rest = keywords.iter().find_map(|k| t.strip_prefix(k))?;
    // Go methods: `func (r *T) Name(`.
    let rest = if ext == "go" && rest.starts_with('(') {
        rest.split_once(')').map(|(_, r)| r.trim_start())?
    } else {
        rest
    };
    let name: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty() && name != "_").then_some(name)
}

/// A JavaScript test's name: `it("does x", …)` or `test("does x", …)`.
fn test_name(line: &str, path: &str) -> Option<String> {
    if !path.ends_with(".js") && !path.ends_with(".ts") {
        return None;
    }
    let rest = line
        .strip_prefix("it(")
        .or_else(|| line.strip_prefix("test("))?;
    let quote = rest.chars().next()?;
    let body = rest.get(1..)?;
    Some(body.split(quote).next()?.to_owned())
}

/// `"1.2.3"` in a line, or a bare version (`1.75.0`, `stable`, `nightly-2024-01-01`).
fn quoted_or_bare_version(line: &str) -> Option<String> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') || t.starts_with('[') {
        return None;
    }
    let value = match t.split_once('=') {
        Some((key, v)) if key.trim() == "channel" || key.trim() == "version" => v.trim(),
        Some(_) => return None,
        None => t,
    };
    // `"1.75" # MSRV`: the value, without a comment after it.
    let value = value.split('#').next().unwrap_or_default().trim();
    let v = value.trim_matches(['"', '\'']).trim().to_owned();
    (!v.is_empty() && !v.contains(char::is_whitespace)).then_some(v)
}

/// Manifest keys that are not dependencies.
const PACKAGE_KEYS: &[&str] = &[
    "name",
    "version",
    "edition",
    "authors",
    "description",
    "license",
    "license-file",
    "repository",
    "readme",
    "keywords",
    "categories",
    "rust-version",
    "homepage",
    "documentation",
    "publish",
    "exclude",
    "include",
    "resolver",
    "members",
    "default",
    "features",
    "workspace",
    "path",
    "optional",
    "build",
    "links",
    "autobins",
    "autoexamples",
    "autotests",
    "autobenches",
    "default-features",
    "main",
    "module",
    "types",
    "scripts",
    "private",
    "type",
    "files",
    "bin",
    "engines",
    "harness",
    "required-features",
    "test",
    "bench",
    "doc",
    "crate-type",
    "proc-macro",
    "lto",
    "opt-level",
    "debug",
    "codegen-units",
    "strip",
    "panic",
    "incremental",
    "overflow-checks",
    "all-features",
    "rustdoc-args",
    "targets",
    "no-default-features",
    "forced-target",
    "metadata",
    "badges",
    "lib",
    "sideEffects",
    "exports",
    "packageManager",
    "homepage",
    "bugs",
    "license",
    "funding",
    "workspaces",
];

/// A manifest line's key and value: `name = value` (TOML) or `"name": value` (JSON).
fn key_value(line: &str, json: bool) -> Option<(String, String)> {
    let t = line.trim().trim_end_matches(',');
    if t.starts_with('#') || t.starts_with('[') || t.is_empty() {
        return None;
    }
    let (k, v) = if json {
        t.split_once(':')?
    } else {
        t.split_once('=')?
    };
    let key = k.trim().trim_matches('"').to_owned();
    if key.is_empty() || key.contains(' ') {
        return None;
    }
    Some((key, v.trim().to_owned()))
}

/// The version a dependency's value names: `"1.0"`, `{ version = "1.0", … }`.
fn version_in(value: &str) -> Option<String> {
    let v = value.trim();
    let found = if let Some(inner) = v.strip_prefix('"') {
        inner.split('"').next()
    } else {
        let at = v.find("version")?;
        v[at..].split('"').nth(1)
    }?;
    // A version, not a script or a path: a digit first, or a requirement's operator.
    found
        .trim_start_matches(['=', '^', '~', '>', '<', ' '])
        .starts_with(|c: char| c.is_ascii_digit())
        .then(|| found.to_owned())
}

/// Where a manifest's line is: among dependencies, in the package's own table, elsewhere, or
/// not known (no table's header in sight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    Dependencies,
    Package,
    Other,
    Unknown,
}

/// Lines, each with the section it is in.
type Placed<'a> = Vec<(&'a str, Section)>;

/// A manifest diff's added and removed lines, each with the section it is in: TOML tables
/// (`[dependencies]`, `[package]`, `[target.x.dependencies]`, `[badges]`) or JSON objects
/// (`"dependencies": {`), read from the lines around them too.
fn sectioned(diff: &str, json: bool) -> (Placed<'_>, Placed<'_>) {
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    let mut section = Section::Unknown;
    let mut in_hunk = false;
    for l in diff.lines() {
        if l.starts_with("@@") {
            in_hunk = true;
            section = Section::Unknown;
            continue;
        }
        if !in_hunk || l.starts_with("diff ") {
            in_hunk = false;
            continue;
        }
        let (sign, text) = match l.chars().next() {
            Some(c @ ('+' | '-' | ' ')) => (c, &l[1..]),
            _ => ('?', l),
        };
        let t = text.trim();
        let header = if json {
            t.ends_with('{').then(|| {
                t.trim_end_matches('{')
                    .trim()
                    .trim_end_matches(':')
                    .trim_matches('"')
            })
        } else {
            t.strip_prefix('[').and_then(|h| h.strip_suffix(']'))
        };
        if let Some(h) = header {
            let h = h.to_ascii_lowercase();
            section = if h.ends_with("dependencies") {
                Section::Dependencies
            } else if h == "package" || h == "workspace.package" || h.is_empty() {
                Section::Package
            } else {
                Section::Other
            };
        } else if json && t.starts_with('}') {
            section = Section::Package;
        }
        match sign {
            '+' => added.push((text, section)),
            '-' => removed.push((text, section)),
            _ => {}
        }
    }
    (added, removed)
}

fn manifest(added: &[(&str, Section)], removed: &[(&str, Section)], json: bool) -> ManifestChange {
    let mut m = ManifestChange::default();
    let pairs = |lines: &[(&str, Section)]| -> Vec<(String, String, Section)> {
        lines
            .iter()
            .filter_map(|(l, s)| key_value(l, json).map(|(k, v)| (k, v, *s)))
            .filter(|(_, _, s)| *s != Section::Other)
            .collect()
    };
    // A dependency's key is marked, so that `version` in a table of dependencies is not the
    // package's own.
    let keyed = |(k, v, s): (String, String, Section)| {
        let k = if s == Section::Dependencies {
            format!("dep:{k}")
        } else {
            k
        };
        (k, v)
    };
    let old: Vec<(String, String)> = pairs(removed).into_iter().map(keyed).collect();
    let new: Vec<(String, String)> = pairs(added).into_iter().map(keyed).collect();
    let added: Vec<&str> = added.iter().map(|(l, _)| *l).collect();
    let removed: Vec<&str> = removed.iter().map(|(l, _)| *l).collect();
    for (k, v) in &new {
        match k.as_str() {
            // The package's own version: a line `version = "…"` on its own.
            "version" => m.version = version_in(v),
            "edition" => m.edition = version_in(v),
            "rust-version" | "node" | "python_requires" | "requires-python" => {
                m.msrv = version_in(v).or_else(|| Some(v.trim_matches('"').to_owned()));
            }
            k if !k.starts_with("dep:")
                && (PACKAGE_KEYS.contains(&k) || k.contains('.') && !k.ends_with(".version")) =>
            {
                m.other += 1;
            }
            _ => {
                let name = k
                    .trim_start_matches("dep:")
                    .trim_end_matches(".version")
                    .to_owned();
                match old.iter().find(|(ok, _)| {
                    ok.trim_start_matches("dep:").trim_end_matches(".version") == name
                }) {
                    Some((_, ov)) => match version_in(v) {
                        Some(nv) if version_in(ov).as_ref() != Some(&nv) => {
                            m.bumped.push((name, nv));
                        }
                        _ => m.other += 1,
                    },
                    None => m.added.push((name, version_in(v))),
                }
            }
        }
    }
    for (k, _) in &old {
        let name = k.trim_start_matches("dep:").trim_end_matches(".version");
        let known = !k.starts_with("dep:")
            && (PACKAGE_KEYS.contains(&k.as_str()) || k.contains('.') && !k.ends_with(".version"));
        if !known
            && !new
                .iter()
                .any(|(nk, _)| nk.trim_start_matches("dep:").trim_end_matches(".version") == name)
        {
            m.removed.push(name.to_owned());
        }
    }
    m.other += added
        .iter()
        .chain(&removed)
        .filter(|l| !l.trim().is_empty() && key_value(l, json).is_none())
        .count();
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(path: &str, change: Change) -> FileStat {
        FileStat {
            path: path.into(),
            change,
            additions: Some(1),
            deletions: Some(1),
        }
    }

    #[test]
    fn kinds_are_told_from_paths() {
        for (path, kind) in [
            (".github/workflows/ci.yml", Kind::Ci),
            ("ci/test_full.sh", Kind::Ci),
            (".ci/run", Kind::Ci),
            ("rust-toolchain", Kind::Toolchain),
            ("rust-toolchain.toml", Kind::Toolchain),
            ("axum/Cargo.toml", Kind::Manifest),
            ("Cargo.lock", Kind::Lock),
            ("axum/CHANGELOG.md", Kind::Changelog),
            ("docs/guide.md", Kind::Docs),
            ("README.md", Kind::Docs),
            ("axum/src/routing/tests/mod.rs", Kind::Test),
            ("test_suite/tests/test_de.rs", Kind::Test),
            ("examples/hello/src/main.rs", Kind::Example),
            ("clippy.toml", Kind::Chore),
            ("src/lib.rs", Kind::Source),
        ] {
            assert_eq!(kind_of(path), kind, "{path}");
        }
    }

    #[test]
    fn items_added_removed_and_comment_only_edits_are_read() {
        let diff = "diff --git a/src/lib.rs b/src/lib.rs\n@@ -1,4 +1,9 @@ impl Router {\n+/// Routes QUERY requests.\n+pub fn query(self) -> Self {\n+    self\n+}\n-pub fn old_name() {}\n+pub(crate) fn helper() {}\n #[cfg(test)]\n+#[test]\n+fn query_routes() {}\n";
        let f = facts(&stat("src/lib.rs", Change::Modified), Some(diff));
        assert_eq!(f.added_items, ["query"]);
        assert_eq!(f.removed_items, ["old_name"]);
        assert_eq!(f.added_tests, ["query_routes"]);
        assert!(!f.comments_only);
        let docs = "@@ -1,2 +1,2 @@ pub fn x() {\n-/// Old words.\n+/// New words.\n";
        let f = facts(&stat("src/lib.rs", Change::Modified), Some(docs));
        assert!(f.comments_only);
        assert_eq!(f.touched, ["x"]);
    }

    #[test]
    fn manifests_say_versions_and_dependencies() {
        let diff = "@@ -1,8 +1,9 @@\n [package]\n-version = \"0.7.5\"\n+version = \"0.7.6\"\n-rust-version = \"1.66\"\n+rust-version = \"1.75\"\n [dependencies]\n-serde = \"1.0.100\"\n+serde = \"1.0.200\"\n+bytes = { version = \"1.5\", optional = true }\n-once_cell = \"1\"\n";
        let f = facts(&stat("Cargo.toml", Change::Modified), Some(diff));
        let m = f.manifest.unwrap();
        assert_eq!(m.version.as_deref(), Some("0.7.6"));
        assert_eq!(m.msrv.as_deref(), Some("1.75"));
        assert_eq!(m.bumped, [("serde".to_owned(), "1.0.200".to_owned())]);
        assert_eq!(m.added, [("bytes".to_owned(), Some("1.5".to_owned()))]);
        assert_eq!(m.removed, ["once_cell"]);
    }
}
