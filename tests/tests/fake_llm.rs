//! A test double of an LLM provider: a real HTTP server on loopback speaking OpenAI's
//! chat-completions wire format (`POST /v1/chat/completions`, whole or `stream: true` with
//! server-sent events, `stream_options.include_usage`, `data: [DONE]`). What it does is chosen
//! by the model asked for, so the plugin under test takes exactly the path it takes against a
//! real provider:
//!
//! | model | answers |
//! |---|---|
//! | `echo` | the prompt's words back, `echo: ...`; streamed one word an event |
//! | `gated` | like `echo`, but a stream holds after its first word until [`Upstream::release`] |
//! | `held` | waits for [`Upstream::release`] before answering at all |
//! | `stall` | a stream that sends one word, then nothing, forever |
//! | `limited` | `429` with `Retry-After: 17` |
//! | `broken` | `500` |
//! | `garbled` | `200` with a body that is not JSON (or, streamed, an event that is not) |
//! | `cut` | a stream that sends one word and closes without `[DONE]` |
//! | `scripted` | the text given to [`Upstream::script`], whole (what a model would have written) |
//! | `held-scripted` | like `scripted`, after waiting for a release ([`Upstream::release_one`] lets the longest-waiting one go) |
//! | `failing` | `200` whose body is an error, `{"error": {"message", "type", "code"}}` as vLLM and LiteLLM send it; streamed, keep-alive comments (`: ping`) first, then that error as an event, then `data: [DONE]` |
//! | `failing-late` | a stream that sends one word, then the error event and `data: [DONE]` |
//! | `throttled` | like `failing`, the error a rate limit (`"type": "rate_limit_error"`, `"code": "429"`) |
//! | `inline-usage` | a stream whose every chunk carries its word and the running usage (vLLM's continuous usage statistics), with no usage-only chunk |
//! | `stall-cjk` | a stream that sends [`CJK`] (eight characters, 24 bytes), then nothing, forever |
//! | `thinking-stall` | a stream that first sends a running usage of [`THOUGHT`] output tokens (a reasoning model's hidden tokens) and no text, then `ok`, then nothing, forever |
//! | `null-content` | `200` with the usage but a `null` message content |
//! | `no-usage` | `200` with the text but no usage |
//! | `cut-short` | the prompt's words up to `max_tokens`, `finish_reason: length` |
//! | `filtered` | `finish_reason: content_filter`: whole, a `null` content (as Azure OpenAI sends it); streamed, the first word, then the reason |
//! | `overshoot` | the echo, reporting ten times `max_tokens` output tokens (a gateway's mock did) |
//! | `keyed` | `401` quoting the key it was sent, as OpenAI does (`invalid_api_key`) |
//! | `failing-address` | like `failing`, the message naming the upstream's address (LiteLLM's `APIConnectionError`) |
//! | `overloaded` | `503` with `Retry-After: 9` |
//! | `no-credit` | `429` whose error is `insufficient_quota`: the account is out of credit, as OpenAI says it |
//!
//! Every whole answer sent (the provider did the work) is counted: [`Upstream::answered`].
//!
//! It also serves OpenAI's embeddings (`POST /v1/embeddings`: a vector of three numbers for each
//! input, `embed-limited` answering `429`) and Anthropic's Messages API under
//! `/anthropic/v1/messages`, which wants `x-api-key` and `anthropic-version` as Anthropic does:
//!
//! | model | answers |
//! |---|---|
//! | `claude-echo` | the prompt's words back; streamed as Anthropic streams, `ping`s included |
//! | `claude-long` | the first two words, `stop_reason: max_tokens` |
//! | `claude-refusal` | no content, `stop_reason: refusal` |
//! | `claude-limited` | `429` `rate_limit_error` with `retry-after: 11` |
//! | `claude-overloaded` | `529` `overloaded_error` |
//! | `claude-no-delta` | a stream with no `message_delta`: the only count is `message_start`'s, sent before the text (an Anthropic-compatible server did this) |
//! | `claude-stream-error` | a stream that sends one word, then an `error` event (`overloaded_error`), as Anthropic does once the `200` is sent |

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::Notify;

/// What `stall-cjk` streams before it stalls.
pub(crate) const CJK: &str = "你好世界你好世界";

/// The output tokens `thinking-stall` reports before its first word.
pub(crate) const THOUGHT: u64 = 50;

/// What the double has seen, shared with the test.
#[derive(Default)]
pub(crate) struct Seen {
    /// Requests received.
    pub(crate) calls: AtomicUsize,
    /// Streamed answers whose body was dropped before it ended: the client went away.
    pub(crate) cancelled: AtomicUsize,
    /// Whole answers (not streamed) sent with a completion: generations the provider finished.
    answered: AtomicUsize,
    /// Let `gated` and `held` answers go on.
    release: Notify,
    /// The last request's JSON.
    pub(crate) last: std::sync::Mutex<Value>,
    /// The last request's `traceparent` and `tracestate`, if it had them.
    pub(crate) traceparent: std::sync::Mutex<Option<String>>,
    pub(crate) tracestate: std::sync::Mutex<Option<String>>,
    /// What `scripted` answers.
    script: std::sync::Mutex<String>,
}

/// A running double.
pub(crate) struct Upstream {
    /// `http://127.0.0.1:<port>/v1`, a provider's base URL.
    pub(crate) base_url: String,
    /// `http://127.0.0.1:<port>/anthropic/v1`, Anthropic's base URL on the double.
    pub(crate) anthropic_url: String,
    pub(crate) seen: Arc<Seen>,
}

impl Upstream {
    /// Starts the double on a free loopback port; it runs until the test's runtime ends.
    pub(crate) async fn start() -> Upstream {
        let seen = Arc::new(Seen::default());
        let app = Router::new()
            .route("/v1/chat/completions", axum::routing::post(complete))
            .route("/v1/embeddings", axum::routing::post(embed))
            .route("/anthropic/v1/messages", axum::routing::post(messages))
            .with_state(Arc::clone(&seen));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Upstream {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            anthropic_url: format!("http://127.0.0.1:{port}/anthropic/v1"),
            seen,
        }
    }

    /// Lets every held answer go on (and the next one, if none is waiting).
    pub(crate) fn release(&self) {
        self.seen.release.notify_waiters();
        self.seen.release.notify_one();
    }

    /// Lets the held answer that has waited longest go on (or the next one, if none is waiting).
    pub(crate) fn release_one(&self) {
        self.seen.release.notify_one();
    }

    /// What the `scripted` model answers from now on.
    pub(crate) fn script(&self, text: impl Into<String>) {
        *self.seen.script.lock().unwrap() = text.into();
    }

    /// The prompt of the last request.
    pub(crate) fn last_prompt(&self) -> String {
        self.seen.last.lock().unwrap()["messages"][0]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    pub(crate) fn calls(&self) -> usize {
        self.seen.calls.load(Ordering::SeqCst)
    }

    /// Whole answers sent with a completion so far.
    pub(crate) fn answered(&self) -> usize {
        self.seen.answered.load(Ordering::SeqCst)
    }

    /// Waits, up to ten seconds, until `n` streams were cancelled by their client.
    pub(crate) async fn wait_cancelled(&self, n: usize) -> bool {
        for _ in 0..200 {
            if self.seen.cancelled.load(Ordering::SeqCst) >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

/// The prompt's words and the usage the double reports for them.
fn words_of(request: &Value) -> (Vec<String>, u64) {
    let prompt = request["messages"][0]["content"]
        .as_str()
        .unwrap_or_default();
    let words: Vec<String> = std::iter::once("echo:".to_owned())
        .chain(prompt.split_whitespace().map(str::to_owned))
        .collect();
    let prompt_tokens = prompt.split_whitespace().count() as u64 + 3;
    (words, prompt_tokens)
}

/// The error body of `failing` (vLLM's) and `throttled` (LiteLLM's, its code a string).
fn error_body(model: &str) -> Value {
    match model {
        "failing-address" => json!({"error": {
            "message": "litellm.APIConnectionError: OpenAIException - Connection error. Received Model Group=qwen\nAvailable Model Group Fallbacks=None api_base=http://10.1.2.3:8000/v1",
            "type": null, "param": null, "code": "500",
        }}),
        "throttled" => json!({"error": {
            "message": "litellm.RateLimitError: you are sending requests too quickly",
            "type": "rate_limit_error", "param": null, "code": "429",
        }}),
        _ => json!({"error": {
            "object": "error", "message": "the model is overloaded",
            "type": "InternalServerError", "param": null, "code": 500,
        }}),
    }
}

fn finish_chunk(reason: &str) -> Bytes {
    let event =
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}], "usage": null});
    Bytes::from(format!("data: {event}\n\n"))
}

fn chunk(text: &str) -> Bytes {
    let event = json!({"choices": [{"index": 0, "delta": {"content": text}}], "usage": null});
    Bytes::from(format!("data: {event}\n\n"))
}

async fn complete(
    State(seen): State<Arc<Seen>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    seen.calls.fetch_add(1, Ordering::SeqCst);
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    *seen.last.lock().unwrap() = request.clone();
    for (name, kept) in [
        ("traceparent", &seen.traceparent),
        ("tracestate", &seen.tracestate),
    ] {
        *kept.lock().unwrap() = headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
    }
    let model = request["model"].as_str().unwrap_or_default().to_owned();
    let streamed = request["stream"].as_bool().unwrap_or(false);
    match model.as_str() {
        "limited" => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "17")],
                "slow down",
            )
                .into_response();
        }
        "broken" => return (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
        "overloaded" => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [("retry-after", "9")],
                "The server is overloaded or not ready yet.",
            )
                .into_response();
        }
        "no-credit" => {
            let body = json!({"error": {
                "message": "You exceeded your current quota, please check your plan and billing details.",
                "type": "insufficient_quota", "param": null, "code": "insufficient_quota",
            }});
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("content-type", "application/json")],
                body.to_string(),
            )
                .into_response();
        }
        "keyed" => {
            let key = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            let body = json!({"error": {
                "message": format!("Incorrect API key provided: {key}. You can find your API key at https://platform.openai.com/account/api-keys."),
                "type": "invalid_request_error", "param": null, "code": "invalid_api_key",
            }});
            return (
                StatusCode::UNAUTHORIZED,
                [("content-type", "application/json")],
                body.to_string(),
            )
                .into_response();
        }
        "garbled" if !streamed => return (StatusCode::OK, "{\"choices\": [").into_response(),
        "failing" | "throttled" | "failing-address" if !streamed => {
            let body = error_body(&model).to_string();
            return ([("content-type", "application/json")], body).into_response();
        }
        "held" | "held-scripted" => seen.release.notified().await,
        _ => {}
    }
    let (mut words, prompt_tokens) = words_of(&request);
    if model == "scripted" || model == "held-scripted" {
        words = vec![seen.script.lock().unwrap().clone()];
    }
    let max_tokens = request["max_tokens"].as_u64().unwrap_or(16);
    if model == "cut-short" {
        words.truncate(usize::try_from(max_tokens).unwrap_or(usize::MAX));
    }
    let finish = match model.as_str() {
        "cut-short" => "length",
        "filtered" => "content_filter",
        _ => "stop",
    };
    let completion_tokens = match model.as_str() {
        "overshoot" => max_tokens * 10,
        _ => words.len() as u64,
    };
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    });
    if !streamed {
        let content = match model.as_str() {
            "null-content" | "filtered" => Value::Null,
            _ => json!(words.join(" ")),
        };
        let mut answer = json!({
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
            "usage": usage,
        });
        if model == "no-usage" {
            answer.as_object_mut().unwrap().remove("usage");
        }
        seen.answered.fetch_add(1, Ordering::SeqCst);
        return ([("content-type", "application/json")], answer.to_string()).into_response();
    }
    let guard = Cancelled {
        seen: Arc::clone(&seen),
        finished: std::cell::Cell::new(false),
    };
    let events = futures_util::stream::unfold((0usize, guard), move |(i, guard)| {
        let words = words.clone();
        let model = model.clone();
        let usage = usage.clone();
        async move {
            let n = words.len();
            let error = || Bytes::from(format!("data: {}\n\ndata: [DONE]\n\n", error_body(&model)));
            let out = match (model.as_str(), i) {
                ("failing" | "throttled" | "failing-address", 0) => {
                    Bytes::from_static(b": ping\n\n: ping\n\n")
                }
                ("failing" | "throttled" | "failing-late" | "failing-address", 1) => error(),
                ("failing" | "throttled" | "failing-late" | "failing-address", 2..) => {
                    guard.finished.set(true);
                    return None;
                }
                ("inline-usage", i) if i < n => {
                    let text = if i == 0 {
                        words[0].clone()
                    } else {
                        format!(" {}", words[i])
                    };
                    let so_far = i as u64 + 1;
                    let event = json!({
                        "choices": [{"index": 0, "delta": {"content": text}}],
                        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": so_far, "total_tokens": prompt_tokens + so_far},
                    });
                    Bytes::from(format!("data: {event}\n\n"))
                }
                ("inline-usage", i) if i == n => Bytes::from_static(b"data: [DONE]\n\n"),
                ("inline-usage", _) => {
                    guard.finished.set(true);
                    return None;
                }
                ("stall-cjk", 0) => chunk(CJK),
                ("thinking-stall", 0) => {
                    let event = json!({
                        "choices": [],
                        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": THOUGHT, "total_tokens": prompt_tokens + THOUGHT},
                    });
                    Bytes::from(format!("data: {event}\n\n"))
                }
                ("thinking-stall", 1) => chunk("ok"),
                (_, 0) => chunk(&words[0]),
                ("stall" | "stall-cjk" | "thinking-stall", _) => std::future::pending().await,
                ("cut", _) => {
                    guard.finished.set(true);
                    return None;
                }
                ("garbled", _) => Bytes::from_static(b"data: {\"choices\": [\n\n"),
                ("gated", 1) => {
                    guard.seen.release.notified().await;
                    chunk(&format!(" {}", words[1.min(n - 1)]))
                }
                ("filtered", 1) => finish_chunk(finish),
                ("filtered", 2) => Bytes::from_static(b"data: [DONE]\n\n"),
                ("filtered", _) => {
                    guard.finished.set(true);
                    return None;
                }
                (_, i) if i < n => chunk(&format!(" {}", words[i])),
                // OpenAI sends why it stopped in a chunk of its own, then the usage.
                (_, i) if i == n => finish_chunk(finish),
                (_, i) if i == n + 1 => Bytes::from(format!(
                    "data: {}\n\n",
                    json!({"choices": [], "usage": usage})
                )),
                (_, i) if i == n + 2 => Bytes::from_static(b"data: [DONE]\n\n"),
                _ => {
                    guard.finished.set(true);
                    return None;
                }
            };
            Some((Ok::<_, Infallible>(out), (i + 1, guard)))
        }
    });
    let mut response = Body::from_stream(events.boxed()).into_response();
    response.headers_mut().insert(
        "content-type",
        axum::http::HeaderValue::from_static("text/event-stream"),
    );
    response
}

/// Counts a streamed answer as cancelled if it is dropped before it ends.
struct Cancelled {
    seen: Arc<Seen>,
    finished: std::cell::Cell<bool>,
}

impl Drop for Cancelled {
    fn drop(&mut self) {
        if !self.finished.get() {
            self.seen.cancelled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// OpenAI's embeddings: for each input, `[its characters, its words, 1]`; the usage is the
/// inputs' words plus one each.
async fn embed(State(seen): State<Arc<Seen>>, body: Bytes) -> Response {
    seen.calls.fetch_add(1, Ordering::SeqCst);
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    *seen.last.lock().unwrap() = request.clone();
    if request["model"] == "embed-limited" {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "5")],
            r#"{"error":{"message":"Rate limit reached for text-embedding-3-small","type":"requests","code":"rate_limit_exceeded"}}"#,
        )
            .into_response();
    }
    let inputs: Vec<String> = match &request["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let tokens: u64 = inputs
        .iter()
        .map(|i| i.split_whitespace().count() as u64 + 1)
        .sum();
    // In reverse, with their indexes, as a provider may send them.
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .rev()
        .map(|(index, text)| {
            json!({
                "object": "embedding",
                "index": index,
                "embedding": [text.chars().count() as f64, text.split_whitespace().count() as f64, 1.0],
            })
        })
        .collect();
    let answer = json!({
        "object": "list",
        "data": data,
        "model": request["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    });
    ([("content-type", "application/json")], answer.to_string()).into_response()
}

/// Anthropic's error body.
fn anthropic_error(kind: &str, message: &str) -> String {
    json!({"type": "error", "error": {"type": kind, "message": message}}).to_string()
}

/// Anthropic's Messages API, as it answers (see the module's table).
async fn messages(
    State(seen): State<Arc<Seen>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    seen.calls.fetch_add(1, Ordering::SeqCst);
    let json_body = [("content-type", "application/json")];
    if headers.get("x-api-key").is_none() || headers.get("anthropic-version").is_none() {
        let body = anthropic_error(
            "authentication_error",
            "x-api-key and anthropic-version are required",
        );
        return (StatusCode::UNAUTHORIZED, json_body, body).into_response();
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    *seen.last.lock().unwrap() = request.clone();
    let model = request["model"].as_str().unwrap_or_default().to_owned();
    match model.as_str() {
        "claude-limited" => {
            let body = anthropic_error(
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit",
            );
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("content-type", "application/json"), ("retry-after", "11")],
                body,
            )
                .into_response();
        }
        "claude-overloaded" => {
            let status = StatusCode::from_u16(529).unwrap();
            return (
                status,
                json_body,
                anthropic_error("overloaded_error", "Overloaded"),
            )
                .into_response();
        }
        _ => {}
    }
    let prompt = request["messages"][0]["content"]
        .as_str()
        .unwrap_or_default();
    let mut words: Vec<String> = prompt.split_whitespace().map(str::to_owned).collect();
    let stop = match model.as_str() {
        "claude-long" => {
            words.truncate(2);
            "max_tokens"
        }
        "claude-refusal" => {
            words.clear();
            "refusal"
        }
        _ => "end_turn",
    };
    let input = prompt.split_whitespace().count() as u64 + 7;
    let output = words.len() as u64;
    if !request["stream"].as_bool().unwrap_or(false) {
        let content: Vec<Value> = if words.is_empty() {
            Vec::new()
        } else {
            vec![json!({"type": "text", "text": words.join(" ")})]
        };
        let answer = json!({
            "id": "msg_test", "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop, "stop_sequence": null,
            "usage": {"input_tokens": input, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": output},
        });
        seen.answered.fetch_add(1, Ordering::SeqCst);
        return (json_body, answer.to_string()).into_response();
    }
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut out = vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_test", "type": "message", "role": "assistant", "content": [], "model": model, "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": input, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 1}}}),
        ),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        event("ping", json!({"type": "ping"})),
    ];
    for (i, w) in words.iter().enumerate() {
        let text = if i == 0 { w.clone() } else { format!(" {w}") };
        out.push(event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
        ));
        if model == "claude-stream-error" {
            out.push(event(
                "error",
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            ));
            break;
        }
    }
    if model == "claude-no-delta" {
        out.push(event("message_stop", json!({"type": "message_stop"})));
    } else if model != "claude-stream-error" {
        out.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ));
        out.push(event(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": output}}),
        ));
        out.push(event("message_stop", json!({"type": "message_stop"})));
    }
    let pieces: Vec<Result<Bytes, Infallible>> =
        out.into_iter().map(|e| Ok(Bytes::from(e))).collect();
    let mut response = Body::from_stream(futures_util::stream::iter(pieces)).into_response();
    response.headers_mut().insert(
        "content-type",
        axum::http::HeaderValue::from_static("text/event-stream"),
    );
    response
}
