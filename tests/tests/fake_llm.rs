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
//!
//! Every whole answer sent (the provider did the work) is counted: [`Upstream::answered`].

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
    /// What `scripted` answers.
    script: std::sync::Mutex<String>,
}

/// A running double.
pub(crate) struct Upstream {
    /// `http://127.0.0.1:<port>/v1`, a provider's base URL.
    pub(crate) base_url: String,
    pub(crate) seen: Arc<Seen>,
}

impl Upstream {
    /// Starts the double on a free loopback port; it runs until the test's runtime ends.
    pub(crate) async fn start() -> Upstream {
        let seen = Arc::new(Seen::default());
        let app = Router::new()
            .route("/v1/chat/completions", axum::routing::post(complete))
            .with_state(Arc::clone(&seen));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Upstream {
            base_url: format!("http://127.0.0.1:{port}/v1"),
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

fn chunk(text: &str) -> Bytes {
    let event = json!({"choices": [{"index": 0, "delta": {"content": text}}], "usage": null});
    Bytes::from(format!("data: {event}\n\n"))
}

async fn complete(State(seen): State<Arc<Seen>>, body: Bytes) -> Response {
    seen.calls.fetch_add(1, Ordering::SeqCst);
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    *seen.last.lock().unwrap() = request.clone();
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
        "garbled" if !streamed => return (StatusCode::OK, "{\"choices\": [").into_response(),
        "failing" | "throttled" if !streamed => {
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
    let completion_tokens = words.len() as u64;
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    });
    if !streamed {
        let content = match model.as_str() {
            "null-content" => Value::Null,
            _ => json!(words.join(" ")),
        };
        let mut answer = json!({
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
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
                ("failing" | "throttled", 0) => Bytes::from_static(b": ping\n\n: ping\n\n"),
                ("failing" | "throttled" | "failing-late", 1) => error(),
                ("failing" | "throttled" | "failing-late", 2..) => {
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
                (_, i) if i < n => chunk(&format!(" {}", words[i])),
                (_, i) if i == n => Bytes::from(format!(
                    "data: {}\n\n",
                    json!({"choices": [], "usage": usage})
                )),
                (_, i) if i == n + 1 => Bytes::from_static(b"data: [DONE]\n\n"),
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
