//! An OpenAI-compatible chat-completions client (`POST {base}/chat/completions`), whole or
//! streamed: the wire format OpenAI, Ollama, vLLM, llama.cpp's server and LM Studio all speak.
//! What goes wrong upstream is sorted into [`UpstreamError`]s the routes map to their declared
//! codes; no message carries a key.

use crate::cost::Usage;
use crate::sse::SseLines;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

/// What one generation asks for.
#[derive(Clone, Debug)]
pub struct Ask {
    /// The model's name, as the provider knows it.
    pub model: String,
    /// The user's prompt.
    pub prompt: String,
    /// The most tokens to generate.
    pub max_tokens: u32,
    /// Sampling temperature, if set.
    pub temperature: Option<f64>,
    /// Whether the answer must be one JSON object (`response_format: json_object`).
    pub json: bool,
}

/// A whole answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    /// The generated text.
    pub text: String,
    /// The tokens used, as the provider counted them.
    pub usage: Usage,
}

/// A whole answer as the provider sent it (a `200` chat completion), before it is checked: its
/// text and its count of the tokens used, either of which may be missing.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The first choice's text, if it has one.
    pub text: Option<String>,
    /// The tokens used, if the provider counted them.
    pub usage: Option<Usage>,
}

impl Answer {
    /// The completion, if the answer has both its text and its count.
    ///
    /// # Errors
    /// [`UpstreamError::Malformed`], saying which is missing.
    pub fn into_completion(self) -> Result<Completion, UpstreamError> {
        let text = self
            .text
            .ok_or_else(|| UpstreamError::Malformed("no message in the answer".into()))?;
        let usage = self
            .usage
            .ok_or_else(|| UpstreamError::Malformed("no usage in the answer".into()))?;
        Ok(Completion { text, usage })
    }
}

/// A piece of a streamed answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Chunk {
    /// More text.
    Delta(String),
    /// The provider's count of the tokens used: sent last, or with every chunk as a running
    /// total (vLLM's continuous usage statistics); the last one counts.
    Usage(Usage),
}

/// Why a generation failed upstream.
#[derive(Debug, Clone, PartialEq)]
pub enum UpstreamError {
    /// `429`: the provider's own rate limit, with its `Retry-After` in seconds if it sent one.
    RateLimited {
        /// Seconds to wait, as the provider said.
        retry_after: Option<u64>,
    },
    /// Another status than success: `5xx`, or a `4xx` such as a bad key.
    Status(u16),
    /// An answer that is not the protocol's JSON.
    Malformed(String),
    /// An error the provider reported in a `200` answer (`{"error": {...}}`, whole or as an
    /// event of a stream, as LiteLLM and vLLM do), other than a rate limit: what it said.
    Reported(String),
    /// A stream that ended before `data: [DONE]`.
    Truncated,
    /// No connection, or it broke.
    Unreachable(String),
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamError::RateLimited { .. } => f.write_str("the provider is rate limiting"),
            UpstreamError::Status(s) => write!(f, "the provider answered HTTP {s}"),
            UpstreamError::Malformed(what) => {
                write!(f, "the provider's answer is malformed: {what}")
            }
            UpstreamError::Reported(what) => write!(f, "the provider reported an error: {what}"),
            UpstreamError::Truncated => {
                f.write_str("the provider's stream ended before it was complete")
            }
            UpstreamError::Unreachable(what) => write!(f, "the provider cannot be reached: {what}"),
        }
    }
}

/// One provider's client.
#[derive(Clone, Debug)]
pub struct Provider {
    name: String,
    http: reqwest::Client,
    endpoint: String,
    api_key: Option<String>,
}

/// The HTTP client every provider shares: rustls with ring and the system's roots.
///
/// # Panics
/// If no TLS configuration can be built (no root certificates can be read at all).
pub fn http_client() -> reqwest::Client {
    // reqwest is built without a crypto provider of its own; ring is this process's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    #[expect(
        clippy::disallowed_methods,
        reason = "the providers' client, built at start; each request's URL is checked through its route's handle (`Reach::check_url`) before it is sent"
    )]
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        // A redirect would take the request (and its prompt) to a host no route declared.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|e| panic!("cannot build the providers' HTTP client: {e}"))
}

#[derive(Deserialize)]
struct WireCompletion {
    choices: Vec<WireChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    message: Option<WireMessage>,
    delta: Option<WireMessage>,
}

#[derive(Deserialize)]
struct WireMessage {
    content: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
}

#[derive(Deserialize)]
struct WireChunk {
    #[serde(default)]
    choices: Vec<WireChoice>,
    usage: Option<WireUsage>,
    /// `{"error": {"message": ..., "type": ..., "code": ...}}` instead of a chunk.
    error: Option<serde_json::Value>,
}

/// A `200` answer that is an error (`{"error": ...}`) rather than a completion.
#[derive(Deserialize)]
struct WireFailure {
    error: serde_json::Value,
}

/// The most of a provider's own error message passed on.
const REPORTED_MAX_CHARS: usize = 300;

/// What an `{"error": ...}` the provider sent means: a rate limit when its `code` is `429` or
/// its `type` or `code` says `rate_limit` (OpenAI's `rate_limit_exceeded`, LiteLLM's
/// `RateLimitError`), else a failure with its message (cut short, with anything shaped like a
/// key left out: some providers quote the key they were sent).
fn reported(error: &serde_json::Value) -> UpstreamError {
    let field = |name: &str| match error.get(name) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let (kind, code) = (field("type"), field("code"));
    let says_rate_limit = |s: &str| {
        let s = s.to_ascii_lowercase().replace(['_', ' ', '-'], "");
        s.contains("ratelimit")
    };
    if code == "429" || says_rate_limit(&kind) || says_rate_limit(&code) {
        return UpstreamError::RateLimited { retry_after: None };
    }
    let message = match error {
        serde_json::Value::String(s) => s.clone(),
        _ => field("message"),
    };
    let message: String = message
        .split_whitespace()
        .map(|w| if looks_like_a_key(w) { "[redacted]" } else { w })
        .collect::<Vec<_>>()
        .join(" ");
    let mut what: String = message.chars().take(REPORTED_MAX_CHARS).collect();
    if what.len() < message.len() {
        what.push('…');
    }
    if what.is_empty() {
        what = "no message".into();
    }
    if !kind.is_empty() || !code.is_empty() {
        let tag = [kind, code]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(", ");
        what = format!("{what} ({tag})");
    }
    UpstreamError::Reported(what)
}

/// `sk-...` and other long unbroken runs of letters and digits: API keys, as quoted back.
fn looks_like_a_key(word: &str) -> bool {
    let word = word.trim_matches(|c: char| !c.is_alphanumeric());
    word.starts_with("sk-")
        || (word.len() >= 32
            && word
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
}

impl Provider {
    /// The provider `name` at `base_url` (up to `/v1`), sending `api_key` if given.
    pub fn new(
        name: impl Into<String>,
        http: reqwest::Client,
        base_url: &str,
        api_key: Option<String>,
    ) -> Self {
        Provider {
            name: name.into(),
            http,
            endpoint: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            api_key,
        }
    }

    /// The URL it posts to: what a route checks against its `net(...)` before asking.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Its name in the configuration.
    pub fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, ask: &Ask, stream: bool) -> Result<reqwest::Response, UpstreamError> {
        let mut body = json!({
            "model": ask.model,
            "messages": [{"role": "user", "content": ask.prompt}],
            "max_tokens": ask.max_tokens,
            "stream": stream,
        });
        if let Some(t) = ask.temperature {
            body["temperature"] = json!(t);
        }
        if ask.json {
            body["response_format"] = json!({"type": "json_object"});
        }
        if stream {
            body["stream_options"] = json!({"include_usage": true});
        }
        let mut request = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| UpstreamError::Unreachable(describe(&e)))?;
        let status = response.status();
        if status.as_u16() == 429 {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            return Err(UpstreamError::RateLimited { retry_after });
        }
        if !status.is_success() {
            return Err(UpstreamError::Status(status.as_u16()));
        }
        Ok(response)
    }

    /// Generates a whole answer.
    ///
    /// # Errors
    /// See [`UpstreamError`].
    pub async fn complete(&self, ask: &Ask) -> Result<Completion, UpstreamError> {
        self.answer(ask).await?.into_completion()
    }

    /// Generates a whole answer, as sent: a chat completion without its text or without its
    /// usage is an [`Answer`] still, so that what the provider says it used can be charged.
    ///
    /// # Errors
    /// See [`UpstreamError`].
    pub async fn answer(&self, ask: &Ask) -> Result<Answer, UpstreamError> {
        let response = self.send(ask, false).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| UpstreamError::Unreachable(describe(&e)))?;
        if let Ok(failure) = serde_json::from_slice::<WireFailure>(&bytes)
            && !failure.error.is_null()
        {
            return Err(reported(&failure.error));
        }
        let wire: WireCompletion = serde_json::from_slice(&bytes)
            .map_err(|e| UpstreamError::Malformed(format!("not a chat completion ({e})")))?;
        Ok(Answer {
            text: wire
                .choices
                .into_iter()
                .next()
                .and_then(|c| c.message)
                .and_then(|m| m.content),
            usage: wire
                .usage
                .map(|u| Usage::new(u.prompt_tokens, u.completion_tokens)),
        })
    }

    /// Starts a streamed answer: the chunks as they arrive. Dropping the stream closes the
    /// connection, which cancels the generation upstream.
    ///
    /// # Errors
    /// The provider refusing or not answering before the first byte; later failures are items.
    pub async fn stream(
        &self,
        ask: &Ask,
    ) -> Result<impl Stream<Item = Result<Chunk, UpstreamError>> + Send + use<>, UpstreamError>
    {
        let response = self.send(ask, true).await?;
        let bytes = response
            .bytes_stream()
            .map(|r: Result<Bytes, reqwest::Error>| r.map_err(|e| describe(&e)));
        Ok(chunks(SseLines::new(bytes)))
    }
}

/// The protocol's chunks from its server-sent events: `data: {...}` until `data: [DONE]`. A
/// chunk may carry text and usage together (vLLM's continuous usage statistics, some gateways):
/// both are passed on, the text first. An `{"error": ...}` event ends the stream with its error.
fn chunks(
    events: SseLines<impl Stream<Item = Result<Bytes, String>> + Send + Unpin>,
) -> impl Stream<Item = Result<Chunk, UpstreamError>> + Send {
    futures_util::stream::unfold(Some((events, None::<Chunk>)), |state| async move {
        let (mut events, pending) = state?;
        if let Some(chunk) = pending {
            return Some((Ok(chunk), Some((events, None))));
        }
        loop {
            let data = match events.next_data().await {
                Ok(Some(data)) => data,
                Ok(None) => return Some((Err(UpstreamError::Truncated), None)),
                Err(e) => return Some((Err(UpstreamError::Unreachable(e)), None)),
            };
            if data.trim() == "[DONE]" {
                return None;
            }
            let chunk: WireChunk = match serde_json::from_str(&data) {
                Ok(c) => c,
                Err(e) => {
                    let what = format!("a stream event is not a chunk ({e})");
                    return Some((Err(UpstreamError::Malformed(what)), None));
                }
            };
            if let Some(error) = &chunk.error {
                return Some((Err(reported(error)), None));
            }
            let usage = chunk
                .usage
                .map(|u| Chunk::Usage(Usage::new(u.prompt_tokens, u.completion_tokens)));
            let text = chunk
                .choices
                .into_iter()
                .next()
                .and_then(|c| c.delta)
                .and_then(|d| d.content)
                .unwrap_or_default();
            match (text.is_empty(), usage) {
                (false, usage) => return Some((Ok(Chunk::Delta(text)), Some((events, usage)))),
                (true, Some(usage)) => return Some((Ok(usage), Some((events, None)))),
                (true, None) => {}
            }
        }
    })
}

/// What failed, without the URL's query or anything sent: reqwest's kind of error.
fn describe(e: &reqwest::Error) -> String {
    if e.is_connect() {
        "the connection was refused or failed".into()
    } else if e.is_timeout() {
        "it did not answer in time".into()
    } else if e.is_body() || e.is_decode() {
        "the answer broke off".into()
    } else {
        "the request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(sse: &str) -> Vec<Result<Chunk, UpstreamError>> {
        let bytes = futures_util::stream::iter([Ok(Bytes::from(sse.to_owned()))]);
        chunks(SseLines::new(bytes)).collect().await
    }

    #[tokio::test]
    async fn text_and_usage_in_one_chunk_are_both_kept() {
        let sse = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n\
                   data: {\"choices\":[{\"delta\":{\"content\":\" there\"}}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n\
                   data: [DONE]\n\n";
        assert_eq!(
            read(sse).await,
            [
                Ok(Chunk::Delta("Hi".into())),
                Ok(Chunk::Usage(Usage::new(3, 1))),
                Ok(Chunk::Delta(" there".into())),
                Ok(Chunk::Usage(Usage::new(3, 2))),
            ]
        );
    }

    #[tokio::test]
    async fn an_error_event_ends_the_stream_with_what_it_says() {
        let sse = ": ping\n\n: ping\n\n\
                   data: {\"error\":{\"message\":\"model overloaded\",\"type\":\"server_error\",\"code\":500}}\n\n\
                   data: [DONE]\n\n";
        assert_eq!(
            read(sse).await,
            [Err(UpstreamError::Reported(
                "model overloaded (server_error, 500)".into()
            ))]
        );
    }

    #[test]
    fn rate_limits_are_told_by_code_or_type() {
        for error in [
            json!({"message": "slow down", "type": "throttled", "code": 429}),
            json!({"message": "slow down", "type": "throttled", "code": "429"}),
            json!({"message": "slow down", "type": "RateLimitError", "code": null}),
            json!({"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}),
        ] {
            assert_eq!(
                reported(&error),
                UpstreamError::RateLimited { retry_after: None },
                "{error}"
            );
        }
        assert_eq!(
            reported(
                &json!({"message": "Incorrect API key provided: sk-abc123.", "type": "invalid_request_error"})
            ),
            UpstreamError::Reported(
                "Incorrect API key provided: [redacted] (invalid_request_error)".into()
            )
        );
        assert_eq!(
            reported(&json!("it broke")),
            UpstreamError::Reported("it broke".into())
        );
    }
}
