//! Anthropic's Messages API: the request's body, a whole message, and the events of a streamed
//! one (`message_start` with the input's usage, `content_block_delta`s of text, `message_delta`
//! with why it stopped and the output's usage, `message_stop`; `ping`s between, and an `error`
//! event when it fails after the `200`).

use super::{
    Answer, Ask, Chunk, FinishReason, Pending, Reporter, UpstreamError, malformed, parse_events,
};
use crate::cost::Usage;
use crate::sse::SseLines;
use bytes::Bytes;
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;

/// The API version sent as `anthropic-version`.
pub(super) const VERSION: &str = "2023-06-01";

/// The body of a message's request. Anthropic's temperature goes from 0 to 1: a higher one is
/// sent as 1.
pub(super) fn body(ask: &Ask, stream: bool) -> String {
    let mut body = json!({
        "model": ask.model,
        "max_tokens": ask.max_tokens,
        "messages": [{"role": "user", "content": ask.prompt}],
        "stream": stream,
    });
    if let Some(t) = ask.temperature {
        body["temperature"] = json!(t.min(1.0));
    }
    body.to_string()
}

#[derive(Deserialize, Default, Clone, Copy)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    /// Every input token, cached or not: each is billed (at the model's input price here).
    fn input(self) -> Option<u64> {
        let parts = [
            self.input_tokens,
            self.cache_creation_input_tokens,
            self.cache_read_input_tokens,
        ];
        parts
            .iter()
            .any(Option::is_some)
            .then(|| parts.iter().flatten().sum())
    }
}

#[derive(Deserialize)]
struct WireBlock {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    content: Vec<WireBlock>,
    stop_reason: Option<String>,
    usage: Option<WireUsage>,
}

/// A whole message: its text blocks joined.
pub(super) fn answer(bytes: &[u8], reporter: &Reporter) -> Result<Answer, UpstreamError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| malformed("not a message", &e))?;
    // `{"type": "error", "error": ...}`, or a gateway's `{"error": ...}` without the type.
    if value["type"] == "error" || value.get("error").is_some_and(|e| !e.is_null()) {
        return Err(reporter.reported(&value["error"]));
    }
    let wire: WireMessage =
        serde_json::from_value(value).map_err(|e| malformed("not a message", &e))?;
    let texts: Vec<String> = wire
        .content
        .into_iter()
        .filter(|b| b.kind == "text")
        .filter_map(|b| b.text)
        .collect();
    let usage = wire.usage.and_then(|u| {
        let input = u.input()?;
        Some(Usage::new(input, u.output_tokens?))
    });
    Ok(Answer {
        text: (!texts.is_empty()).then(|| texts.concat()),
        usage,
        finish: wire
            .stop_reason
            .as_deref()
            .map_or(FinishReason::Unknown, FinishReason::from_wire),
    })
}

#[derive(Deserialize)]
struct WireEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    message: Option<WireMessage>,
    #[serde(default)]
    delta: Option<serde_json::Value>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// The chunks of a streamed message, from its events until `message_stop`. The input's tokens
/// come in `message_start`; `message_delta` gives the output's running count (and, from newer
/// versions of the API, the input's again). Unknown event types are passed over, as Anthropic
/// asks of clients.
pub(super) fn chunks(
    events: SseLines<impl Stream<Item = Result<Bytes, String>> + Send + Unpin>,
    reporter: Reporter,
) -> impl Stream<Item = Result<Chunk, UpstreamError>> + Send {
    let mut input = 0u64;
    parse_events(events, move |data, pending: &mut Pending| {
        let event: WireEvent = match serde_json::from_str(data) {
            Ok(e) => e,
            Err(e) => {
                pending.push_back(Err(malformed("a stream event is not an event", &e)));
                return false;
            }
        };
        match event.kind.as_str() {
            "message_start" => {
                if let Some(usage) = event.message.and_then(|m| m.usage) {
                    input = usage.input().unwrap_or(input);
                    let output = usage.output_tokens.unwrap_or(0);
                    pending.push_back(Ok(Chunk::Usage(Usage::new(input, output))));
                }
            }
            "content_block_delta" => {
                let delta = event.delta.unwrap_or_default();
                if delta["type"] == "text_delta"
                    && let Some(text) = delta["text"].as_str()
                    && !text.is_empty()
                {
                    pending.push_back(Ok(Chunk::Delta(text.to_owned())));
                }
            }
            "message_delta" => {
                if let Some(reason) = event.delta.as_ref().and_then(|d| d["stop_reason"].as_str()) {
                    pending.push_back(Ok(Chunk::Finish(FinishReason::from_wire(reason))));
                }
                if let Some(usage) = event.usage {
                    // A later count of the input never lowers the first (some servers send 0).
                    input = usage.input().map_or(input, |i| i.max(input));
                    if let Some(output) = usage.output_tokens {
                        pending.push_back(Ok(Chunk::Usage(Usage::new(input, output))));
                    }
                }
            }
            "message_stop" => return true,
            "error" => {
                let error = event.error.unwrap_or_default();
                pending.push_back(Err(reporter.reported(&error)));
            }
            _ => {}
        }
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn reporter() -> Reporter {
        Reporter {
            provider: "claude".into(),
            key: None,
        }
    }

    async fn read(sse: &str) -> Vec<Result<Chunk, UpstreamError>> {
        let bytes = futures_util::stream::iter([Ok(Bytes::from(sse.to_owned()))]);
        chunks(SseLines::new(bytes), reporter()).collect().await
    }

    #[tokio::test]
    async fn a_streamed_message_gives_its_text_why_it_stopped_and_its_usage() {
        let sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"m\",\"stop_reason\":null,\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":3,\"output_tokens\":1}}}\n\n\
                   event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
                   event: ping\ndata: {\"type\": \"ping\"}\n\n\
                   event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n\
                   event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
                   event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":5}}\n\n\
                   event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        assert_eq!(
            read(sse).await,
            [
                Ok(Chunk::Usage(Usage::new(15, 1))),
                Ok(Chunk::Delta("Hello".into())),
                Ok(Chunk::Finish(FinishReason::Length)),
                Ok(Chunk::Usage(Usage::new(15, 5))),
            ]
        );
    }

    #[tokio::test]
    async fn a_later_count_of_zero_input_tokens_does_not_lower_the_first() {
        let sse = "data: {\"type\":\"message_start\",\"message\":{\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":40,\"output_tokens\":1}}}\n\n\
                   data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"input_tokens\":0,\"output_tokens\":7}}\n\n\
                   data: {\"type\":\"message_stop\"}\n\n";
        assert_eq!(
            read(sse).await,
            [
                Ok(Chunk::Usage(Usage::new(40, 1))),
                Ok(Chunk::Finish(FinishReason::Stop)),
                Ok(Chunk::Usage(Usage::new(40, 7))),
            ]
        );
    }

    #[tokio::test]
    async fn an_error_event_ends_the_stream_and_an_early_end_is_truncation() {
        let sse = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":4,\"output_tokens\":1}}}\n\n\
                   event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
        assert_eq!(
            read(sse).await,
            [
                Ok(Chunk::Usage(Usage::new(4, 1))),
                Err(UpstreamError::Overloaded { retry_after: None })
            ]
        );
        let sse = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n";
        assert_eq!(
            read(sse).await,
            [Ok(Chunk::Delta("Hi".into())), Err(UpstreamError::Truncated)]
        );
    }

    #[test]
    fn a_whole_message_joins_its_text_blocks() {
        let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"thinking","thinking":"hm"},{"type":"text","text":"Hel"},{"type":"text","text":"lo"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":2}}"#;
        let a = answer(body, &reporter()).unwrap();
        assert_eq!(a.text.as_deref(), Some("Hello"));
        assert_eq!(a.usage, Some(Usage::new(9, 2)));
        assert_eq!(a.finish, FinishReason::Stop);
        let refused = br#"{"type":"message","content":[],"stop_reason":"refusal","usage":{"input_tokens":9,"output_tokens":0}}"#;
        let c = answer(refused, &reporter())
            .unwrap()
            .into_completion()
            .unwrap();
        assert_eq!(
            (c.text.as_str(), c.finish),
            ("", FinishReason::ContentFilter)
        );
    }
}
