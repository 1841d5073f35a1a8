//! The commit plugin's scopes as configured: labels and descriptions, and scopes that are git
//! repositories of their own nested in the configured one (a repository checked out inside a
//! workspace, a submodule), each read, planned, applied and pushed as its own repository, with
//! the outer repository left as it was.

use crate::commit::{Repo, client_scoped, git_in};
use crate::commit_apply::{code, commit_with, generate, post, remote_head};
use commit_plugin::scope::{DescribedScope, ScopeConfig};
use plugin_routes::testing::TestClient;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;

/// A repository of its own at `dir`: one commit of `files`.
fn repository_at(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    git_in(dir, &["init", "-q", "-b", "main"]);
    git_in(dir, &["config", "user.name", "Test"]);
    git_in(dir, &["config", "user.email", "test@example.com"]);
    git_in(dir, &["config", "commit.gpgsign", "false"]);
    for (path, text) in files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    git_in(dir, &["add", "-A"]);
    git_in(dir, &["commit", "-q", "-m", "chore: start"]);
}

fn count(dir: &Path) -> usize {
    git_in(dir, &["rev-list", "--count", "HEAD"])
        .trim()
        .parse()
        .unwrap()
}

async fn paths(c: &TestClient, query: &str) -> Vec<String> {
    let r = c
        .get(&format!("/v1/plugins/commit/files{query}"))
        .send()
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let mut out: Vec<String> = r
        .json::<Value>()
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn labelled_scopes_and_nested_repositories_are_served_as_their_own() {
    let repo = Repo::new("scopes-nested");
    // A repository checked out inside the workspace, with an `origin` of its own outside it:
    // pushing there is allowed only because the nested repository's remotes were read at start.
    let widget = repo.dir.join("libs/widget");
    let elsewhere = Repo::new("scopes-nested-origin");
    repository_at(
        &widget,
        &[
            ("src/lib.rs", "pub fn widget() {}\n"),
            ("README.md", "# widget\n"),
        ],
    );
    let origin = elsewhere.dir.join("widget-origin.git");
    let made = Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(&origin)
        .status()
        .unwrap();
    assert!(made.success());
    git_in(
        &widget,
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    git_in(&widget, &["push", "-q", "origin", "main"]);
    // A submodule: its `.git` is a file pointing into the outer repository's.
    let source = repo.dir.join(".git/sub-source");
    repository_at(&source, &[("file.txt", "one\n")]);
    repo.git(&[
        "-c",
        "protocol.file.allow=always",
        "submodule",
        "add",
        "-q",
        source.to_str().unwrap(),
        "vendor/sub",
    ]);
    repo.git(&["commit", "-q", "-m", "chore: add the submodule"]);
    // A nested repository no scope leads into, and a link to it.
    repository_at(&repo.dir.join("tools/other"), &[("x.txt", "x\n")]);
    std::os::unix::fs::symlink("tools/other", repo.dir.join("alias")).unwrap();
    // A second path to the widget, through a link: the same repository.
    std::os::unix::fs::symlink("libs/widget", repo.dir.join("widget-link")).unwrap();

    let configured = [
        ScopeConfig::Described(DescribedScope {
            path: "libs/widget".into(),
            label: Some("Widget".into()),
            description: Some("The widget library, a repository of its own.".into()),
        }),
        "libs/widget/src".into(),
        "vendor/sub".into(),
        "src".into(),
        "widget-link".into(),
    ];
    let c = client_scoped(&repo.dir, "commit:*", "sqlite::memory:", &configured, |s| s).await;
    let r: Value = c.get("/v1/plugins/commit/scopes").send().await.json();
    assert_eq!(
        r,
        json!({"scopes": [
            {"path": ".", "root": true, "repository": "."},
            {"path": "libs/widget", "root": false, "label": "Widget",
             "description": "The widget library, a repository of its own.",
             "repository": "libs/widget"},
            {"path": "libs/widget/src", "root": false, "repository": "libs/widget"},
            {"path": "vendor/sub", "root": false, "repository": "vendor/sub"},
            {"path": "src", "root": false, "repository": "."},
            {"path": "widget-link", "root": false, "repository": "libs/widget"},
        ]})
    );

    // Work in the nested repository and in the outer one.
    std::fs::write(
        widget.join("src/lib.rs"),
        "pub fn widget() {}\n\npub fn gadget() {}\n",
    )
    .unwrap();
    std::fs::write(widget.join("src/extra.rs"), "pub fn extra() {}\n").unwrap();
    repo.write("README.md", "# demo\n\nEdited.\n");
    let outer_before = count(&repo.dir);

    // Files are named from the nested repository's root; the outer one does not see them.
    assert_eq!(
        paths(&c, "?scope=libs/widget").await,
        ["src/extra.rs", "src/lib.rs"]
    );
    assert_eq!(
        paths(&c, "?scope=libs/widget/src").await,
        ["src/extra.rs", "src/lib.rs"]
    );
    assert_eq!(
        paths(&c, "?scope=widget-link").await,
        ["src/extra.rs", "src/lib.rs"]
    );
    // The links are untracked files to it.
    assert_eq!(paths(&c, "").await, ["README.md", "alias", "widget-link"]);
    let r = c
        .get("/v1/plugins/commit/status?scope=libs/widget")
        .send()
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json::<Value>()["state"], "idle");
    let r = c
        .get("/v1/plugins/commit/diff?scope=libs/widget&file=src/lib.rs")
        .send()
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert!(
        r.json::<Value>()["diff"]
            .as_str()
            .unwrap()
            .contains("+pub fn gadget() {}"),
        "{}",
        r.text()
    );

    // Planned, applied and pushed in the nested repository alone.
    let r = post(&c, "generate", json!({"scope": "libs/widget"})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let plan: Value = r.json();
    assert_eq!(plan["scope"], "libs/widget");
    commit_with(&plan, "src/extra.rs");
    let widget_before = count(&widget);
    // One repository, one lock, whichever path leads to it: an apply holding it through one
    // path refuses an apply through the other.
    let (started, gate) = crate::commit_apply::hold_commits_in(&widget);
    let first = post(&c, "apply", json!({"scope": "libs/widget"}));
    let second = async {
        assert!(
            crate::commit_apply::wait_for(&started).await,
            "the first apply's hook never ran"
        );
        let r = post(&c, "apply", json!({"scope": "widget-link"})).await;
        std::fs::write(&gate, "").unwrap();
        r
    };
    let (r, other) = tokio::join!(first, second);
    assert_eq!(
        code(&other),
        (409, "APPLY_IN_PROGRESS".into()),
        "{}",
        other.text()
    );
    assert_eq!(r.status(), 200, "{}", r.text());
    let made = r.json::<Value>()["made"].as_array().unwrap().len();
    assert_eq!(count(&widget), widget_before + made);
    assert_eq!(git_in(&widget, &["status", "--porcelain"]), "");
    assert_eq!(
        count(&repo.dir),
        outer_before,
        "the outer repository is untouched"
    );
    // Its work stays as it was: nothing staged, nothing committed (the nested repositories are
    // untracked directories to it).
    assert_eq!(
        repo.git(&["status", "--porcelain", "--untracked-files=no"]),
        " M README.md\n"
    );
    let r = post(&c, "push", json!({"scope": "libs/widget"})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json::<Value>()["state"], "pushed");
    assert_eq!(
        String::from_utf8_lossy(&remote_head(&origin).stdout),
        git_in(&widget, &["rev-parse", "HEAD"])
    );
    // Each scope keeps its own plan: the root has none.
    let r = c.get("/v1/plugins/commit/plan").send().await;
    assert_eq!(code(&r), (404, "NO_PLAN".into()));
    // The root's plan holds its own changes only (the links are files to it, a link to a
    // directory included), nothing of the nested repositories.
    let r = generate(&c).await;
    let mut planned: Vec<&str> = r["commits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["files"].as_array().unwrap())
        .map(|f| f.as_str().unwrap())
        .collect();
    planned.sort_unstable();
    assert_eq!(planned, ["README.md", "alias", "widget-link"]);
    let r = c.get("/v1/plugins/commit/diff?file=alias").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert!(
        r.json::<Value>()["diff"]
            .as_str()
            .unwrap()
            .contains("+tools/other")
    );

    // The submodule is served by its own repository too.
    std::fs::write(repo.dir.join("vendor/sub/file.txt"), "two\n").unwrap();
    assert_eq!(paths(&c, "?scope=vendor/sub").await, ["file.txt"]);

    // A directory inside a nested repository no scope leads into is refused, not read as
    // an untracked directory of the outer one, by its own path or through a link.
    for scope in ["tools/other", "alias"] {
        let r = c
            .get(&format!("/v1/plugins/commit/files?scope={scope}"))
            .send()
            .await;
        assert_eq!(code(&r), (400, "PATH_OUTSIDE_SCOPE".into()), "{scope}");
        let message = r.error()["message"].as_str().unwrap().to_owned();
        assert!(message.contains(&format!("`{scope}`")), "{message}");
    }

    // A nested repository whose `.git` goes away is not served by the outer one meanwhile.
    std::fs::rename(widget.join(".git"), widget.join("git-away")).unwrap();
    let r = c
        .get("/v1/plugins/commit/files?scope=libs/widget")
        .send()
        .await;
    assert_eq!(code(&r), (404, "SCOPE_NOT_FOUND".into()), "{}", r.text());
    let r = c.get("/ready").send().await;
    assert_eq!(r.status(), 503, "{}", r.text());
    assert_eq!(
        r.error()["details"]["plugins"]["commit"],
        "`libs/widget` is no longer a git repository of its own"
    );
    std::fs::rename(widget.join("git-away"), widget.join(".git")).unwrap();
    assert_eq!(c.get("/ready").send().await.status(), 200);
}

#[tokio::test]
async fn a_git_file_leading_back_to_the_outer_repository_is_not_a_repository_of_its_own() {
    let repo = Repo::new("scopes-gitfile");
    let outer_git = repo.dir.join(".git");
    repo.write("inner/a.txt", "a\n");
    repo.write("inner/.git", &format!("gitdir: {}\n", outer_git.display()));
    let plans = crate::commit::plans_in_memory().await;
    let refused = commit_plugin::CommitState::open(&repo.dir, &["inner".into()], plans)
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("leading to the git directory of `.`"),
        "{refused}"
    );
    // By default it is not offered at all.
    let c = crate::commit::client_with(&repo.dir, "commit:read", "sqlite::memory:", |s| s).await;
    let r: Value = c.get("/v1/plugins/commit/scopes").send().await.json();
    assert!(!r.to_string().contains("inner"), "{r}");
}

#[tokio::test]
async fn a_scope_with_a_git_that_is_not_a_repository_stops_the_start() {
    let repo = Repo::new("scopes-bad-git");
    repo.write("broken/.git", "gitdir: /nowhere\n");
    let plans = crate::commit::plans_in_memory().await;
    let refused = commit_plugin::CommitState::open(&repo.dir, &["broken".into()], plans)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("`broken`"), "{refused}");
}
