//! The commit plugin against real git repositories made in temporary directories: status,
//! files and diffs as git reports them, scopes, every path that would leave its scope or be read
//! by git as an option refused, and plans made, kept across a restart, edited and discarded,
//! with secrets caught first.

use crate::fixtures::scopes;
use commit_plugin::scope::ScopeConfig;
use commit_plugin::{CommitPlugin, CommitState};
use plugin_routes::auth::{Auth, AuthConfig};
use plugin_routes::testing::TestClient;
use plugin_routes::{ServerConfig, plugins};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A repository in a fresh directory: one commit of `README.md`, `src/lib.rs` and `docs/guide.md`.
pub(crate) struct Repo {
    pub(crate) dir: PathBuf,
}

impl Repo {
    pub(crate) fn new(test: &str) -> Repo {
        // Unique per call: tests running at once may share a name.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("plugin-commit-{test}-{}-{n}", std::process::id()));
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
        git_in(&self.dir, args)
    }

    pub(crate) fn write(&self, path: &str, text: &str) {
        let file = self.dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
}

/// `git -C dir args…`, which must succeed; what it printed.
pub(crate) fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
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

impl Drop for Repo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A plan store of its own in an in-memory SQLite database.
pub(crate) async fn plans_in_memory() -> commit_plugin::store::Plans {
    let pool = plugin_routes::database::connect("sqlite::memory:")
        .await
        .unwrap();
    commit_plugin::store::Plans::open(pool, "sqlite::memory:")
        .await
        .unwrap()
}

/// The commit plugin on `repo`, for a caller holding `grants`.
async fn client(repo: &Path, grants: &str) -> TestClient {
    client_on(repo, grants, "sqlite::memory:").await
}

/// [`client`] keeping its plans (and users) in the database at `url`.
async fn client_on(repo: &Path, grants: &str, url: &str) -> TestClient {
    client_with(repo, grants, url, |s| s).await
}

/// [`client_on`] with the plugin's state set up by `tune`.
pub(crate) async fn client_with(
    repo: &Path,
    grants: &str,
    url: &str,
    tune: impl FnOnce(CommitState) -> CommitState,
) -> TestClient {
    client_scoped(repo, grants, url, &[], tune).await
}

/// [`client_with`] offering the scopes `configured`.
pub(crate) async fn client_scoped(
    repo: &Path,
    grants: &str,
    url: &str,
    configured: &[ScopeConfig],
    tune: impl FnOnce(CommitState) -> CommitState,
) -> TestClient {
    client_served(repo, grants, url, configured, tune, ServerConfig::default()).await
}

/// [`client_scoped`] with the server's settings.
pub(crate) async fn client_served(
    repo: &Path,
    grants: &str,
    url: &str,
    configured: &[ScopeConfig],
    tune: impl FnOnce(CommitState) -> CommitState,
    server: ServerConfig,
) -> TestClient {
    let pool = plugin_routes::database::connect(url).await.unwrap();
    let plans = commit_plugin::store::Plans::open(pool.clone(), url)
        .await
        .unwrap();
    let auth = Auth::open(pool.clone(), AuthConfig::default())
        .await
        .unwrap();
    // A second start on the same database finds the user there already.
    let _ = auth
        .create_user(
            "ada@example.com",
            "a long password",
            &scopes("commit:*,items:*,ai:generate"),
        )
        .await;
    let key = auth
        .create_api_key("ada@example.com", "tests", &scopes(grants), None)
        .await
        .unwrap()
        .key;
    // Tests push their `main`; the protection of `main` and `master` is tested on its own.
    // The plugin's counters on the server's `/metrics`, as its start hook sets them up.
    let state = tune(
        CommitState::open(repo, configured, plans)
            .await
            .unwrap()
            .with_protected_branches(Vec::new())
            .with_metrics(server.metrics().unwrap()),
    );
    let placeholders = state.placeholders();
    let operations = crate::fixtures::operations_on(&pool, url).await;
    let app = plugins![
        config = server.with_operations(&operations);
        auth = auth;
        CommitPlugin::new(state).with_placeholders(&placeholders)
    ];
    crate::fixtures::run_operations(&operations);
    TestClient::new(app).with_header("authorization", format!("Bearer {key}"))
}

/// The repository with work under way: `src/lib.rs` edited and staged, then edited again,
/// `README.md` edited, `docs/guide.md` deleted, `src/new.rs` untracked.
pub(crate) fn with_work(test: &str) -> Repo {
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
            "leftOut": {"nonUtf8Names": 0, "nestedRepositories": 0},
        })
    );
    // A scope narrows it to its directory.
    let r = c
        .get("/v1/plugins/commit/git-status?scope=docs")
        .send()
        .await;
    assert_eq!(
        r.json::<Value>(),
        json!({"staged": [], "unstaged": [{"path": "docs/guide.md", "change": "deleted"}], "untracked": [],
            "leftOut": {"nonUtf8Names": 0, "nestedRepositories": 0}})
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
    // A top-level directory that is a repository of its own is not offered by default: git
    // would run with its configuration and hooks (`COMMIT_SCOPES` serves it).
    std::fs::create_dir(repo.dir.join("widget")).unwrap();
    let init = Command::new("git")
        .args(["init", "-q"])
        .current_dir(repo.dir.join("widget"))
        .status()
        .unwrap();
    assert!(init.success());
    let c = client(&repo.dir, "commit:read").await;
    let r: Value = c.get("/v1/plugins/commit/scopes").send().await.json();
    assert_eq!(
        r,
        json!({"scopes": [
            {"path": ".", "root": true, "repository": "."},
            {"path": "docs", "root": false, "repository": "."},
            {"path": "src", "root": false, "repository": "."},
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

#[tokio::test]
async fn a_plan_is_made_kept_across_a_restart_edited_and_discarded() {
    let db_dir = std::env::temp_dir().join(format!("plugin-commit-plan-db-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&db_dir);
    std::fs::create_dir_all(&db_dir).unwrap();
    let url = format!("sqlite://{}", db_dir.join("plans.db").display());
    plan_lifecycle("plan", &url).await;
    let _ = std::fs::remove_dir_all(db_dir);
}

/// The same on PostgreSQL, in a schema of the test's own.
#[tokio::test]
async fn plans_are_kept_on_postgres_too() {
    let Some(pg) = crate::fixtures::PgSchema::fresh("commit").await else {
        return;
    };
    // Operations' queue on PostgreSQL (apalis) needs `hstore`, kept in `public`.
    let url = pg.url_with_public_extension("hstore").await;
    plan_lifecycle("plan-pg", &url).await;
    pg.remove().await;
}

/// Makes a plan, restarts on the same database, reads, edits and discards it.
async fn plan_lifecycle(test: &str, url: &str) {
    let repo = with_work(test);
    let c = client_on(&repo.dir, "commit:*", url).await;
    let r = c.get("/v1/plugins/commit/plan").send().await;
    assert_eq!(
        (r.status().as_u16(), r.error()["code"].as_str()),
        (404, Some("NO_PLAN"))
    );
    let status: Value = c.get("/v1/plugins/commit/status").send().await.json();
    assert_eq!(
        (status["state"].as_str(), status["filesChanged"].as_u64()),
        (Some("idle"), Some(4))
    );

    let r = c
        .post("/v1/plugins/commit/generate")
        .json(&json!({}))
        .send()
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let plan: Value = r.json();
    let lines: Vec<String> = plan["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{} {} {}",
                c["id"].as_str().unwrap(),
                c["type"].as_str().unwrap(),
                c["message"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        lines,
        ["c1 feat add two", "c2 docs update readme and guide"]
    );
    assert_eq!(plan["state"], "ready");

    // A restart: a new server on the same database still has it.
    drop(c);
    let c = client_on(&repo.dir, "commit:*", url).await;
    let kept: Value = c.get("/v1/plugins/commit/plan").send().await.json();
    assert_eq!(kept, plan);
    let status: Value = c.get("/v1/plugins/commit/status").send().await.json();
    assert_eq!(
        (status["state"].as_str(), status["commitsPlanned"].as_u64()),
        (Some("ready"), Some(2))
    );

    let r = c
        .patch("/v1/plugins/commit/plan")
        .json(&json!({"id": "c1", "message": "add two()", "type": "feat", "body": "And new.rs."}))
        .send()
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let edited: Value = c.get("/v1/plugins/commit/plan").send().await.json();
    assert_eq!(
        (
            edited["commits"][0]["message"].as_str(),
            edited["commits"][0]["type"].as_str(),
            edited["commits"][0]["body"].as_str()
        ),
        (Some("add two()"), Some("feat"), Some("And new.rs."))
    );
    let r = c
        .patch("/v1/plugins/commit/plan")
        .json(&json!({"id": "c9", "message": "x"}))
        .send()
        .await;
    assert_eq!(
        (r.status().as_u16(), r.error()["code"].as_str()),
        (404, Some("COMMIT_NOT_FOUND"))
    );
    let r = c
        .patch("/v1/plugins/commit/plan")
        .json(&json!({"id": "c1", "message": ""}))
        .send()
        .await;
    assert_eq!(r.error()["details"][0]["path"], "message");

    assert_eq!(
        c.delete("/v1/plugins/commit/plan").send().await.status(),
        204
    );
    let r = c.delete("/v1/plugins/commit/plan").send().await;
    assert_eq!(r.error()["code"], "NO_PLAN");
}

#[tokio::test]
async fn a_clean_scope_has_nothing_to_plan() {
    let repo = with_work("clean");
    let c = client(&repo.dir, "commit:*").await;
    repo.write("notes/todo.txt", "later\n");
    let r = c
        .post("/v1/plugins/commit/generate")
        .json(&json!({"scope": "docs"}))
        .send()
        .await;
    assert_eq!(r.status(), 200, "docs has a deletion: {}", r.text());
    repo.git(&["checkout", "--", "docs"]);
    let r = c
        .post("/v1/plugins/commit/generate")
        .json(&json!({"scope": "docs"}))
        .send()
        .await;
    assert_eq!(
        (r.status().as_u16(), r.error()["code"].as_str()),
        (400, Some("NO_CHANGES"))
    );
}

#[tokio::test]
async fn secrets_in_the_changes_stop_the_plan_unless_allowed() {
    let repo = Repo::new("secrets");
    // A fake private key, the way one is pasted by mistake.
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n";
    repo.write("deploy/id_ed25519", key);
    repo.write(
        "src/lib.rs",
        "pub fn one() -> u32 {\n    1\n}\nconst AWS: &str = \"AKIAIOSFODNN7EXAMPLE\";\n",
    );
    let c = client(&repo.dir, "commit:*").await;
    let r = c
        .post("/v1/plugins/commit/generate")
        .json(&json!({}))
        .send()
        .await;
    assert_eq!(
        (r.status().as_u16(), r.error()["code"].as_str()),
        (422, Some("SECRETS_DETECTED"))
    );
    assert_eq!(
        r.error()["details"]["findings"],
        json!([
            {"file": "deploy/id_ed25519", "line": 1, "part": "new", "kind": "private key"},
            {"file": "src/lib.rs", "line": 4, "part": "new", "kind": "AWS access key"},
        ])
    );
    assert!(
        !r.text().contains("AKIAIOSFODNN7EXAMPLE") && !r.text().contains("b3BlbnNz"),
        "{}",
        r.text()
    );
    assert_eq!(
        c.get("/v1/plugins/commit/plan").send().await.status(),
        404,
        "no half-made plan"
    );
    let r = c
        .post("/v1/plugins/commit/generate")
        .json(&json!({"allowSecrets": true}))
        .send()
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
}

/// The commit plugin's ready hook, through the server's `GET /ready`: ready while its repository
/// is there, `503 NOT_READY` saying so once it is gone.
#[tokio::test]
async fn the_readiness_route_says_when_the_repository_is_gone() {
    let repo = with_work("readiness");
    let c = client_with(&repo.dir, "commit:read", "sqlite::memory:", |s| s).await;
    let r = c.get("/ready").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json::<Value>()["plugins"]["commit"], "ready");
    std::fs::rename(repo.dir.join(".git"), repo.dir.join("git-moved")).unwrap();
    let r = c.get("/ready").send().await;
    assert_eq!(r.status(), 503, "{}", r.text());
    assert_eq!(r.error()["code"], "NOT_READY");
    assert_eq!(
        r.error()["details"]["plugins"]["commit"],
        "the repository is no longer there"
    );
    std::fs::rename(repo.dir.join("git-moved"), repo.dir.join(".git")).unwrap();
    assert_eq!(c.get("/ready").send().await.status(), 200);
}
