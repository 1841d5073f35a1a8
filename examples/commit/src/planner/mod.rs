//! Planning without a model: changed files grouped into conventional commits by what they are
//! (documentation, tests, build and CI files, then source by directory), each with a type and a
//! message inferred from the change. What a model plans instead must come out in this same shape.
//! A subject is one line whatever the files are called: a line break or other control character
//! in a name is written escaped (`\n`), never as itself.

use crate::changes::{Change, FileStat};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// What a file is, for grouping.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    Ci,
    Build,
    Docs,
    Test,
    Source(String),
}

fn group_of(path: &str) -> Group {
    let name = path.rsplit('/').next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    let top = path.split('/').next().unwrap_or_default();
    if path.starts_with(".github/")
        || path.starts_with(".ci/")
        || path.starts_with(".gitlab")
        || lower == ".travis.yml"
    {
        return Group::Ci;
    }
    let build = [
        "cargo.toml",
        "cargo.lock",
        "package.json",
        "package-lock.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "makefile",
        "dockerfile",
        "build.rs",
        "go.mod",
        "go.sum",
        "pyproject.toml",
        "requirements.txt",
        "setup.py",
        "rust-toolchain.toml",
    ];
    if build.contains(&lower.as_str()) {
        return Group::Build;
    }
    let doc = lower.ends_with(".md")
        || lower.ends_with(".rst")
        || lower.ends_with(".adoc")
        || lower.starts_with("license")
        || lower.starts_with("changelog");
    if doc || top == "docs" || top == "doc" {
        return Group::Docs;
    }
    let test = path
        .split('/')
        .any(|p| p == "tests" || p == "test" || p == "spec" || p == "__tests__")
        || lower.contains("_test.")
        || lower.contains(".test.")
        || lower.contains(".spec.")
        || lower.starts_with("test_");
    if test {
        return Group::Test;
    }
    // Source by directory: the first directory, or the second under `src/`, `packages/`, `crates/`.
    let parts: Vec<&str> = path.split('/').collect();
    let dir = match parts.as_slice() {
        [_] => String::new(),
        ["src" | "packages" | "crates" | "lib", second, _, ..] => (*second).to_owned(),
        [first, ..] => (*first).to_owned(),
        [] => String::new(),
    };
    Group::Source(dir)
}

/// "add a.rs", "update a.rs and b.rs", "remove a.rs, b.rs and 3 more".
fn describe(verb: &str, files: &[&FileStat]) -> String {
    let names: Vec<String> = files
        .iter()
        .map(|f| one_line(f.path.rsplit('/').next().unwrap_or(&f.path)))
        .collect();
    let list = match names.as_slice() {
        [one] => one.clone(),
        [a, b] => format!("{a} and {b}"),
        [a, b, rest @ ..] => format!("{a}, {b} and {} more", rest.len()),
        [] => String::new(),
    };
    format!("{verb} {list}")
}

fn verb(files: &[&FileStat]) -> &'static str {
    let all = |c: &[Change]| files.iter().all(|f| c.contains(&f.change));
    if all(&[Change::Added, Change::Untracked]) {
        "add"
    } else if all(&[Change::Deleted]) {
        "remove"
    } else {
        "update"
    }
}

/// The commits for `files`, in the order they should be made: CI, build, each source
/// directory, tests, then documentation.
pub fn plan(files: &[FileStat]) -> Vec<Draft> {
    let mut groups: BTreeMap<Group, Vec<&FileStat>> = BTreeMap::new();
    for f in files {
        groups.entry(group_of(&f.path)).or_default().push(f);
    }
    let mut ordered: Vec<(Group, Vec<&FileStat>)> = groups.into_iter().collect();
    ordered.sort_by_key(|(g, _)| match g {
        Group::Ci => 0,
        Group::Build => 1,
        Group::Source(_) => 2,
        Group::Test => 3,
        Group::Docs => 4,
    });
    ordered
        .into_iter()
        .map(|(group, members)| {
            let verb = verb(&members);
            let (kind, scope) = match &group {
                Group::Ci => (CommitType::Ci, None),
                Group::Build => (CommitType::Build, None),
                Group::Docs => (CommitType::Docs, None),
                Group::Test => (CommitType::Test, None),
                Group::Source(dir) => {
                    let kind = match verb {
                        "add" => CommitType::Feat,
                        "remove" => CommitType::Refactor,
                        _ => CommitType::Fix,
                    };
                    (kind, (!dir.is_empty()).then(|| one_line(dir)))
                }
            };
            Draft {
                kind,
                scope,
                message: describe(verb, &members),
                files: members.iter().map(|f| f.path.clone()).collect(),
            }
        })
        .collect()
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

    #[test]
    fn files_are_grouped_by_what_they_are() {
        let files = [
            stat("README.md", Change::Modified),
            stat("docs/guide.md", Change::Added),
            stat("src/api/routes.rs", Change::Added),
            stat("src/api/model.rs", Change::Untracked),
            stat("src/db/store.rs", Change::Modified),
            stat("tests/api.rs", Change::Added),
            stat("Cargo.toml", Change::Modified),
            stat(".github/workflows/ci.yml", Change::Modified),
            stat("old.rs", Change::Deleted),
        ];
        let plan = plan(&files);
        let lines: Vec<String> = plan
            .iter()
            .map(|d| match &d.scope {
                Some(s) => format!("{}({s}): {}", d.kind.as_str(), d.message),
                None => format!("{}: {}", d.kind.as_str(), d.message),
            })
            .collect();
        assert_eq!(
            lines,
            [
                "ci: update ci.yml",
                "build: update Cargo.toml",
                "refactor: remove old.rs",
                "feat(api): add routes.rs and model.rs",
                "fix(db): update store.rs",
                "test: add api.rs",
                "docs: update README.md and guide.md",
            ]
        );
        let every: usize = plan.iter().map(|d| d.files.len()).sum();
        assert_eq!(every, files.len(), "every file is in exactly one commit");
    }

    #[test]
    fn names_with_line_breaks_make_one_line_subjects() {
        let files = [
            stat("src/a\nSigned-off-by: Eve <e@x>.rs", Change::Added),
            stat("lib\r\u{2028}x/b.rs", Change::Modified),
        ];
        let plan = plan(&files);
        let subjects: Vec<(Option<&str>, &str)> = plan
            .iter()
            .map(|d| (d.scope.as_deref(), d.message.as_str()))
            .collect();
        assert_eq!(
            subjects,
            [
                (Some("lib\\r\\u{2028}x"), "update b.rs"),
                (Some("src"), "add a\\nSigned-off-by: Eve <e@x>.rs"),
            ]
        );
        for d in &plan {
            assert!(!d.message.chars().any(breaks_line), "{:?}", d.message);
        }
    }
}
