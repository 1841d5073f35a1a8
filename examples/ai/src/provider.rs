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

/// A piece of a streamed answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Chunk {
    /// More text.
    Delta(String),
    /// The provider's count of the tokens used (sent last).
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
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
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
        let response = self.send(ask, false).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| UpstreamError::Unreachable(describe(&e)))?;
        let wire: WireCompletion = serde_json::from_slice(&bytes)
            .map_err(|e| UpstreamError::Malformed(format!("not a chat completion ({e})")))?;
        let text = wire
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message)
            .and_then(|m| m.content)
            .ok_or_else(|| UpstreamError::Malformed("no message in the answer".into()))?;
        let usage = wire
            .usage
            .ok_or_else(|| UpstreamError::Malformed("no usage in the answer".into()))?;
        Ok(Completion {
            text,
            usage: Usage::new(usage.prompt_tokens, usage.completion_tokens),
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

/// The protocol's chunks from its server-sent events: `data: {...}` until `data: [DONE]`.
fn chunks(
    events: SseLines<impl Stream<Item = Result<Bytes, String>> + Send + Unpin>,
) -> impl Stream<Item = Result<Chunk, UpstreamError>> + Send {
    futures_util::stream::unfold(Some(events), |state| async move {
        let mut events = state?;
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
            if let Some(u) = chunk.usage {
                let usage = Usage::new(u.prompt_tokens, u.completion_tokens);
                return Some((Ok(Chunk::Usage(usage)), Some(events)));
            }
            let text = chunk
                .choices
                .into_iter()
                .next()
                .and_then(|c| c.delta)
                .and_then(|d| d.content)
                .unwrap_or_default();
            if !text.is_empty() {
                return Some((Ok(Chunk::Delta(text)), Some(events)));
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
