//! Whose a commit plan is, and what of it may leave the machine. Two users (and an
//! administrator) share one repository and one database: only a plan's author edits, redoes,
//! applies, discards or replaces it, unless the caller holds `commit:admin`; a subject stays one
//! line whoever writes it. With a model configured (a real HTTP double of an OpenAI-compatible
//! provider), everything it would be sent is scanned first: unchanged lines beside a change,
//! removed lines, a key's body without its header, file names, secrets split over two to four
//! lines or base64-encoded, the commit's message and the instruction; without a model, only what
//! would be committed. Races between requests on one plan are in `commit_races`.

use crate::commit::Repo;
use crate::fake_llm::Upstream;
use crate::fixtures::scopes;
use ai_plugin::AiConfig;
use ai_plugin::cost::Prices;
use ai_plugin::ledger::Ledger;
use ai_plugin::meter::Meter;
use ai_plugin::provider::{Provider, http_client};
use commit_plugin::model::Model;
use commit_plugin::{CommitPlugin, CommitState};
use plugin_routes::auth::{Auth, AuthConfig};
use plugin_routes::testing::{TestClient, TestResponse};
use plugin_routes::{ServerConfig, plugins};
use serde_json::{Value, json};

pub(crate) const URL: &str = "sqlite::memory:";

/// Callers of one commit plugin on one database.
pub(crate) struct Team {
    /// Holds `commit:read` and `commit:write`, and `ai:generate`.
    pub(crate) ada: TestClient,
    /// The same, another user.
    pub(crate) bob: TestClient,
    /// Bob again, through a key that also holds `commit:admin`.
    pub(crate) admin: TestClient,
    pub(crate) ada_id: String,
    pub(crate) bob_id: String,
}

/// The commit plugin on `repo`, with the double's `scripted` model if `upstream` is given.
pub(crate) async fn team(repo: &Repo, upstream: Option<&Upstream>) -> Team {
    team_on(URL, repo, upstream, "scripted").await
}

/// The commit plugin on `repo` and the database `url`, with the double's model `model` if
/// `upstream` is given.
pub(crate) async fn team_on(
    url: &str,
    repo: &Repo,
    upstream: Option<&Upstream>,
    model: &str,
) -> Team {
    let pool = plugin_routes::database::connect(url).await.unwrap();
    let plans = commit_plugin::store::Plans::open(pool.clone(), url)
        .await
        .unwrap();
    let auth = Auth::open(pool.clone(), AuthConfig::default())
        .await
        .unwrap();
    let mut state = CommitState::open(&repo.dir, &[], plans).await.unwrap();
    if let Some(upstream) = upstream {
        let ledger = Ledger::open(pool.clone(), url).await.unwrap();
        let meter = Meter::new(ledger, &AiConfig::none());
        let provider = Provider::new(
            "double",
            http_client([&*upstream.base_url]).unwrap(),
            &upstream.base_url,
            None,
        );
        let free = Prices::per_million_usd(0.0, 0.0).unwrap();
        state = state.with_model(Model::new(provider, model, free, meter));
    }
    let writer = "commit:read,commit:write,ai:generate";
    let mut ids = Vec::new();
    let mut keys = Vec::new();
    for (email, grants) in [
        ("ada@example.com", writer),
        ("bob@example.com", writer),
        ("bob@example.com", "commit:read,commit:write,commit:admin"),
    ] {
        if let Ok(user) = auth
            .create_user(email, "a long password", &scopes("commit:*,ai:*"))
            .await
        {
            ids.push(user.id);
        }
        let key = auth
            .create_api_key(email, "tests", &scopes(grants), None)
            .await
            .unwrap()
            .key;
        keys.push(key);
    }
    let placeholders = state.placeholders();
    let operations = crate::fixtures::operations_on(&pool, url).await;
    let app = plugins![
        config = ServerConfig::default().with_operations(&operations);
        auth = auth;
        CommitPlugin::new(state).with_placeholders(&placeholders)
    ];
    crate::fixtures::run_operations(&operations);
    let client = |key: &String| {
        TestClient::new(app.clone()).with_header("authorization", format!("Bearer {key}"))
    };
    Team {
        ada: client(&keys[0]),
        bob: client(&keys[1]),
        admin: client(&keys[2]),
        ada_id: ids[0].clone(),
        bob_id: ids[1].clone(),
    }
}

pub(crate) async fn send(c: &TestClient, method: &str, route: &str, body: Value) -> TestResponse {
    let uri = format!("/v1/plugins/commit/{route}");
    let request = match method {
        "POST" => c.post(&uri),
        "PATCH" => c.patch(&uri),
        "DELETE" => c.delete(&uri),
        _ => c.get(&uri),
    };
    // Apply and push are operations: followed to their end, their answer is the route's.
    request.json(&body).send_and_wait().await
}

pub(crate) fn code(r: &TestResponse) -> (u16, String) {
    (
        r.status().as_u16(),
        r.error()["code"].as_str().unwrap_or_default().to_owned(),
    )
}

pub(crate) async fn plan(c: &TestClient) -> Value {
    c.get("/v1/plugins/commit/plan").send().await.json()
}

#[tokio::test]
async fn only_a_plan_s_author_edits_redoes_applies_or_discards_it() {
    let repo = crate::commit::with_work("owners");
    let t = team(&repo, None).await;
    let r = send(&t.ada, "POST", "generate", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let made: Value = r.json();
    assert_eq!(
        (&made["createdBy"], &made["editedBy"]),
        (&json!(t.ada_id), &Value::Null)
    );
    let before = repo.git(&["rev-parse", "HEAD"]);

    // Bob, who may write, may not touch Ada's plan, nor replace it.
    for (method, route, body) in [
        (
            "PATCH",
            "plan",
            json!({"id": "c1", "body": "Signed-off-by: Bob <bob@example.com>"}),
        ),
        ("POST", "regenerate-commit", json!({"id": "c1"})),
        ("POST", "apply", json!({})),
        ("DELETE", "plan", json!({})),
        ("POST", "generate", json!({})),
    ] {
        let r = send(&t.bob, method, route, body).await;
        assert_eq!(
            code(&r),
            (403, "PLAN_OWNED_BY_OTHER".into()),
            "{method} {route}"
        );
        assert_eq!(r.error()["details"]["createdBy"], json!(t.ada_id));
    }
    assert_eq!(plan(&t.ada).await, made, "the plan is as Ada left it");
    assert_eq!(
        repo.git(&["rev-parse", "HEAD"]),
        before,
        "nothing was committed"
    );
    // What can be done next is what each of them may do.
    let offered = |r: TestResponse| -> Vec<String> {
        let actions: Value = r.json();
        actions["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let ada = offered(t.ada.get("/v1/plugins/commit/actions").send().await);
    let bob = offered(t.bob.get("/v1/plugins/commit/actions").send().await);
    for name in ["apply", "edit", "regenerate-commit", "discard", "generate"] {
        assert!(
            ada.iter().any(|a| a == name),
            "Ada is offered {name}: {ada:?}"
        );
        assert!(
            !bob.iter().any(|a| a == name),
            "Bob is not offered {name}: {bob:?}"
        );
    }
    assert!(bob.iter().any(|a| a == "summarize"), "{bob:?}");

    // A subject is one line: no trailers smuggled in through it; they go in the body.
    for message in [
        "add two()\n\nSigned-off-by: Eve <eve@example.com>",
        "add two()\rCo-authored-by: Eve <eve@example.com>",
        "add two()\u{2028}more",
    ] {
        let r = send(
            &t.ada,
            "PATCH",
            "plan",
            json!({"id": "c1", "message": message}),
        )
        .await;
        assert_eq!(r.status(), 400, "{message:?}: {}", r.text());
        assert_eq!(r.error()["details"][0]["path"], "message", "{}", r.text());
    }
    assert_eq!(plan(&t.ada).await, made);
    let r = send(
        &t.ada,
        "PATCH",
        "plan",
        json!({"id": "c1", "message": "add two()", "body": "Reviewed-by: Ada <ada@example.com>"}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json::<Value>()["editedBy"], json!(t.ada_id));

    // An administrator may edit it; the plan says who did, and stays Ada's.
    let r = send(
        &t.admin,
        "PATCH",
        "plan",
        json!({"id": "c2", "message": "rework the docs"}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let edited: Value = plan(&t.ada).await;
    assert_eq!(
        (&edited["createdBy"], &edited["editedBy"]),
        (&json!(t.ada_id), &json!(t.bob_id))
    );

    let r = send(&t.ada, "POST", "apply", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let message = repo.git(&["log", "-1", "--format=%B", "HEAD~1"]);
    assert_eq!(
        message.trim_end(),
        "feat: add two()\n\nReviewed-by: Ada <ada@example.com>"
    );

    // An applied plan is history: another user may plan new changes over it.
    repo.write("src/more.rs", "// more\n");
    let r = send(&t.bob, "POST", "generate", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json::<Value>()["createdBy"], json!(t.bob_id));
    let r = send(&t.ada, "DELETE", "plan", json!({})).await;
    assert_eq!(code(&r), (403, "PLAN_OWNED_BY_OTHER".into()));
    let r = send(&t.admin, "DELETE", "plan", json!({})).await;
    assert_eq!(r.status(), 204, "{}", r.text());
}

#[tokio::test]
async fn a_file_name_with_a_line_break_makes_a_one_line_subject() {
    let repo = Repo::new("owners-names");
    repo.write("src/a\nSigned-off-by: Eve <eve@example.com>", "x\n");
    let t = team(&repo, None).await;
    let r = send(&t.ada, "POST", "generate", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let made: Value = r.json();
    assert_eq!(
        made["commits"][0]["message"],
        "add a\\nSigned-off-by: Eve <eve@example.com>"
    );
    let r = send(&t.ada, "POST", "apply", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let message = repo.git(&["log", "-1", "--format=%B"]);
    assert_eq!(
        message.trim_end(),
        "feat: add a\\nSigned-off-by: Eve <eve@example.com>"
    );
    let trailers = repo.git(&["log", "-1", "--format=%(trailers)"]);
    assert_eq!(trailers.trim(), "", "no trailer made it into the commit");
}

/// A committed file with two secrets in it, then changed beside the first and with the second
/// removed: neither is on an added line.
fn repo_with_old_secrets(test: &str) -> Repo {
    let repo = Repo::new(test);
    repo.write(
        "config/keys.rs",
        "// Keys for the staging account.\n\
         const AWS: &str = \"AKIAIOSFODNN7EXAMPLE\";\n\
         const REGION: &str = \"eu-west-1\";\n\
         const GH: &str = \"ghp_abcdefghijklmnopqrstuvwxyz0123456789\";\n\
         const RETRIES: u32 = 3;\n",
    );
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "chore: keys"]);
    repo.write(
        "config/keys.rs",
        "// Keys for the staging account.\n\
         const AWS: &str = \"AKIAIOSFODNN7EXAMPLE\";\n\
         const REGION: &str = \"us-east-1\";\n\
         const RETRIES: u32 = 3;\n",
    );
    repo
}

fn refused_for_secrets(r: &TestResponse, route: &str) -> Value {
    assert_eq!(
        code(r),
        (422, "SECRETS_DETECTED".into()),
        "{route}: {}",
        r.text()
    );
    for secret in ["AKIAIOSF", "ODNN7EXAMPLE", "ghp_", "YXdz", "xoxb-"] {
        assert!(!r.text().contains(secret), "{route}: {}", r.text());
    }
    r.error()["details"]["findings"].clone()
}

#[tokio::test]
async fn unchanged_and_removed_lines_sent_to_the_model_are_scanned_on_every_route() {
    let upstream = Upstream::start().await;
    let repo = repo_with_old_secrets("old-secrets");
    let t = team(&repo, Some(&upstream)).await;
    let expected = json!([
        {"file": "config/keys.rs", "line": 2, "part": "new", "kind": "AWS access key"},
        {"file": "config/keys.rs", "line": 4, "part": "old", "kind": "GitHub token"},
    ]);
    for route in ["generate", "summarize"] {
        let r = send(&t.ada, "POST", route, json!({})).await;
        assert_eq!(refused_for_secrets(&r, route), expected, "{route}");
    }
    assert_eq!(upstream.calls(), 0, "nothing was sent");

    // A plan made anyway; redoing its commit is refused the same way.
    upstream.script(
        "{\"commits\": [{\"type\": \"chore\", \"scope\": null, \"message\": \"move to us-east-1\", \"files\": [\"config/keys.rs\"]}]}",
    );
    let r = send(&t.ada, "POST", "generate", json!({"allowSecrets": true})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(upstream.calls(), 1);
    let r = send(&t.ada, "POST", "regenerate-commit", json!({"id": "c1"})).await;
    assert_eq!(refused_for_secrets(&r, "regenerate-commit"), expected);
    assert_eq!(upstream.calls(), 1, "nothing more was sent");
}

/// A line of a made-up key's body: 64 base64 characters from a small generator.
fn body_line(seed: u64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..64)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            char::from(ALPHABET[usize::try_from(x >> 58).unwrap()])
        })
        .collect()
}

#[tokio::test]
async fn key_bodies_names_split_and_encoded_secrets_and_quoted_text_are_caught() {
    let upstream = Upstream::start().await;
    let repo = Repo::new("hidden-secrets");
    let key = |changed: bool| {
        let mut lines = vec!["-----BEGIN RSA PRIVATE KEY-----".to_owned()];
        lines.extend((1..=12).map(|i| body_line(if changed && i == 8 { 99 } else { i })));
        lines.push("-----END RSA PRIVATE KEY-----".into());
        lines.join("\n") + "\n"
    };
    repo.write("deploy/key.pem", &key(false));
    repo.git(&["add", "-A"]);
    repo.git(&["commit", "-q", "-m", "chore: key"]);
    // One line of the key's body changes: the hunk shows its neighbours, not its header.
    repo.write("deploy/key.pem", &key(true));
    repo.write("notes/AKIAIOSFODNN7EXAMPLE.txt", "hello\n");
    repo.write(
        "src/lib.rs",
        "pub fn one() -> u32 {\n    1\n}\n\
         const BLOB: &str = \"YXdzX2FjY2Vzc19rZXlfaWQgPSBBS0lBSU9TRk9ETk43RVhBTVBMRQ==\";\n\
         const K: &str = concat!(\"AKIAIOSF\",\n    \"ODNN7EXAMPLE\");\n",
    );
    let t = team(&repo, Some(&upstream)).await;
    let r = send(&t.ada, "POST", "summarize", json!({})).await;
    assert_eq!(
        refused_for_secrets(&r, "summarize"),
        json!([
            {"file": "notes/[redacted].txt", "line": null, "part": "name", "kind": "AWS access key"},
            {"file": "deploy/key.pem", "line": 6, "part": "new", "kind": "private key body"},
            {"file": "src/lib.rs", "line": 4, "part": "new", "kind": "base64-encoded secret"},
            {"file": "src/lib.rs", "line": 5, "part": "new", "kind": "AWS access key, split over two lines"},
        ])
    );
    assert_eq!(upstream.calls(), 0, "nothing was sent");

    // The message a redo quotes, and the instruction, are sent too.
    let clean = Repo::new("quoted-secrets");
    clean.write("src/two.rs", "pub fn two() -> u32 {\n    2\n}\n");
    let t = team(&clean, Some(&upstream)).await;
    upstream.script(
        "{\"commits\": [{\"type\": \"feat\", \"scope\": null, \"message\": \"add two()\", \"files\": [\"src/two.rs\"]}]}",
    );
    let r = send(&t.ada, "POST", "generate", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let calls = upstream.calls();
    let r = send(
        &t.ada,
        "POST",
        "regenerate-commit",
        json!({"id": "c1", "instruction": "mention xoxb-123456789012-abcdefghij"}),
    )
    .await;
    assert_eq!(
        refused_for_secrets(&r, "regenerate-commit"),
        json!([{"file": null, "line": null, "part": "instruction", "kind": "Slack token"}])
    );
    let r = send(
        &t.ada,
        "PATCH",
        "plan",
        json!({"id": "c1", "message": "add two() for AKIAIOSFODNN7EXAMPLE"}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let r = send(&t.ada, "POST", "regenerate-commit", json!({"id": "c1"})).await;
    assert_eq!(
        refused_for_secrets(&r, "regenerate-commit"),
        json!([{"file": null, "line": null, "part": "message", "kind": "AWS access key"}])
    );
    assert_eq!(upstream.calls(), calls, "nothing more was sent");
}

#[tokio::test]
async fn without_a_model_only_what_would_be_committed_is_scanned() {
    // A key kept beside a change, and one being deleted: nothing leaves the machine, and
    // neither would be committed.
    let repo = repo_with_old_secrets("no-model-old-secrets");
    let t = team(&repo, None).await;
    let r = send(&t.ada, "POST", "generate", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    // A key being added would be committed.
    repo.write(
        "config/more.rs",
        "// More keys.\nconst SLACK: &str = \"xoxb-123456789012-abcdefghij\";\n",
    );
    let r = send(&t.ada, "POST", "generate", json!({})).await;
    assert_eq!(
        refused_for_secrets(&r, "generate"),
        json!([{"file": "config/more.rs", "line": 2, "part": "new", "kind": "Slack token"}])
    );
    // With a model, the kept and the deleted key would be sent: refused.
    let upstream = Upstream::start().await;
    let repo = repo_with_old_secrets("model-old-secrets");
    let t = team(&repo, Some(&upstream)).await;
    let r = send(&t.ada, "POST", "generate", json!({})).await;
    refused_for_secrets(&r, "generate");
    assert_eq!(upstream.calls(), 0, "nothing was sent");
}

#[tokio::test]
async fn a_key_split_over_three_lines_does_not_reach_the_model() {
    let upstream = Upstream::start().await;
    let repo = Repo::new("three-line-split");
    repo.write(
        "src/keys.rs",
        "const K: &str = concat!(\n    \"AKIA\",\n    \"IOSFODNN\",\n    \"7EXAMPLE\",\n);\n",
    );
    let t = team(&repo, Some(&upstream)).await;
    let r = send(&t.ada, "POST", "summarize", json!({})).await;
    let findings = refused_for_secrets(&r, "summarize");
    assert_eq!(findings[0]["file"], "src/keys.rs", "{findings}");
    assert_eq!(findings[0]["part"], "new", "{findings}");
    assert!(
        findings[0]["kind"]
            .as_str()
            .unwrap()
            .starts_with("AWS access key, split over"),
        "{findings}"
    );
    assert_eq!(upstream.calls(), 0, "nothing was sent");
}
