//! Planning without a model: changed files bundled into conventional commits by the change
//! they belong to (see [`plan`]), each with a type and a subject read from what its diffs do. What a model plans instead must come out in this same shape.
//! A subject is one line whatever the files are called: a line break or other control character
//! in a name is written escaped (`\n`), never as itself.

mod facts;

use crate::changes::{Change, FileDiff, FileStat};
use facts::{Facts, Kind, ManifestChange};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A conventional commit type.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CommitType {
    /// A new feature.
    Feat,
    /// A bug fix.
    Fix,
    /// Documentation only.
    Docs,
    /// Tests only.
    Test,
    /// Code changed without changing behaviour.
    Refactor,
    /// Faster.
    Perf,
    /// Formatting.
    Style,
    /// The build or dependencies.
    Build,
    /// Continuous integration.
    Ci,
    /// Anything else.
    Chore,
    /// Undoing an earlier commit.
    Revert,
}

impl CommitType {
    /// As written in a commit message.
    pub fn as_str(self) -> &'static str {
        match self {
            CommitType::Feat => "feat",
            CommitType::Fix => "fix",
            CommitType::Docs => "docs",
            CommitType::Test => "test",
            CommitType::Refactor => "refactor",
            CommitType::Perf => "perf",
            CommitType::Style => "style",
            CommitType::Build => "build",
            CommitType::Ci => "ci",
            CommitType::Chore => "chore",
            CommitType::Revert => "revert",
        }
    }
}

/// A commit the plan proposes, before it has an id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draft {
    /// Its type.
    pub kind: CommitType,
    /// Its scope, in parentheses after the type (`feat(api): …`).
    pub scope: Option<String>,
    /// The subject line after `type(scope): `.
    pub message: String,
    /// Its files, from the repository's root.
    pub files: Vec<String>,
}

/// Whether `c` would break a subject line: a control character (line feed, carriage return,
/// tab, escape, …) or a Unicode line or paragraph separator.
pub fn breaks_line(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// `text` on one line: each character that would break it written escaped (`\n`, `\u{2028}`).
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if breaks_line(c) {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A directory name that says nothing about what is in it: never a scope, never a component.
const GENERIC: &[&str] = &[
    "src",
    "lib",
    "crates",
    "packages",
    "pkg",
    "internal",
    "app",
    "apps",
    "source",
    "sources",
    "tests",
    "test",
    "examples",
    "example",
    "benches",
    "bench",
    "docs",
    "doc",
    "scripts",
    "ci",
    ".ci",
    ".github",
    "test_suite",
    "tools",
    "xtask",
    "modules",
    "libs",
];

/// The component a file belongs to: the package it sits in when the repository holds several
/// (`axum/src/x.rs` → `axum`, `crates/foo/src/x.rs` → `foo`), else the root (`""`).
fn component_of(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["crates" | "packages" | "libs" | "modules", name, _, ..] => (*name).to_owned(),
        [first, _, ..] if !GENERIC.contains(first) && !first.starts_with('.') => {
            (*first).to_owned()
        }
        _ => String::new(),
    }
}

/// The module of a root component's source file: `src/routing/x.rs` → `routing`.
fn module_of(path: &str) -> Option<&str> {
    let parts: Vec<&str> = path.split('/').collect();
    let rest = match parts.as_slice() {
        [first, rest @ ..] if GENERIC.contains(first) => rest,
        [_, rest @ ..] => rest,
        [] => return None,
    };
    match rest {
        [dir, _, ..] if !GENERIC.contains(dir) => Some(dir),
        _ => None,
    }
}

/// `x_y.rs` → `x_y`.
fn stem(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    let stem = match name.rsplit_once('.') {
        Some((s, ext))
            if !s.is_empty()
                && !ext.is_empty()
                && ext.len() <= 10
                && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            s
        }
        _ => name,
    };
    // `mod.rs` and `lib.rs` say nothing: their directory does.
    if ["mod", "lib", "main", "index", "__init__"].contains(&stem) {
        let mut parts = path.rsplit('/');
        parts.next();
        if let Some(dir) = parts.find(|d| !GENERIC.contains(d)) {
            return one_line(dir);
        }
    }
    one_line(stem)
}

/// "a", "a and b", "a, b and c": at most three names, none twice, each on one line.
fn names(list: &[String], most: usize) -> String {
    let mut unique: Vec<String> = Vec::new();
    for n in list {
        let n = one_line(n);
        if !unique.contains(&n) {
            unique.push(n);
        }
    }
    let shown = &unique[..unique.len().min(most)];
    let more = unique.len() - shown.len();
    match (shown, more) {
        ([], _) => String::new(),
        ([one], 0) => one.clone(),
        ([a, b], 0) => format!("{a} and {b}"),
        (_, 0) => {
            let (last, rest) = shown.split_last().unwrap_or((&shown[0], &[]));
            format!("{} and {last}", rest.join(", "))
        }
        (_, n) => format!("{} and {n} more", shown.join(", ")),
    }
}

/// A commit in the making: its files' facts.
#[derive(Default)]
struct Bundle {
    facts: Vec<Facts>,
}

impl Bundle {
    fn has(&self, kinds: &[Kind]) -> bool {
        self.facts.iter().any(|f| kinds.contains(&f.kind))
    }

    fn only(&self, kinds: &[Kind]) -> bool {
        self.facts.iter().all(|f| kinds.contains(&f.kind))
    }

    fn code(&self) -> impl Iterator<Item = &Facts> {
        self.facts
            .iter()
            .filter(|f| matches!(f.kind, Kind::Source | Kind::Example))
    }

    fn all<'a>(&'a self, of: impl Fn(&'a Facts) -> &'a Vec<String>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for f in &self.facts {
            for n in of(f) {
                if !out.contains(n) {
                    out.push(n.clone());
                }
            }
        }
        out
    }

    fn manifest_changes(&self) -> Vec<&ManifestChange> {
        self.facts
            .iter()
            .filter_map(|f| f.manifest.as_ref())
            .collect()
    }
}

/// Whether a manifest's change may be part of a release: nothing but its own version and
/// dependencies moved to a version being released (`=0.5.6`, the workspace's own crates).
fn release_only(m: &ManifestChange) -> bool {
    m.msrv.is_none()
        && m.edition.is_none()
        && m.added.is_empty()
        && m.removed.is_empty()
        && (m.version.is_some() || !m.bumped.is_empty())
}

/// Whether a manifest's change is a release of `versions`: its own version is one of them,
/// or it moves dependencies to them.
fn releases(m: &ManifestChange, versions: &[String]) -> bool {
    release_only(m)
        && m.version.as_ref().is_none_or(|v| versions.contains(v))
        && m.bumped
            .iter()
            .all(|(_, v)| versions.contains(&v.trim_start_matches(['=', '^', '~']).to_owned()))
}

/// What manifests' changes to the build come to, in words: the MSRV, the edition, the
/// dependencies added, bumped and removed (the first two of them).
fn build_change(manifests: &[&ManifestChange]) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for m in manifests {
        if let Some(v) = &m.msrv {
            parts.push(format!("set the MSRV to {v}"));
        }
        if let Some(e) = &m.edition {
            parts.push(format!("move to the {e} edition"));
        }
        for (d, v) in &m.added {
            parts.push(match v {
                Some(v) => format!("add {d} {v}"),
                None => format!("add {d}"),
            });
        }
        let bumped: Vec<String> = m
            .bumped
            .iter()
            .map(|(d, v)| format!("{d} to {v}"))
            .collect();
        if !bumped.is_empty() {
            parts.push(format!("bump {}", names(&bumped, 2)));
        }
        for d in &m.removed {
            parts.push(format!("remove {d}"));
        }
    }
    let mut unique: Vec<String> = Vec::new();
    for p in parts {
        if !unique.contains(&p) {
            unique.push(p);
        }
    }
    (!unique.is_empty()).then(|| names(&unique, 2))
}

/// The type and subject of a bundle of files that changed together.
fn describe(b: &Bundle) -> (CommitType, String) {
    let code: Vec<&Facts> = b.code().collect();
    // Items count where the code is: a test's own types are not the change's.
    let in_code = |of: fn(&Facts) -> &Vec<String>| {
        let mut out: Vec<String> = Vec::new();
        for f in &code {
            for n in of(f) {
                if !out.contains(n) {
                    out.push(n.clone());
                }
            }
        }
        out
    };
    // An item removed from one file and added to another moved: it is neither.
    let added_everywhere = in_code(|f| &f.added_items);
    let removed_everywhere = in_code(|f| &f.removed_items);
    let added_items: Vec<String> = added_everywhere
        .iter()
        .filter(|n| !removed_everywhere.contains(n))
        .cloned()
        .collect();
    let removed_items: Vec<String> = removed_everywhere
        .iter()
        .filter(|n| !added_everywhere.contains(n))
        .cloned()
        .collect();
    // What code the change touches, named from the code before its tests.
    let mut touched: Vec<String> = Vec::new();
    for f in b
        .code()
        .chain(b.facts.iter().filter(|f| f.kind == Kind::Test))
    {
        for n in &f.touched {
            if !touched.contains(n) {
                touched.push(n.clone());
            }
        }
    }
    let deprecated = b.all(|f| &f.deprecated);
    let tests = b.all(|f| &f.added_tests);
    let manifests = b.manifest_changes();
    let new_code: Vec<&Facts> = code
        .iter()
        .copied()
        .filter(|f| matches!(f.change, Change::Added | Change::Untracked))
        .collect();
    // Moves: git's renames, or (as the server lists changes, without rename detection) a file
    // deleted and one of the same name added.
    let name_of = |p: &str| p.rsplit('/').next().unwrap_or(p).to_owned();
    let moved_to: Vec<&Facts> = code
        .iter()
        .copied()
        .filter(|f| {
            f.change == Change::Renamed
                || matches!(f.change, Change::Added | Change::Untracked)
                    && code.iter().any(|d| {
                        d.change == Change::Deleted && name_of(&d.path) == name_of(&f.path)
                    })
        })
        .collect();
    let deleted_for_move = code
        .iter()
        .filter(|d| {
            d.change == Change::Deleted
                && moved_to
                    .iter()
                    .any(|f| name_of(&f.path) == name_of(&d.path))
        })
        .count();
    let renamed = moved_to.len();
    if !code.is_empty() {
        if !added_items.is_empty() {
            return (CommitType::Feat, format!("add {}", names(&added_items, 3)));
        }
        if !deprecated.is_empty() {
            return (
                CommitType::Feat,
                format!("deprecate {}", names(&deprecated, 2)),
            );
        }
        if renamed > 0 && (renamed + deleted_for_move) * 2 >= code.len() {
            let moved: Vec<String> = moved_to.iter().map(|f| stem(&f.path)).collect();
            let into = scope_of(b)
                .map(|s| format!(" into {s}"))
                .unwrap_or_default();
            return (
                CommitType::Refactor,
                format!("move {}{into}", names(&moved, 2)),
            );
        }
        let new_package = b.facts.iter().any(|f| {
            f.kind == Kind::Manifest && matches!(f.change, Change::Added | Change::Untracked)
        });
        // New code alone, or a new package: an addition.
        let only_new = new_code.len() == code.len();
        if let Some(first) = new_code.first().filter(|_| new_package || only_new) {
            let stems: Vec<String> = new_code.iter().map(|f| stem(&f.path)).collect();
            let what = if new_code.len() == 1 {
                stem(&first.path)
            } else {
                names(&stems, 2)
            };
            return (CommitType::Feat, format!("add {what}"));
        }
        let prose_only = b.facts.iter().all(|f| match f.kind {
            Kind::Source | Kind::Example => f.comments_only,
            Kind::Docs | Kind::Changelog => true,
            Kind::Manifest => f.manifest.as_ref().is_some_and(|m| {
                m.added.is_empty()
                    && m.removed.is_empty()
                    && m.bumped.is_empty()
                    && m.msrv.is_none()
                    && m.edition.is_none()
            }),
            _ => false,
        });
        if prose_only {
            let about = if touched.is_empty() {
                names(&code.iter().map(|f| stem(&f.path)).collect::<Vec<_>>(), 2)
            } else {
                names(&touched, 2)
            };
            return (CommitType::Docs, format!("document {about}"));
        }
        if code.iter().all(|f| f.format_only) {
            return (CommitType::Style, "format the code".to_owned());
        }
        if let Some(build) = build_change(&manifests) {
            return (CommitType::Build, build);
        }
        let deleted: Vec<String> = code
            .iter()
            .filter(|f| f.change == Change::Deleted)
            .map(|f| stem(&f.path))
            .collect();
        if !removed_items.is_empty() || deleted.len() == code.len() {
            let gone = if removed_items.is_empty() {
                deleted
            } else {
                removed_items
            };
            return (CommitType::Refactor, format!("remove {}", names(&gone, 2)));
        }
        let about = if touched.is_empty() {
            names(&code.iter().map(|f| stem(&f.path)).collect::<Vec<_>>(), 2)
        } else {
            names(&touched, 2)
        };
        return (CommitType::Fix, format!("fix {about}"));
    }
    if b.has(&[Kind::Test]) && b.only(&[Kind::Test, Kind::Docs, Kind::Changelog]) {
        let what = if tests.is_empty() {
            let stems: Vec<String> = b
                .facts
                .iter()
                .filter(|f| f.kind == Kind::Test)
                .map(|f| stem(&f.path))
                .collect();
            names(&stems, 2)
        } else {
            let clean: Vec<String> = tests
                .iter()
                .map(|t| t.trim_start_matches("test_").replace('_', " "))
                .collect();
            names(&clean, 2)
        };
        return (CommitType::Test, format!("test {what}"));
    }
    if b.only(&[Kind::Docs, Kind::Changelog]) {
        let headings = b.all(|f| &f.headings);
        let what = if let Some(h) = headings.first() {
            format!("document {}", one_line(h))
        } else if b.only(&[Kind::Changelog]) {
            "update the changelog".to_owned()
        } else {
            let stems: Vec<String> = b
                .facts
                .iter()
                .filter(|f| f.kind == Kind::Docs)
                .map(|f| stem(&f.path).to_lowercase())
                .collect();
            format!("update {}", names(&stems, 2))
        };
        return (CommitType::Docs, what);
    }
    if !manifests.is_empty() || b.has(&[Kind::Lock, Kind::Toolchain]) {
        let mut parts: Vec<String> = build_change(&manifests).into_iter().collect();
        if let Some(v) = b.facts.iter().find_map(|f| f.toolchain.clone()) {
            if parts.is_empty() {
                // A pin alone moves the toolchain the repository's own work uses.
                return (CommitType::Chore, format!("pin the toolchain to {v}"));
            }
            parts.push(format!("pin the toolchain to {v}"));
        }
        if parts.is_empty() {
            if let Some(v) = manifests.iter().find_map(|m| m.version.clone()) {
                return (CommitType::Chore, format!("release {v}"));
            }
            if b.has(&[Kind::Ci]) {
                // CI with the manifests' metadata (badges, checks' settings): a CI change.
                return describe_ci(b);
            }
            parts.push(if b.only(&[Kind::Lock]) {
                "update locked dependencies".to_owned()
            } else {
                "update the build".to_owned()
            });
        }
        return (CommitType::Build, names(&parts, 2));
    }
    if b.only(&[Kind::Ci]) {
        return describe_ci(b);
    }
    let stems: Vec<String> = b.facts.iter().map(|f| stem(&f.path)).collect();
    (
        CommitType::Chore,
        format!("update {} settings", names(&stems, 2)),
    )
}

/// The type and subject of CI work: actions moved to new versions (dependencies, as bots
/// commit them), a move to GitHub Actions, or the job changed.
fn describe_ci(b: &Bundle) -> (CommitType, String) {
    let ci: Vec<&Facts> = b.facts.iter().filter(|f| f.kind == Kind::Ci).collect();
    let moved_to_actions = ci.iter().any(|f| {
        f.path.starts_with(".github/workflows/")
            && matches!(f.change, Change::Added | Change::Untracked)
    }) && ci.iter().any(|f| f.change == Change::Deleted);
    if moved_to_actions {
        return (CommitType::Ci, "move CI to GitHub Actions".to_owned());
    }
    {
        let bumped: Vec<String> = b
            .facts
            .iter()
            .flat_map(|f| &f.actions_bumped)
            .map(|(a, v)| format!("bump {a} to {v}"))
            .collect();
        if !bumped.is_empty() {
            // Actions moved to new versions: dependencies, as bots commit them.
            let mut unique: Vec<String> = Vec::new();
            for x in bumped {
                if !unique.contains(&x) {
                    unique.push(x);
                }
            }
            return (CommitType::Chore, names(&unique, 2));
        }
        let stems: Vec<String> = ci.iter().map(|f| stem(&f.path)).collect();
        let what = if stems.len() == 1 {
            format!("update the {} job", stems[0])
        } else {
            "update CI".to_owned()
        };
        (CommitType::Ci, what)
    }
}

/// The scope a bundle gets: the package all its files are in, or the module all its code is in
/// (at the repository's root).
fn scope_of(b: &Bundle) -> Option<String> {
    let mut components = b.facts.iter().map(|f| component_of(&f.path));
    let first = components.next()?;
    if !first.is_empty() && components.all(|c| c == first) {
        return Some(one_line(&first));
    }
    if b.facts.iter().any(|f| !component_of(&f.path).is_empty()) {
        return None;
    }
    let mut modules = b.code().map(|f| module_of(&f.path));
    let first = modules.next()??;
    modules.all(|m| m == Some(first)).then(|| one_line(first))
}

/// The commits for `files` (with their `diffs`, where read), in the order they should be made.
///
/// Files are bundled by the change they belong to, as far as paths and diffs tell. Most work
/// that lands at once is one change with its tests, prose, changelog and manifests, so the
/// files stay together, except:
///
/// - a release (a manifest whose only change is its version, the lock with it, a changelog
///   naming that version, code whose only change is that version) is its own commit, last;
/// - raising the minimum toolchain (the MSRV in a manifest, a toolchain pin, and the CI that
///   tests it, a README naming it) is its own commit, first, so that what follows builds;
/// - a reformatting (the same code, whitespace aside) is its own commit;
/// - prose that names nothing the change adds, removes or touches is its own commit.
///
/// Each commit's type comes from what its diff does (new public items → `feat`, comments or
/// prose only → `docs`, tests only → `test`, moves and removals → `refactor`, dependencies,
/// editions or toolchains → `build`, a release → `chore`, a fix when nothing else fits) and its
/// subject names what changed, never a list of files. The scope is the package all its files
/// are in, or the module all its code is in, and never a generic directory.
pub fn plan(files: &[FileStat], diffs: &[FileDiff]) -> Vec<Draft> {
    let facts: Vec<Facts> = files
        .iter()
        .map(|f| {
            let diff = diffs
                .iter()
                .find(|d| d.path == f.path)
                .map(|d| d.diff.as_str());
            facts::facts(f, diff)
        })
        .collect();
    let release_versions: Vec<String> = facts
        .iter()
        .filter_map(|f| f.manifest.as_ref().filter(|m| release_only(m)))
        .filter_map(|m| m.version.clone())
        .collect();
    let deps_change = facts.iter().any(|o| {
        o.kind == Kind::Manifest
            && o.manifest
                .as_ref()
                .is_some_and(|m| !releases(m, &release_versions))
    });
    let names_release = |f: &Facts| {
        !release_versions.is_empty()
            && f.changed_lines > 0
            && f.version_lines == f.changed_lines
            && f.versions_named
                .iter()
                .any(|v| release_versions.contains(v))
    };
    let in_release = |f: &Facts| match f.kind {
        Kind::Manifest => f
            .manifest
            .as_ref()
            .is_some_and(|m| !release_versions.is_empty() && releases(m, &release_versions)),
        Kind::Lock => !release_versions.is_empty() && !deps_change,
        Kind::Changelog => {
            !release_versions.is_empty()
                && f.headings
                    .iter()
                    .any(|h| release_versions.iter().any(|v| h.contains(v.as_str())))
        }
        _ => names_release(f),
    };
    let msrv_only = |f: &Facts| {
        f.manifest.as_ref().is_some_and(|m| {
            m.msrv.is_some() && m.added.is_empty() && m.removed.is_empty() && m.bumped.is_empty()
        })
    };
    let msrv_to: Option<String> = facts
        .iter()
        .filter(|f| msrv_only(f))
        .find_map(|f| f.manifest.as_ref().and_then(|m| m.msrv.clone()));
    let raises_msrv = msrv_to.is_some();
    // Prose that names the new minimum (a README's "requires Rust 1.71") goes with it.
    let names_msrv = |f: &Facts| {
        matches!(f.kind, Kind::Docs)
            && msrv_to
                .as_ref()
                .is_some_and(|v| f.added_text.contains(v.as_str()))
    };
    let mut release = Bundle::default();
    let mut style = Bundle::default();
    let mut prose = Bundle::default();
    let mut msrv = Bundle::default();
    let mut main = Bundle::default();
    for f in facts {
        if in_release(&f) {
            release.facts.push(f);
        } else if raises_msrv
            && (msrv_only(&f) || names_msrv(&f) || matches!(f.kind, Kind::Ci | Kind::Toolchain))
        {
            msrv.facts.push(f);
        } else if f.format_only && matches!(f.kind, Kind::Source | Kind::Example | Kind::Test) {
            style.facts.push(f);
        } else {
            main.facts.push(f);
        }
    }
    // Prose goes with the code it speaks of: a page that names none of the items the code
    // adds, removes or touches, nor any of its files, is a change of its own.
    let mut spoken: Vec<String> = Vec::new();
    for f in main.code() {
        spoken.extend(
            f.added_items
                .iter()
                .chain(&f.removed_items)
                .chain(&f.touched)
                .cloned(),
        );
        spoken.push(stem(&f.path));
    }
    if main.code().next().is_some() {
        let (kept, apart): (Vec<Facts>, Vec<Facts>) =
            std::mem::take(&mut main.facts).into_iter().partition(|f| {
                f.kind != Kind::Docs
                    || f.path.contains("/src/")
                    || spoken
                        .iter()
                        .any(|n| n.len() >= 3 && f.added_text.contains(n.as_str()))
                    || f.change != Change::Modified && f.change != Change::Deleted
            });
        main.facts = kept;
        prose.facts = apart;
    }
    if main.facts.is_empty() {
        // Formatting alone is the change.
        std::mem::swap(&mut main, &mut style);
    }
    let released = release_versions.first().cloned();
    let mut manifests = release
        .facts
        .iter()
        .filter(|f| f.kind == Kind::Manifest)
        .map(|f| component_of(&f.path));
    let first = manifests.next().unwrap_or_default();
    let release_component = if manifests.all(|c| c == first) {
        first
    } else {
        String::new()
    };
    let mut drafts = Vec::new();
    for (is_release, b) in [
        (false, msrv),
        (false, style),
        (false, main),
        (false, prose),
        (true, release),
    ] {
        if b.facts.is_empty() {
            continue;
        }
        let (kind, message) = match (&released, is_release) {
            (Some(v), true) => (CommitType::Chore, format!("release {v}")),
            _ => describe(&b),
        };
        // A release is its package's: the one whose manifest it moves.
        let scope = if is_release {
            (!release_component.is_empty()).then(|| one_line(&release_component))
        } else {
            scope_of(&b)
        };
        drafts.push(Draft {
            kind,
            scope,
            // Names, versions and headings come from the diffs: on one line, whatever they hold.
            message: one_line(&message),
            files: b.facts.into_iter().map(|f| f.path).collect(),
        });
    }
    drafts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(path: &str, change: Change) -> FileStat {
        FileStat {
            path: path.into(),
            change,
            additions: Some(1),
            deletions: Some(0),
        }
    }

    fn diff(path: &str, body: &str) -> FileDiff {
        FileDiff {
            path: path.into(),
            diff: format!("diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n{body}"),
            additions: 1,
            deletions: 0,
            truncated: false,
        }
    }

    fn lines(plan: &[Draft]) -> Vec<String> {
        plan.iter()
            .map(|d| match &d.scope {
                Some(s) => format!("{}({s}): {}", d.kind.as_str(), d.message),
                None => format!("{}: {}", d.kind.as_str(), d.message),
            })
            .collect()
    }

    #[test]
    fn a_feature_keeps_its_tests_and_changelog_and_a_release_comes_last() {
        let files = [
            stat("axum/src/routing/method_filter.rs", Change::Modified),
            stat("axum/src/routing/method_routing.rs", Change::Modified),
            stat("axum/src/routing/tests/mod.rs", Change::Modified),
            stat("axum/CHANGELOG.md", Change::Modified),
            stat("axum-core/Cargo.toml", Change::Modified),
            stat("Cargo.lock", Change::Modified),
            stat("ci/test.sh", Change::Modified),
        ];
        let diffs = [
            diff(
                "axum/src/routing/method_filter.rs",
                "@@ -10,0 +10,2 @@ impl MethodFilter {\n+    /// Match `QUERY` requests.\n+    pub const QUERY: Self = Self::from_bits(0b1_0000_0000);\n",
            ),
            diff(
                "axum/src/routing/method_routing.rs",
                "@@ -1,0 +1,3 @@\n+pub fn query<H>(handler: H) -> MethodRouter {\n+    on(MethodFilter::QUERY, handler)\n+}\n",
            ),
            diff(
                "axum/src/routing/tests/mod.rs",
                "@@ -1,0 +1,2 @@\n+#[crate::test]\n+async fn query_routes() {}\n",
            ),
            diff(
                "axum/CHANGELOG.md",
                "@@ -1,0 +1,1 @@\n+- **added:** `query` routing\n",
            ),
            diff(
                "axum-core/Cargo.toml",
                "@@ -2,1 +2,1 @@\n-version = \"0.5.0\"\n+version = \"0.5.1\"\n",
            ),
            diff(
                "ci/test.sh",
                "@@ -1,1 +1,1 @@\n-cargo test\n+cargo test --all-features\n",
            ),
        ];
        let plan = plan(&files, &diffs);
        assert_eq!(
            lines(&plan),
            [
                "feat: add QUERY and query",
                "chore(axum-core): release 0.5.1"
            ]
        );
        assert_eq!(
            plan[0].files.len(),
            5,
            "the feature keeps its test, changelog and CI"
        );
        assert!(
            plan[1].files.contains(&"Cargo.lock".to_owned()),
            "the lock goes with the release"
        );
        let every: usize = plan.iter().map(|d| d.files.len()).sum();
        assert_eq!(every, files.len(), "every file is in exactly one commit");
    }

    #[test]
    fn types_come_from_what_the_diff_does() {
        let one = |path: &str, change: Change, body: &str| {
            let p = plan(&[stat(path, change)], &[diff(path, body)]);
            assert_eq!(p.len(), 1, "{path}");
            lines(&p).remove(0)
        };
        assert_eq!(
            one(
                "src/lib.rs",
                Change::Modified,
                "@@ -3,1 +3,1 @@ pub fn parse(input: &str) {\n-/// Parses.\n+/// Parses `input`, which must be UTF-8.\n"
            ),
            "docs: document parse"
        );
        assert_eq!(
            one(
                "src/de/value.rs",
                Change::Modified,
                "@@ -40,2 +40,2 @@ fn visit_map(self) {\n-        let n = 0;\n+        let n = 1;\n"
            ),
            "fix(de): fix visit_map"
        );
        assert_eq!(
            one(
                "tests/parse.rs",
                Change::Modified,
                "@@ -1,0 +1,2 @@\n+#[test]\n+fn test_empty_input() {}\n"
            ),
            "test: test empty input"
        );
        assert_eq!(
            one(
                "Cargo.toml",
                Change::Modified,
                "@@ -5,1 +5,1 @@\n-rust-version = \"1.66\"\n+rust-version = \"1.75\"\n"
            ),
            "build: set the MSRV to 1.75"
        );
        assert_eq!(
            one(
                "Cargo.toml",
                Change::Modified,
                "@@ -9,0 +9,1 @@ [dependencies]\n+bytes = \"1.5\"\n"
            ),
            "build: add bytes 1.5"
        );
        assert_eq!(
            one(
                "src/old.rs",
                Change::Modified,
                "@@ -1,1 +0,0 @@\n-pub fn legacy() {}\n"
            ),
            "refactor: remove legacy"
        );
        assert_eq!(
            one(
                "rust-toolchain",
                Change::Modified,
                "@@ -1,1 +1,1 @@\n-1.74.0\n+1.75.0\n"
            ),
            "chore: pin the toolchain to 1.75.0"
        );
        assert_eq!(
            one(
                "README.md",
                Change::Modified,
                "@@ -1,0 +1,2 @@\n+## Routing QUERY\n+Text.\n"
            ),
            "docs: document Routing QUERY"
        );
    }

    #[test]
    fn what_only_looks_like_comments_formatting_or_prose_is_not() {
        let one = |path: &str, change: Change, body: &str| {
            let p = plan(&[stat(path, change)], &[diff(path, body)]);
            lines(&p).remove(0)
        };
        // A dereference is code, not a doc comment's `*`.
        assert_eq!(
            one(
                "src/count.rs",
                Change::Modified,
                "@@ -3,1 +3,1 @@ fn decrement(&mut self) {\n-        *self.count += 1;\n+        *self.count -= 1;\n"
            ),
            "fix: fix decrement"
        );
        // Python's indentation is meaning; swapped arguments are a change.
        assert_eq!(
            one(
                "app/io.py",
                Change::Modified,
                "@@ -3,1 +3,1 @@ def save(self):\n-        return result\n+    return result\n"
            ),
            "fix: fix save"
        );
        assert_eq!(
            one(
                "src/copy.rs",
                Change::Modified,
                "@@ -3,1 +3,1 @@ fn run() {\n-    copy(src, dst);\n+    copy(dst, src);\n"
            ),
            "fix: fix run"
        );
        // A `#` inside a string is no comment.
        assert_eq!(
            one(
                "src/style.rs",
                Change::Modified,
                "@@ -1,1 +1,1 @@ fn red() {\n-    let c = \"#ff0000\";\n+    let c = \"#ee0000\";\n"
            ),
            "fix: fix red"
        );
        // Reformatting is style.
        assert_eq!(
            one(
                "src/fmt.rs",
                Change::Modified,
                "@@ -1,2 +1,1 @@ fn f() {\n-    call(a,\n-         b)\n+    call(a, b)\n"
            ),
            "style: format the code"
        );
        // A build file and a module named like a changelog are code.
        assert_eq!(facts::kind_of("CMakeLists.txt"), Kind::Source);
        assert_eq!(facts::kind_of("src/changes.rs"), Kind::Source);
        // A toolchain pin's comment is not its version.
        assert_eq!(
            one(
                "rust-toolchain.toml",
                Change::Modified,
                "@@ -2,1 +2,1 @@\n-channel = \"1.74\"\n+channel = \"1.75\" # MSRV\n"
            ),
            "chore: pin the toolchain to 1.75"
        );
        // A script is no dependency.
        assert_eq!(
            one(
                "package.json",
                Change::Modified,
                "@@ -5,1 +5,1 @@\n-    \"lint\": \"eslint .\",\n+    \"lint\": \"eslint --fix .\",\n"
            ),
            "build: update the build"
        );
    }

    #[test]
    fn a_file_deleted_and_added_under_another_directory_moved() {
        let files = [
            stat("src/old/parse.rs", Change::Deleted),
            stat("src/parser/parse.rs", Change::Added),
        ];
        let diffs = [
            diff("src/old/parse.rs", "@@ -1,1 +0,0 @@\n-pub fn parse() {}\n"),
            diff(
                "src/parser/parse.rs",
                "@@ -0,0 +1,1 @@\n+pub fn parse() {}\n",
            ),
        ];
        assert_eq!(lines(&plan(&files, &diffs)), ["refactor: move parse"]);
    }

    #[test]
    fn names_with_line_breaks_make_one_line_subjects() {
        let files = [stat("src/a\nSigned-off-by: Eve <e@x>.rs", Change::Added)];
        let named = plan(&files, &[]);
        assert_eq!(named[0].message, "add a\\nSigned-off-by: Eve <e@x>");
        let files = [stat("lib\r\u{2028}x/b.rs", Change::Modified)];
        let scoped = plan(&files, &[]);
        assert_eq!(scoped[0].scope.as_deref(), Some("lib\\r\\u{2028}x"));
        for d in named.iter().chain(&scoped) {
            assert!(!d.message.chars().any(breaks_line), "{:?}", d.message);
            assert!(
                !d.scope.iter().any(|s| s.chars().any(breaks_line)),
                "{:?}",
                d.scope
            );
        }
    }
}
