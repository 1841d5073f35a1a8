//! The commit plugin's reading routes against real git repositories made in temporary
//! directories: status, files and diffs as git reports them, scopes, and every path that would
//! leave its scope or be read by git as an option refused.

use crate::fixtures::scopes;
use commit_plugin::{CommitPlugin, CommitState};
use plugin_runtime::auth::{Auth, AuthConfig};
use plugin_runtime::plugins;
use plugin_runtime::testing::TestClient;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A repository in a fresh directory: one commit of `README.md`, `src/lib.rs` and `docs/guide.md`.
pub(crate) struct Repo {
    pub(crate) dir: PathBuf,
}

impl Repo {
    pub(crate) fn new(test: &str) -> Repo {
        let dir = std::env::temp_dir().join(format!("plugin-commit-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let repo = Repo { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.name", "Test"]);
        repo.git(&["config", "user.email", "test@example.com"]);
        repo.git(&["config", "commit.gpgsign", "false"]);
        repo.write("README.md", "# demo\n");
        repo.write("src/lib.rs", "pub fn one() -> u32 {\n    1\n}\n");
        repo.write("docs/guide.md", "Read me.\n");
        repo.git(&["add", "-A"]);
        repo.git(&["commit", "-q", "-m", "chore: start"]);
        repo
    }

    pub(crate) fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub(crate) fn write(&self, path: &str, text: &str) {
        let file = self.dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
}

impl Drop for Repo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The commit plugin on `repo`, for a caller holding `grants`.
async fn client(repo: &Path, grants: &str) -> TestClient {
    let pool = plugin_runtime::database::connect("sqlite::memory:")
        .await
        .unwrap();
    let auth = Auth::open(pool, AuthConfig::default()).await.unwrap();
    auth.create_user(
        "ada@example.com",
        "a long password",
        &scopes("commit:*,items:*"),
    )
    .await
    .unwrap();
    let key = auth
        .create_api_key("ada@example.com", "tests", &scopes(grants), None)
        .await
        .unwrap()
        .key;
    let state = CommitState::open(repo, &[]).await.unwrap();
    let app = plugins![auth = auth; CommitPlugin::new(state)];
    TestClient::new(app).with_header("authorization", format!("Bearer {key}"))
}

/// The repository with work under way: `src/lib.rs` edited and staged, then edited again,
/// `README.md` edited, `docs/guide.md` deleted, `src/new.rs` untracked.
fn with_work(test: &str) -> Repo {
    let repo = Repo::new(test);
    repo.write(
        "src/lib.rs",
        "pub fn one() -> u32 {\n    1\n}\n\npub fn two() -> u32 {\n    2\n}\n",
    );
    repo.git(&["add", "src/lib.rs"]);
    repo.write(
        "src/lib.rs",
        "pub fn one() -> u32 {\n    1\n}\n\npub fn two() -> u32 {\n    3\n}\n",
    );
    repo.write("README.md", "# demo\n\nMore.\n");
    std::fs::remove_file(repo.dir.join("docs/guide.md")).unwrap();
    repo.write("src/new.rs", "// new\nfn x() {}\n");
    repo
}

#[tokio::test]
async fn git_status_sorts_changes_by_where_they_are() {
    let repo = with_work("status");
    let c = client(&repo.dir, "commit:read").await;
    let r = c.get("/v1/plugins/commit/git-status").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(
        r.json::<Value>(),
        json!({
            "staged": [{"path": "src/lib.rs", "change": "modified"}],
            "unstaged": [
                {"path": "README.md", "change": "modified"},
                {"path": "docs/guide.md", "change": "deleted"},
                {"path": "src/lib.rs", "change": "modified"},
            ],
            "untracked": ["src/new.rs"],
        })
    );
    // A scope narrows it to its directory.
    let r = c
        .get("/v1/plugins/commit/git-status?scope=docs")
        .send()
        .await;
    assert_eq!(
        r.json::<Value>(),
        json!({"staged": [], "unstaged": [{"path": "docs/guide.md", "change": "deleted"}], "untracked": []})
    );
}

#[tokio::test]
async fn files_count_lines_added_and_deleted_against_the_last_commit() {
    let repo = with_work("files");
    let c = client(&repo.dir, "commit:read").await;
    let r = c.get("/v1/plugins/commit/files").send().await;
    assert_eq!(
        r.json::<Value>(),
        json!([
            {"path": "README.md", "change": "modified", "additions": 2, "deletions": 0},
            {"path": "docs/guide.md", "change": "deleted", "additions": 0, "deletions": 1},
            {"path": "src/lib.rs", "change": "modified", "additions": 4, "deletions": 0},
            {"path": "src/new.rs", "change": "untracked", "additions": 2, "deletions": 0},
        ])
    );
    let r = c.get("/v1/plugins/commit/files?scope=src").send().await;
    assert_eq!(r.json::<Vec<Value>>().len(), 2);
}

#[tokio::test]
async fn a_diff_is_the_file_against_the_last_commit() {
    let repo = with_work("diff");
    let c = client(&repo.dir, "commit:read").await;
    let r = c
        .get("/v1/plugins/commit/diff?file=src/lib.rs")
        .send()
        .await;
    let d: Value = r.json();
    assert_eq!(
        (d["additions"].as_u64(), d["deletions"].as_u64()),
        (Some(4), Some(0))
    );
    assert!(
        d["diff"]
            .as_str()
            .unwrap()
            .contains("+pub fn two() -> u32 {"),
        "{d}"
    );
    // Relative to the scope; an untracked file is all added.
    let r = c
        .get("/v1/plugins/commit/diff?scope=src&file=new.rs")
        .send()
        .await;
    let d: Value = r.json();
    assert_eq!(
        (d["path"].as_str(), d["additions"].as_u64()),
        (Some("src/new.rs"), Some(2))
    );
    // Unchanged: an empty diff.
    repo.write("src/same.rs", "x\n");
    repo.git(&["add", "src/same.rs"]);
    repo.git(&["commit", "-q", "-m", "feat: same"]);
    let d: Value = c
        .get("/v1/plugins/commit/diff?file=src/same.rs")
        .send()
        .await
        .json();
    assert_eq!(
        (d["diff"].as_str(), d["additions"].as_u64()),
        (Some(""), Some(0))
    );
}

#[tokio::test]
async fn scopes_are_the_root_and_its_directories() {
    let repo = Repo::new("scopes");
    let c = client(&repo.dir, "commit:read").await;
    let r: Value = c.get("/v1/plugins/commit/scopes").send().await.json();
    assert_eq!(
        r,
        json!({"scopes": [
            {"path": ".", "root": true},
            {"path": "docs", "root": false},
            {"path": "src", "root": false},
        ]})
    );
}

#[tokio::test]
async fn paths_that_leave_the_scope_or_read_as_options_are_refused() {
    let repo = with_work("paths");
    // A file whose name git would read as an option, inside the scope, is a file like any.
    repo.write("src/-rf", "not an option\n");
    std::os::unix::fs::symlink("/tmp", repo.dir.join("outside")).unwrap();
    let c = client(&repo.dir, "commit:read").await;
    for (uri, status, code) in [
        (
            "/v1/plugins/commit/files?scope=..",
            400,
            "PATH_OUTSIDE_SCOPE",
        ),
        (
            "/v1/plugins/commit/files?scope=/etc",
            400,
            "PATH_OUTSIDE_SCOPE",
        ),
        (
            "/v1/plugins/commit/files?scope=-p",
            400,
            "PATH_OUTSIDE_SCOPE",
        ),
        (
            "/v1/plugins/commit/files?scope=outside",
            400,
            "PATH_OUTSIDE_SCOPE",
        ),
        (
            "/v1/plugins/commit/files?scope=nowhere",
            404,
            "SCOPE_NOT_FOUND",
        ),
        (
            "/v1/plugins/commit/git-status?scope=src/../..",
            400,
            "PATH_OUTSIDE_SCOPE",
        ),
        (
            "/v1/plugins/commit/diff?file=../etc/passwd",
            400,
            "PATH_OUTSIDE_SCOPE",
        ),
        (
            "/v1/plugins/commit/diff?file=--output=/tmp/x",
            400,
            "PATH_OUTSIDE_SCOPE",
        ),
        (
            "/v1/plugins/commit/diff?scope=src&file=missing.rs",
            404,
            "FILE_NOT_FOUND",
        ),
    ] {
        let r = c.get(uri).send().await;
        assert_eq!(
            (r.status().as_u16(), r.error()["code"].as_str()),
            (status, Some(code)),
            "{uri}"
        );
    }
    let r = c.get("/v1/plugins/commit/diff?file=src/-rf").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json::<Value>()["additions"], 1);
}

#[tokio::test]
async fn reading_needs_commit_read() {
    let repo = Repo::new("scope-grant");
    let c = client(&repo.dir, "items:read").await;
    let r = c.get("/v1/plugins/commit/files").send().await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.error()["details"]["missingScopes"],
        json!(["commit:read"])
    );
}
