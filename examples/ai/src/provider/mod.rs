//! The providers' clients: OpenAI's chat-completions wire format (`POST {base}/chat/completions`,
//! spoken by OpenAI, Ollama, vLLM, LiteLLM, llama.cpp's server and LM Studio) and Anthropic's
//! Messages API (`POST {base}/messages`), whole or streamed, and OpenAI-compatible embeddings.
//! What goes wrong upstream is sorted into [`UpstreamError`]s the routes map to their declared
//! codes, and logged for the operator with what the provider said ([`scrub`]); no message
//! carries a key, and what a client is shown carries no upstream address either.

mod anthropic;
mod openai;
pub mod scrub;

use crate::cost::Usage;
use crate::sse::SseLines;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
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
    /// Whether the answer must be one JSON object (`response_format: json_object`; Anthropic has
    /// no such switch, and is asked by the prompt alone).
    pub json: bool,
}

/// Why the model stopped writing, in OpenAI's words (Anthropic's are mapped to them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// It finished: it wrote what it meant to, or met a stop sequence (`stop`; Anthropic's
    /// `end_turn` and `stop_sequence`).
    Stop,
    /// Cut off at `maxTokens` or at the model's own limit: the text is incomplete (`length`;
    /// Anthropic's `max_tokens`).
    Length,
    /// Cut off or withheld by the provider's content filter, or the model refused
    /// (`content_filter`; Anthropic's `refusal`): the text may be empty or incomplete.
    ContentFilter,
    /// It stopped to call a tool (`tool_calls`; Anthropic's `tool_use`).
    ToolCalls,
    /// The provider did not say why, or said something else.
    Unknown,
}

impl FinishReason {
    /// OpenAI's `finish_reason` (or Anthropic's `stop_reason`) as sent.
    pub fn from_wire(reason: &str) -> FinishReason {
        match reason {
            "stop" | "end_turn" | "stop_sequence" | "eos" => FinishReason::Stop,
            "length" | "max_tokens" | "model_context_window_exceeded" => FinishReason::Length,
            "content_filter" | "refusal" => FinishReason::ContentFilter,
            "tool_calls" | "function_call" | "tool_use" => FinishReason::ToolCalls,
            _ => FinishReason::Unknown,
        }
    }

    /// Its name on the wire, as the documents list it.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::Unknown => "unknown",
        }
    }
}

/// A whole answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    /// The generated text.
    pub text: String,
    /// The tokens used, as the provider counted them.
    pub usage: Usage,
    /// Why it stopped.
    pub finish: FinishReason,
}

/// A whole answer as the provider sent it (a `200`), before it is checked: its text and its
/// count of the tokens used, either of which may be missing, and why it stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The text, if it has one.
    pub text: Option<String>,
    /// The tokens used, if the provider counted them.
    pub usage: Option<Usage>,
    /// Why it stopped.
    pub finish: FinishReason,
}

impl Answer {
    /// The completion, if the answer has both its text and its count. An answer a content
    /// filter withheld has no text and is a completion all the same: empty, saying why.
    ///
    /// # Errors
    /// [`UpstreamError::Malformed`], saying which is missing.
    pub fn into_completion(self) -> Result<Completion, UpstreamError> {
        let text = match (self.text, self.finish) {
            (Some(text), _) => text,
            (None, FinishReason::ContentFilter) => String::new(),
            (None, _) => return Err(UpstreamError::Malformed("no message in the answer".into())),
        };
        let usage = self
            .usage
            .ok_or_else(|| UpstreamError::Malformed("no usage in the answer".into()))?;
        Ok(Completion {
            text,
            usage,
            finish: self.finish,
        })
    }
}

/// A piece of a streamed answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Chunk {
    /// More text.
    Delta(String),
    /// The provider's count of the tokens used: sent last, or with every chunk as a running
    /// total (vLLM's continuous usage statistics, Anthropic's `message_delta`); the last one
    /// counts.
    Usage(Usage),
    /// Why the model stopped: sent once, near the end.
    Finish(FinishReason),
}

/// Vectors for each input, in order, and the tokens they took.
#[derive(Clone, Debug, PartialEq)]
pub struct Embeddings {
    /// One vector per input.
    pub vectors: Vec<Vec<f32>>,
    /// The tokens read, as the provider counted them (output is always 0), if it did.
    pub usage: Option<Usage>,
}

/// Why a call failed upstream.
#[derive(Debug, Clone, PartialEq)]
pub enum UpstreamError {
    /// `429`, or an error whose type says rate limit: the provider's own rate limit, with its
    /// `Retry-After` in seconds if it sent one.
    RateLimited {
        /// Seconds to wait, as the provider said.
        retry_after: Option<u64>,
    },
    /// `529` or `503`, or an error whose type says overloaded (Anthropic's `overloaded_error`):
    /// the provider cannot serve anyone just now.
    Overloaded {
        /// Seconds to wait, as the provider said.
        retry_after: Option<u64>,
    },
    /// Another status than success: `5xx`, or a `4xx` such as a bad key.
    Status(u16),
    /// An answer that is not the protocol's JSON.
    Malformed(String),
    /// An error the provider reported in a `200` answer (`{"error": {...}}`, whole or as an
    /// event of a stream, as LiteLLM, vLLM and Anthropic do), other than a rate limit or an
    /// overload: what it said, without keys or addresses.
    Reported(String),
    /// A stream that ended before its end (`data: [DONE]`, `message_stop`).
    Truncated,
    /// No connection, or it broke.
    Unreachable(String),
    /// Asked for what this kind of provider does not offer (embeddings from Anthropic).
    Unsupported(&'static str),
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamError::RateLimited { .. } => f.write_str("the provider is rate limiting"),
            UpstreamError::Overloaded { .. } => f.write_str("the provider is overloaded"),
            UpstreamError::Status(s) => write!(f, "the provider answered HTTP {s}"),
            UpstreamError::Malformed(what) => {
                write!(f, "the provider's answer is malformed: {what}")
            }
            UpstreamError::Reported(what) => write!(f, "the provider reported an error: {what}"),
            UpstreamError::Truncated => {
                f.write_str("the provider's stream ended before it was complete")
            }
            UpstreamError::Unreachable(what) => write!(f, "the provider cannot be reached: {what}"),
            UpstreamError::Unsupported(what) => write!(f, "the provider does not offer {what}"),
        }
    }
}

/// Which wire format a provider speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// OpenAI's chat completions and embeddings (OpenAI, Ollama, vLLM, LiteLLM, llama.cpp, LM
    /// Studio): `Authorization: Bearer`.
    #[default]
    Openai,
    /// Anthropic's Messages API: `x-api-key` and `anthropic-version`; no embeddings.
    Anthropic,
}

/// One provider's client.
#[derive(Clone, Debug)]
pub struct Provider {
    name: String,
    kind: Kind,
    http: reqwest::Client,
    base: String,
    endpoint: String,
    api_key: Option<String>,
}

/// The HTTP client for providers at `base_urls`: rustls with ring, and the system's roots when
/// one of them is called over TLS.
///
/// With every URL plain `http://` (a local Ollama), no root certificate is read, so a system or
/// container without any serves them; an `https://` URL sent through that client finds no root
/// to trust, and fails.
///
/// # Errors
/// If no TLS configuration can be built (a URL is not plain `http://` and no root certificate
/// can be read at all), with reqwest's reasons and where the roots were looked for.
#[expect(
    clippy::disallowed_methods,
    reason = "the providers' client, built at start (each request's URL is checked through its route's handle, `Reach::check_url`, before it is sent), and the variables naming the roots read to say where they were looked for"
)]
pub fn http_client<'a>(
    base_urls: impl IntoIterator<Item = &'a str>,
) -> Result<reqwest::Client, String> {
    let tls = base_urls.into_iter().any(|url| !url.starts_with("http://"));
    // reqwest is built without a crypto provider of its own; ring is this process's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        // A redirect would take the request (and its prompt) to a host no route declared.
        .redirect(reqwest::redirect::Policy::none());
    let builder = if tls {
        builder
    } else {
        builder.tls_certs_only(std::iter::empty())
    };
    builder.build().map_err(|e| {
        let mut said = format!("cannot build the providers' HTTP client: {e}");
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            said.push_str(&format!(": {c}"));
            cause = c.source();
        }
        // Where the roots were looked for.
        let named: Vec<String> = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
            .into_iter()
            .filter_map(|var| {
                std::env::var_os(var)
                    .map(|v| format!("{var}={}", std::path::Path::new(&v).display()))
            })
            .collect();
        if !named.is_empty() {
            said.push_str(&format!(
                " (root certificates are read from {} in place of the system's)",
                named.join(" and ")
            ));
        }
        said
    })
}

/// The most of an error answer's body read to be logged.
const ERROR_BODY_MAX_BYTES: usize = 8 * 1024;

/// What an `{"error": ...}` the provider sent means: a rate limit when its `code` is `429` or
/// its `type` or `code` says `rate_limit` (OpenAI's `rate_limit_exceeded`, LiteLLM's
/// `RateLimitError`, Anthropic's `rate_limit_error`), an overload when they say `overloaded`
/// (Anthropic's `overloaded_error`) or the code is `529` or `503`, else a failure with its
/// message, cut short and without `key`, other keys or addresses ([`scrub::for_client`]). An
/// account out of credit (OpenAI's `insufficient_quota`, sent with a `429`) is no rate limit:
/// waiting will not help.
fn classify(error: &serde_json::Value, key: Option<&str>) -> UpstreamError {
    let field = |name: &str| match error.get(name) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let (kind, code) = (field("type"), field("code"));
    let says = |s: &str, what: &str| {
        s.to_ascii_lowercase()
            .replace(['_', ' ', '-'], "")
            .contains(what)
    };
    if says(&kind, "insufficientquota") || says(&code, "insufficientquota") {
        return UpstreamError::Reported(
            "the provider's account has no credit left (insufficient_quota)".into(),
        );
    }
    if code == "429" || says(&kind, "ratelimit") || says(&code, "ratelimit") {
        return UpstreamError::RateLimited { retry_after: None };
    }
    if code == "529" || code == "503" || says(&kind, "overloaded") || says(&code, "overloaded") {
        return UpstreamError::Overloaded { retry_after: None };
    }
    let message = match error {
        serde_json::Value::String(s) => s.clone(),
        _ => field("message"),
    };
    let mut what = scrub::for_client(&message, key);
    if what.is_empty() {
        what = "no message".into();
    }
    if !kind.is_empty() || !code.is_empty() {
        let tag = [kind, code]
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(|s| scrub::for_client(&s, key))
            .collect::<Vec<_>>()
            .join(", ");
        what = format!("{what} ({tag})");
    }
    UpstreamError::Reported(what)
}

/// Who a provider's failures are logged as, and the key kept out of the log.
#[derive(Clone)]
struct Reporter {
    provider: String,
    key: Option<String>,
}

impl Reporter {
    /// Logs an error the provider reported in a `200` (whole, or an event of a stream) with
    /// what it said, and sorts it.
    fn reported(&self, error: &serde_json::Value) -> UpstreamError {
        let said = scrub::for_log(&error.to_string(), self.key.as_deref());
        tracing::warn!(provider = %self.provider, said = %said, "the provider reported an error in its answer");
        classify(error, self.key.as_deref())
    }
}

impl Provider {
    /// The OpenAI-compatible provider `name` at `base_url` (up to `/v1`), sending `api_key` if
    /// given.
    pub fn new(
        name: impl Into<String>,
        http: reqwest::Client,
        base_url: &str,
        api_key: Option<String>,
    ) -> Self {
        Provider::of_kind(Kind::Openai, name, http, base_url, api_key)
    }

    /// The provider `name` speaking `kind` at `base_url` (up to `/v1`).
    pub fn of_kind(
        kind: Kind,
        name: impl Into<String>,
        http: reqwest::Client,
        base_url: &str,
        api_key: Option<String>,
    ) -> Self {
        let base = base_url.trim_end_matches('/').to_owned();
        let endpoint = match kind {
            Kind::Openai => format!("{base}/chat/completions"),
            Kind::Anthropic => format!("{base}/messages"),
        };
        Provider {
            name: name.into(),
            kind,
            http,
            base,
            endpoint,
            api_key,
        }
    }

    /// The URL it posts generations to: what a route checks against its `net(...)` before
    /// asking.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The URL it posts embeddings to (the same host as [`Provider::endpoint`]).
    pub fn embeddings_endpoint(&self) -> String {
        format!("{}/embeddings", self.base)
    }

    /// Its name in the configuration.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The wire format it speaks.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    fn reporter(&self) -> Reporter {
        Reporter {
            provider: self.name.clone(),
            key: self.api_key.clone(),
        }
    }

    /// Posts `body` to `url` with the kind's headers; a failure status is read, logged with
    /// what the provider said (scrubbed) and sorted.
    async fn post(&self, url: &str, body: String) -> Result<reqwest::Response, UpstreamError> {
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body);
        match (self.kind, &self.api_key) {
            (Kind::Openai, Some(key)) => request = request.bearer_auth(key),
            (Kind::Anthropic, key) => {
                request = request.header("anthropic-version", anthropic::VERSION);
                if let Some(key) = key {
                    request = request.header("x-api-key", key);
                }
            }
            (Kind::Openai, None) => {}
        }
        // The request's trace goes on to the provider, when the server traces.
        if let Some(traceparent) = plugin_routes::traceparent() {
            request = request.header("traceparent", traceparent);
        }
        if let Some(tracestate) = plugin_routes::tracestate() {
            request = request.header("tracestate", tracestate);
        }
        let response = request
            .send()
            .await
            .map_err(|e| UpstreamError::Unreachable(describe(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let body = read_some(response, ERROR_BODY_MAX_BYTES).await;
        let said = scrub::for_log(&String::from_utf8_lossy(&body), self.api_key.as_deref());
        tracing::warn!(
            provider = %self.name,
            status = status.as_u16(),
            said = %said,
            "the provider refused a request"
        );
        let reported = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").cloned())
            .map(|e| classify(&e, self.api_key.as_deref()));
        Err(match (status.as_u16(), reported) {
            // Out of credit: waiting will not help, so it is no rate limit.
            (429, Some(UpstreamError::Reported(said)))
                if said.ends_with("(insufficient_quota)") =>
            {
                UpstreamError::Reported(said)
            }
            (429, _) | (_, Some(UpstreamError::RateLimited { .. })) => {
                UpstreamError::RateLimited { retry_after }
            }
            (503 | 529, _) | (_, Some(UpstreamError::Overloaded { .. })) => {
                UpstreamError::Overloaded { retry_after }
            }
            (status, _) => UpstreamError::Status(status),
        })
    }

    /// Generates a whole answer.
    ///
    /// # Errors
    /// See [`UpstreamError`].
    pub async fn complete(&self, ask: &Ask) -> Result<Completion, UpstreamError> {
        self.answer(ask).await?.into_completion()
    }

    /// Generates a whole answer, as sent: an answer without its text or without its usage is an
    /// [`Answer`] still, so that what the provider says it used can be charged.
    ///
    /// # Errors
    /// See [`UpstreamError`].
    pub async fn answer(&self, ask: &Ask) -> Result<Answer, UpstreamError> {
        let body = match self.kind {
            Kind::Openai => openai::body(ask, false),
            Kind::Anthropic => anthropic::body(ask, false),
        };
        let response = self.post(&self.endpoint, body).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| UpstreamError::Unreachable(describe(&e)))?;
        let reporter = self.reporter();
        match self.kind {
            Kind::Openai => openai::answer(&bytes, &reporter),
            Kind::Anthropic => anthropic::answer(&bytes, &reporter),
        }
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
        let body = match self.kind {
            Kind::Openai => openai::body(ask, true),
            Kind::Anthropic => anthropic::body(ask, true),
        };
        let response = self.post(&self.endpoint, body).await?;
        let bytes = response
            .bytes_stream()
            .map(|r: Result<Bytes, reqwest::Error>| r.map_err(|e| describe(&e)));
        let events = SseLines::new(bytes);
        let reporter = self.reporter();
        Ok(match self.kind {
            Kind::Openai => openai::chunks(events, reporter).left_stream(),
            Kind::Anthropic => anthropic::chunks(events, reporter).right_stream(),
        })
    }

    /// Embeds each of `inputs` with `model` (OpenAI's `POST {base}/embeddings`).
    ///
    /// # Errors
    /// See [`UpstreamError`]; [`UpstreamError::Unsupported`] from an Anthropic provider.
    pub async fn embed(&self, model: &str, inputs: &[String]) -> Result<Embeddings, UpstreamError> {
        if self.kind != Kind::Openai {
            return Err(UpstreamError::Unsupported("embeddings"));
        }
        let body = serde_json::json!({"model": model, "input": inputs}).to_string();
        let response = self.post(&self.embeddings_endpoint(), body).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| UpstreamError::Unreachable(describe(&e)))?;
        openai::embeddings(&bytes, inputs.len(), &self.reporter())
    }
}

/// An answer that does not parse, said without serde's words (which name this crate's types and
/// may quote what was sent): where it stopped making sense.
fn malformed(what: &str, e: &serde_json::Error) -> UpstreamError {
    UpstreamError::Malformed(match e.line() {
        0 => what.to_owned(),
        line => format!("{what} (at line {line}, column {})", e.column()),
    })
}

/// Up to `max` bytes of a response's body; what cannot be read is left out.
async fn read_some(mut response: reqwest::Response, max: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < max {
        match tokio::time::timeout(Duration::from_secs(5), response.chunk()).await {
            Ok(Ok(Some(chunk))) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(max);
    body
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

/// The items of a stream parsed from server-sent events, several of which one event may give.
type Pending = std::collections::VecDeque<Result<Chunk, UpstreamError>>;

/// Turns server-sent events into chunks with `parse`, which reads one event's data into the
/// queue and says whether the stream has ended (`Some(true)`: done; `Some(false)`: go on).
/// Bytes that end before the protocol's end are [`UpstreamError::Truncated`]; an error item
/// ends the stream.
fn parse_events<S, F>(
    events: SseLines<S>,
    parse: F,
) -> impl Stream<Item = Result<Chunk, UpstreamError>> + Send
where
    S: Stream<Item = Result<Bytes, String>> + Send + Unpin,
    F: FnMut(&str, &mut Pending) -> bool + Send,
{
    let start = (events, Pending::new(), false, parse);
    futures_util::stream::unfold(Some(start), |state| async move {
        let (mut events, mut pending, mut done, mut parse) = state?;
        loop {
            if let Some(item) = pending.pop_front() {
                let failed = item.is_err();
                let next = (!failed).then_some((events, pending, done, parse));
                return Some((item, next));
            }
            if done {
                return None;
            }
            match events.next_data().await {
                Ok(Some(data)) => done = parse(&data, &mut pending),
                Ok(None) => return Some((Err(UpstreamError::Truncated), None)),
                Err(e) => return Some((Err(UpstreamError::Unreachable(e)), None)),
            }
        }
    })
}
