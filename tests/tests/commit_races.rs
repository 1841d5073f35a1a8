//! Requests that change one plan at once: a plan made while another user's was being planned,
//! a redo answered after an edit or an apply, an apply that outlasts an edit, a file edited while
//! the model plans. Each race is made deterministic by holding a request where it waits (the
//! model double's `held-scripted` answers, a `pre-commit` hook waiting for a file), never by
//! timing; the two database races run on SQLite and, when `PLUGIN_TEST_POSTGRES_URL` is set,
//! PostgreSQL.

use crate::commit::Repo;
use crate::commit_plans::{URL, code, plan, send, team, team_on};
use crate::fake_llm::Upstream;
use plugin_routes::testing::{TestClient, TestResponse};
use serde_json::{Value, json};

/// Waits, up to ten seconds, until the double has received `n` requests.
async fn received(upstream: &Upstream, n: usize) {
    for _ in 0..1000 {
        if upstream.calls() >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the double received {} requests, not {n}", upstream.calls());
}

/// Sends a request in a task of its own, to answer while the test goes on.
fn in_flight(
    c: &TestClient,
    method: &'static str,
    route: &'static str,
    body: Value,
) -> tokio::task::JoinHandle<TestResponse> {
    let c = c.clone();
    tokio::spawn(async move { send(&c, method, route, body).await })
}

const PLAN_TWO: &str = "{\"commits\": [{\"type\": \"feat\", \"scope\": null, \"message\": \"add two()\", \"files\": [\"src/two.rs\"]}]}";
const REDO_TWO: &str = "{\"type\": \"feat\", \"scope\": \"src\", \"message\": \"redone by the model\", \"body\": null}";

fn repo_with_two(test: &str) -> Repo {
    let repo = Repo::new(test);
    repo.write("src/two.rs", "pub fn two() -> u32 {\n    2\n}\n");
    repo
}

#[tokio::test]
async fn a_plan_made_while_another_user_s_was_being_planned_is_not_replaced() {
    plan_race(URL).await;
}

#[tokio::test]
async fn a_plan_made_while_another_user_s_was_being_planned_is_not_replaced_on_postgres() {
    let Some(pg) = crate::fixtures::PgSchema::fresh("commit_plan_race").await else {
        return;
    };
    // Operations' queue on PostgreSQL (apalis) needs `hstore`, kept in `public`.
    plan_race(&pg.url_with_public_extension("hstore").await).await;
    pg.remove().await;
}

async fn plan_race(url: &str) {
    let upstream = Upstream::start().await;
    upstream.script(PLAN_TWO);
    let repo = repo_with_two("plan-race");
    let t = team_on(url, &repo, Some(&upstream), "held-scripted").await;
    // Both read "no plan" and ask the model; Ada's answer comes first.
    let ada = in_flight(&t.ada, "POST", "generate", json!({}));
    received(&upstream, 1).await;
    let bob = in_flight(&t.bob, "POST", "generate", json!({}));
    received(&upstream, 2).await;
    upstream.release_one();
    let ada = ada.await.unwrap();
    assert_eq!(ada.status(), 200, "{}", ada.text());
    upstream.release_one();
    let bob = bob.await.unwrap();
    assert_eq!(code(&bob), (409, "PLAN_CHANGED".into()), "{}", bob.text());
    let now = plan(&t.ada).await;
    assert_eq!(now, ada.json::<Value>(), "Ada's plan stands");
    assert_eq!(now["createdBy"], json!(t.ada_id));
}

#[tokio::test]
async fn a_redo_in_flight_erases_neither_an_edit_nor_an_apply() {
    redo_race(URL).await;
}

#[tokio::test]
async fn a_redo_in_flight_erases_neither_an_edit_nor_an_apply_on_postgres() {
    let Some(pg) = crate::fixtures::PgSchema::fresh("commit_redo_race").await else {
        return;
    };
    // Operations' queue on PostgreSQL (apalis) needs `hstore`, kept in `public`.
    redo_race(&pg.url_with_public_extension("hstore").await).await;
    pg.remove().await;
}

async fn redo_race(url: &str) {
    let upstream = Upstream::start().await;
    upstream.script(PLAN_TWO);
    let repo = repo_with_two("redo-race");
    let t = team_on(url, &repo, Some(&upstream), "held-scripted").await;
    upstream.release_one();
    let r = send(&t.ada, "POST", "generate", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    upstream.script(REDO_TWO);

    // An edit made while the model redoes the commit stays; the redo is refused.
    let redo = in_flight(&t.ada, "POST", "regenerate-commit", json!({"id": "c1"}));
    received(&upstream, 2).await;
    let r = send(
        &t.admin,
        "PATCH",
        "plan",
        json!({"id": "c1", "message": "add two() by hand"}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let edited: Value = r.json();
    upstream.release_one();
    let redo = redo.await.unwrap();
    assert_eq!(code(&redo), (409, "PLAN_CHANGED".into()), "{}", redo.text());
    assert_eq!(plan(&t.ada).await, edited);

    // An apply made while the model redoes the commit stays recorded; the redo is refused.
    let redo = in_flight(&t.ada, "POST", "regenerate-commit", json!({"id": "c1"}));
    received(&upstream, 3).await;
    let r = send(&t.ada, "POST", "apply", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    upstream.release_one();
    let redo = redo.await.unwrap();
    assert_eq!(code(&redo), (409, "PLAN_CHANGED".into()), "{}", redo.text());
    let head = repo.git(&["rev-parse", "HEAD"]).trim().to_owned();
    let now = plan(&t.ada).await;
    assert_eq!(
        (&now["state"], &now["commits"][0]["sha"]),
        (&json!("applied"), &json!(head))
    );
    assert_eq!(now["commits"][0]["message"], "add two() by hand");
    assert_eq!(
        repo.git(&["log", "-1", "--format=%s"]).trim(),
        "feat: add two() by hand"
    );

    // An applied plan is no longer edited or redone, and applying it again says so.
    for (method, route, body) in [
        ("PATCH", "plan", json!({"id": "c1", "message": "again"})),
        ("POST", "regenerate-commit", json!({"id": "c1"})),
        ("POST", "apply", json!({})),
    ] {
        let r = send(&t.ada, method, route, body).await;
        assert_eq!(
            code(&r),
            (409, "ALREADY_APPLIED".into()),
            "{method} {route}: {}",
            r.text()
        );
    }
    assert_eq!(upstream.calls(), 3, "nothing more was asked of the model");
}

#[tokio::test]
async fn an_apply_that_outlasts_an_edit_records_its_commit_in_the_edited_plan() {
    let repo = crate::commit::with_work("apply-edit-race");
    let t = team(&repo, None).await;
    let r = send(&t.ada, "POST", "generate", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let git_dir = repo.dir.join(".git");
    let (started, gate) = (git_dir.join("hook-started"), git_dir.join("hook-gate"));
    std::fs::write(
        git_dir.join("hooks/pre-commit"),
        format!(
            "#!/bin/sh\ntouch '{}'\nwhile [ ! -e '{}' ]; do sleep 0.05; done\n",
            started.display(),
            gate.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        let hook = git_dir.join("hooks/pre-commit");
        std::fs::set_permissions(hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // The first commit holds in its hook while the second commit's message is edited.
    let apply = in_flight(&t.ada, "POST", "apply", json!({"commits": ["c1"]}));
    for _ in 0..1000 {
        if started.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(started.exists(), "the apply's hook never ran");
    let r = send(
        &t.ada,
        "PATCH",
        "plan",
        json!({"id": "c2", "message": "edited meanwhile"}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    std::fs::write(&gate, "").unwrap();
    let r = apply.await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text());
    let head = repo.git(&["rev-parse", "HEAD"]).trim().to_owned();
    let now = plan(&t.ada).await;
    assert_eq!(
        now["commits"][0]["sha"],
        json!(head),
        "the commit is recorded"
    );
    assert_eq!(
        now["commits"][1]["message"], "edited meanwhile",
        "the edit stays"
    );
    assert_eq!(r.json::<Value>()["plan"], now);
}

#[tokio::test]
async fn an_edit_made_while_the_model_plans_makes_the_plan_stale() {
    let upstream = Upstream::start().await;
    upstream.script(PLAN_TWO);
    let repo = repo_with_two("edit-while-planning");
    let t = team_on(URL, &repo, Some(&upstream), "held-scripted").await;
    let made = in_flight(&t.ada, "POST", "generate", json!({}));
    received(&upstream, 1).await;
    // Never scanned, never planned: written while the model plans.
    repo.write("src/two.rs", "pub fn two() -> u32 {\n    22\n}\n");
    upstream.release_one();
    let made = made.await.unwrap();
    assert_eq!(made.status(), 200, "{}", made.text());
    let before = repo.git(&["rev-parse", "HEAD"]);
    let r = send(&t.ada, "POST", "apply", json!({})).await;
    assert_eq!(code(&r), (409, "PLAN_STALE".into()), "{}", r.text());
    assert_eq!(r.error()["details"]["files"], json!(["src/two.rs"]));
    assert_eq!(
        repo.git(&["rev-parse", "HEAD"]),
        before,
        "nothing was committed"
    );
}

/// git's own lock held by another git (here a branch's `.lock` file, as a commit in progress
/// leaves it) is `409 APPLY_IN_PROGRESS`, not a `500`; nothing is committed, and the apply
/// goes through once the lock is gone.
#[tokio::test]
async fn an_apply_meeting_git_s_lock_is_apply_in_progress() {
    use crate::commit_apply::post;
    let repo = crate::commit::with_work("git-lock");
    let c = crate::commit::client_with(&repo.dir, "commit:*", URL, |s| s).await;
    let r = post(&c, "generate", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let before = repo.commits();
    let lock = repo.dir.join(".git/refs/heads/main.lock");
    std::fs::write(&lock, "").unwrap();
    let r = post(&c, "apply", json!({})).await;
    assert_eq!(code(&r), (409, "APPLY_IN_PROGRESS".into()), "{}", r.text());
    assert_eq!(repo.commits(), before);
    std::fs::remove_file(&lock).unwrap();
    // The index's lock is answered before anything is made.
    let index_lock = repo.dir.join(".git/index.lock");
    std::fs::write(&index_lock, "").unwrap();
    let r = post(&c, "apply", json!({})).await;
    assert_eq!(code(&r), (409, "APPLY_IN_PROGRESS".into()), "{}", r.text());
    assert!(r.error()["message"].as_str().unwrap().contains("index"));
    assert_eq!(repo.commits(), before);
    std::fs::remove_file(&index_lock).unwrap();
    // A hook that prints git's words about a lock and fails is still a hook's refusal.
    repo.hook(
        "pre-commit",
        "echo \"fatal: cannot lock ref 'HEAD': Unable to create 'x.lock': File exists.\" >&2\nexit 1",
    );
    let r = post(&c, "apply", json!({})).await;
    assert_eq!(code(&r), (409, "COMMIT_REFUSED".into()), "{}", r.text());
    assert!(
        r.error()["details"]["output"]
            .as_str()
            .unwrap()
            .contains("cannot lock ref")
    );
    repo.hook("pre-commit", "exit 0");
    let r = post(&c, "apply", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert!(repo.commits() > before);
}

/// Two `example-server` processes on one repository and one PostgreSQL database, applying at
/// the same moment: while the first holds the repository (its commit waiting in a hook), the
/// other server's apply is `409 APPLY_IN_PROGRESS`; the first succeeds, and once it is done the
/// repository is free again on either server. (Each apply is an operation, run by whichever
/// server takes it: on one server they meet its own lock, on two the database's.)
#[test]
fn two_servers_on_one_repository_apply_one_at_a_time() {
    use crate::server::{Server, server_binary, user_with_key};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(pg) = rt.block_on(crate::fixtures::PgSchema::fresh("commit_two_servers")) else {
        return;
    };
    // Operations' queue on PostgreSQL (apalis) needs `hstore`, kept in `public`.
    let url = rt.block_on(pg.url_with_public_extension("hstore"));
    let binary = server_binary();
    let key = user_with_key(&binary, &url, "two@example.com", "commit:*");
    let repo = crate::commit::with_work("two-servers");
    let (started, gate) = repo.hold_commits();
    let namespace = format!("commit-two-servers-{}", std::process::id());
    let env = [
        ("COMMIT_REPO", repo.dir.to_str().unwrap()),
        ("COMMIT_PROTECTED_BRANCHES", "release"),
        ("OPERATIONS_NAMESPACE", namespace.as_str()),
    ];
    let mut a = Server::start_with(&binary, &url, &env);
    let mut b = Server::start_with(&binary, &url, &env);
    a.key = Some(key.clone());
    b.key = Some(key);
    let (status, _, body) = a.call("POST", "/v1/plugins/commit/generate", Some(&json!({})));
    assert_eq!(status, 200, "{body}");
    let before = repo.commits();
    let (first, second) = std::thread::scope(|s| {
        let first = s.spawn(|| a.call_to_end("POST", "/v1/plugins/commit/apply", Some(&json!({}))));
        for _ in 0..400 {
            if started.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(started.exists(), "the first apply's hook never ran");
        // Should B get past the lock, its commit would wait in the hook too: the gate opens
        // after ten seconds whatever happens, so a broken lock fails the test, never hangs it.
        let (answered, waiting) = std::sync::mpsc::channel::<()>();
        let gate_ref = &gate;
        let opener = s.spawn(move || {
            let _ = waiting.recv_timeout(std::time::Duration::from_secs(10));
            let _ = std::fs::write(gate_ref, "");
        });
        // B reads the same plan from the shared database and tries the same repository.
        let second = b.call_to_end("POST", "/v1/plugins/commit/apply", Some(&json!({})));
        let _ = answered.send(());
        let first = first.join().unwrap();
        opener.join().unwrap();
        (first, second)
    });
    assert_eq!(first.0, 200, "{}", first.1);
    assert_eq!(second.0, 409, "{}", second.1);
    let error: Value = serde_json::from_str(&second.1).unwrap();
    assert_eq!(error["error"]["code"], "APPLY_IN_PROGRESS", "{error}");
    let applied: Value = serde_json::from_str(&first.1).unwrap();
    assert_eq!(
        repo.commits(),
        before + applied["made"].as_array().unwrap().len()
    );
    // Released when the first was done: B's push takes the repository, and finds no remote.
    let (status, body) = b.call_to_end("POST", "/v1/plugins/commit/push", Some(&json!({})));
    assert_eq!(code_of(status, &body), (404, "REMOTE_NOT_FOUND".into()));
    a.kill();
    b.kill();
    rt.block_on(pg.remove());
}

fn code_of(status: u16, body: &str) -> (u16, String) {
    let v: Value = serde_json::from_str(body).unwrap_or_default();
    (
        status,
        v["error"]["code"].as_str().unwrap_or_default().to_owned(),
    )
}
