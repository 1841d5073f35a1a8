//! Generating text: `POST /generate` (whole), `POST /generate/stream` (server-sent events) and
//! `POST /generations` (an operation, read later).

use super::Refusal;
use crate::AiState;
use crate::config::ModelConfig;
use crate::cost::Usage;
use crate::history::Kept;
use crate::meter::{Bill, Charge};
use crate::provider::{Ask, Chunk, FinishReason, Provider, UpstreamError};
use futures_util::{Stream, StreamExt};
use plugin_routes::prelude::*;
use plugin_routes::{EventStream, RouteError};
use std::pin::Pin;
use std::sync::Arc;

/// What `POST /generate`, `POST /generate/stream` and `POST /generations` take.
#[derive(Debug, Serialize, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
#[allow(
    non_snake_case,
    reason = "fields are named as in JSON, so validation errors name them right"
)]
pub struct GenerateRequest {
    /// What to write about, 1 to 10,000 characters.
    #[garde(length(chars, min = 1, max = 10_000))]
    pub prompt: String,
    /// The chat model (see `GET /models`); the configured default if absent.
    #[garde(length(min = 1, max = 200))]
    #[serde(default)]
    pub model: Option<String>,
    /// The most tokens to generate, 1 to 4,000.
    #[garde(range(min = 1, max = 4_000))]
    #[serde(default = "default_max_tokens")]
    #[schemars(default = "default_max_tokens")]
    pub maxTokens: u32,
    /// Sampling temperature, 0 to 2 (Anthropic's models take 0 to 1: more is sent as 1); the
    /// provider's default if absent.
    #[garde(range(min = 0.0, max = 2.0))]
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Keep the prompt and the answer in your history (`GET /history`), secrets removed first.
    /// Absent: as the server is configured (by default, not kept).
    #[garde(skip)]
    #[serde(default)]
    pub saveHistory: Option<bool>,
}

fn default_max_tokens() -> u32 {
    1_000
}

/// A generated text, why it ended, what produced it and what it cost.
#[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GenerateResponse {
    /// The text.
    pub text: String,
    /// Why the model stopped: `length` means the text was cut off at `maxTokens`,
    /// `content_filter` that the provider's filter cut or withheld it (the text may be empty).
    pub finish_reason: FinishReason,
    /// The model that wrote it.
    pub model: String,
    /// The provider that served the model.
    pub provider: String,
    /// The tokens used, as the provider counted them.
    pub usage: Usage,
    /// What the tokens cost, in USD, at the configured prices.
    pub cost_usd: f64,
    /// The entry in your history, if the generation was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_id: Option<String>,
}

/// The end of a streamed generation.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Why the model stopped: `length` means the text was cut off at `maxTokens`,
    /// `content_filter` that the provider's filter cut it.
    pub finish_reason: FinishReason,
    /// The model that wrote the text.
    pub model: String,
    /// The provider that served it.
    pub provider: String,
    /// The tokens used, as the provider counted them.
    pub usage: Usage,
    /// What the tokens cost, in USD.
    pub cost_usd: f64,
    /// The entry in your history, if the generation was kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_id: Option<String>,
}

/// One event of `POST /generate/stream`: text as it is written, then a summary.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum GenerateEvent {
    /// More of the text.
    Delta {
        /// The next piece.
        text: String,
    },
    /// The last event: why the model stopped, what the generation used and cost.
    Done(Summary),
}

/// A generation about to be sent: the model and its provider.
struct Plan<'a> {
    model: &'a ModelConfig,
    provider: &'a Provider,
    ask: Ask,
    keep: bool,
}

impl AiState {
    fn plan(&self, input: GenerateRequest) -> Result<Plan<'_>, Refusal> {
        let config = self.config();
        if !config.is_configured() {
            return Err(Refusal::NotConfigured);
        }
        let name = input
            .model
            .or_else(|| config.default_model.clone())
            .ok_or(Refusal::NotConfigured)?;
        let model = config
            .model(&name)
            .ok_or_else(|| Refusal::UnknownModel(format!("no model `{name}`")))?;
        if model.embeddings {
            let what = format!("`{name}` makes embeddings, not text (POST /embeddings)");
            return Err(Refusal::UnknownModel(what));
        }
        let provider = self
            .providers
            .get(&model.provider)
            .ok_or(Refusal::NotConfigured)?;
        Ok(Plan {
            model,
            provider,
            ask: Ask {
                model: name,
                prompt: input.prompt,
                max_tokens: input.maxTokens,
                temperature: input.temperature,
                json: false,
            },
            keep: input.saveHistory.unwrap_or(config.save_history),
        })
    }

    /// Keeps a generation in `caller`'s history; its id, or `None` (logged) if the database
    /// would not take it: the caller still gets the answer they paid for.
    async fn keep(&self, caller: &str, kept: Kept<'_>) -> Option<String> {
        match self.history.keep(caller, &kept).await {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::error!(error = %e, "a generation could not be kept in its caller's history");
                None
            }
        }
    }
}

/// Generate a text
///
/// Asks the model (or the configured default) and answers the whole text, why the model
/// stopped (`finishReason`: `length` when cut off at `maxTokens`), the tokens used and their
/// cost. The most the generation could cost is held against the caller's daily and monthly
/// budgets before the provider is asked, and replaced by what the provider reports it used
/// (more than the hold, if it reports more: see the plugin's README). A client that leaves (or
/// the timeout) does not cancel the generation: the provider is still waited for, and what it
/// reports is charged. An answer without its text (unless a content filter withheld it) or
/// without its count of tokens is `LLM_FAILED`, and charged all the same: what the provider
/// says it used, else the prompt's bytes in and a token for each byte of text out (all of
/// `maxTokens` if there is no text). With `saveHistory`, the prompt and the text are kept in
/// your history, secrets removed.
#[plugin_route(
    method = "POST",
    path = "/generate",
    timeout_ms = 120_000,
    scopes("ai:generate"),
    rate_limit(generations(50, per = "1m")),
    errors(
        MODEL_NOT_FOUND = (400, "no configured model has this name, or it makes embeddings"),
        QUOTA_EXCEEDED = (429, "the generation could cost more than is left of the caller's budget"),
        UPSTREAM_RATE_LIMITED = (429, "the provider is rate limiting (a `429`, or a rate-limit error it reported in its answer); `Retry-After` says for how long, when it said"),
        LLM_FAILED = (502, "the provider failed or reported an error in its answer, answered something malformed or cut off, or cannot be reached"),
        UPSTREAM_OVERLOADED = (503, "the provider is overloaded (a `529` or `503`, or an overload it reported in its answer); `Retry-After` says for how long, when it said"),
        PROVIDER_NOT_CONFIGURED = (503, "no provider is configured on this server"),
    )
)]
pub(crate) async fn generate(
    ctx: Ctx<AiState>,
    input: GenerateRequest,
) -> RouteResult<GenerateResponse> {
    whole(&ctx, input).await.map_err(|failed| match failed {
        Failed::Refused(r) => refuse!(r),
        Failed::Metered(e) => metered!(e),
        Failed::Route(e) => e,
    })
}

/// Why a whole generation failed, for each route to answer with its own codes.
enum Failed {
    Refused(Refusal),
    Metered(crate::meter::MeterError),
    Route(RouteError),
}

impl From<RouteError> for Failed {
    fn from(e: RouteError) -> Self {
        Failed::Route(e)
    }
}

/// A whole generation: what `POST /generate` answers and `POST /generations` ends with.
async fn whole(ctx: &Ctx<AiState>, input: GenerateRequest) -> Result<GenerateResponse, Failed> {
    let caller = ctx.caller()?.user_id().to_owned();
    let Plan {
        model,
        provider,
        ask,
        keep,
    } = ctx.plan(input).map_err(Failed::Refused)?;
    ctx.reach()
        .check_url(provider.endpoint())
        .map_err(|e| Failed::Route(e.into()))?;
    let prompt = keep.then(|| ask.prompt.clone());
    // Asked on a task of the meter's: if this request is dropped (the client left, or the
    // timeout), the provider's answer is still waited for and charged.
    let (completion, Charge { usage, cost }) = ctx
        .meter
        .complete(&caller, provider, model.prices, ask)
        .await
        .map_err(Failed::Metered)?;
    let history_id = match &prompt {
        Some(prompt) => {
            let kept = Kept {
                model: &model.name,
                provider: provider.name(),
                prompt,
                answer: &completion.text,
                finish: completion.finish,
                usage,
                cost,
                streamed: false,
            };
            ctx.keep(&caller, kept).await
        }
        None => None,
    };
    Ok(GenerateResponse {
        text: completion.text,
        finish_reason: completion.finish,
        model: model.name.clone(),
        provider: provider.name().to_owned(),
        usage,
        cost_usd: cost.usd(),
        history_id,
    })
}

/// Generate a text, as an operation
///
/// The same as `POST /generate`, answered at once with `202 Accepted` and the `Location` of an
/// operation whose result is what `POST /generate` answers: for a client that cannot hold a
/// request open as long as the model takes (behind a proxy's idle timeout, across a deploy).
/// It reports `asking <model>` as its progress. It is not run again if its server dies (it
/// would be charged twice): it then fails `503 UNAVAILABLE`. Cancelling it stops the wait, but
/// as for a client that leaves `POST /generate`, the provider's answer is still waited for and
/// charged.
#[plugin_route(
    method = "POST",
    path = "/generations",
    operation,
    timeout_ms = 120_000,
    scopes("ai:generate"),
    rate_limit(generations(50, per = "1m")),
    errors(
        MODEL_NOT_FOUND = (400, "no configured model has this name, or it makes embeddings"),
        QUOTA_EXCEEDED = (429, "the generation could cost more than is left of the caller's budget"),
        UPSTREAM_RATE_LIMITED = (429, "the provider is rate limiting (a `429`, or a rate-limit error it reported in its answer); `Retry-After` says for how long, when it said"),
        LLM_FAILED = (502, "the provider failed or reported an error in its answer, answered something malformed or cut off, or cannot be reached"),
        UPSTREAM_OVERLOADED = (503, "the provider is overloaded (a `529` or `503`, or an overload it reported in its answer); `Retry-After` says for how long, when it said"),
        PROVIDER_NOT_CONFIGURED = (503, "no provider is configured on this server"),
    )
)]
pub(crate) async fn generation(
    ctx: Ctx<AiState>,
    input: GenerateRequest,
) -> RouteResult<GenerateResponse> {
    let model = input
        .model
        .clone()
        .unwrap_or_else(|| "the default model".to_owned());
    ctx.progress(None, format!("asking {model}"));
    whole(&ctx, input).await.map_err(|failed| match failed {
        Failed::Refused(r) => refuse!(r),
        Failed::Metered(e) => metered!(e),
        Failed::Route(e) => e,
    })
}

/// Generate a text, streamed
///
/// The same as `POST /generate`, answered as server-sent events: a `delta` event for each piece
/// of text as the model writes it, then a `done` event with why the model stopped
/// (`finishReason`), the tokens used and their cost. Closing the connection cancels the
/// generation upstream; what was generated until then is charged: the provider's last count of
/// the tokens, if it sent one, plus a token for each byte of text sent since (without a count,
/// the prompt's bytes in and a token for each byte of text out, at most `maxTokens`: never less
/// than it could have cost). A failure once events flow (the provider's stream cut off, or an
/// error the provider reports inside it, as LiteLLM, vLLM and Anthropic do) ends the stream
/// with an `error` event, `LLM_FAILED` or, for a rate limit or an overload,
/// `UPSTREAM_RATE_LIMITED` or `UPSTREAM_OVERLOADED`: nothing is charged if no text was sent and
/// the provider counted nothing, and the same estimate otherwise. With `saveHistory`, a
/// generation that ends with `done` is kept in your history, secrets removed.
#[plugin_route(
    method = "POST",
    path = "/generate/stream",
    timeout_ms = 120_000,
    concurrency(4),
    scopes("ai:generate"),
    rate_limit(generations(50, per = "1m")),
    errors(
        MODEL_NOT_FOUND = (400, "no configured model has this name, or it makes embeddings"),
        QUOTA_EXCEEDED = (429, "the generation could cost more than is left of the caller's budget"),
        UPSTREAM_RATE_LIMITED = (429, "the provider is rate limiting (a `429`, or a rate-limit error it reported in its answer); `Retry-After` says for how long, when it said"),
        LLM_FAILED = (502, "the provider failed or reported an error in its answer, answered something malformed or cut off, or cannot be reached"),
        UPSTREAM_OVERLOADED = (503, "the provider is overloaded (a `529` or `503`, or an overload it reported in its answer); `Retry-After` says for how long, when it said"),
        PROVIDER_NOT_CONFIGURED = (503, "no provider is configured on this server"),
    )
)]
pub(crate) async fn generate_stream(
    ctx: Ctx<AiState>,
    input: GenerateRequest,
) -> RouteResult<EventStream<GenerateEvent>> {
    let caller = ctx.caller()?.user_id().to_owned();
    let plan = ctx.plan(input).map_err(|r| refuse!(r))?;
    ctx.reach().check_url(plan.provider.endpoint())?;
    let bill = ctx
        .meter
        .hold(
            &caller,
            plan.provider.name(),
            &plan.ask.model,
            plan.model.prices,
            crate::meter::Meter::ceiling(&plan.ask),
            true,
        )
        .await
        .map_err(RouteError::internal)?
        .map_err(|over| refuse!(Refusal::Over(over)))?;
    let mut bill = bill;
    let upstream = match plan.provider.stream(&plan.ask).await {
        Ok(s) => s,
        Err(e) => {
            bill.release().await.map_err(RouteError::internal)?;
            tracing::warn!(provider = plan.provider.name(), error = %e, "a generation failed");
            return Err(refuse!(Refusal::Upstream(e)));
        }
    };
    let keeper = plan.keep.then(|| Keeper {
        state: Arc::clone(ctx.shared_state()),
        caller,
        prompt: plan.ask.prompt.clone(),
        text: String::new(),
    });
    let fail = |e: UpstreamError| refuse!(Refusal::Upstream(e));
    Ok(EventStream::new(events(upstream, bill, keeper, fail)))
}

/// What a streamed generation to be kept needs at its end: the text as it was sent.
struct Keeper {
    state: Arc<AiState>,
    caller: String,
    prompt: String,
    text: String,
}

/// Where a streamed generation is.
struct Flow<U> {
    upstream: Pin<Box<U>>,
    bill: Bill,
    finish: FinishReason,
    keeper: Option<Keeper>,
    finished: bool,
}

/// The events of a streamed generation: deltas as they come, then the summary once the bill is
/// settled (and the generation kept, if asked). An upstream failure (the stream cut, garbled,
/// or an error the provider reported in it) ends the stream with the route's error; the hold
/// is released if nothing was delivered and the provider counted nothing, and the estimate is
/// charged otherwise.
fn events<U>(
    upstream: U,
    bill: Bill,
    keeper: Option<Keeper>,
    fail: impl Fn(UpstreamError) -> RouteError + Send + Sync + 'static,
) -> impl Stream<Item = Result<GenerateEvent, RouteError>> + Send
where
    U: Stream<Item = Result<Chunk, UpstreamError>> + Send + 'static,
{
    let fail = Arc::new(fail);
    let flow = Flow {
        upstream: Box::pin(upstream),
        bill,
        finish: FinishReason::Unknown,
        keeper,
        finished: false,
    };
    futures_util::stream::unfold(flow, move |mut flow| {
        let fail = Arc::clone(&fail);
        async move {
            if flow.finished {
                return None;
            }
            loop {
                match flow.upstream.next().await {
                    Some(Ok(Chunk::Delta(text))) => {
                        flow.bill.wrote(&text);
                        if let Some(k) = &mut flow.keeper {
                            k.text.push_str(&text);
                        }
                        return Some((Ok(GenerateEvent::Delta { text }), flow));
                    }
                    Some(Ok(Chunk::Usage(u))) => flow.bill.reported(u),
                    Some(Ok(Chunk::Finish(reason))) => flow.finish = reason,
                    Some(Err(e)) => {
                        tracing::warn!(provider = flow.bill.provider(), error = %e, "a streamed generation failed");
                        flow.bill.end_early().await;
                        flow.finished = true;
                        return Some((Err(fail(e)), flow));
                    }
                    None => {
                        flow.finished = true;
                        let summary = done(&mut flow).await;
                        return Some((summary, flow));
                    }
                }
            }
        }
    })
}

/// Settles a finished stream, keeps it if asked, and makes its `done` event.
async fn done<U>(flow: &mut Flow<U>) -> Result<GenerateEvent, RouteError> {
    let usage = flow.bill.final_usage();
    let Charge { usage, cost } = flow
        .bill
        .settle(usage, true)
        .await
        .map_err(RouteError::internal)?;
    let history_id = match flow.keeper.take() {
        Some(k) => {
            let kept = Kept {
                model: flow.bill.model(),
                provider: flow.bill.provider(),
                prompt: &k.prompt,
                answer: &k.text,
                finish: flow.finish,
                usage,
                cost,
                streamed: true,
            };
            k.state.keep(&k.caller, kept).await
        }
        None => None,
    };
    Ok(GenerateEvent::Done(Summary {
        finish_reason: flow.finish,
        model: flow.bill.model().to_owned(),
        provider: flow.bill.provider().to_owned(),
        usage,
        cost_usd: cost.usd(),
        history_id,
    }))
}
