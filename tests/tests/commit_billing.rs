//! The commit plugin's model calls are the caller's: charged to their AI budget in the AI
//! plugin's ledger (seen in `GET /v1/plugins/ai/usage`, refused with `429 QUOTA_EXCEEDED` when
//! they could cost more than is left), asked only for a caller holding `ai:generate`, and
//! `allowSecrets` honoured only with `commit:write`. Both plugins are served together, as
//! `example-server` serves them, with the model a real HTTP double of an OpenAI-compatible
//! provider priced at $1 a token.

use crate::commit::{Repo, with_work};
use crate::fake_llm::Upstream;
use crate::fixtures::scopes;
use ai_plugin::ledger::Ledger;
use ai_plugin::{AiConfig, AiPlugin, AiState};
use commit_plugin::model::Model;
use commit_plugin::{CommitPlugin, CommitState};
use plugin_routes::auth::{Auth, AuthConfig};
use plugin_routes::plugins;
use plugin_routes::testing::{TestClient, TestResponse};
use serde_json::{Value, json};

const SUMMARY: &str = "{\"summary\": \"Adds two() and reworks the docs.\"}";

/// The AI and commit plugins on `repo`, sharing one ledger, the commit plugin asking the
/// double's `scripted` model (if `with_model`) at $1 a token in and out, each caller allowed
/// `daily_usd` a day; the caller's key holds `grants` (their account holds `commit:*, ai:*`).
async fn served(
    repo: &Repo,
    upstream: &Upstream,
    grants: &str,
    daily_usd: f64,
    with_model: bool,
) -> TestClient {
    let url = "sqlite::memory:";
    let pool = plugin_routes::database::connect(url).await.unwrap();
    let config = json!({
        "providers": {"fake": {"base_url": upstream.base_url}},
        "models": [{"name": "scripted", "provider": "fake",
                    "input_per_million_usd": 1_000_000.0, "output_per_million_usd": 1_000_000.0}],
        "default_model": "scripted",
        "daily_budget_usd": daily_usd, "monthly_budget_usd": 1_000_000.0,
    });
    let config = AiConfig::from_json(&config.to_string()).unwrap();
    let ai = AiState::new(config, Ledger::open(pool.clone(), url).await.unwrap()).unwrap();
    let plans = commit_plugin::store::Plans::open(pool.clone(), url)
        .await
        .unwrap();
    let mut commit = CommitState::open(&repo.dir, &[], plans).await.unwrap();
    if with_model {
        let model = Model::from_config(ai.config(), "scripted", ai.meter().clone()).unwrap();
        commit = commit.with_model(model);
    }
    let server =
        crate::fixtures::with_operations(plugin_routes::ServerConfig::default(), &pool, url).await;
    let auth = Auth::open(pool, AuthConfig::default()).await.unwrap();
    auth.create_user(
        "ada@example.com",
        "a long password",
        &scopes("commit:*,ai:*"),
    )
    .await
    .unwrap();
    let key = auth
        .create_api_key("ada@example.com", "tests", &scopes(grants), None)
        .await
        .unwrap()
        .key;
    let placeholders = commit.placeholders();
    let ai_placeholders = ai.placeholders();
    let app = plugins![
        config = server;
        auth = auth;
        AiPlugin::new(ai).with_placeholders(&ai_placeholders),
        CommitPlugin::new(commit).with_placeholders(&placeholders),
    ];
    TestClient::new(app).with_header("authorization", format!("Bearer {key}"))
}

async fn post(c: &TestClient, route: &str, body: Value) -> TestResponse {
    c.post(&format!("/v1/plugins/commit/{route}"))
        .json(&body)
        .send()
        .await
}

async fn usage_today(c: &TestClient) -> Value {
    let r = c.get("/v1/plugins/ai/usage").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    r.json::<Value>()["today"].clone()
}

fn code(r: &TestResponse) -> (u16, String) {
    (
        r.status().as_u16(),
        r.error()["code"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The tokens the double reports for the last prompt: its words and three for the framing in,
/// one out for a scripted answer.
fn reported(upstream: &Upstream) -> (u64, u64) {
    let words = upstream.last_prompt().split_whitespace().count() as u64;
    (words + 3, 1)
}

#[tokio::test]
async fn the_models_calls_are_charged_to_the_callers_ai_budget() {
    let upstream = Upstream::start().await;
    let repo = with_work("billed");
    let c = served(
        &repo,
        &upstream,
        "commit:read,ai:generate,ai:read",
        10_000.0,
        true,
    )
    .await;
    assert_eq!(usage_today(&c).await["generations"], 0);

    upstream.script(SUMMARY);
    let r = post(&c, "summarize", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json::<Value>()["model"], "scripted");
    let (input, output) = reported(&upstream);
    let today = usage_today(&c).await;
    assert_eq!(today["generations"], 1, "{today}");
    assert_eq!(
        today["usage"],
        json!({"inputTokens": input, "outputTokens": output, "totalTokens": input + output})
    );
    // $1 a token, in and out.
    assert_eq!(today["costUsd"], (input + output) as f64, "{today}");
    assert_eq!(today["remainingUsd"], 10_000.0 - (input + output) as f64);

    // Summarizing one file is charged too.
    let r = post(&c, "summarize", json!({"file": "README.md"})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let (more, _) = reported(&upstream);
    let today = usage_today(&c).await;
    assert_eq!(today["generations"], 2);
    assert_eq!(today["usage"]["inputTokens"], input + more);
}

#[tokio::test]
async fn a_call_over_the_budget_is_quota_exceeded_and_the_model_is_not_asked() {
    let upstream = Upstream::start().await;
    let repo = with_work("over-budget");
    // A summary may write 800 tokens: $800 at the least, more than the $100 a day allowed.
    let c = served(
        &repo,
        &upstream,
        "commit:*,ai:generate,ai:read",
        100.0,
        true,
    )
    .await;
    upstream.script(SUMMARY);
    let r = post(&c, "summarize", json!({})).await;
    assert_eq!(code(&r), (429, "QUOTA_EXCEEDED".into()), "{}", r.text());
    assert_eq!(r.error()["details"], json!({"budget": "daily"}));
    let r = post(&c, "generate", json!({})).await;
    assert_eq!(code(&r), (429, "QUOTA_EXCEEDED".into()), "{}", r.text());
    assert_eq!(upstream.calls(), 0, "the model was not asked");
    assert_eq!(usage_today(&c).await["generations"], 0);
    let r = c.get("/v1/plugins/commit/plan").send().await;
    assert_eq!(code(&r), (404, "NO_PLAN".into()), "no plan was kept");
}

#[tokio::test]
async fn asking_the_model_needs_ai_generate() {
    let upstream = Upstream::start().await;
    let repo = with_work("needs-ai-scope");
    let c = served(&repo, &upstream, "commit:*", 10_000.0, true).await;
    upstream.script(SUMMARY);
    for route in ["summarize", "generate"] {
        let r = post(&c, route, json!({})).await;
        assert_eq!(code(&r), (403, "FORBIDDEN".into()), "{route}");
        assert_eq!(
            r.error()["details"],
            json!({"missingScopes": ["ai:generate"]}),
            "{route}"
        );
        assert_eq!(
            r.error()["message"],
            "this needs the scopes ai:generate",
            "{route}: the route-level check's wording"
        );
    }
    assert_eq!(upstream.calls(), 0, "the model was not asked");

    // Without a model nothing is asked, and `commit:read` is enough to summarize.
    let plain = served(&repo, &upstream, "commit:read", 10_000.0, false).await;
    let r = post(&plain, "summarize", json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json::<Value>()["model"], Value::Null);
    assert_eq!(upstream.calls(), 0);
}

#[tokio::test]
async fn allow_secrets_needs_commit_write() {
    let upstream = Upstream::start().await;
    let repo = with_work("secrets-scope");
    repo.write("src/keys.rs", "const K: &str = \"AKIAIOSFODNN7EXAMPLE\";\n");
    upstream.script(SUMMARY);
    for with_model in [true, false] {
        let reader = served(
            &repo,
            &upstream,
            "commit:read,ai:generate",
            10_000.0,
            with_model,
        )
        .await;
        let r = post(&reader, "summarize", json!({"allowSecrets": true})).await;
        assert_eq!(code(&r), (403, "FORBIDDEN".into()), "model: {with_model}");
        assert_eq!(
            r.error()["details"],
            json!({"missingScopes": ["commit:write"]})
        );
        if with_model {
            // Without the flag the secret is caught, as before.
            let r = post(&reader, "summarize", json!({})).await;
            assert_eq!(code(&r), (422, "SECRETS_DETECTED".into()));
        }
    }
    assert_eq!(upstream.calls(), 0, "nothing was sent");

    let writer = served(
        &repo,
        &upstream,
        "commit:read,commit:write,ai:generate",
        10_000.0,
        true,
    )
    .await;
    let r = post(&writer, "summarize", json!({"allowSecrets": true})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(upstream.calls(), 1, "the writer's flag sends the diffs");
}

/// What the routes say in the document: the scopes a handler checks, and the codes it answers.
#[tokio::test]
async fn the_document_says_what_the_model_routes_need() {
    let upstream = Upstream::start().await;
    let repo = with_work("billing-doc");
    let c = served(&repo, &upstream, "commit:read", 10_000.0, true).await;
    let doc: Value = c.get("/openapi.json").send().await.json();
    for (path, says) in [
        (
            "/v1/plugins/commit/summarize",
            "`allowSecrets: true` needs `commit:write`",
        ),
        ("/v1/plugins/commit/generate", "`ai:generate`"),
        ("/v1/plugins/commit/regenerate-commit", "`ai:generate`"),
    ] {
        let op = &doc["paths"][path]["post"];
        let description = op["description"].as_str().unwrap_or_default();
        assert!(description.contains(says), "{path}: {description}");
        assert!(
            description.contains("GET /v1/plugins/ai/usage"),
            "{path}: {description}"
        );
        for status in ["403", "429"] {
            assert!(
                op["responses"][status].is_object(),
                "{path} documents {status}: {}",
                op["responses"]
            );
        }
    }
}
