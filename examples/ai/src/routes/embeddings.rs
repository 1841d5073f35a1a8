//! Embeddings: `POST /embeddings`, through an OpenAI-compatible provider, metered like a
//! generation.

use super::Refusal;
use crate::AiState;
use crate::cost::Usage;
use crate::meter::Charge;
use plugin_routes::prelude::*;
use serde::de::{self, SeqAccess, Visitor};

/// What `POST /embeddings` takes.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingsRequest {
    /// The text to embed: a string, or a list of 1 to 64 strings; each 1 to 8,000 characters.
    /// A single string is checked as the list's first (`input[0]`).
    #[garde(length(min = 1, max = 64), inner(length(chars, min = 1, max = 8_000)))]
    #[serde(deserialize_with = "one_or_many")]
    #[schemars(schema_with = "one_or_many_schema")]
    pub input: Vec<String>,
    /// The embeddings model (see `GET /models`); the configured default if absent.
    #[garde(length(min = 1, max = 200))]
    #[serde(default)]
    pub model: Option<String>,
}

/// A string, or a list of strings, read as a list.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct Texts;
    impl<'de> Visitor<'de> for Texts {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or a list of strings")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            Ok(vec![v.to_owned()])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut texts = Vec::new();
            while let Some(t) = seq.next_element::<String>()? {
                texts.push(t);
            }
            Ok(texts)
        }
    }
    d.deserialize_any(Texts)
}

/// The schema of [`one_or_many`]'s input: a string, or a list of them.
fn one_or_many_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let text = serde_json::json!({"type": "string", "minLength": 1, "maxLength": 8_000});
    schemars::json_schema!({
        "anyOf": [
            text,
            {"type": "array", "items": text, "minItems": 1, "maxItems": 64},
        ],
    })
}

const NO_EMBEDDINGS_MODEL: &str = "no embeddings model is configured on this server: AI_OPENAI_API_KEY configures one, or a model with `embeddings = true` in AI_CONFIG";

/// Vectors for each input, what made them and what they cost.
#[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EmbeddingsResponse {
    /// One vector per input, in the inputs' order.
    pub embeddings: Vec<Vec<f32>>,
    /// The model that made them.
    pub model: String,
    /// The provider that served the model.
    pub provider: String,
    /// The tokens read, as the provider counted them.
    pub usage: Usage,
    /// What the tokens cost, in USD, at the configured prices.
    pub cost_usd: f64,
}

/// Embed texts
///
/// Asks an embeddings model (or the configured default) for a vector for each text, with the
/// tokens read and their cost. As with a generation, the most it could cost (each text's bytes
/// as tokens) is held against the caller's budgets first and replaced by what the provider
/// reports; with no count, all that was held is charged.
#[plugin_route(
    method = "POST",
    path = "/embeddings",
    timeout_ms = 60_000,
    scopes("ai:generate"),
    rate_limit(generations(50, per = "1m")),
    errors(
        MODEL_NOT_FOUND = (400, "no configured model has this name, or it does not make embeddings"),
        QUOTA_EXCEEDED = (429, "the call could cost more than is left of the caller's budget"),
        UPSTREAM_RATE_LIMITED = (429, "the provider is rate limiting; `Retry-After` says for how long, when it said"),
        LLM_FAILED = (502, "the provider failed or reported an error, answered something malformed, or cannot be reached"),
        UPSTREAM_OVERLOADED = (503, "the provider is overloaded; `Retry-After` says for how long, when it said"),
        PROVIDER_NOT_CONFIGURED = (503, "no embeddings model is configured on this server"),
    )
)]
pub(crate) async fn embeddings(
    ctx: Ctx<AiState>,
    input: EmbeddingsRequest,
) -> RouteResult<EmbeddingsResponse> {
    let caller = ctx.caller()?.user_id().to_owned();
    let config = ctx.config();
    let name = input
        .model
        .or_else(|| config.default_embedding_model.clone())
        .ok_or_else(|| route_error!(PROVIDER_NOT_CONFIGURED, "{NO_EMBEDDINGS_MODEL}"))?;
    let model = config
        .model(&name)
        .ok_or_else(|| refuse!(Refusal::UnknownModel(format!("no model `{name}`"))))?;
    if !model.embeddings {
        let what = format!("`{name}` makes text, not embeddings (POST /generate)");
        return Err(refuse!(Refusal::UnknownModel(what)));
    }
    let provider = ctx
        .providers
        .get(&model.provider)
        .ok_or_else(|| refuse!(Refusal::NotConfigured))?;
    ctx.reach().check_url(&provider.embeddings_endpoint())?;
    let (embeddings, Charge { usage, cost }) = ctx
        .meter
        .embed(&caller, provider, &name, model.prices, input.input)
        .await
        .map_err(|e| metered!(e))?;
    Ok(EmbeddingsResponse {
        embeddings: embeddings.vectors,
        model: name,
        provider: provider.name().to_owned(),
        usage,
        cost_usd: cost.usd(),
    })
}
