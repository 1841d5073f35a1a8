//! The AI plugin against a provider double on loopback that speaks OpenAI's wire format: every
//! declared error produced through real HTTP, costs and budgets in the database, streams, and
//! the real `example-server` streaming over TCP.

use crate::fake_llm::Upstream;
use crate::fixtures::{metric, scopes};
use ai_plugin::ledger::Ledger;
use ai_plugin::{AiConfig, AiPlugin, AiState};
use plugin_routes::auth::{Auth, AuthConfig, AuthRoutes};
use plugin_routes::testing::TestClient;
use plugin_routes::{ServerConfig, plugins};
use serde_json::{Value, json};
use std::time::Duration;

const MODELS: &[&str] = &[
    "echo",
    "gated",
    "held",
    "stall",
    "limited",
    "broken",
    "garbled",
    "cut",
    "failing",
    "failing-late",
    "throttled",
    "inline-usage",
    "stall-cjk",
    "thinking-stall",
    "null-content",
    "no-usage",
    "cut-short",
    "filtered",
    "overshoot",
    "failing-address",
    "overloaded",
    "no-credit",
];

/// A configuration with every model of the double at $1 / $2 per million tokens, a model on a
/// closed port, and `daily_usd` a day.
pub(crate) fn config_json(upstream: &Upstream, closed: &str, daily_usd: f64) -> String {
    let mut models: Vec<Value> = MODELS
        .iter()
        .map(|m| json!({"name": m, "provider": "fake", "input_per_million_usd": 1.0, "output_per_million_usd": 2.0}))
        .collect();
    models.push(json!({"name": "gone", "provider": "closed"}));
    // A provider with a key, which the double quotes back when it refuses.
    models.push(json!({"name": "keyed", "provider": "keyed"}));
    for m in ["embed-small", "embed-limited"] {
        models.push(json!({"name": m, "provider": "fake", "input_per_million_usd": 1.0, "embeddings": true}));
    }
    for m in [
        "claude-echo",
        "claude-long",
        "claude-refusal",
        "claude-limited",
        "claude-overloaded",
        "claude-stream-error",
        "claude-no-delta",
    ] {
        models.push(json!({"name": m, "provider": "claude", "input_per_million_usd": 1.0, "output_per_million_usd": 2.0}));
    }
    json!({
        "providers": {
            "fake": {"base_url": upstream.base_url},
            "closed": {"base_url": closed},
            "keyed": {"base_url": upstream.base_url, "api_key": KEYED_SECRET},
            "claude": {"kind": "anthropic", "base_url": upstream.anthropic_url, "api_key": "sk-ant-api03-test"},
        },
        "models": models,
        "default_model": "echo",
        "daily_budget_usd": daily_usd, "monthly_budget_usd": 100.0,
    })
    .to_string()
}

/// The key of the provider `keyed`, which its refusal quotes: never in a log or an answer.
pub(crate) const KEYED_SECRET: &str = "sk-proj-Zq8Lm3Nv5Rt7Xw9Yb2Cd4Fg6Hj8Kp0Qs";

/// A base URL on which nothing listens.
pub(crate) fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/v1")
}

pub(crate) struct Ai {
    pub(crate) client: TestClient,
    pub(crate) upstream: Upstream,
}

/// The AI plugin with the built-in store, a caller holding `grants`, and the double.
pub(crate) async fn ai_with(grants: &str, daily_usd: f64) -> Ai {
    ai_on("sqlite::memory:", grants, daily_usd).await
}

/// [`ai_with`] on the database at `url`.
pub(crate) async fn ai_on(url: &str, grants: &str, daily_usd: f64) -> Ai {
    ai_served(url, grants, daily_usd, ServerConfig::default()).await
}

/// [`ai_on`] with the server's settings.
pub(crate) async fn ai_served(url: &str, grants: &str, daily_usd: f64, server: ServerConfig) -> Ai {
    let upstream = Upstream::start().await;
    let text = config_json(&upstream, &closed_port(), daily_usd);
    let config = AiConfig::from_json(&text).unwrap();
    let pool = plugin_routes::database::connect(url).await.unwrap();
    let key = create_key(&pool, grants).await;
    let client = client(router_with(pool, url, config, server).await, &key);
    Ai { client, upstream }
}

async fn app(config: AiConfig, grants: &str) -> TestClient {
    app_on("sqlite::memory:", config, grants).await
}

async fn app_on(url: &str, config: AiConfig, grants: &str) -> TestClient {
    let pool = plugin_routes::database::connect(url).await.unwrap();
    let key = create_key(&pool, grants).await;
    client(router(pool, url, config).await, &key)
}

/// A user, `ada@example.com`, and an API key of hers holding `grants`, in `pool`; the key.
pub(crate) async fn create_key(pool: &sqlx::AnyPool, grants: &str) -> String {
    let auth = Auth::open(pool.clone(), AuthConfig::default())
        .await
        .unwrap();
    auth.create_user("ada@example.com", "a long password", &scopes("ai:*"))
        .await
        .unwrap();
    auth.create_api_key("ada@example.com", "tests", &scopes(grants), None)
        .await
        .unwrap()
        .key
}

/// The server's routes over `pool` (whose database `url` names): what a server builds when it
/// starts, the ledger opened.
pub(crate) async fn router(pool: sqlx::AnyPool, url: &str, config: AiConfig) -> axum::Router {
    router_with(pool, url, config, ServerConfig::default()).await
}

/// [`router`] with the server's settings.
pub(crate) async fn router_with(
    pool: sqlx::AnyPool,
    url: &str,
    config: AiConfig,
    server: ServerConfig,
) -> axum::Router {
    let ledger = Ledger::open(pool.clone(), url).await.unwrap();
    let server = match server.operations() {
        Some(_) => server,
        None => crate::fixtures::with_operations(server, &pool, url).await,
    };
    let auth = Auth::open(pool, AuthConfig::default()).await.unwrap();
    let mut state = AiState::new(config, ledger).unwrap();
    let placeholders = state.placeholders();
    // The plugin's counters on the server's `/metrics`, as its start hook sets them up.
    state.count_in(server.metrics().unwrap());
    plugins![
        config = server;
        auth = auth.clone();
        AuthRoutes::new(auth),
        AiPlugin::new(state).with_placeholders(&placeholders),
    ]
}

pub(crate) fn client(router: axum::Router, key: &str) -> TestClient {
    TestClient::new(router).with_header("authorization", format!("Bearer {key}"))
}

pub(crate) async fn generate(c: &TestClient, body: Value) -> plugin_routes::testing::TestResponse {
    c.post("/v1/plugins/ai/generate").json(&body).send().await
}

#[tokio::test]
async fn generates_text_with_usage_and_cost_and_records_it() {
    let ai = ai_with("ai:*", 10.0).await;
    let r = generate(
        &ai.client,
        json!({"prompt": "hello world", "maxTokens": 50, "temperature": 0.5}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    // 2 words + 3 framing tokens in, 3 words out, at $1 and $2 per million.
    assert_eq!(
        r.json::<Value>(),
        json!({
            "text": "echo: hello world",
            "finishReason": "stop",
            "model": "echo",
            "provider": "fake",
            "usage": {"inputTokens": 5, "outputTokens": 3, "totalTokens": 8},
            "costUsd": 0.000_011,
        })
    );
    let sent = ai.upstream.seen.last.lock().unwrap().clone();
    assert_eq!(sent["max_tokens"], 50);
    assert_eq!(sent["temperature"], 0.5);
    assert_eq!(sent["stream"], false);
    let usage: Value = ai.client.get("/v1/plugins/ai/usage").send().await.json();
    assert_eq!(usage["today"]["generations"], 1);
    assert_eq!(usage["today"]["usage"]["totalTokens"], 8);
    assert_eq!(usage["month"]["costUsd"], 0.000_011);
    assert_eq!(usage["today"]["budgetUsd"], 10.0);
    assert_eq!(usage["today"]["remainingUsd"], 9.999_989);
}

#[tokio::test]
async fn charged_tokens_and_cost_are_counted_by_model() {
    let ai = ai_with("ai:*", 10.0).await;
    let c = &ai.client;
    let echo_in = r#"ai_tokens_total{model="echo",kind="input"}"#;
    let echo_out = r#"ai_tokens_total{model="echo",kind="output"}"#;
    let other = r#"ai_tokens_total{model="claude-no-delta",kind="output"}"#;
    assert_eq!(
        metric(c, echo_in).await,
        0.0,
        "every model listed from the start"
    );
    assert_eq!(metric(c, other).await, 0.0);
    for _ in 0..2 {
        let r = generate(c, json!({"prompt": "hello world", "maxTokens": 50})).await;
        assert_eq!(r.status(), 200, "{}", r.text());
    }
    // Each call: 5 tokens in, 3 out, $0.000011 (see the test above), as `GET /usage` says.
    assert_eq!(metric(c, echo_in).await, 10.0);
    assert_eq!(metric(c, echo_out).await, 6.0);
    assert_eq!(metric(c, r#"ai_calls_total{model="echo"}"#).await, 2.0);
    let cost = metric(c, r#"ai_cost_usd_total{model="echo"}"#).await;
    assert!((cost - 0.000_022).abs() < 1e-12, "{cost}");
    assert_eq!(metric(c, other).await, 0.0);
    let usage: Value = c.get("/v1/plugins/ai/usage").send().await.json();
    assert_eq!(usage["today"]["usage"]["totalTokens"], 16);
}

#[tokio::test]
async fn every_violation_is_listed() {
    let ai = ai_with("ai:*", 10.0).await;
    let r = generate(
        &ai.client,
        json!({"prompt": "", "maxTokens": 4001, "temperature": 2.5}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let mut paths: Vec<String> = r.error()["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_owned())
        .collect();
    paths.sort();
    assert_eq!(paths, ["maxTokens", "prompt", "temperature"]);
    let long = "x".repeat(10_001);
    let r = generate(&ai.client, json!({"prompt": long})).await;
    assert_eq!(r.error()["details"][0]["path"], "prompt");
    assert_eq!(ai.upstream.calls(), 0);
}

#[tokio::test]
async fn models_are_listed_with_prices() {
    let ai = ai_with("ai:read", 10.0).await;
    let r = ai.client.get("/v1/plugins/ai/models").send().await;
    assert_eq!(r.status(), 200);
    let models: Value = r.json();
    assert_eq!(models["defaultModel"], "echo");
    assert_eq!(
        models["models"][0],
        json!({"name": "echo", "provider": "fake", "kind": "chat", "inputPerMillionUsd": 1.0, "outputPerMillionUsd": 2.0})
    );
    // `ai:read` alone does not generate.
    let r = generate(&ai.client, json!({"prompt": "hi"})).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.error()["details"]["missingScopes"],
        json!(["ai:generate"])
    );
}

/// Every upstream failure, through real HTTP, as the route declares it.
#[tokio::test]
async fn upstream_failures_are_the_declared_codes() {
    let ai = ai_with("ai:*", 10.0).await;
    let r = generate(&ai.client, json!({"prompt": "hi", "model": "limited"})).await;
    assert_eq!(
        (r.status().as_u16(), r.error()["code"].as_str()),
        (429, Some("UPSTREAM_RATE_LIMITED"))
    );
    assert_eq!(r.header("retry-after"), Some("17"));
    for (model, says) in [
        ("broken", "the provider answered HTTP 500"),
        ("garbled", "the provider's answer is malformed"),
        (
            "gone",
            "the provider cannot be reached: the connection was refused or failed",
        ),
    ] {
        let r = generate(&ai.client, json!({"prompt": "hi", "model": model})).await;
        assert_eq!(r.status(), 502, "{model}");
        assert_eq!(r.error()["code"], "LLM_FAILED");
        let message = r.error()["message"].as_str().unwrap().to_owned();
        assert!(message.starts_with(says), "{model}: {message}");
        assert!(
            !message.contains("127.0.0.1"),
            "no addresses in messages: {message}"
        );
    }
    let r = generate(&ai.client, json!({"prompt": "hi", "model": "gpt-9"})).await;
    assert_eq!(
        (r.status().as_u16(), r.error()["code"].as_str()),
        (400, Some("MODEL_NOT_FOUND"))
    );
    // Failed generations cost nothing and hold nothing.
    let usage: Value = ai.client.get("/v1/plugins/ai/usage").send().await.json();
    assert_eq!(usage["today"]["generations"], 0);
    assert_eq!(usage["today"]["remainingUsd"], 10.0);
}

#[tokio::test]
async fn without_a_provider_every_generating_route_says_so() {
    let client = app(AiConfig::none(), "ai:*").await;
    for path in ["/v1/plugins/ai/generate", "/v1/plugins/ai/generate/stream"] {
        let r = client
            .post(path)
            .json(&json!({"prompt": "hi"}))
            .send()
            .await;
        assert_eq!(r.status(), 503, "{path}");
        assert_eq!(r.error()["code"], "PROVIDER_NOT_CONFIGURED");
        assert!(
            r.error()["message"]
                .as_str()
                .unwrap()
                .contains("OLLAMA_MODEL")
        );
    }
    let r = client.get("/v1/plugins/ai/models").send().await;
    assert_eq!(r.error()["code"], "PROVIDER_NOT_CONFIGURED");
    assert_eq!(
        client.get("/v1/plugins/ai/usage").send().await.status(),
        200
    );
}

#[tokio::test]
async fn over_budget_is_refused_before_the_provider_is_asked() {
    // The most "hi" with 1000 tokens could cost: (2 + 16) × $1/M + 1000 × $2/M = $0.002018.
    let ai = ai_with("ai:*", 0.002).await;
    let r = generate(&ai.client, json!({"prompt": "hi"})).await;
    assert_eq!(
        (r.status().as_u16(), r.error()["code"].as_str()),
        (429, Some("QUOTA_EXCEEDED"))
    );
    assert_eq!(r.error()["details"]["budget"], "daily");
    assert_eq!(ai.upstream.calls(), 0);
    // A smaller cap fits.
    let r = generate(&ai.client, json!({"prompt": "hi", "maxTokens": 900})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(ai.upstream.calls(), 1);
}

#[tokio::test]
async fn two_requests_cannot_both_spend_the_last_of_a_budget() {
    race_for_the_last_of_a_budget(ai_with("ai:*", 0.00006).await).await;
}

/// The same race, and the ledger's sums, on PostgreSQL (a schema of the test's own).
#[tokio::test]
async fn budgets_hold_on_postgres_too() {
    let Some(pg) = crate::fixtures::PgSchema::fresh("ai").await else {
        return;
    };
    // Operations' queue on PostgreSQL (apalis) needs `hstore`, kept in `public`.
    let url = pg.url_with_public_extension("hstore").await;
    race_for_the_last_of_a_budget(ai_on(&url, "ai:*", 0.00006).await).await;
    pg.remove().await;
}

/// Room for one worst case ((5 + 16) × $1/M + 10 × $2/M = $0.000041), not two: one of two
/// concurrent requests is refused while the other is held upstream; then the ledger says so.
async fn race_for_the_last_of_a_budget(ai: Ai) {
    let body = json!({"prompt": "hello", "model": "held", "maxTokens": 10});
    let spawn = |c: TestClient, b: Value| tokio::spawn(async move { generate(&c, b).await });
    let first = spawn(ai.client.clone(), body.clone());
    let second = spawn(ai.client.clone(), body);
    // One is refused at once, while the other is held upstream.
    let mut waited = 0;
    while !first.is_finished() && !second.is_finished() && waited < 200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    assert_eq!(ai.upstream.calls(), 1, "only one reached the provider");
    ai.upstream.release();
    let mut statuses = vec![
        first.await.unwrap().status().as_u16(),
        second.await.unwrap().status().as_u16(),
    ];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 429]);
    let usage: Value = ai.client.get("/v1/plugins/ai/usage").send().await.json();
    assert_eq!(usage["today"]["generations"], 1);
    assert_eq!(usage["month"]["usage"]["totalTokens"], 6, "{usage}");
}

#[tokio::test]
async fn a_stream_sends_deltas_then_usage_and_records_it() {
    let ai = ai_with("ai:*", 10.0).await;
    let r = ai
        .client
        .post("/v1/plugins/ai/generate/stream")
        .json(&json!({"prompt": "hello world"}))
        .send()
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let events = r.events();
    let texts: Vec<&str> = events[..3]
        .iter()
        .map(|(_, e)| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["echo:", " hello", " world"]);
    assert_eq!(
        events[3].1,
        json!({
            "type": "done", "model": "echo", "provider": "fake", "finishReason": "stop",
            "usage": {"inputTokens": 5, "outputTokens": 3, "totalTokens": 8},
            "costUsd": 0.000_011,
        })
    );
    assert_eq!(events.len(), 4);
    assert_eq!(
        ai.upstream.seen.last.lock().unwrap()["stream_options"]["include_usage"],
        true
    );
    let usage: Value = ai.client.get("/v1/plugins/ai/usage").send().await.json();
    assert_eq!(usage["today"]["usage"]["totalTokens"], 8);
}

#[tokio::test]
async fn a_stream_cut_or_garbled_upstream_ends_with_llm_failed() {
    let ai = ai_with("ai:*", 10.0).await;
    for (model, says) in [
        ("cut", "the provider's stream ended before it was complete"),
        ("garbled", "the provider's answer is malformed"),
    ] {
        let r = ai
            .client
            .post("/v1/plugins/ai/generate/stream")
            .json(&json!({"prompt": "hello world", "model": model}))
            .send()
            .await;
        assert_eq!(r.status(), 200, "{model}: the stream had started");
        let events = r.events();
        assert_eq!(events[0].1["text"], "echo:", "{model}");
        let (name, error) = events.last().unwrap();
        assert_eq!(
            (name.as_str(), error["code"].as_str()),
            ("error", Some("LLM_FAILED")),
            "{model}"
        );
        assert!(
            error["message"].as_str().unwrap().starts_with(says),
            "{error}"
        );
    }
    // Failures before the first event keep their status.
    let r = ai
        .client
        .post("/v1/plugins/ai/generate/stream")
        .json(&json!({"prompt": "hi", "model": "limited"}))
        .send()
        .await;
    assert_eq!(
        (r.status().as_u16(), r.header("retry-after")),
        (429, Some("17"))
    );
    // What the broken streams generated is charged, by estimate.
    let usage: Value = ai.client.get("/v1/plugins/ai/usage").send().await.json();
    assert_eq!(usage["today"]["generations"], 2);
}

/// The real binary over TCP: events arrive as they are written, and a client that leaves
/// cancels the generation upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_server_streams_over_tcp_and_cancels_upstream() {
    use tokio::io::AsyncWriteExt;
    let upstream = Upstream::start().await;
    let binary = crate::server::server_binary();
    let (dir, url) = crate::server::fresh_sqlite("ai-stream");
    let file = dir.join("ai.json");
    std::fs::write(&file, config_json(&upstream, &closed_port(), 10.0)).unwrap();
    let key = crate::server::user_with_key(&binary, &url, "ada@example.com", "ai:*");
    let server =
        crate::server::Server::start_with(&binary, &url, &[("AI_CONFIG", file.to_str().unwrap())]);
    let port = server.port;

    let open = |model: &'static str| {
        let key = key.clone();
        async move {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap();
            let body = json!({"prompt": "hello world", "model": model}).to_string();
            let head = format!(
                "POST /v1/plugins/ai/generate/stream HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {key}\r\n\
                 content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            s.write_all(head.as_bytes()).await.unwrap();
            s
        }
    };
    // The first word arrives while the provider still holds the rest.
    let mut s = open("gated").await;
    let mut seen = String::new();
    read_until(&mut s, &mut seen, "\"text\":\"echo:\"").await;
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(seen.contains("content-type: text/event-stream"), "{seen}");
    assert!(
        !seen.contains("hello"),
        "nothing after the first word yet: {seen}"
    );
    upstream.release();
    read_until(&mut s, &mut seen, "\"type\":\"done\"").await;
    let done = seen.find("\"type\":\"done\"").unwrap();
    assert!(
        seen.find(" world").unwrap() < done,
        "the summary is last: {seen}"
    );
    assert!(seen[done..].contains("\"costUsd\":0.000011"), "{seen}");
    drop(s);

    // A client that leaves mid-stream: the provider sees its request cancelled.
    let mut s = open("stall").await;
    let mut seen = String::new();
    read_until(&mut s, &mut seen, "\"text\":\"echo:\"").await;
    drop(s);
    assert!(
        upstream.wait_cancelled(1).await,
        "the upstream request was cancelled"
    );
    server.kill();
    let _ = std::fs::remove_dir_all(dir);
}

/// The real binary over TCP: a client that sends a whole (not streamed) generation and hangs up
/// while the provider works is charged what the provider reports once it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_server_charges_a_generation_whose_client_hung_up() {
    use tokio::io::AsyncWriteExt;
    let upstream = Upstream::start().await;
    let binary = crate::server::server_binary();
    let (dir, url) = crate::server::fresh_sqlite("ai-hung-up");
    let file = dir.join("ai.json");
    std::fs::write(&file, config_json(&upstream, &closed_port(), 10.0)).unwrap();
    let key = crate::server::user_with_key(&binary, &url, "ada@example.com", "ai:*");
    let mut server =
        crate::server::Server::start_with(&binary, &url, &[("AI_CONFIG", file.to_str().unwrap())]);

    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let body = json!({"prompt": "hello", "model": "held", "maxTokens": 10}).to_string();
    let head = format!(
        "POST /v1/plugins/ai/generate HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {key}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for _ in 0..200 {
        if upstream.calls() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(upstream.calls(), 1, "the provider was asked");
    drop(s);

    server.key = Some(key);
    let usage = |server: &crate::server::Server| -> Value {
        let (status, _, body) = server.call("GET", "/v1/plugins/ai/usage", None);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    assert_eq!(
        usage(&server)["today"]["generations"],
        0,
        "not answered yet"
    );
    // The provider finishes after the client has gone: 1 + 3 tokens in, 2 out.
    upstream.release();
    let mut today = Value::Null;
    for _ in 0..200 {
        today = usage(&server)["today"].clone();
        if today["generations"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(today["generations"], 1, "{today}");
    assert_eq!(today["usage"]["totalTokens"], 6, "{today}");
    assert_eq!(today["costUsd"], 0.000_008, "{today}");
    assert_eq!(upstream.answered(), 1);
    server.kill();
    let _ = std::fs::remove_dir_all(dir);
}

/// A whole generation whose client leaves is not free: the provider still does the work and
/// bills the operator, so its answer is waited for and what it reports is charged.
#[tokio::test]
async fn a_generation_whose_client_left_is_charged_what_the_provider_reports() {
    // Room for one worst case ((5 + 16) × $1/M + 10 × $2/M = $0.000041), not two.
    let ai = ai_with("ai:*", 0.00006).await;
    let c = ai.client.clone();
    let held = tokio::spawn(async move {
        generate(
            &c,
            json!({"prompt": "hello", "model": "held", "maxTokens": 10}),
        )
        .await
    });
    while ai.upstream.calls() == 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The client goes away: the request's future is dropped while the provider works.
    held.abort();
    assert!(held.await.unwrap_err().is_cancelled());
    let body = json!({"prompt": "hello", "maxTokens": 10});
    let r = generate(&ai.client, body.clone()).await;
    assert_eq!(
        r.error()["code"],
        "QUOTA_EXCEEDED",
        "the hold stays while the provider works"
    );
    // The provider finishes: its answer is read and charged, 1 + 3 tokens in, 2 out.
    ai.upstream.release();
    let usage = usage_once(&ai.client, 1).await;
    assert_eq!(
        usage["today"]["usage"],
        json!({"inputTokens": 4, "outputTokens": 2, "totalTokens": 6})
    );
    assert_eq!(usage["today"]["costUsd"], 0.000_008);
    assert_eq!(ai.upstream.answered(), 1);
    // Its hold was replaced by what it cost: the next one fits.
    let r = generate(&ai.client, body).await;
    assert_eq!(r.status(), 200, "{}", r.text());
}

/// `GET /usage` once it shows `n` generations today (ten seconds at most: the charge of a
/// request whose client left is written on a task of its own).
pub(crate) async fn usage_once(c: &TestClient, n: u64) -> Value {
    let mut usage = Value::Null;
    for _ in 0..200 {
        usage = c.get("/v1/plugins/ai/usage").send().await.json();
        if usage["today"]["generations"] == n {
            return usage;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not {n} generations: {usage}");
}

/// LiteLLM (once it has sent keep-alive pings) and vLLM report a failure inside a `200` stream
/// as `data: {"error": ...}` then `data: [DONE]`: the stream ends with the error's code, not a
/// `done`, and what was not delivered is not charged.
#[tokio::test]
async fn an_error_inside_a_200_stream_ends_it_with_the_declared_code() {
    let ai = ai_with("ai:*", 10.0).await;
    for (model, code, says) in [
        (
            "failing",
            "LLM_FAILED",
            "the provider reported an error: the model is overloaded (InternalServerError, 500)",
        ),
        (
            "throttled",
            "UPSTREAM_RATE_LIMITED",
            "the provider is rate limiting; try again later",
        ),
    ] {
        let r = ai
            .client
            .post("/v1/plugins/ai/generate/stream")
            .json(&json!({"prompt": "hello world", "model": model}))
            .send()
            .await;
        assert_eq!(r.status(), 200, "{model}: the stream had started");
        let events = r.events();
        assert_eq!(events.len(), 1, "{model}: {events:?}");
        let (name, error) = &events[0];
        assert_eq!(
            (
                name.as_str(),
                error["code"].as_str(),
                error["message"].as_str()
            ),
            ("error", Some(code), Some(says)),
            "{model}"
        );
    }
    let usage: Value = ai.client.get("/v1/plugins/ai/usage").send().await.json();
    assert_eq!(
        usage["today"]["generations"], 0,
        "nothing delivered, nothing charged"
    );
    assert_eq!(usage["today"]["remainingUsd"], 10.0, "and nothing held");

    // Text delivered before the error is charged, by an estimate never less than it could
    // cost: "hello world" (11 bytes, + 16) in, "echo:" (5 bytes) out; it is not a finished
    // generation.
    let r = ai
        .client
        .post("/v1/plugins/ai/generate/stream")
        .json(&json!({"prompt": "hello world", "model": "failing-late"}))
        .send()
        .await;
    let events = r.events();
    assert_eq!(events[0].1, json!({"type": "delta", "text": "echo:"}));
    assert_eq!(events[1].0, "error");
    assert_eq!(events[1].1["code"], "LLM_FAILED");
    assert_eq!(events.len(), 2);
    let usage: Value = ai.client.get("/v1/plugins/ai/usage").send().await.json();
    assert_eq!(usage["today"]["generations"], 1);
    assert_eq!(
        usage["today"]["usage"],
        json!({"inputTokens": 27, "outputTokens": 5, "totalTokens": 32}),
        "{usage}"
    );
}

/// The same error as a whole `200` answer is the provider failing, not "malformed".
#[tokio::test]
async fn an_error_in_a_200_answer_is_the_declared_code() {
    let ai = ai_with("ai:*", 10.0).await;
    let r = generate(&ai.client, json!({"prompt": "hi", "model": "failing"})).await;
    assert_eq!(
        (r.status().as_u16(), r.error()["code"].as_str()),
        (502, Some("LLM_FAILED"))
    );
    assert_eq!(
        r.error()["message"],
        "the provider reported an error: the model is overloaded (InternalServerError, 500)"
    );
    let r = generate(&ai.client, json!({"prompt": "hi", "model": "throttled"})).await;
    assert_eq!(
        (r.status().as_u16(), r.error()["code"].as_str()),
        (429, Some("UPSTREAM_RATE_LIMITED"))
    );
    let usage: Value = ai.client.get("/v1/plugins/ai/usage").send().await.json();
    assert_eq!(usage["today"]["generations"], 0);
    assert_eq!(usage["today"]["remainingUsd"], 10.0);
}

/// vLLM's continuous usage statistics: every chunk carries its text and the running usage.
#[tokio::test]
async fn text_sent_with_the_usage_is_kept() {
    let ai = ai_with("ai:*", 10.0).await;
    let r = ai
        .client
        .post("/v1/plugins/ai/generate/stream")
        .json(&json!({"prompt": "hello world", "model": "inline-usage"}))
        .send()
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let events = r.events();
    let texts: Vec<&str> = events
        .iter()
        .filter_map(|(_, e)| e["text"].as_str())
        .collect();
    assert_eq!(texts, ["echo:", " hello", " world"]);
    let (name, done) = events.last().unwrap();
    assert_eq!(name, "message");
    assert_eq!(done["type"], "done");
    assert_eq!(
        done["usage"],
        json!({"inputTokens": 5, "outputTokens": 3, "totalTokens": 8}),
        "the last running total"
    );
    let usage: Value = ai.client.get("/v1/plugins/ai/usage").send().await.json();
    assert_eq!(usage["today"]["usage"]["totalTokens"], 8);
}

/// Reads until `needle` has arrived (ten seconds at most); everything read.
pub(crate) async fn read_until(s: &mut tokio::net::TcpStream, seen: &mut String, needle: &str) {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 4096];
    let read = async {
        while !seen.contains(needle) {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed early: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .unwrap_or_else(|_| panic!("`{needle}` did not arrive: {seen}"));
}

/// The provider is reached only where the plugin's `net("{provider}")` allows: assembled with
/// another address for `{provider}`, a generation is refused before the provider is asked —
/// `500`, nothing about it in the body, one log line naming the route, `net` and the address —
/// and the double never sees a request.
#[tokio::test]
async fn a_provider_outside_the_declared_hosts_is_never_asked() {
    let log = crate::logs::captured();
    let upstream = Upstream::start().await;
    let config = AiConfig::from_json(&config_json(&upstream, &closed_port(), 10.0)).unwrap();
    let url = "sqlite::memory:";
    let pool = plugin_routes::database::connect(url).await.unwrap();
    let key = create_key(&pool, "ai:*").await;
    let ledger = Ledger::open(pool.clone(), url).await.unwrap();
    let server = crate::fixtures::with_operations(ServerConfig::default(), &pool, url).await;
    let auth = Auth::open(pool, AuthConfig::default()).await.unwrap();
    let state = AiState::new(config, ledger).unwrap();
    assert!(
        state
            .placeholders()
            .get("provider")
            .iter()
            .any(|p| p.starts_with(&upstream.base_url)),
        "the declared providers are the configured ones"
    );
    let app = plugins![
        config = server;
        auth = auth.clone();
        AuthRoutes::new(auth),
        AiPlugin::new(state).with_placeholder("provider", "http://127.0.0.1:9/v1"),
    ];
    let c = client(app, &key);
    for path in ["/v1/plugins/ai/generate", "/v1/plugins/ai/generate/stream"] {
        let r = c.post(path).json(&json!({"prompt": "hi"})).send().await;
        assert_eq!(r.status(), 500, "{path}: {}", r.text());
        assert!(!r.text().contains("127.0.0.1"), "{}", r.text());
    }
    assert_eq!(upstream.calls(), 0, "the provider was never asked");
    let asked = upstream
        .base_url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let text = log.text();
    let refusals: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(&format!("asked=\"{asked}\"")) && l.contains("net"))
        .collect();
    assert_eq!(refusals.len(), 2, "{text}");
    assert!(
        refusals[0].contains("route=\"ai POST /v1/plugins/ai/generate\""),
        "{}",
        refusals[0]
    );
}

/// JSON Schema's `integer` (what the documents say `maxTokens` is) admits `50.0` and `5e1`:
/// read as 50, as the documents promise; `50.5` is still refused, naming the field.
#[tokio::test]
async fn a_whole_number_written_with_a_fraction_is_an_integer() {
    let ai = ai_with("ai:*", 10.0).await;
    for tokens in [json!(50.0), json!(5e1)] {
        let r = generate(
            &ai.client,
            json!({"prompt": "hello world", "maxTokens": tokens}),
        )
        .await;
        assert_eq!(r.status(), 200, "{tokens}: {}", r.text());
    }
    let r = generate(
        &ai.client,
        json!({"prompt": "hello world", "maxTokens": 50.5}),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.error()["details"][0]["path"], "maxTokens");
}
