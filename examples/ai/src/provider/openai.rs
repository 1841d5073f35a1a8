//! OpenAI's wire format: the request's body, a whole chat completion, the chunks of a streamed
//! one (`data: {...}` until `data: [DONE]`) and embeddings.

use super::{
    Answer, Ask, Chunk, Embeddings, FinishReason, Pending, Reporter, UpstreamError, malformed,
    parse_events,
};
use crate::cost::Usage;
use crate::sse::SseLines;
use bytes::Bytes;
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;

/// The body of a chat completion's request.
pub(super) fn body(ask: &Ask, stream: bool) -> String {
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
    body.to_string()
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
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireMessage {
    content: Option<String>,
}

#[derive(Deserialize)]
struct WireUsage {
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl WireUsage {
    fn usage(&self) -> Usage {
        Usage::new(self.prompt_tokens, self.completion_tokens)
    }
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

/// A whole chat completion.
pub(super) fn answer(bytes: &[u8], reporter: &Reporter) -> Result<Answer, UpstreamError> {
    if let Ok(failure) = serde_json::from_slice::<WireFailure>(bytes)
        && !failure.error.is_null()
    {
        return Err(reporter.reported(&failure.error));
    }
    let wire: WireCompletion =
        serde_json::from_slice(bytes).map_err(|e| malformed("not a chat completion", &e))?;
    let choice = wire.choices.into_iter().next();
    let finish = choice
        .as_ref()
        .and_then(|c| c.finish_reason.as_deref())
        .map_or(FinishReason::Unknown, FinishReason::from_wire);
    Ok(Answer {
        text: choice.and_then(|c| c.message).and_then(|m| m.content),
        usage: wire.usage.as_ref().map(WireUsage::usage),
        finish,
    })
}

/// The protocol's chunks from its server-sent events: `data: {...}` until `data: [DONE]`. A
/// chunk may carry text, why the model stopped and usage together (vLLM's continuous usage
/// statistics, some gateways): all are passed on, in that order. An `{"error": ...}` event ends
/// the stream with its error.
pub(super) fn chunks(
    events: SseLines<impl Stream<Item = Result<Bytes, String>> + Send + Unpin>,
    reporter: Reporter,
) -> impl Stream<Item = Result<Chunk, UpstreamError>> + Send {
    parse_events(events, move |data, pending: &mut Pending| {
        if data.trim() == "[DONE]" {
            return true;
        }
        let chunk: WireChunk = match serde_json::from_str(data) {
            Ok(c) => c,
            Err(e) => {
                pending.push_back(Err(malformed("a stream event is not a chunk", &e)));
                return false;
            }
        };
        if let Some(error) = &chunk.error {
            pending.push_back(Err(reporter.reported(error)));
            return false;
        }
        if let Some(choice) = chunk.choices.into_iter().next() {
            let text = choice.delta.and_then(|d| d.content).unwrap_or_default();
            if !text.is_empty() {
                pending.push_back(Ok(Chunk::Delta(text)));
            }
            if let Some(reason) = choice.finish_reason {
                pending.push_back(Ok(Chunk::Finish(FinishReason::from_wire(&reason))));
            }
        }
        if let Some(usage) = chunk.usage {
            pending.push_back(Ok(Chunk::Usage(usage.usage())));
        }
        false
    })
}

#[derive(Deserialize)]
struct WireEmbeddings {
    data: Vec<WireEmbedding>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireEmbedding {
    index: usize,
    embedding: Vec<f32>,
}

/// An embeddings answer for `count` inputs: a vector for each, put back in the inputs' order.
pub(super) fn embeddings(
    bytes: &[u8],
    count: usize,
    reporter: &Reporter,
) -> Result<Embeddings, UpstreamError> {
    if let Ok(failure) = serde_json::from_slice::<WireFailure>(bytes)
        && !failure.error.is_null()
    {
        return Err(reporter.reported(&failure.error));
    }
    let wire: WireEmbeddings =
        serde_json::from_slice(bytes).map_err(|e| malformed("not an embeddings answer", &e))?;
    let mut vectors: Vec<Option<Vec<f32>>> = vec![None; count];
    for e in wire.data {
        match vectors.get_mut(e.index) {
            Some(slot @ None) => *slot = Some(e.embedding),
            _ => {
                return Err(UpstreamError::Malformed(format!(
                    "embedding {} is not one of the {count} asked for, or comes twice",
                    e.index
                )));
            }
        }
    }
    let vectors = vectors
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| UpstreamError::Malformed(format!("fewer than {count} embeddings")))?;
    Ok(Embeddings {
        vectors,
        usage: wire.usage.map(|u| Usage::new(u.prompt_tokens, 0)),
    })
}

#[cfg(test)]
mod tests {
    use super::super::classify;
    use super::*;
    use futures_util::StreamExt;

    fn reporter() -> Reporter {
        Reporter {
            provider: "test".into(),
            key: None,
        }
    }

    async fn read(sse: &str) -> Vec<Result<Chunk, UpstreamError>> {
        let bytes = futures_util::stream::iter([Ok(Bytes::from(sse.to_owned()))]);
        chunks(SseLines::new(bytes), reporter()).collect().await
    }

    #[tokio::test]
    async fn text_finish_and_usage_in_one_chunk_are_all_kept() {
        let sse = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n\
                   data: {\"choices\":[{\"delta\":{\"content\":\" there\"},\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2}}\n\n\
                   data: [DONE]\n\n";
        assert_eq!(
            read(sse).await,
            [
                Ok(Chunk::Delta("Hi".into())),
                Ok(Chunk::Usage(Usage::new(3, 1))),
                Ok(Chunk::Delta(" there".into())),
                Ok(Chunk::Finish(FinishReason::Length)),
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
    fn rate_limits_and_overloads_are_told_by_code_or_type() {
        for error in [
            json!({"message": "slow down", "type": "throttled", "code": 429}),
            json!({"message": "slow down", "type": "throttled", "code": "429"}),
            json!({"message": "slow down", "type": "RateLimitError", "code": null}),
            json!({"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}),
            json!({"message": "slow down", "type": "rate_limit_error"}),
        ] {
            assert_eq!(
                classify(&error, None),
                UpstreamError::RateLimited { retry_after: None },
                "{error}"
            );
        }
        assert_eq!(
            classify(
                &json!({"type": "overloaded_error", "message": "Overloaded"}),
                None
            ),
            UpstreamError::Overloaded { retry_after: None }
        );
        assert_eq!(
            classify(
                &json!({"message": "Incorrect API key provided: sk-abc123.", "type": "invalid_request_error"}),
                None
            ),
            UpstreamError::Reported(
                "Incorrect API key provided: [redacted]. (invalid_request_error)".into()
            )
        );
        assert_eq!(
            classify(&json!("it broke"), None),
            UpstreamError::Reported("it broke".into())
        );
    }

    #[test]
    fn embeddings_come_back_in_the_inputs_order() {
        let body = br#"{"object":"list","data":[{"object":"embedding","index":1,"embedding":[0.5]},{"object":"embedding","index":0,"embedding":[0.25]}],"model":"m","usage":{"prompt_tokens":7,"total_tokens":7}}"#;
        let e = embeddings(body, 2, &reporter()).unwrap();
        assert_eq!(e.vectors, [vec![0.25], vec![0.5]]);
        assert_eq!(e.usage, Some(Usage::new(7, 0)));
        assert!(matches!(
            embeddings(body, 3, &reporter()),
            Err(UpstreamError::Malformed(_))
        ));
    }
}
