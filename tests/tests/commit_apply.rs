//! The commit plugin making, pushing and redoing commits in real repositories: plans applied
//! whole or in part, a stale plan refused, two applies at once, a slow hook killed, pushes to a
//! local bare `origin` taken and refused, commits redone and changes summarized with and
//! without a model (the model a real HTTP double of an OpenAI-compatible provider).

use crate::commit::{Repo, client_with, with_work};
use crate::fake_llm::Upstream;
use crate::fixtures::metric;
use ai_plugin::provider::{Provider, http_client};
use commit_plugin::model::Model;
use plugin_routes::testing::TestClient;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

const MEMORY: &str = "sqlite::memory:";

impl Repo {
    /// A bare repository inside this one's `.git` (so it goes with it), added as `origin` and
    /// pushed to.
    pub(crate) fn origin(&self) -> PathBuf {
        let origin = self.dir.join(".git/test-origin.git");
        let made = std::process::Command::new("git")
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(&origin)
            .status()
            .unwrap();
        assert!(made.success());
        self.git(&["remote", "add", "origin", origin.to_str().unwrap()]);
        self.git(&["push", "-q", "origin", "main"]);
        origin
    }

    /// Installs `script` as the `name` hook.
    pub(crate) fn hook(&self, name: &str, script: &str) {
        hook_in(&self.dir, name, script);
    }

    /// Makes every commit wait in its `pre-commit` hook (see [`hold_commits_in`]).
    pub(crate) fn hold_commits(&self) -> (PathBuf, PathBuf) {
        hold_commits_in(&self.dir)
    }

    pub(crate) fn commits(&self) -> usize {
        self.git(&["rev-list", "--count", "HEAD"])
            .trim()
            .parse()
            .unwrap()
    }
}

/// Installs `script` as the `name` hook of the repository whose work tree is `dir`.
pub(crate) fn hook_in(dir: &Path, name: &str, script: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(".git/hooks").join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Makes every commit in the repository at `dir` wait in its `pre-commit` hook, once it has
/// created the first file answered, until the second exists.
pub(crate) fn hold_commits_in(dir: &Path) -> (PathBuf, PathBuf) {
    let git_dir = dir.join(".git");
    let (started, gate) = (git_dir.join("hook-started"), git_dir.join("hook-gate"));
    hook_in(
        dir,
        "pre-commit",
        &format!(
            "touch '{}'\nwhile [ ! -e '{}' ]; do sleep 0.05; done",
            started.display(),
            gate.display()
        ),
    );
    (started, gate)
}

/// `POST /v1/plugins/commit/<route>` with `body`.
pub(crate) async fn post(
    c: &TestClient,
    route: &str,
    body: Value,
) -> plugin_routes::testing::TestResponse {
    // Apply and push are operations: followed to their end, their answer is the route's.
    c.post(&format!("/v1/plugins/commit/{route}"))
        .json(&body)
        .send_and_wait()
        .await
}

/// What `git rev-parse main` prints in the bare repository `origin`.
pub(crate) fn remote_head(origin: &Path) -> std::process::Output {
    std::process::Command::new("git")
        .arg("--git-dir")
        .arg(origin)
        .args(["rev-parse", "main"])
        .output()
        .unwrap()
}

pub(crate) fn code(r: &plugin_routes::testing::TestResponse) -> (u16, String) {
    (
        r.status().as_u16(),
        r.error()["code"].as_str().unwrap_or_default().to_owned(),
    )
}

pub(crate) async fn generate(c: &TestClient) -> Value {
    let r = post(c, "generate", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    r.json()
}

fn subjects(plan: &Value) -> Vec<String> {
    plan["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let scope = c["scope"]
                .as_str()
                .map(|s| format!("({s})"))
                .unwrap_or_default();
            let bang = if c["breaking"] == json!(true) {
                "!"
            } else {
                ""
            };
            format!(
                "{}{scope}{bang}: {}",
                c["type"].as_str().unwrap(),
                c["message"].as_str().unwrap()
            )
        })
        .collect()
}

pub(crate) fn commit_with(plan: &Value, file: &str) -> String {
    plan["commits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["files"].as_array().unwrap().contains(&json!(file)))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_plan_is_applied_as_real_commits_and_pushed_to_origin() {
    let repo = with_work("apply");
    let origin = repo.origin();
    let before = repo.commits();
    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| s).await;
    let plan = generate(&c).await;
    let planned = subjects(&plan);
    let commits = "commit_commits_total";
    let pushes = |result: &str| format!(r#"commit_pushes_total{{result="{result}"}}"#);
    assert_eq!(metric(&c, commits).await, 0.0);
    assert_eq!(metric(&c, &pushes("pushed")).await, 0.0);

    let r = post(&c, "apply", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let applied: Value = r.json();
    assert_eq!(applied["plan"]["state"], "applied");
    assert_eq!(metric(&c, commits).await, planned.len() as f64);
    assert_eq!(applied["made"].as_array().unwrap().len(), planned.len());
    assert_eq!(repo.commits(), before + planned.len());
    // git's own log, newest first, is the plan in reverse, and each commit has its files only.
    let log = repo.git(&["log", "--format=%s", &format!("-{}", planned.len())]);
    let mut made: Vec<&str> = log.lines().collect();
    made.reverse();
    assert_eq!(made, planned);
    for (i, c) in plan["commits"].as_array().unwrap().iter().enumerate() {
        let sha = applied["made"][i]["sha"].as_str().unwrap();
        let files = repo.git(&["show", "--name-only", "--format=", sha]);
        let mut files: Vec<&str> = files.lines().collect();
        files.sort_unstable();
        let mut want: Vec<&str> = c["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        want.sort_unstable();
        assert_eq!(files, want, "commit {i}");
    }
    assert_eq!(
        repo.git(&["status", "--porcelain"]),
        "",
        "nothing is left over"
    );
    let status: Value = c.get("/v1/plugins/commit/status").send().await.json();
    assert_eq!(
        (&status["state"], &status["commitsApplied"]),
        (&json!("applied"), &json!(planned.len()))
    );
    let actions: Value = c.get("/v1/plugins/commit/actions").send().await.json();
    let names: Vec<&str> = actions["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["push", "discard"]);

    let r = post(&c, "push", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let pushed: Value = r.json();
    let head = repo.git(&["rev-parse", "HEAD"]);
    assert_eq!(
        (&pushed["remote"], &pushed["branch"], &pushed["upToDate"]),
        (&json!("origin"), &json!("main"), &json!(false))
    );
    assert_eq!(pushed["head"], head.trim());
    assert_eq!(pushed["state"], "pushed");
    let remote_head = remote_head(&origin);
    assert_eq!(String::from_utf8_lossy(&remote_head.stdout), head);

    let again: Value = post(&c, "push", json!({})).await.json();
    assert_eq!(again["upToDate"], true);
    assert_eq!(metric(&c, &pushes("pushed")).await, 1.0);
    assert_eq!(metric(&c, &pushes("up_to_date")).await, 1.0);
    assert_eq!(metric(&c, &pushes("rejected")).await, 0.0);
    let r = post(&c, "apply", json!({})).await;
    assert_eq!(code(&r), (409, "ALREADY_APPLIED".into()));
}

#[tokio::test]
async fn some_commits_are_applied_alone_and_other_staged_work_stays_staged() {
    let repo = with_work("apply-some");
    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| s).await;
    let plan = generate(&c).await;
    let docs = commit_with(&plan, "README.md");
    let r = post(&c, "apply", json!({"commits": [docs]})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let applied: Value = r.json();
    assert_eq!(applied["plan"]["state"], "ready");
    assert_eq!(applied["made"].as_array().unwrap().len(), 1);
    let shown = repo.git(&["show", "--name-only", "--format=", "HEAD"]);
    let mut shown: Vec<&str> = shown.lines().collect();
    shown.sort_unstable();
    assert_eq!(shown, ["README.md", "docs/guide.md"]);
    // What was staged before for other files is still staged, as it was.
    assert_eq!(
        repo.git(&["diff", "--cached", "--name-only"]),
        "src/lib.rs\n"
    );
    assert!(
        repo.git(&["diff", "--cached"]).contains("+    2"),
        "the staged version, not the work tree's"
    );

    let r = post(&c, "apply", json!({"commits": [docs]})).await;
    assert_eq!(code(&r), (409, "ALREADY_APPLIED".into()));
    let r = c
        .patch("/v1/plugins/commit/plan")
        .json(&json!({"id": docs, "message": "too late"}))
        .send()
        .await;
    assert_eq!(code(&r), (409, "ALREADY_APPLIED".into()));
    let r = post(&c, "apply", json!({"commits": ["c9"]})).await;
    assert_eq!(code(&r), (404, "COMMIT_NOT_FOUND".into()));
    let r = post(&c, "apply", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json::<Value>()["plan"]["state"], "applied");
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
}

#[tokio::test]
async fn a_plan_whose_files_changed_since_is_stale() {
    let repo = with_work("stale");
    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| s).await;
    generate(&c).await;
    let before = repo.commits();
    repo.write("README.md", "# demo\n\nEdited after planning.\n");
    let r = post(&c, "apply", json!({})).await;
    assert_eq!(code(&r), (409, "PLAN_STALE".into()));
    assert_eq!(r.error()["details"]["files"], json!(["README.md"]));
    assert_eq!(repo.commits(), before, "nothing was committed");
    // A file committed behind the plan's back leaves it nothing to commit: stale too.
    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| s).await;
    let plan = generate(&c).await;
    repo.git(&["add", "README.md", "docs/guide.md"]);
    repo.git(&["commit", "-q", "-m", "docs: by hand"]);
    let docs = commit_with(&plan, "README.md");
    let r = post(&c, "apply", json!({"commits": [docs]})).await;
    assert_eq!(code(&r), (409, "PLAN_STALE".into()));
}

#[tokio::test]
async fn force_applies_a_stale_plan_as_the_files_are_now() {
    let repo = with_work("apply-force");
    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| s).await;
    let plan = generate(&c).await;
    let docs = commit_with(&plan, "README.md");
    assert_eq!(docs, commit_with(&plan, "docs/guide.md"), "{plan}");
    let code_commit = commit_with(&plan, "src/new.rs");
    assert_ne!(docs, code_commit, "{plan}");
    // After planning: the docs commit's files go back to the last commit, and a new file
    // changes again.
    repo.git(&["checkout", "--", "README.md", "docs/guide.md"]);
    repo.write("src/new.rs", "// new, edited after planning\nfn x() {}\n");
    let before = repo.commits();
    let r = post(&c, "apply", json!({})).await;
    assert_eq!(code(&r), (409, "PLAN_STALE".into()));
    assert_eq!(repo.commits(), before);
    // What changed since planning was never scanned: a secret in it stops the forced apply.
    repo.write(
        "src/new.rs",
        "// new, edited after planning\nfn x() {}\nconst AWS: &str = \"AKIAIOSFODNN7EXAMPLE\";\n",
    );
    let r = post(&c, "apply", json!({"force": true})).await;
    assert_eq!(code(&r), (422, "SECRETS_DETECTED".into()), "{}", r.text());
    assert_eq!(r.error()["details"]["findings"][0]["file"], "src/new.rs");
    assert_eq!(repo.commits(), before);
    repo.write("src/new.rs", "// new, edited after planning\nfn x() {}\n");

    let r = post(&c, "apply", json!({"force": true})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let applied: Value = r.json();
    assert_eq!(applied["skipped"], json!([docs]));
    let mut changed: Vec<&str> = applied["changedSincePlan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    changed.sort_unstable();
    assert_eq!(changed, ["README.md", "docs/guide.md", "src/new.rs"]);
    // The skipped commit is dropped: every commit left was made, so the plan is applied.
    let left: Vec<&str> = applied["plan"]["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(!left.contains(&docs.as_str()), "{applied}");
    assert_eq!(applied["plan"]["state"], "applied");
    assert_eq!(
        repo.commits(),
        before + applied["made"].as_array().unwrap().len()
    );
    // The file went in as it is now, not as it was planned.
    assert_eq!(
        repo.git(&["show", "HEAD:src/new.rs"]).lines().next(),
        Some("// new, edited after planning")
    );
    assert_eq!(repo.git(&["status", "--porcelain"]), "");
    // A forced apply of a plan with nothing left is still refused as applied.
    let r = post(&c, "apply", json!({"force": true})).await;
    assert_eq!(code(&r), (409, "ALREADY_APPLIED".into()));
}

#[tokio::test]
async fn of_two_applies_at_once_one_wins() {
    let repo = with_work("apply-race");
    // The first commit holds in its hook until the test opens the gate.
    let (started, gate) = repo.hold_commits();
    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| s).await;
    generate(&c).await;
    let first = c
        .post("/v1/plugins/commit/apply")
        .json(&json!({}))
        .send_and_wait();
    let second = async {
        assert!(wait_for(&started).await, "the first apply's hook never ran");
        let r = post(&c, "apply", json!({})).await;
        std::fs::write(&gate, "").unwrap();
        r
    };
    let (first, second) = tokio::join!(first, second);
    assert_eq!(first.status(), 200, "{}", first.text());
    assert_eq!(code(&second), (409, "APPLY_IN_PROGRESS".into()));
    let r = post(&c, "push", json!({})).await;
    assert_eq!(
        code(&r),
        (404, "REMOTE_NOT_FOUND".into()),
        "the lock is free again"
    );
}

/// Waits up to 20 seconds for `path` to exist.
pub(crate) async fn wait_for(path: &Path) -> bool {
    for _ in 0..400 {
        if path.exists() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Whether process `pid` has ended (gone, or a zombie waiting to be reaped).
fn ended(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

/// Waits, up to ten seconds, for process `pid` to end.
async fn wait_ended(pid: &str) -> bool {
    for _ in 0..200 {
        if ended(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_commit_whose_hook_runs_too_long_is_killed_with_its_hook() {
    let repo = with_work("slow-hook");
    let pid_file = repo.dir.join(".git/hook-pid");
    repo.hook(
        "pre-commit",
        &format!("echo $$ > '{}'\nsleep 60", pid_file.display()),
    );
    let before = repo.commits();
    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| {
        s.with_git_timeout(Duration::from_millis(500))
    })
    .await;
    generate(&c).await;
    let r = post(&c, "apply", json!({})).await;
    assert_eq!(code(&r), (504, "GIT_TIMEOUT".into()), "{}", r.text());
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let pid = pid.trim();
    assert!(wait_ended(pid).await, "the hook (pid {pid}) still runs");
    nothing_made_then_applied(&c, &repo, before, "pre-commit").await;
}

/// Nothing of the plan was made: the repository still has `before` commits and the plan none
/// recorded. Nothing was left locked either: without the hook `hook`, the same plan applies.
async fn nothing_made_then_applied(c: &TestClient, repo: &Repo, before: usize, hook: &str) {
    assert_eq!(repo.commits(), before, "no commit was made");
    let plan: Value = c.get("/v1/plugins/commit/plan").send().await.json();
    assert_eq!(plan["state"], "ready");
    let commits = plan["commits"].as_array().unwrap();
    assert!(commits.iter().all(|c| c["sha"].is_null()), "{plan}");
    std::fs::remove_file(repo.dir.join(".git/hooks").join(hook)).unwrap();
    let r = apply_when_let_go(c).await;
    assert_eq!(r.status(), 200, "{}", r.text());
}

/// The plan once its first commit is recorded (within ten seconds): a cancelled apply records
/// what it made moments after its operation ended.
async fn plan_with_first_recorded(c: &TestClient) -> Value {
    let mut plan = Value::Null;
    for _ in 0..200 {
        plan = c.get("/v1/plugins/commit/plan").send().await.json();
        if plan["commits"][0]["sha"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    plan
}

#[tokio::test]
async fn a_hook_that_refuses_is_commit_refused_with_what_it_said() {
    let repo = with_work("refusing-hook");
    repo.hook("pre-commit", "echo 'lint failed: src/lib.rs' >&2\nexit 1");
    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| s).await;
    generate(&c).await;
    let r = post(&c, "apply", json!({})).await;
    assert_eq!(code(&r), (409, "COMMIT_REFUSED".into()));
    assert!(
        r.error()["details"]["output"]
            .as_str()
            .unwrap()
            .contains("lint failed: src/lib.rs")
    );
}

#[tokio::test]
async fn a_push_the_remote_refuses_is_push_rejected() {
    let repo = with_work("push-rejected");
    let origin = repo.origin();
    // Someone else pushes first.
    let other = repo.dir.join(".git/test-other");
    let cloned = std::process::Command::new("git")
        .args(["clone", "-q"])
        .arg(&origin)
        .arg(&other)
        .status()
        .unwrap();
    assert!(cloned.success());
    let other_git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&other)
            .args(["-c", "user.name=Other", "-c", "user.email=o@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(other.join("NOTES.md"), "theirs\n").unwrap();
    other_git(&["add", "NOTES.md"]);
    other_git(&["commit", "-q", "-m", "docs: notes"]);
    other_git(&["push", "-q", "origin", "main"]);
    let theirs = remote_head(&origin).stdout;

    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| s).await;
    generate(&c).await;
    let r = post(&c, "apply", json!({})).await;
    assert_eq!(r.status(), 200);
    let r = post(&c, "push", json!({})).await;
    assert_eq!(code(&r), (409, "PUSH_REJECTED".into()), "{}", r.text());
    let reason = r.error()["details"]["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.contains("fetch first") || reason.contains("non-fast-forward"),
        "{reason}"
    );
    let now = remote_head(&origin).stdout;
    assert_eq!(now, theirs, "the remote kept its branch");
    let status: Value = c.get("/v1/plugins/commit/status").send().await.json();
    assert_eq!(status["state"], "applied", "not pushed");

    for remote in ["upstream", "-v"] {
        let r = post(&c, "push", json!({"remote": remote})).await;
        assert_eq!(code(&r), (404, "REMOTE_NOT_FOUND".into()), "{remote}");
    }
    // One push ran and was refused; the two refused before running git are no pushes.
    let pushes = |result: &str| format!(r#"commit_pushes_total{{result="{result}"}}"#);
    assert_eq!(metric(&c, &pushes("rejected")).await, 1.0);
    assert_eq!(metric(&c, &pushes("failed")).await, 0.0);
    assert_eq!(metric(&c, &pushes("pushed")).await, 0.0);
}

#[tokio::test]
async fn protected_branches_are_not_pushed_and_force_replaces_only_what_was_seen() {
    let repo = with_work("push-force");
    let origin = repo.origin();
    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| {
        s.with_protected_branches(vec!["main".into(), "master".into()])
    })
    .await;
    generate(&c).await;
    assert_eq!(post(&c, "apply", json!({})).await.status(), 200);
    let before = remote_head(&origin).stdout;
    let r = post(&c, "push", json!({})).await;
    assert_eq!(code(&r), (409, "PROTECTED_BRANCH".into()), "{}", r.text());
    assert_eq!(r.error()["details"]["branch"], "main");
    assert_eq!(remote_head(&origin).stdout, before, "nothing was pushed");
    // From a branch of its own, it is.
    repo.git(&["checkout", "-q", "-b", "work"]);
    let r = post(&c, "push", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());

    // Someone else pushes to `work`, and this branch is rewritten meanwhile.
    let other = repo.dir.join(".git/test-other");
    let git_in = |dir: &Path, args: &[&str]| {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=Other", "-c", "user.email=o@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    git_in(
        &repo.dir,
        &[
            "clone",
            "-q",
            "-b",
            "work",
            origin.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    std::fs::write(other.join("THEIRS.md"), "theirs\n").unwrap();
    git_in(&other, &["add", "THEIRS.md"]);
    git_in(&other, &["commit", "-q", "-m", "docs: theirs"]);
    git_in(&other, &["push", "-q", "origin", "work"]);
    let theirs = git_in(&other, &["rev-parse", "HEAD"]);
    git_in(
        &repo.dir,
        &["commit", "-q", "--amend", "-m", "feat: reworded"],
    );
    let work_head = |origin: &Path| {
        let out = std::process::Command::new("git")
            .arg("--git-dir")
            .arg(origin)
            .args(["rev-parse", "work"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };

    // Without force: refused. With force, the lease fails: the remote is not where this
    // repository last saw it, and their commit stays.
    let r = post(&c, "push", json!({})).await;
    assert_eq!(code(&r), (409, "PUSH_REJECTED".into()), "{}", r.text());
    let r = post(&c, "push", json!({"force": true})).await;
    assert_eq!(code(&r), (409, "PUSH_REJECTED".into()), "{}", r.text());
    let reason = r.error()["details"]["reason"].as_str().unwrap().to_owned();
    assert!(reason.contains("stale info"), "{reason}");
    assert_eq!(work_head(&origin), theirs, "their work was not overwritten");

    // Once this repository has seen their commit, force replaces it.
    git_in(&repo.dir, &["fetch", "-q", "origin"]);
    let r = post(&c, "push", json!({"force": true})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(
        work_head(&origin),
        git_in(&repo.dir, &["rev-parse", "HEAD"])
    );
}

#[tokio::test]
async fn pushing_needs_commit_push_and_writing_commit_write() {
    let repo = with_work("push-scopes");
    repo.origin();
    let c = client_with(&repo.dir, "commit:read,commit:write", MEMORY, |s| s).await;
    generate(&c).await;
    let r = post(&c, "apply", json!({})).await;
    assert_eq!(r.status(), 200);
    let r = post(&c, "push", json!({})).await;
    assert_eq!(code(&r), (403, "FORBIDDEN".into()));
    assert_eq!(
        r.error()["details"]["missingScopes"],
        json!(["commit:push"])
    );
    let reader = client_with(&repo.dir, "commit:read", MEMORY, |s| s).await;
    for route in ["apply", "regenerate-commit", "push"] {
        let r = reader
            .post(&format!("/v1/plugins/commit/{route}"))
            .json(&json!({"id": "c1"}))
            .send()
            .await;
        assert_eq!(r.status(), 403, "{route}");
    }
    let r = post(&reader, "summarize", json!({})).await;
    assert_eq!(
        code(&r),
        (400, "NO_CHANGES".into()),
        "summarizing only reads"
    );
}

#[tokio::test]
async fn without_a_model_commits_are_redone_and_changes_summarized_from_the_files() {
    let repo = with_work("no-model");
    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| s).await;
    let actions: Value = c.get("/v1/plugins/commit/actions").send().await.json();
    let names: Vec<&str> = actions["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        (actions["state"].as_str(), names),
        (Some("idle"), vec!["generate", "summarize"])
    );

    let r = post(&c, "summarize", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let summary: Value = r.json();
    assert_eq!(
        (&summary["files"], &summary["model"]),
        (&json!(4), &Value::Null)
    );
    let text = summary["summary"].as_str().unwrap();
    assert!(text.starts_with("4 files changed"), "{text}");
    assert!(text.contains("deleted: docs/guide.md"), "{text}");
    assert!(text.contains("added: src/new.rs"), "{text}");
    let one: Value = post(&c, "summarize", json!({"scope": "src", "file": "lib.rs"}))
        .await
        .json();
    assert_eq!(one["files"], 1);
    let r = post(&c, "summarize", json!({"file": "../etc/passwd"})).await;
    assert_eq!(code(&r), (400, "PATH_OUTSIDE_SCOPE".into()));

    let plan = generate(&c).await;
    let id = commit_with(&plan, "src/lib.rs");
    let original = subjects(&plan);
    let r = c
        .patch("/v1/plugins/commit/plan")
        .json(&json!({"id": id, "message": "something else", "type": "chore"}))
        .send()
        .await;
    assert_eq!(r.status(), 200);
    let r = post(&c, "regenerate-commit", json!({"id": id})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(
        subjects(&r.json()),
        original,
        "written again from its files"
    );
    let r = post(
        &c,
        "regenerate-commit",
        json!({"id": id, "instruction": "mention two()"}),
    )
    .await;
    assert_eq!(code(&r), (400, "MODEL_NOT_CONFIGURED".into()));
    let r = post(&c, "regenerate-commit", json!({"id": "c9"})).await;
    assert_eq!(code(&r), (404, "COMMIT_NOT_FOUND".into()));
    let actions: Value = c.get("/v1/plugins/commit/actions").send().await.json();
    let names: Vec<&str> = actions["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "apply",
            "edit",
            "regenerate-commit",
            "generate",
            "summarize",
            "discard"
        ]
    );

    let clean = Repo::new("no-model-clean");
    let c = client_with(&clean.dir, "commit:*", MEMORY, |s| s).await;
    let r = post(&c, "summarize", json!({})).await;
    assert_eq!(code(&r), (400, "NO_CHANGES".into()));
}

/// The double's `model` through the AI plugin's provider client, as the server would make it,
/// free, its calls charged to a ledger of its own (`commit_billing` tests what they cost).
async fn model(upstream: &Upstream, name: &str) -> Model {
    let pool = plugin_routes::database::connect(MEMORY).await.unwrap();
    let ledger = ai_plugin::ledger::Ledger::open(pool, MEMORY).await.unwrap();
    Model::new(
        Provider::new(
            "double",
            http_client([&*upstream.base_url]).unwrap(),
            &upstream.base_url,
            None,
        ),
        name,
        ai_plugin::cost::Prices::per_million_usd(0.0, 0.0).unwrap(),
        ai_plugin::meter::Meter::new(ledger, &ai_plugin::AiConfig::none()),
    )
}

#[tokio::test]
async fn a_configured_model_plans_redoes_and_summarizes_and_its_answers_are_checked() {
    let upstream = Upstream::start().await;
    let repo = with_work("model");
    let m = model(&upstream, "scripted").await;
    let c = client_with(&repo.dir, "commit:*,ai:generate", MEMORY, |s| {
        s.with_model(m)
    })
    .await;
    upstream.script(
        "```json\n{\"commits\": [\
         {\"type\": \"feat\", \"scope\": \"lib\", \"message\": \"add two()\", \"body\": \"And new.rs.\", \"files\": [\"src/lib.rs\", \"src/new.rs\"], \"breaking\": false, \"reasoning\": \"Both files add the\\nsame function.\"},\
         {\"type\": \"docs\", \"scope\": null, \"message\": \"rework the docs\", \"files\": [\"README.md\", \"docs/guide.md\"]}\
         ]}\n```",
    );
    let plan = generate(&c).await;
    assert_eq!(plan["model"], "scripted");
    assert_eq!(
        subjects(&plan),
        ["feat(lib): add two()", "docs: rework the docs"]
    );
    assert_eq!(plan["commits"][0]["body"], "And new.rs.");
    // How it was made, what it took, and why, on one line.
    let tokens = plan["metadata"]["tokensUsed"].as_u64().unwrap();
    assert!(tokens > 0, "{plan}");
    assert_eq!(
        plan["metadata"],
        json!({"method": "model", "model": "scripted", "tokensUsed": tokens})
    );
    assert_eq!(
        plan["commits"][0]["reasoning"],
        "Both files add the\\nsame function."
    );
    assert!(plan["commits"][1].get("reasoning").is_none());
    let prompt = upstream.last_prompt();
    assert!(
        prompt.contains("- src/new.rs (untracked, +2 -0)"),
        "{prompt}"
    );
    assert!(
        prompt.contains("+pub fn two() -> u32 {"),
        "the diffs are sent"
    );
    assert_eq!(
        upstream.seen.last.lock().unwrap()["response_format"]["type"],
        "json_object"
    );

    // Answers that are not a valid plan change nothing.
    for (answer, says) in [
        (
            "{\"commits\": [{\"type\": \"feat\", \"message\": \"all\", \"files\": [\"src/lib.rs\", \"README.md\", \"docs/guide.md\"]}]}",
            "`src/new.rs` is in no commit",
        ),
        (
            "{\"commits\": [{\"type\": \"feat\", \"message\": \"all\", \"files\": [\"src/lib.rs\", \"src/new.rs\", \"README.md\", \"docs/guide.md\", \"/etc/passwd\"]}]}",
            "`/etc/passwd` is not one of the changed files",
        ),
        (
            "{\"commits\": [{\"type\": \"wip\", \"message\": \"all\", \"files\": []}]}",
            "not a plan",
        ),
        ("Sure! Here is your plan: feat: stuff", "not a plan"),
    ] {
        upstream.script(answer);
        let r = post(&c, "generate", json!({})).await;
        assert_eq!(code(&r), (502, "LLM_FAILED".into()), "{answer}");
        let message = r.error()["message"].as_str().unwrap().to_owned();
        assert!(message.contains(says), "{message}");
        let kept: Value = c.get("/v1/plugins/commit/plan").send().await.json();
        assert_eq!(kept, plan, "the plan before stays, whole");
    }

    upstream.script("{\"type\": \"feat\", \"scope\": \"api\", \"message\": \"add two() to the API\", \"body\": null, \"breaking\": true}");
    let r = post(
        &c,
        "regenerate-commit",
        json!({"id": "c1", "instruction": "say it is for the API"}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let redone: Value = r.json();
    assert_eq!(
        subjects(&redone),
        ["feat(api)!: add two() to the API", "docs: rework the docs"]
    );
    assert_eq!(
        redone["commits"][0]["files"],
        json!(["src/lib.rs", "src/new.rs"])
    );
    assert!(
        redone["metadata"]["tokensUsed"].as_u64().unwrap() > tokens,
        "the plan counts every token it took, the redo's too"
    );
    assert!(
        upstream
            .last_prompt()
            .contains("The user asks: say it is for the API")
    );

    upstream.script("{\"summary\": \"Adds two() and reworks the docs.\"}");
    let r = post(&c, "summarize", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let summary: Value = r.json();
    assert_eq!(
        (&summary["summary"], &summary["model"]),
        (
            &json!("Adds two() and reworks the docs."),
            &json!("scripted")
        )
    );
    assert!(summary["tokensUsed"].as_u64().unwrap() > 0);

    // A secret stops everything before the model is asked.
    let calls = upstream.calls();
    repo.write("src/keys.rs", "const K: &str = \"AKIAIOSFODNN7EXAMPLE\";\n");
    for route in ["generate", "summarize"] {
        let r = c
            .post(&format!("/v1/plugins/commit/{route}"))
            .json(&json!({}))
            .send()
            .await;
        assert_eq!(code(&r), (422, "SECRETS_DETECTED".into()), "{route}");
    }
    assert_eq!(upstream.calls(), calls, "nothing was sent");
}

#[tokio::test]
async fn a_model_that_fails_is_llm_failed_and_no_plan_is_kept() {
    let upstream = Upstream::start().await;
    let repo = with_work("model-broken");
    let m = model(&upstream, "broken").await;
    let c = client_with(&repo.dir, "commit:*,ai:generate", MEMORY, |s| {
        s.with_model(m)
    })
    .await;
    let r = post(&c, "generate", json!({})).await;
    assert_eq!(code(&r), (502, "LLM_FAILED".into()));
    assert_eq!(
        r.error()["message"],
        "the provider answered HTTP 500",
        "no address in it"
    );
    let r = c.get("/v1/plugins/commit/plan").send().await;
    assert_eq!(code(&r), (404, "NO_PLAN".into()));
}

/// The whole path a person takes, against the real `example-server` over TCP: pointed at a
/// repository with uncommitted work, it plans, takes an edited message, applies the plan as
/// real commits and pushes them to `origin`. Without a repository the plugin is not served,
/// not documented, and the server says so when it starts.
#[test]
fn the_example_server_plans_applies_and_pushes_a_repository_it_is_pointed_at() {
    use crate::server::{Server, fresh_sqlite, server_binary};
    let binary = server_binary();
    let (dir, url) = fresh_sqlite("commit-server");
    let key = crate::server::user_with_key(&binary, &url, "dev@example.com", "commit:*");

    let plain = Server::start_with(&binary, &url, &[]);
    assert!(
        plain
            .startup
            .iter()
            .any(|l| l.contains("/v1/plugins/commit is not served")),
        "{:?}",
        plain.startup
    );
    let (status, _, doc) = plain.call("GET", "/openapi.json", None);
    assert_eq!(status, 200);
    assert!(
        !doc.contains("/v1/plugins/commit"),
        "unserved routes are not documented"
    );
    let (status, _, _) = plain.call("GET", "/v1/plugins/commit/status", None);
    assert_eq!(status, 404);
    plain.kill();

    let repo = with_work("commit-server");
    let origin = repo.origin();
    let repo_path = repo.dir.to_str().unwrap();
    let mut server = Server::start_with(
        &binary,
        &url,
        &[
            ("COMMIT_REPO", repo_path),
            ("COMMIT_PROTECTED_BRANCHES", "release"),
        ],
    );
    assert!(
        server
            .startup
            .iter()
            .any(|l| l.contains("the commit plugin drives this repository")),
        "{:?}",
        server.startup
    );
    let server_key = Some(key);
    server.key.clone_from(&server_key);
    let (status, _, doc) = server.call("GET", "/openapi.json", None);
    assert_eq!(status, 200);
    assert!(doc.contains("/v1/plugins/commit/apply"));
    let (status, _, body) = server.call("POST", "/v1/plugins/commit/generate", Some(&json!({})));
    assert_eq!(status, 200, "{body}");
    let plan: Value = serde_json::from_str(&body).unwrap();
    let id = commit_with(&plan, "src/new.rs");
    let (status, _, body) = server.call(
        "PATCH",
        "/v1/plugins/commit/plan",
        Some(&json!({"id": id, "message": "add two() and new.rs", "type": "feat"})),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.call_to_end("POST", "/v1/plugins/commit/apply", Some(&json!({})));
    assert_eq!(status, 200, "{body}");
    assert!(
        repo.git(&["log", "--format=%s"])
            .lines()
            .any(|l| l.ends_with(": add two() and new.rs")),
        "the edited message is in git's log"
    );
    let (status, body) = server.call_to_end("POST", "/v1/plugins/commit/push", Some(&json!({})));
    assert_eq!(status, 200, "{body}");
    let remote_head = remote_head(&origin);
    assert_eq!(
        String::from_utf8_lossy(&remote_head.stdout),
        repo.git(&["rev-parse", "HEAD"])
    );
    let (_, _, body) = server.call("GET", "/v1/plugins/commit/status", None);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["state"],
        "pushed"
    );
    server.kill();

    // The scopes offered are the ones configured.
    let mut scoped = Server::start_with(
        &binary,
        &url,
        &[("COMMIT_REPO", repo_path), ("COMMIT_SCOPES", "src,docs")],
    );
    scoped.key.clone_from(&server_key);
    let (status, _, body) = scoped.call("GET", "/v1/plugins/commit/scopes", None);
    assert_eq!(status, 200, "{body}");
    let paths: Vec<String> = serde_json::from_str::<Value>(&body).unwrap()["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paths, [".", "src", "docs"]);
    scoped.kill();
    // Or with labels and descriptions, as JSON in the same variable.
    let labelled =
        r#"[{"path": "src", "label": "Library", "description": "The crate's code."}, "docs"]"#;
    let mut scoped = Server::start_with(
        &binary,
        &url,
        &[("COMMIT_REPO", repo_path), ("COMMIT_SCOPES", labelled)],
    );
    scoped.key.clone_from(&server_key);
    let (status, _, body) = scoped.call("GET", "/v1/plugins/commit/scopes", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["scopes"],
        json!([
            {"path": ".", "root": true, "repository": "."},
            {"path": "src", "root": false, "label": "Library", "description": "The crate's code.", "repository": "."},
            {"path": "docs", "root": false, "repository": "."},
        ])
    );
    scoped.kill();

    // A model the AI configuration does not have stops the server before it listens.
    let refused = std::process::Command::new(&binary)
        .env("DATABASE_URL", &url)
        .env("PORT", "0")
        .env("COMMIT_REPO", repo_path)
        .env("COMMIT_MODEL", "no-such-model")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("no model `no-such-model`"), "{said}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn pushes_that_cannot_happen_are_declared_errors() {
    let repo = with_work("push-failures");
    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| {
        s.with_git_timeout(Duration::from_millis(500))
    })
    .await;
    // An origin that is not there: the remote cannot be reached (its path is not told).
    let gone = repo.dir.join(".git/no-such-origin.git");
    repo.git(&["remote", "add", "origin", gone.to_str().unwrap()]);
    let r = post(&c, "push", json!({})).await;
    assert_eq!(code(&r), (502, "REMOTE_UNREACHABLE".into()), "{}", r.text());
    assert!(!r.text().contains("no-such-origin"), "{}", r.text());
    // A pre-push hook that hangs: killed, with the push.
    repo.git(&["remote", "remove", "origin"]);
    repo.origin();
    repo.hook("pre-push", "sleep 60");
    let r = post(&c, "push", json!({})).await;
    assert_eq!(code(&r), (504, "GIT_TIMEOUT".into()), "{}", r.text());
    // Not on a branch.
    std::fs::remove_file(repo.dir.join(".git/hooks/pre-push")).unwrap();
    repo.git(&["checkout", "-q", "--detach"]);
    let r = post(&c, "push", json!({})).await;
    assert_eq!(code(&r), (409, "NO_BRANCH".into()), "{}", r.text());
}

/// Starts an apply, answered `202 Accepted`: the operation's `Location`.
async fn start_apply(c: &TestClient) -> String {
    let r = c
        .post("/v1/plugins/commit/apply")
        .json(&json!({}))
        .send()
        .await;
    assert_eq!(r.status(), 202, "{}", r.text());
    let location = r.header("location").unwrap().to_owned();
    assert_eq!(
        r.json::<Value>()["id"],
        *location.rsplit('/').next().unwrap()
    );
    location
}

/// The operation at `location` once it ended (within ten seconds).
async fn ended_operation(c: &TestClient, location: &str) -> Value {
    for _ in 0..200 {
        let op: Value = c.get(location).send().await.json();
        if op["finishedAt"].is_string() {
            return op;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the operation at {location} did not end");
}

/// Applies once a cancelled apply has let the repository go: it holds it until it has recorded
/// what it made, moments after its operation ended.
async fn apply_when_let_go(c: &TestClient) -> plugin_routes::testing::TestResponse {
    for _ in 0..200 {
        let r = post(c, "apply", json!({})).await;
        let held = r.status() == 409 && r.json::<Value>()["error"]["code"] == "APPLY_IN_PROGRESS";
        if !held {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the repository stayed held after the cancelled apply ended");
}

/// Reads the pid a hook wrote to `pid_file` once it has written all of it.
async fn hook_pid(pid_file: &Path) -> String {
    let mut pid = String::new();
    for _ in 0..200 {
        pid = std::fs::read_to_string(pid_file).unwrap_or_default();
        if pid.ends_with('\n') {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(!pid.trim().is_empty(), "the hook wrote no pid");
    pid.trim().to_owned()
}

#[tokio::test]
async fn a_cancelled_apply_kills_git_and_its_hook() {
    let repo = with_work("cancelled");
    let pid_file = repo.dir.join(".git/hook-pid");
    repo.hook(
        "pre-commit",
        &format!("echo $$ > '{}'\nsleep 60", pid_file.display()),
    );
    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| s).await;
    generate(&c).await;
    let before = repo.commits();
    let location = start_apply(&c).await;
    assert!(wait_for(&pid_file).await, "the hook never ran");
    let pid = hook_pid(&pid_file).await;
    let r = c.post(&format!("{location}/cancel")).send().await;
    assert_eq!(r.status(), 202, "{}", r.text());
    assert!(
        wait_ended(&pid).await,
        "the hook still runs after the apply was cancelled"
    );
    let op = ended_operation(&c, &location).await;
    assert_eq!(op["state"], "cancelled", "{op}");
    assert_eq!(op["error"]["code"], "CANCELLED", "{op}");
    // Nothing was made: the plan stands as it was, and is applied as usual.
    nothing_made_then_applied(&c, &repo, before, "pre-commit").await;
}

/// A cancel while the second of a plan's commits is being made: the first stays made and
/// recorded in the plan, the second is killed in its hook and not made (nor would any after
/// it be); the plan's other commits are then applied as usual.
#[tokio::test]
async fn a_cancelled_apply_keeps_the_commits_made_recorded_in_the_plan() {
    let repo = with_work("cancelled-midway");
    let git_dir = repo.dir.join(".git");
    let (count, pid_file) = (git_dir.join("hook-count"), git_dir.join("hook-pid"));
    // Every commit but the first waits in its hook.
    repo.hook(
        "pre-commit",
        &format!(
            "echo x >> '{count}'\nif [ \"$(wc -l < '{count}')\" -ge 2 ]; then echo $$ > '{pid}'; sleep 60; fi",
            count = count.display(),
            pid = pid_file.display()
        ),
    );
    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| s).await;
    let plan = generate(&c).await;
    let planned = plan["commits"].as_array().unwrap().len();
    assert!(planned >= 2, "{plan}");
    let before = repo.commits();
    let location = start_apply(&c).await;
    assert!(
        wait_for(&pid_file).await,
        "the second commit's hook never ran"
    );
    let pid = hook_pid(&pid_file).await;
    // Its progress said so as it went.
    let op: Value = c.get(&location).send().await.json();
    assert_eq!(op["state"], "running", "{op}");
    let r = c.post(&format!("{location}/cancel")).send().await;
    assert_eq!(r.status(), 202, "{}", r.text());
    assert!(
        wait_ended(&pid).await,
        "the hook still runs after the cancel"
    );
    let op = ended_operation(&c, &location).await;
    assert_eq!(op["state"], "cancelled", "{op}");

    // In the repository: exactly the first commit, on top of what was there.
    assert_eq!(repo.commits(), before + 1);
    let head = repo.git(&["rev-parse", "HEAD"]).trim().to_owned();
    let subject = repo.git(&["log", "-1", "--format=%s"]).trim().to_owned();
    assert_eq!(subject, subjects(&plan)[0]);
    // In the plan, once the apply let the repository go: the first recorded, the rest not.
    let now = plan_with_first_recorded(&c).await;
    assert_eq!(now["commits"][0]["sha"], json!(head), "{now}");
    let commits = now["commits"].as_array().unwrap();
    assert!(commits[1..].iter().all(|c| c["sha"].is_null()), "{now}");
    assert_eq!(now["state"], "ready");
    // The events told each step, in order, and ended with the cancel.
    let events = c.get(&format!("{location}/events")).send().await.events();
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.last(), Some(&"cancelled"), "{events:?}");
    let said: Vec<&str> = events
        .iter()
        .filter(|(n, _)| n == "progress")
        .map(|(_, e)| e["message"].as_str().unwrap())
        .collect();
    assert!(said[0].starts_with("making "), "{said:?}");
    assert!(said[1].starts_with("made 1 of "), "{said:?}");

    // The rest is applied as usual, and the plan is applied.
    std::fs::remove_file(git_dir.join("hooks/pre-commit")).unwrap();
    let r = apply_when_let_go(&c).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let applied: Value = r.json();
    assert_eq!(applied["made"].as_array().unwrap().len(), planned - 1);
    assert_eq!(applied["plan"]["state"], "applied");
    assert_eq!(repo.commits(), before + planned);
}

/// A cancel while git runs the `post-commit` hook: git had made the commit (it moves the
/// branch, then runs the hook), so it is recorded in the plan though git was killed; the index
/// is set for its files as after any commit, and the hook is killed.
#[tokio::test]
async fn a_commit_git_made_before_it_was_killed_is_recorded() {
    let repo = with_work("cancelled-after-commit");
    let pid_file = repo.dir.join(".git/hook-pid");
    repo.hook(
        "post-commit",
        &format!("echo $$ > '{}'\nsleep 60", pid_file.display()),
    );
    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| s).await;
    let plan = generate(&c).await;
    let planned = plan["commits"].as_array().unwrap().len();
    let before = repo.commits();
    let location = start_apply(&c).await;
    assert!(wait_for(&pid_file).await, "the post-commit hook never ran");
    let pid = hook_pid(&pid_file).await;
    let r = c.post(&format!("{location}/cancel")).send().await;
    assert_eq!(r.status(), 202, "{}", r.text());
    assert!(
        wait_ended(&pid).await,
        "the hook still runs after the cancel"
    );
    assert_eq!(ended_operation(&c, &location).await["state"], "cancelled");
    assert_eq!(repo.commits(), before + 1);
    let head = repo.git(&["rev-parse", "HEAD"]).trim().to_owned();
    let now = plan_with_first_recorded(&c).await;
    assert_eq!(now["commits"][0]["sha"], json!(head), "{now}");
    // The index agrees with the commit for its files: none of them shows as staged.
    let files: Vec<&str> = now["commits"][0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    let mut args = vec!["diff", "--cached", "--name-only", "HEAD", "--"];
    args.extend(&files);
    assert_eq!(repo.git(&args).trim(), "", "staged against the commit");
    std::fs::remove_file(repo.dir.join(".git/hooks/post-commit")).unwrap();
    let r = apply_when_let_go(&c).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(repo.commits(), before + planned);
}

/// The names of the actions `GET /actions` offers.
async fn offered(c: &TestClient) -> Vec<String> {
    let r = c.get("/v1/plugins/commit/actions").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    r.json::<Value>()["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Runs git in `dir`, expecting it to stop on a conflict (exit code 1).
fn conflicting(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "git {args:?} did not conflict");
}

#[tokio::test]
async fn applying_during_an_unfinished_merge_or_a_conflict_is_operation_in_progress() {
    let repo = Repo::new("merging");
    repo.git(&["checkout", "-q", "-b", "other"]);
    repo.write("README.md", "# theirs\n");
    repo.write("docs/guide.md", "Theirs.\n");
    repo.git(&["commit", "-q", "-am", "docs: theirs"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.write("README.md", "# ours\n");
    repo.git(&["commit", "-q", "-am", "docs: ours"]);
    // `README.md` in conflict, `docs/guide.md` staged from the other side.
    conflicting(&repo.dir, &["merge", "-q", "other"]);
    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| s).await;
    generate(&c).await;
    assert!(!offered(&c).await.contains(&"apply".to_owned()));
    let head = repo.git(&["rev-parse", "HEAD"]);
    let r = post(&c, "apply", json!({})).await;
    assert_eq!(
        code(&r),
        (409, "OPERATION_IN_PROGRESS".into()),
        "{}",
        r.text()
    );
    assert_eq!(r.error()["details"], json!({"operation": "merge"}));
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), head, "no commit made");
    // The merge is still the user's to conclude.
    repo.git(&["rev-parse", "-q", "--verify", "MERGE_HEAD"]);
    // Resolved but not concluded, a commit would still be the merge's.
    repo.write("README.md", "# both\n");
    repo.git(&["add", "README.md"]);
    let r = post(&c, "apply", json!({})).await;
    assert_eq!(r.error()["details"], json!({"operation": "merge"}));
    repo.git(&["merge", "--abort"]);
    assert!(offered(&c).await.contains(&"apply".to_owned()));

    // A conflict no operation is under way for: a stash popped onto a changed file.
    repo.write("README.md", "# stashed\n");
    repo.git(&["stash", "-q"]);
    repo.write("README.md", "# committed\n");
    repo.git(&["commit", "-q", "-am", "docs: committed"]);
    conflicting(&repo.dir, &["stash", "pop", "-q"]);
    generate(&c).await;
    assert!(!offered(&c).await.contains(&"apply".to_owned()));
    let r = post(&c, "apply", json!({})).await;
    assert_eq!(
        code(&r),
        (409, "OPERATION_IN_PROGRESS".into()),
        "{}",
        r.text()
    );
    assert_eq!(r.error()["details"], json!({"operation": "conflict"}));
}

#[tokio::test]
async fn an_unfinished_cherry_pick_in_a_linked_worktree_is_found_where_git_keeps_it() {
    let repo = Repo::new("worktree");
    repo.git(&["checkout", "-q", "-b", "other"]);
    repo.write("README.md", "# picked\n");
    repo.git(&["commit", "-q", "-am", "docs: to pick"]);
    repo.git(&["checkout", "-q", "main"]);
    // The worktree goes with the repository's directory when it is removed.
    let tree = repo.dir.join("linked");
    repo.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "side",
        tree.to_str().unwrap(),
    ]);
    std::fs::write(tree.join("README.md"), "# side\n").unwrap();
    repo.git(&["-C", "linked", "commit", "-q", "-am", "docs: side"]);
    conflicting(&tree, &["cherry-pick", "other"]);
    // Its state is in the main repository's `.git/worktrees/linked`, not in `linked/.git`.
    assert!(tree.join(".git").is_file());
    let c = client_with(&tree, "commit:*", MEMORY, |s| s).await;
    generate(&c).await;
    let r = post(&c, "apply", json!({})).await;
    assert_eq!(
        code(&r),
        (409, "OPERATION_IN_PROGRESS".into()),
        "{}",
        r.text()
    );
    assert_eq!(r.error()["details"], json!({"operation": "cherry-pick"}));
}

/// `example-server --confine`: the whole server process confined by Landlock to what its plugins
/// declare and what it needs, and still doing everything a person does — plans, applies with the
/// repository's hooks, pushes to an origin on this machine — its git nested inside that.
#[test]
fn the_example_server_confines_itself_and_still_plans_applies_and_pushes() {
    use crate::server::{Server, fresh_sqlite, server_binary};
    let e = plugin_routes::reach::enforcement();
    if !(e.fs.enforced && e.net.enforced) {
        assert!(
            std::env::var_os("CI").is_none(),
            "Landlock expected on CI: {e:?}"
        );
        println!("SKIPPED: the kernel cannot confine here: {e:?}");
        return;
    }
    let binary = server_binary();
    let (dir, url) = fresh_sqlite("confined-server");
    let key = crate::server::user_with_key(&binary, &url, "dev@example.com", "commit:*,items:*");
    let repo = with_work("confined-server");
    let origin = repo.origin();
    let repo_path = repo.dir.to_str().unwrap();
    let mut server = Server::start_with(
        &binary,
        &url,
        &[
            ("COMMIT_REPO", repo_path),
            ("CONFINE", "true"),
            ("COMMIT_PROTECTED_BRANCHES", "release"),
        ],
    );
    assert!(
        server
            .startup
            .iter()
            .any(|l| l.contains("the server process is confined by Landlock")),
        "{:?}",
        server.startup
    );
    server.key = Some(key);
    let (status, _, body) = server.call("GET", "/ready", None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["serverConfined"],
        true
    );
    // Every thread of the process was made after it confined itself: Landlock sets
    // `no_new_privs` on the thread that confines, and only threads made afterwards inherit it.
    let tasks = std::fs::read_dir(format!("/proc/{}/task", server.pid())).unwrap();
    let mut threads = 0;
    for task in tasks {
        let status = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        assert!(
            status.contains("NoNewPrivs:\t1"),
            "a thread made before confining: {status}"
        );
        threads += 1;
    }
    assert!(threads > 1, "the runtime's threads are there");
    let (status, _, body) = server.call(
        "POST",
        "/v1/plugins/items/items",
        Some(&json!({"name": "lamp", "status": "active"})),
    );
    assert_eq!(status, 201, "the database is written: {body}");
    let (status, _, body) = server.call("POST", "/v1/plugins/commit/generate", Some(&json!({})));
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.call_to_end("POST", "/v1/plugins/commit/apply", Some(&json!({})));
    assert_eq!(status, 200, "{body}");
    let (status, body) = server.call_to_end("POST", "/v1/plugins/commit/push", Some(&json!({})));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        String::from_utf8_lossy(&remote_head(&origin).stdout),
        repo.git(&["rev-parse", "HEAD"])
    );
    server.kill();
    let _ = std::fs::remove_dir_all(dir);
}

/// A remote on this machine widens what the push route may write only when it is a git
/// repository of its own: a remote of `/`, or of the directory holding the repository, would
/// let a push (and the whole confined server) write anywhere under it, so neither is allowed.
#[tokio::test]
async fn only_a_repository_of_its_own_is_a_remote_the_push_may_write() {
    let repo = with_work("remote-roots");
    let origin = repo.origin();
    repo.git(&["remote", "add", "root", "/"]);
    repo.git(&[
        "remote",
        "add",
        "above",
        repo.dir.parent().unwrap().to_str().unwrap(),
    ]);
    repo.git(&["remote", "add", "rooturl", "file:///"]);
    let plans = crate::commit::plans_in_memory().await;
    let state = commit_plugin::CommitState::open(&repo.dir, &[], plans)
        .await
        .unwrap();
    let placeholders = state.placeholders();
    assert_eq!(
        placeholders.get("remote_dir"),
        [std::fs::canonicalize(&origin)
            .unwrap()
            .to_string_lossy()
            .into_owned()]
    );
}

#[tokio::test]
async fn a_dry_run_answers_a_plan_it_does_not_keep_and_a_commit_s_scope_can_be_edited() {
    let repo = with_work("dry-run");
    let c = client_with(&repo.dir, "commit:*", MEMORY, |s| s).await;
    let r = post(&c, "generate", json!({"dryRun": true})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let dry: Value = r.json();
    assert_eq!(
        dry["metadata"],
        json!({"method": "heuristics", "model": null, "tokensUsed": 0})
    );
    let r = c.get("/v1/plugins/commit/plan").send().await;
    assert_eq!(code(&r), (404, "NO_PLAN".into()), "nothing was kept");

    // Kept, then a dry run beside it leaves it as it is.
    let plan = generate(&c).await;
    assert_eq!(subjects(&plan), subjects(&dry), "the same plan");
    let r = post(&c, "generate", json!({"dryRun": true})).await;
    assert_eq!(r.status(), 200);
    let kept: Value = c.get("/v1/plugins/commit/plan").send().await.json();
    assert_eq!(kept, plan);

    // The conventional-commit scope of one commit.
    let edit = |body: Value| c.patch("/v1/plugins/commit/plan").json(&body).send();
    let r = edit(json!({"id": "c1", "commitScope": "api"})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(subjects(&r.json())[0], "feat(api): add two");
    let r = edit(json!({"id": "c1", "commitScope": ""})).await;
    assert_eq!(subjects(&r.json())[0], "feat: add two");
    let r = edit(json!({"id": "c1", "commitScope": "my scope)"})).await;
    assert_eq!(code(&r), (400, "INVALID_INPUT".into()));
    assert_eq!(r.error()["details"][0]["path"], "commitScope");
}

/// The database refusing writes just after git made the commits (SQLite's write lock held by
/// another connection past its busy wait): the apply waits it out and records them once it
/// can, rather than failing with the commits made and their record lost (asked again, it would
/// find nothing left to commit).
#[tokio::test]
async fn commits_made_while_the_database_refuses_writes_are_recorded_once_it_takes_them() {
    use sqlx::Connection;
    let repo = with_work("record-outage");
    let (dir, url) = crate::server::fresh_sqlite("commit-record-outage");
    let c = client_with(&repo.dir, "commit:*", &url, |s| s).await;
    let planned = subjects(&generate(&c).await).len();
    let before = repo.commits();
    let (started, gate) = repo.hold_commits();
    let applying = {
        let c = c.clone();
        tokio::spawn(async move { post(&c, "apply", json!({})).await })
    };
    while !started.exists() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut holder = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    std::fs::write(&gate, "").unwrap();
    // Longer than SQLite's busy wait (5 s): the first try to record them fails.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(repo.commits(), before + planned, "made meanwhile");
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();
    holder.close().await.unwrap();
    let r = applying.await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text());
    let applied: Value = r.json();
    assert_eq!(applied["plan"]["state"], "applied", "{applied}");
    assert_eq!(applied["made"].as_array().unwrap().len(), planned);
    let _ = std::fs::remove_dir_all(dir);
}
