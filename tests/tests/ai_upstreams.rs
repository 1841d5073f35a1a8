//! The AI plugin against what real upstreams do, each reproduced by the loopback double: why an
//! answer stopped (`length`, `content_filter`), a refusal's body in the operator's log without
//! its key and out of the client's sight, a provider reporting more tokens than `maxTokens`,
//! overloads, Anthropic's Messages API whole and streamed, embeddings, the declared rate limit
//! and the callers' own history.

use crate::ai::{KEYED_SECRET, ai_with, closed_port, config_json, create_key, generate, router};
use crate::fake_llm::Upstream;
use crate::fixtures::scopes;
use crate::logs::captured;
use ai_plugin::ledger::Ledger;
use ai_plugin::{AiConfig, AiPlugin, AiState, GENERATIONS_PER_MINUTE};
use plugin_routes::auth::{Auth, AuthConfig, AuthRoutes};
use plugin_routes::testing::{TestClient, TestResponse};
use plugin_routes::{LimitOverride, ServerConfig, plugins};
use serde_json::{Value, json};

async fn stream(c: &TestClient, body: Value) -> TestResponse {
    c.post("/v1/plugins/ai/generate/stream")
        .json(&body)
        .send()
        .await
}

async fn embed(c: &TestClient, body: Value) -> TestResponse {
    c.post("/v1/plugins/ai/embeddings").json(&body).send().await
}

#[tokio::test]
async fn why_an_answer_stopped_is_said_whole_and_streamed() {
    let ai = ai_with("ai:*", 10.0).await;
    // Cut off at `maxTokens`: the text so far, and `length`.
    let body = json!({"prompt": "one two three four", "model": "cut-short", "maxTokens": 2});
    let r = generate(&ai.client, body.clone()).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let answer: Value = r.json();
    assert_eq!(
        (answer["text"].as_str(), answer["finishReason"].as_str()),
        (Some("echo: one"), Some("length"))
    );
    let events = stream(&ai.client, body).await.events();
    let done = &events.last().unwrap().1;
    assert_eq!(
        (done["type"].as_str(), done["finishReason"].as_str()),
        (Some("done"), Some("length")),
        "{events:?}"
    );

    // Withheld by a content filter (a `null` content, as Azure OpenAI sends it): a 200 that says
    // so, not a failure; streamed, the text so far and the reason.
    let body = json!({"prompt": "hello world", "model": "filtered"});
    let answer: Value = generate(&ai.client, body.clone()).await.json();
    assert_eq!(
        (answer["text"].as_str(), answer["finishReason"].as_str()),
        (Some(""), Some("content_filter")),
        "{answer}"
    );
    let events = stream(&ai.client, body).await.events();
    assert_eq!(events[0].1, json!({"type": "delta", "text": "echo:"}));
    assert_eq!(events[1].1["finishReason"], "content_filter", "{events:?}");

    // The documents list the reasons.
    let doc: Value = ai.client.get("/openapi.json").send().await.json();
    let text = doc.to_string();
    for reason in ["\"length\"", "\"content_filter\"", "\"stop\""] {
        assert!(text.contains(reason), "{reason} is documented");
    }
    let props = &doc["components"]["schemas"]["GenerateResponse"]["properties"];
    assert!(props.get("finishReason").is_some(), "{props}");
}

#[tokio::test]
async fn a_refusal_is_logged_without_its_key_and_the_client_sees_no_address() {
    let log = captured();
    let ai = ai_with("ai:*", 10.0).await;
    // OpenAI quotes the key it was sent when it refuses it.
    let r = generate(&ai.client, json!({"prompt": "hi", "model": "keyed"})).await;
    assert_eq!(r.status(), 502, "{}", r.text());
    assert_eq!(r.error()["code"], "LLM_FAILED");
    assert_eq!(r.error()["message"], "the provider answered HTTP 401");
    let text = log.text();
    let line = text
        .lines()
        .find(|l| l.contains("the provider refused a request") && l.contains("provider=keyed"))
        .expect("the refusal is logged");
    assert!(line.contains("status=401"), "{line}");
    assert!(
        line.contains("Incorrect API key provided: [redacted]."),
        "{line}"
    );
    assert!(line.contains("invalid_api_key"), "{line}");
    assert!(!text.contains(KEYED_SECRET), "the key is never logged");
    assert!(!r.text().contains(KEYED_SECRET));

    // An error inside a 200 naming the upstream's address: logged whole (without secrets), shown
    // to the client without the address, whole or streamed.
    let body = json!({"prompt": "hi", "model": "failing-address"});
    let r = generate(&ai.client, body.clone()).await;
    assert_eq!(r.error()["code"], "LLM_FAILED");
    let message = r.error()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("APIConnectionError"), "{message}");
    assert!(message.contains("[address]"), "{message}");
    let events = stream(&ai.client, body).await.events();
    let streamed = events[0].1["message"].as_str().unwrap().to_owned();
    for shown in [&message, &streamed] {
        assert!(!shown.contains("10.1.2.3"), "{shown}");
    }
    assert!(
        log.text()
            .lines()
            .any(|l| l.contains("reported an error in its answer") && l.contains("10.1.2.3")),
        "the operator sees where it failed"
    );
}

#[tokio::test]
async fn overloads_and_rate_limits_map_to_their_declared_codes() {
    let ai = ai_with("ai:*", 10.0).await;
    for (model, status, code, retry) in [
        ("overloaded", 503, "UPSTREAM_OVERLOADED", Some("9")),
        ("claude-overloaded", 503, "UPSTREAM_OVERLOADED", None),
        ("claude-limited", 429, "UPSTREAM_RATE_LIMITED", Some("11")),
        ("limited", 429, "UPSTREAM_RATE_LIMITED", Some("17")),
    ] {
        for streamed in [false, true] {
            let body = json!({"prompt": "hi", "model": model});
            let r = if streamed {
                stream(&ai.client, body).await
            } else {
                generate(&ai.client, body).await
            };
            assert_eq!(r.status().as_u16(), status, "{model}: {}", r.text());
            assert_eq!(r.error()["code"], code, "{model}");
            assert_eq!(r.header("retry-after"), retry, "{model}");
        }
    }
    // An account out of credit is no rate limit: waiting will not help.
    let r = generate(&ai.client, json!({"prompt": "hi", "model": "no-credit"})).await;
    assert_eq!(
        (r.status().as_u16(), r.error()["code"].as_str()),
        (502, Some("LLM_FAILED"))
    );
    assert!(
        r.error()["message"]
            .as_str()
            .unwrap()
            .contains("no credit left"),
        "{}",
        r.text()
    );
    let usage: Value = ai.client.get("/v1/plugins/ai/usage").send().await.json();
    assert_eq!(usage["today"]["generations"], 0, "refusals cost nothing");
    assert_eq!(usage["today"]["remainingUsd"], 10.0, "and hold nothing");
}

#[tokio::test]
async fn anthropic_messages_whole_and_streamed() {
    let ai = ai_with("ai:*", 10.0).await;
    let r = generate(
        &ai.client,
        json!({"prompt": "hello world", "model": "claude-echo", "maxTokens": 64, "temperature": 1.5}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    // 2 words + 7 in, 2 out, at $1 and $2 per million.
    assert_eq!(
        r.json::<Value>(),
        json!({
            "text": "hello world", "finishReason": "stop", "model": "claude-echo",
            "provider": "claude",
            "usage": {"inputTokens": 9, "outputTokens": 2, "totalTokens": 11},
            "costUsd": 0.000_013,
        })
    );
    let sent = ai.upstream.seen.last.lock().unwrap().clone();
    assert_eq!(sent["max_tokens"], 64);
    assert_eq!(
        sent["temperature"], 1.0,
        "Anthropic's temperature stops at 1"
    );
    assert_eq!(
        sent["messages"][0],
        json!({"role": "user", "content": "hello world"})
    );

    let events = stream(
        &ai.client,
        json!({"prompt": "hello world", "model": "claude-echo"}),
    )
    .await
    .events();
    assert_eq!(events[0].1, json!({"type": "delta", "text": "hello"}));
    assert_eq!(events[1].1, json!({"type": "delta", "text": " world"}));
    assert_eq!(
        events[2].1,
        json!({
            "type": "done", "finishReason": "stop", "model": "claude-echo", "provider": "claude",
            "usage": {"inputTokens": 9, "outputTokens": 2, "totalTokens": 11},
            "costUsd": 0.000_013,
        })
    );
    assert_eq!(events.len(), 3);

    // Its own reasons, whole and streamed.
    for (model, text, reason) in [
        ("claude-long", "one two", "length"),
        ("claude-refusal", "", "content_filter"),
    ] {
        let body = json!({"prompt": "one two three", "model": model});
        let answer: Value = generate(&ai.client, body.clone()).await.json();
        assert_eq!(
            (answer["text"].as_str(), answer["finishReason"].as_str()),
            (Some(text), Some(reason)),
            "{model}"
        );
        let events = stream(&ai.client, body).await.events();
        assert_eq!(events.last().unwrap().1["finishReason"], reason, "{model}");
    }

    // A stream whose only count came before its text is charged the count and a token for
    // each byte after it: 1 + 11.
    let events = stream(
        &ai.client,
        json!({"prompt": "hello world", "model": "claude-no-delta"}),
    )
    .await
    .events();
    let done = &events.last().unwrap().1;
    assert_eq!(done["type"], "done", "{events:?}");
    assert_eq!(
        done["usage"],
        json!({"inputTokens": 9, "outputTokens": 12, "totalTokens": 21})
    );

    // An `error` event after the 200: the stream ends with the declared code, and what was
    // delivered is charged.
    let before: Value = ai.client.get("/v1/plugins/ai/usage").send().await.json();
    let events = stream(
        &ai.client,
        json!({"prompt": "hello world", "model": "claude-stream-error"}),
    )
    .await
    .events();
    assert_eq!(events[0].1, json!({"type": "delta", "text": "hello"}));
    assert_eq!(
        (events[1].0.as_str(), events[1].1["code"].as_str()),
        ("error", Some("UPSTREAM_OVERLOADED"))
    );
    let after: Value = ai.client.get("/v1/plugins/ai/usage").send().await.json();
    assert_eq!(
        after["today"]["generations"].as_u64().unwrap(),
        before["today"]["generations"].as_u64().unwrap() + 1
    );
}

#[tokio::test]
async fn a_provider_over_max_tokens_is_charged_as_reported_and_the_next_call_refused() {
    let log = captured();
    // $0.001 a day: the hold (18 tokens in at $1, 100 out at $2 per million: $0.000218) fits,
    // what the provider reports (4 in, 1,000 out: $0.002004) does not.
    let ai = ai_with("ai:*", 0.001).await;
    let r = generate(
        &ai.client,
        json!({"prompt": "hi", "model": "overshoot", "maxTokens": 100}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let answer: Value = r.json();
    assert_eq!(answer["usage"]["outputTokens"], 1_000);
    assert_eq!(answer["costUsd"], 0.002_004);
    let usage: Value = ai.client.get("/v1/plugins/ai/usage").send().await.json();
    assert_eq!(usage["today"]["costUsd"], 0.002_004, "charged as reported");
    assert_eq!(usage["today"]["remainingUsd"], 0.0);
    assert!(
        log.text().lines().any(
            |l| l.contains("reported more tokens than the call could use")
                && l.contains("output_tokens=1000")
                && l.contains("most_output_tokens=100")
        ),
        "the excess is logged"
    );
    // Spent: the next call is refused before the provider is asked.
    let calls = ai.upstream.calls();
    let r = generate(
        &ai.client,
        json!({"prompt": "hi", "model": "echo", "maxTokens": 1}),
    )
    .await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.error()["code"], "QUOTA_EXCEEDED");
    assert_eq!(ai.upstream.calls(), calls);
}

#[tokio::test]
async fn embeddings_are_validated_metered_and_in_order() {
    let ai = ai_with("ai:*", 10.0).await;
    let r = embed(&ai.client, json!({"input": "hello world"})).await;
    assert_eq!(r.status(), 200, "{}", r.text());
    // 2 words + 1 in, at $1 per million; the default embeddings model.
    assert_eq!(
        r.json::<Value>(),
        json!({
            "embeddings": [[11.0, 2.0, 1.0]], "model": "embed-small", "provider": "fake",
            "usage": {"inputTokens": 3, "outputTokens": 0, "totalTokens": 3},
            "costUsd": 0.000_003,
        })
    );
    // A list comes back in its order, whichever order the provider sent.
    let r = embed(
        &ai.client,
        json!({"input": ["a", "b c", "d e f"], "model": "embed-small"}),
    )
    .await;
    let answer: Value = r.json();
    assert_eq!(
        answer["embeddings"],
        json!([[1.0, 1.0, 1.0], [3.0, 2.0, 1.0], [5.0, 3.0, 1.0]])
    );
    let usage: Value = ai.client.get("/v1/plugins/ai/usage").send().await.json();
    assert_eq!(usage["today"]["generations"], 2);

    // Bad input: 400 naming the field, the provider never asked.
    let calls = ai.upstream.calls();
    let many: Vec<String> = (0..65).map(|i| i.to_string()).collect();
    for (input, says) in [
        (json!([]), "input"),
        (json!(""), "input"),
        (json!(["ok", ""]), "input[1]"),
        (json!(""), "input[0]"),
        (json!("x".repeat(8_001)), "input"),
        (json!(many), "input"),
        (json!(42), "input"),
    ] {
        let r = embed(&ai.client, json!({"input": input})).await;
        assert_eq!(r.status(), 400, "{input}: {}", r.text());
        let error = r.error();
        let text = error.to_string();
        assert!(text.contains(says), "{input}: {text}");
        assert!(!text.contains("EmbeddingInput"), "no Rust types: {text}");
    }
    let r = embed(&ai.client, json!({"input": 42})).await;
    assert!(
        r.text().contains("a string or a list of strings"),
        "{}",
        r.text()
    );
    assert_eq!(ai.upstream.calls(), calls);

    // A chat model is not an embeddings model, nor the other way round.
    let r = embed(&ai.client, json!({"input": "x", "model": "echo"})).await;
    assert_eq!(
        (r.status().as_u16(), r.error()["code"].as_str()),
        (400, Some("MODEL_NOT_FOUND"))
    );
    let r = generate(&ai.client, json!({"prompt": "x", "model": "embed-small"})).await;
    assert_eq!(
        (r.status().as_u16(), r.error()["code"].as_str()),
        (400, Some("MODEL_NOT_FOUND"))
    );
    // The provider's rate limit.
    let r = embed(&ai.client, json!({"input": "x", "model": "embed-limited"})).await;
    assert_eq!(r.error()["code"], "UPSTREAM_RATE_LIMITED");
    assert_eq!(r.header("retry-after"), Some("5"));

    // A budget too small for the call.
    let poor = ai_with("ai:*", 0.000_001).await;
    let r = embed(&poor.client, json!({"input": "hello world"})).await;
    assert_eq!(
        (r.status().as_u16(), r.error()["code"].as_str()),
        (429, Some("QUOTA_EXCEEDED"))
    );
    assert_eq!(poor.upstream.calls(), 0);
}

#[tokio::test]
async fn without_an_embeddings_model_embeddings_are_not_configured() {
    let pool = plugin_routes::database::connect("sqlite::memory:")
        .await
        .unwrap();
    let key = create_key(&pool, "ai:*").await;
    let app = router(pool, "sqlite::memory:", AiConfig::none()).await;
    let c = crate::ai::client(app, &key);
    let r = embed(&c, json!({"input": "x"})).await;
    assert_eq!(
        (r.status().as_u16(), r.error()["code"].as_str()),
        (503, Some("PROVIDER_NOT_CONFIGURED"))
    );
}

/// The double's app on the database at `url` with two users, `ada@example.com` and
/// `bob@example.com`, each with a key.
async fn two_callers(url: &str) -> (TestClient, TestClient, Upstream) {
    let upstream = Upstream::start().await;
    let config = AiConfig::from_json(&config_json(&upstream, &closed_port(), 10.0)).unwrap();
    let pool = plugin_routes::database::connect(url).await.unwrap();
    let ada = create_key(&pool, "ai:*").await;
    let auth = Auth::open(pool.clone(), AuthConfig::default())
        .await
        .unwrap();
    auth.create_user("bob@example.com", "another long password", &scopes("ai:*"))
        .await
        .unwrap();
    let bob = auth
        .create_api_key("bob@example.com", "tests", &scopes("ai:*"), None)
        .await
        .unwrap()
        .key;
    let app = router(pool, url, config).await;
    (
        crate::ai::client(app.clone(), &ada),
        crate::ai::client(app, &bob),
        upstream,
    )
}

#[tokio::test]
async fn history_is_kept_only_when_asked_without_secrets_and_only_for_its_owner() {
    history_for_its_owner_only("sqlite::memory:").await;
}

#[tokio::test]
async fn history_on_postgresql() {
    let Some(pg) = crate::fixtures::PgSchema::fresh("ai_history").await else {
        return;
    };
    // Operations' queue on PostgreSQL (apalis) needs `hstore`, kept in `public`.
    let url = pg.url_with_public_extension("hstore").await;
    history_for_its_owner_only(&url).await;
    pg.remove().await;
}

async fn history_for_its_owner_only(url: &str) {
    let (ada, bob, _upstream) = two_callers(url).await;
    // Not asked: not kept.
    let answer: Value = generate(&ada, json!({"prompt": "hello"})).await.json();
    assert!(answer.get("historyId").is_none(), "{answer}");
    let page: Value = ada.get("/v1/plugins/ai/history").send().await.json();
    assert_eq!(page["entries"], json!([]));

    // Asked: kept, the key in the prompt (and in the echo) removed first.
    let prompt = "deploy with AKIAIOSFODNN7EXAMPLE now";
    let r = generate(&ada, json!({"prompt": prompt, "saveHistory": true})).await;
    let answer: Value = r.json();
    let id = answer["historyId"].as_str().expect("kept").to_owned();
    let r = ada
        .get(&format!("/v1/plugins/ai/history/{id}"))
        .send()
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let entry: Value = r.json();
    assert_eq!(entry["prompt"], "deploy with [redacted] now");
    assert_eq!(entry["text"], "echo: deploy with [redacted] now");
    assert_eq!(entry["secretsRemoved"], 2);
    assert_eq!(entry["finishReason"], "stop");
    assert_eq!(entry["streamed"], false);
    assert_eq!(entry["costUsd"], answer["costUsd"]);
    assert!(!r.text().contains("AKIAIOSFODNN7EXAMPLE"));

    // Streamed, kept at its end.
    let events = stream(&ada, json!({"prompt": "two words", "saveHistory": true}))
        .await
        .events();
    let done = &events.last().unwrap().1;
    let streamed_id = done["historyId"].as_str().expect("kept").to_owned();

    // Newest first, a page at a time.
    let page: Value = ada
        .get("/v1/plugins/ai/history?limit=1")
        .send()
        .await
        .json();
    assert_eq!(page["entries"][0]["id"], streamed_id.as_str());
    assert_eq!(page["entries"][0]["text"], "echo: two words");
    let next = page["next"].as_str().unwrap();
    let page: Value = ada
        .get(&format!("/v1/plugins/ai/history?limit=1&before={next}"))
        .send()
        .await
        .json();
    assert_eq!(page["entries"][0]["id"], id.as_str());
    let r = ada
        .get("/v1/plugins/ai/history?before=h_nothing")
        .send()
        .await;
    assert_eq!(
        (r.status().as_u16(), r.error()["code"].as_str()),
        (404, Some("HISTORY_NOT_FOUND"))
    );

    // Another caller sees none of it, and cannot delete it.
    let page: Value = bob.get("/v1/plugins/ai/history").send().await.json();
    assert_eq!(page["entries"], json!([]));
    for r in [
        bob.get(&format!("/v1/plugins/ai/history/{id}"))
            .send()
            .await,
        bob.delete(&format!("/v1/plugins/ai/history/{id}"))
            .send()
            .await,
        bob.get(&format!("/v1/plugins/ai/history?before={id}"))
            .send()
            .await,
    ] {
        assert_eq!(
            (r.status().as_u16(), r.error()["code"].as_str()),
            (404, Some("HISTORY_NOT_FOUND"))
        );
    }
    // Its owner deletes it once.
    let r = ada
        .delete(&format!("/v1/plugins/ai/history/{id}"))
        .send()
        .await;
    assert_eq!(r.status(), 204);
    let r = ada
        .get(&format!("/v1/plugins/ai/history/{id}"))
        .send()
        .await;
    assert_eq!(r.status(), 404);
    let r = ada
        .delete(&format!("/v1/plugins/ai/history/{id}"))
        .send()
        .await;
    assert_eq!(r.status(), 404);

    // A NUL, which PostgreSQL's text cannot hold, is kept as U+FFFD on either database: the
    // generation is kept, not dropped with an error in the log.
    let answer: Value = generate(&ada, json!({"prompt": "a\u{0}b", "saveHistory": true}))
        .await
        .json();
    assert_eq!(
        answer["text"], "echo: a\u{0}b",
        "the answer itself is as the model gave it"
    );
    let id = answer["historyId"].as_str().expect("kept");
    let entry: Value = ada
        .get(&format!("/v1/plugins/ai/history/{id}"))
        .send()
        .await
        .json();
    assert_eq!(entry["prompt"], "a\u{fffd}b");
    assert_eq!(entry["text"], "echo: a\u{fffd}b");
}

#[tokio::test]
async fn the_configuration_can_keep_every_generation_unless_a_request_says_not() {
    let upstream = Upstream::start().await;
    let mut settings: Value =
        serde_json::from_str(&config_json(&upstream, &closed_port(), 10.0)).unwrap();
    settings["save_history"] = json!(true);
    let config = AiConfig::from_json(&settings.to_string()).unwrap();
    let pool = plugin_routes::database::connect("sqlite::memory:")
        .await
        .unwrap();
    let key = create_key(&pool, "ai:*").await;
    let c = crate::ai::client(router(pool, "sqlite::memory:", config).await, &key);
    let kept: Value = generate(&c, json!({"prompt": "keep me"})).await.json();
    assert!(kept["historyId"].is_string(), "{kept}");
    let not: Value = generate(&c, json!({"prompt": "not me", "saveHistory": false}))
        .await
        .json();
    assert!(not.get("historyId").is_none(), "{not}");
    let page: Value = c.get("/v1/plugins/ai/history").send().await.json();
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn calls_to_a_model_are_rate_limited_per_caller_as_declared_or_configured() {
    let ai = ai_with("ai:*", 10.0).await;
    let doc: Value = ai.client.get("/openapi.json").send().await.json();
    for path in ["generate", "generate/stream", "embeddings"] {
        let op = &doc["paths"][format!("/v1/plugins/ai/{path}")]["post"];
        assert_eq!(
            op["x-rate-limit"],
            json!([{"name": "generations", "quota": GENERATIONS_PER_MINUTE, "windowSeconds": 60, "burst": GENERATIONS_PER_MINUTE, "key": "caller"}]),
            "{path}"
        );
    }

    // Changed to 2 a minute by the server: the documents say so, and the third call is refused.
    let upstream = Upstream::start().await;
    let config = AiConfig::from_json(&config_json(&upstream, &closed_port(), 10.0)).unwrap();
    let pool = plugin_routes::database::connect("sqlite::memory:")
        .await
        .unwrap();
    let key = create_key(&pool, "ai:*").await;
    let ledger = Ledger::open(pool.clone(), "sqlite::memory:").await.unwrap();
    let server = ServerConfig::default()
        .with_rate_limit_override("ai.generations=2/1m".parse::<LimitOverride>().unwrap());
    let server = crate::fixtures::with_operations(server, &pool, "sqlite::memory:").await;
    let auth = Auth::open(pool, AuthConfig::default()).await.unwrap();
    let state = AiState::new(config, ledger).unwrap();
    let placeholders = state.placeholders();
    let app = plugins![
        config = server;
        auth = auth.clone();
        AuthRoutes::new(auth),
        AiPlugin::new(state).with_placeholders(&placeholders),
    ];
    let c = crate::ai::client(app, &key);
    let doc: Value = c.get("/openapi.json").send().await.json();
    assert_eq!(
        doc["paths"]["/v1/plugins/ai/generate"]["post"]["x-rate-limit"][0]["quota"],
        2
    );
    assert_eq!(generate(&c, json!({"prompt": "one"})).await.status(), 200);
    assert_eq!(generate(&c, json!({"prompt": "two"})).await.status(), 200);
    let r = generate(&c, json!({"prompt": "three"})).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.error()["code"], "RATE_LIMITED");
    assert_eq!(r.error()["details"]["policy"], "generations");
    assert_eq!(upstream.calls(), 2, "the provider is not asked");
    // Each route counts its own.
    assert_eq!(embed(&c, json!({"input": "four"})).await.status(), 200);
}

#[test]
#[should_panic(expected = "the rate-limit override `ai.writes` names no policy")]
fn an_override_of_no_declared_policy_stops_the_assembly() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let pool = plugin_routes::database::connect("sqlite::memory:")
            .await
            .unwrap();
        let ledger = Ledger::open(pool.clone(), "sqlite::memory:").await.unwrap();
        let server = ServerConfig::default()
            .with_rate_limit_override("ai.writes=2/1m".parse::<LimitOverride>().unwrap());
        let server = crate::fixtures::with_operations(server, &pool, "sqlite::memory:").await;
        let auth = Auth::open(pool, AuthConfig::default()).await.unwrap();
        let state = AiState::new(AiConfig::none(), ledger).unwrap();
        let placeholders = state.placeholders();
        let _ = plugins![
            config = server;
            auth = auth.clone();
            AuthRoutes::new(auth),
            AiPlugin::new(state).with_placeholders(&placeholders),
        ];
    });
}
