//! The commit plugin's planner (without a model) scored on real history: each case in
//! `examples/commit/eval/cases/` is a real change from a public repository, squashed into one
//! uncommitted change, with the commits its author made of it. The planner plans the squashed
//! change and each plan is scored against the author's commits, 0 to 2 on each of three counts:
//!
//! - **groups**: how often two files the author committed together (or apart) are planned
//!   together (or apart): 2 from 90 % of the pairs, 1 from 70 %;
//! - **types**: how many files get their author's conventional type: 2 from 80 %, 1 from 50 %;
//! - **messages**: for each of the author's commits, the planned commit holding most of its
//!   files: 0 if its subject lists a file's name or says a word twice, 2 if it names one of the
//!   words the case gives for that commit (an item, a version, a dependency), 1 otherwise.
//!
//! The scores are kept in `examples/commit/eval/scores.md`; this test fails when they change, so
//! a change to the planner shows what it does to them (`BLESS=1` rewrites the file), and when
//! the mean falls below [`FLOOR`].

use commit_plugin::changes::{Change, FileDiff, FileStat};
use commit_plugin::planner::{self, Draft};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The lowest mean score (of 6) the planner may fall to.
const FLOOR: f64 = 4.0;

#[derive(Deserialize)]
struct Case {
    repo: String,
    files: Vec<CaseFile>,
    author: Vec<AuthorCommit>,
}

#[derive(Deserialize)]
struct CaseFile {
    path: String,
    change: String,
    additions: u64,
    deletions: u64,
    diff: String,
}

#[derive(Deserialize)]
struct AuthorCommit {
    #[serde(rename = "type")]
    kind: String,
    subject: String,
    files: Vec<String>,
    keywords: Vec<String>,
}

/// One case's scores.
struct Scores {
    groups: u8,
    types: u8,
    messages: f64,
}

impl Scores {
    fn total(&self) -> f64 {
        f64::from(self.groups) + f64::from(self.types) + self.messages
    }
}

fn eval_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/commit/eval")
}

fn inputs(case: &Case) -> (Vec<FileStat>, Vec<FileDiff>) {
    let stats = case
        .files
        .iter()
        .map(|f| FileStat {
            path: f.path.clone(),
            change: match f.change.as_str() {
                "added" => Change::Added,
                "deleted" => Change::Deleted,
                "renamed" => Change::Renamed,
                _ => Change::Modified,
            },
            additions: Some(f.additions),
            deletions: Some(f.deletions),
        })
        .collect();
    let diffs = case
        .files
        .iter()
        .map(|f| FileDiff {
            path: f.path.clone(),
            diff: f.diff.clone(),
            additions: f.additions,
            deletions: f.deletions,
            truncated: false,
        })
        .collect();
    (stats, diffs)
}

/// Which of `commits` holds `path`.
fn holder<T>(commits: &[T], files: impl Fn(&T) -> &[String], path: &str) -> Option<usize> {
    commits
        .iter()
        .position(|c| files(c).iter().any(|f| f == path))
}

fn score(case: &Case, plan: &[Draft]) -> Scores {
    let paths: Vec<&str> = case.files.iter().map(|f| f.path.as_str()).collect();
    let author_of = |p: &str| holder(&case.author, |c| &c.files, p);
    let planned_in = |p: &str| holder(plan, |d| &d.files, p);
    // Groups: pairs of files together or apart in both.
    let (mut agree, mut pairs) = (0u32, 0u32);
    for (i, a) in paths.iter().enumerate() {
        for b in &paths[i + 1..] {
            pairs += 1;
            if (author_of(a) == author_of(b)) == (planned_in(a) == planned_in(b)) {
                agree += 1;
            }
        }
    }
    let share = f64::from(agree) / f64::from(pairs.max(1));
    let groups = if share >= 0.9 {
        2
    } else if share >= 0.7 {
        1
    } else {
        0
    };
    // Types: each file's.
    let right = paths
        .iter()
        .filter(|p| {
            let theirs = author_of(p).map(|i| case.author[i].kind.as_str());
            let ours = planned_in(p).map(|i| plan[i].kind.as_str());
            theirs.is_some() && theirs == ours
        })
        .count();
    let share = right as f64 / paths.len().max(1) as f64;
    let types = if share >= 0.8 {
        2
    } else if share >= 0.5 {
        1
    } else {
        0
    };
    // Messages: for each of the author's commits, the planned commit with most of its files.
    let names: Vec<String> = paths
        .iter()
        .map(|p| p.rsplit('/').next().unwrap_or(p).to_lowercase())
        .filter(|n| n.contains('.'))
        .collect();
    let mut total = 0.0;
    for c in &case.author {
        let mut held: BTreeMap<usize, usize> = BTreeMap::new();
        for f in &c.files {
            if let Some(i) = planned_in(f) {
                *held.entry(i).or_default() += 1;
            }
        }
        let Some((&i, _)) = held
            .iter()
            .max_by_key(|(i, n)| (**n, std::cmp::Reverse(**i)))
        else {
            continue;
        };
        let subject = plan[i].message.to_lowercase();
        let words: Vec<&str> = subject
            .split(|c: char| !c.is_alphanumeric() && c != '_' && c != '.' && c != '-')
            .filter(|w| w.len() >= 3)
            .collect();
        let twice = words
            .iter()
            .enumerate()
            .any(|(k, w)| words[k + 1..].contains(w));
        let lists_files = names.iter().any(|n| subject.contains(n.as_str()));
        total += if lists_files || twice {
            0.0
        } else if c
            .keywords
            .iter()
            .any(|k| subject.contains(k.to_lowercase().as_str()))
        {
            2.0
        } else {
            1.0
        };
    }
    Scores {
        groups,
        types,
        messages: total / case.author.len().max(1) as f64,
    }
}

fn subject(d: &Draft) -> String {
    match &d.scope {
        Some(s) => format!("{}({s}): {}", d.kind.as_str(), d.message),
        None => format!("{}: {}", d.kind.as_str(), d.message),
    }
}

#[test]
fn plans_of_real_history_score_as_recorded() {
    let dir = eval_dir().join("cases");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 20,
        "the evaluation has {} cases",
        names.len()
    );
    let mut table = String::from(
        "| case | repository | author's commits | planned | groups | types | messages | total |\n|---|---|---|---|---|---|---|---|\n",
    );
    let mut detail = String::new();
    let mut sum = 0.0;
    // A plan that knows nothing: every file in one `fix: update` commit.
    let mut naive_sum = 0.0;
    for path in &names {
        let text = std::fs::read_to_string(path).unwrap();
        let case: Case =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (stats, diffs) = inputs(&case);
        let plan = planner::plan(&stats, &diffs);
        for f in &case.files {
            let holding = plan.iter().filter(|d| d.files.contains(&f.path)).count();
            assert_eq!(
                holding,
                1,
                "{}: `{}` is in {holding} commits",
                path.display(),
                f.path
            );
        }
        assert!(
            plan.iter().all(|d| !d.files.is_empty()),
            "{}: an empty commit",
            path.display()
        );
        let s = score(&case, &plan);
        sum += s.total();
        let naive = [Draft {
            kind: commit_plugin::planner::CommitType::Fix,
            scope: None,
            message: "update".into(),
            files: case.files.iter().map(|f| f.path.clone()).collect(),
        }];
        naive_sum += score(&case, &naive).total();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let _ = writeln!(
            table,
            "| {name} | {} | {} | {} | {} | {} | {:.2} | {:.2} |",
            case.repo,
            case.author.len(),
            plan.len(),
            s.groups,
            s.types,
            s.messages,
            s.total()
        );
        let _ = writeln!(detail, "\n### {name}\n\nThe author:");
        for c in &case.author {
            let _ = writeln!(
                detail,
                "- `{}: {}` ({} files)",
                c.kind,
                c.subject,
                c.files.len()
            );
        }
        let _ = writeln!(detail, "\nThe plan:");
        for d in &plan {
            let _ = writeln!(detail, "- `{}` ({} files)", subject(d), d.files.len());
        }
    }
    let mean = sum / names.len() as f64;
    let naive = naive_sum / names.len() as f64;
    let report = format!(
        "# The commit planner on real history\n\n\
         Written by `cargo test -p plugin-tests --test all -- commit_eval` with `BLESS=1`; \
         the cases and how they are scored are described in `README.md` and \
         `tests/tests/commit_eval.rs`.\n\n\
         **Mean: {mean:.2} of 6** over {} cases. A plan that knows nothing (every file in one \
         `fix: update` commit) scores {naive:.2}.\n\n{table}\n## Each plan beside its author's commits\n{detail}",
        names.len()
    );
    let file = eval_dir().join("scores.md");
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&file, &report).unwrap();
    } else {
        let kept = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            kept == report,
            "the planner's scores changed (mean {mean:.2}); rerun with BLESS=1 to record them in {}",
            file.display()
        );
    }
    assert!(mean >= FLOOR, "the mean score {mean:.2} is below {FLOOR}");
}
