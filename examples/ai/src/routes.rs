//! The routes, their inputs and outputs. Each failure is a declared code, mapped from what
//! happened: the model unknown, no provider configured, the budget spent, the provider rate
//! limiting (its `Retry-After` passed on) or failing in any other way.

use crate::AiState;
use crate::config::ModelConfig;
use crate::cost::{Pico, Usage};
use crate::ledger::{Over, Periods, Totals};
use crate::meter::{Bill, Charge, MeterError};
use crate::provider::{Ask, Chunk, Provider, UpstreamError};
use futures_util::{Stream, StreamExt};
use plugin_runtime::prelude::*;
use plugin_runtime::{EventStream, RouteError};
use serde_json::json;
use std::sync::Arc;

/// What `POST /generate` and `POST /generate/stream` take.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
#[allow(
    non_snake_case,
    reason = "fields are named as in JSON, so validation errors name them right"
)]
pub struct GenerateRequest {
    /// What to write about, 1 to 10,000 characters.
    #[garde(length(chars, min = 1, max = 10_000))]
    pub prompt: String,
    /// The model (see `GET /models`); the configured default if absent.
    #[garde(length(min = 1, max = 200))]
    #[serde(default)]
    pub model: Option<String>,
    /// The most tokens to generate, 1 to 4,000.
    #[garde(range(min = 1, max = 4_000))]
    #[serde(default = "default_max_tokens")]
    #[schemars(default = "default_max_tokens")]
    pub maxTokens: u32,
    /// Sampling temperature, 0 to 2; the provider's default if absent.
    #[garde(range(min = 0.0, max = 2.0))]
    #[serde(default)]
    pub temperature: Option<f64>,
}

fn default_max_tokens() -> u32 {
    1_000
}

/// A generated text, what produced it and what it cost.
#[derive(Debug, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GenerateResponse {
    /// The text.
    pub text: String,
    /// The model that wrote it.
    pub model: String,
    /// The provider that served the model.
    pub provider: String,
    /// The tokens used, as the provider counted them.
    pub usage: Usage,
    /// What the tokens cost, in USD, at the configured prices.
    pub cost_usd: f64,
}

/// The end of a streamed generation.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The model that wrote the text.
    pub model: String,
    /// The provider that served it.
    pub provider: String,
    /// The tokens used, as the provider counted them.
    pub usage: Usage,
    /// What the tokens cost, in USD.
    pub cost_usd: f64,
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
    /// The last event: what the generation used and cost.
    Done(Summary),
}

/// The models that can be asked for.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Models {
    /// Each configured model.
    pub models: Vec<ModelInfo>,
    /// The one used when a request names none.
    pub default_model: Option<String>,
}

/// One model and its prices.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    /// Its name.
    pub name: String,
    /// The provider serving it.
    pub provider: String,
    /// USD per million input tokens.
    pub input_per_million_usd: f64,
    /// USD per million output tokens.
    pub output_per_million_usd: f64,
}

/// The caller's generations today and this month, against their budgets.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    /// Today (UTC).
    pub today: PeriodUsage,
    /// This month (UTC).
    pub month: PeriodUsage,
}

/// Usage over one period.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeriodUsage {
    /// `2026-12-01` or `2026-12`.
    pub period: String,
    /// Generations recorded.
    pub generations: u64,
    /// Their tokens.
    pub usage: Usage,
    /// What they cost, in USD.
    pub cost_usd: f64,
    /// The budget, in USD.
    pub budget_usd: f64,
    /// What is left of it, in USD.
    pub remaining_usd: f64,
}

/// Why a generation cannot go ahead, before the handler turns it into its declared code.
enum Refusal {
    NotConfigured,
    UnknownModel(String),
    Over(Over),
    Upstream(UpstreamError),
}

/// Turns a [`Refusal`] into the route's declared error. A macro, so that `route_error!` is the
/// calling handler's (each route declares its own codes).
macro_rules! refuse {
    ($refusal:expr) => {
        match $refusal {
            Refusal::NotConfigured => route_error!(
                PROVIDER_NOT_CONFIGURED,
                "no AI provider is configured on this server: set AI_OPENAI_API_KEY, AI_OLLAMA_MODEL or providers in AI_CONFIG"
            ),
            Refusal::UnknownModel(m) => {
                route_error!(MODEL_NOT_FOUND, "no model `{m}`; GET /v1/plugins/ai/models lists them")
            }
            Refusal::Over(over) => route_error!(
                QUOTA_EXCEEDED,
                "this generation could cost more than is left of your {} budget",
                over.as_str()
            )
            .with_details(json!({"budget": over.as_str()})),
            Refusal::Upstream(UpstreamError::RateLimited { retry_after }) => {
                let error = route_error!(
                    UPSTREAM_RATE_LIMITED,
                    "the provider is rate limiting; try again later"
                );
                match retry_after {
                    Some(s) => error.with_details(json!({"retryAfterSeconds": s})),
                    None => error,
                }
            }
            Refusal::Upstream(e) => route_error!(LLM_FAILED, "{e}"),
        }
    };
}

/// A generation about to be sent: the model and its provider.
struct Plan<'a> {
    model: &'a ModelConfig,
    provider: &'a Provider,
    ask: Ask,
}

impl AiState {
    fn plan(&self, input: GenerateRequest) -> Result<Plan<'_>, Refusal> {
        if !self.config.is_configured() {
            return Err(Refusal::NotConfigured);
        }
        let name = input
            .model
            .or_else(|| self.config.default_model.clone())
            .ok_or(Refusal::NotConfigured)?;
        let model = self
            .config
            .model(&name)
            .ok_or_else(|| Refusal::UnknownModel(name.clone()))?;
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
        })
    }
}

/// Generate a text
///
/// Asks the model (or the configured default) and answers the whole text with the tokens used
/// and their cost. The most the generation could cost is held against the caller's daily and
/// monthly budgets before the provider is asked, and replaced by what the provider reports it
/// used. A client that leaves (or the timeout) does not cancel the generation: the provider is
/// still waited for, and what it reports is charged. An answer without its text or without its
/// count of tokens is `LLM_FAILED`, and charged all the same: what the provider says it used,
/// else the prompt's bytes in and a token for each byte of text out (all of `maxTokens` if there
/// is no text).
#[plugin_route(
    method = "POST",
    path = "/generate",
    timeout_ms = 120_000,
    scopes("ai:generate"),
    errors(
        MODEL_NOT_FOUND = (400, "no configured model has this name"),
        QUOTA_EXCEEDED = (429, "the generation could cost more than is left of the caller's budget"),
        UPSTREAM_RATE_LIMITED = (429, "the provider is rate limiting (a `429`, or a rate-limit error it reported in its answer); `Retry-After` says for how long, when it said"),
        LLM_FAILED = (502, "the provider failed or reported an error in its answer, answered something malformed or cut off, or cannot be reached"),
        PROVIDER_NOT_CONFIGURED = (503, "no provider is configured on this server"),
    )
)]
pub(crate) async fn generate(
    ctx: Ctx<AiState>,
    input: GenerateRequest,
) -> RouteResult<GenerateResponse> {
    let caller = ctx.caller()?.user_id().to_owned();
    let Plan {
        model,
        provider,
        ask,
    } = ctx.plan(input).map_err(|r| refuse!(r))?;
    ctx.reach().check_url(provider.endpoint())?;
    // Asked on a task of the meter's: if this request is dropped (the client left, or the
    // timeout), the provider's answer is still waited for and charged.
    let (completion, Charge { usage, cost }) = ctx
        .meter
        .complete(&caller, provider, model.prices, ask)
        .await
        .map_err(|e| match e {
            MeterError::Over(over) => refuse!(Refusal::Over(over)),
            MeterError::Upstream(e) => refuse!(Refusal::Upstream(e)),
            MeterError::Internal(e) => RouteError::internal(e),
        })?;
    Ok(GenerateResponse {
        text: completion.text,
        model: model.name.clone(),
        provider: provider.name().to_owned(),
        usage,
        cost_usd: cost.usd(),
    })
}

/// Generate a text, streamed
///
/// The same as `POST /generate`, answered as server-sent events: a `delta` event for each piece
/// of text as the model writes it, then a `done` event with the tokens used and their cost.
/// Closing the connection cancels the generation upstream; what was generated until then is
/// charged: the provider's last count of the tokens, if it sent one, plus a token for each byte
/// of text sent since (without a count, the prompt's bytes in and a token for each byte of text
/// out, at most `maxTokens`: never less than it could have cost). A failure once events flow
/// (the provider's stream cut off, or an error the provider reports inside it, as LiteLLM and
/// vLLM do) ends the stream with an `error` event, `LLM_FAILED` or, for a rate limit,
/// `UPSTREAM_RATE_LIMITED`: nothing is charged if no text was sent and the provider counted
/// nothing, and the same estimate otherwise.
#[plugin_route(
    method = "POST",
    path = "/generate/stream",
    timeout_ms = 120_000,
    concurrency(4),
    scopes("ai:generate"),
    errors(
        MODEL_NOT_FOUND = (400, "no configured model has this name"),
        QUOTA_EXCEEDED = (429, "the generation could cost more than is left of the caller's budget"),
        UPSTREAM_RATE_LIMITED = (429, "the provider is rate limiting (a `429`, or a rate-limit error it reported in its answer); `Retry-After` says for how long, when it said"),
        LLM_FAILED = (502, "the provider failed or reported an error in its answer, answered something malformed or cut off, or cannot be reached"),
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
    let mut bill = ctx
        .meter
        .hold(
            &caller,
            plan.provider.name(),
            plan.model.prices,
            &plan.ask,
            true,
        )
        .await
        .map_err(RouteError::internal)?
        .map_err(|over| refuse!(Refusal::Over(over)))?;
    let upstream = match plan.provider.stream(&plan.ask).await {
        Ok(s) => s,
        Err(e) => {
            bill.release().await.map_err(RouteError::internal)?;
            tracing::warn!(provider = plan.provider.name(), error = %e, "a generation failed");
            return Err(refuse!(Refusal::Upstream(e)));
        }
    };
    let fail = |e: UpstreamError| refuse!(Refusal::Upstream(e));
    Ok(EventStream::new(events(upstream, bill, fail)))
}

/// The events of a streamed generation: deltas as they come, then the summary once the bill is
/// settled. An upstream failure (the stream cut, garbled, or an error the provider reported in
/// it) ends the stream with the route's error; the hold is released if nothing was delivered
/// and the provider counted nothing, and the estimate is charged otherwise.
fn events(
    upstream: impl Stream<Item = Result<Chunk, UpstreamError>> + Send + 'static,
    bill: Bill,
    fail: impl Fn(UpstreamError) -> RouteError + Send + Sync + 'static,
) -> impl Stream<Item = Result<GenerateEvent, RouteError>> + Send {
    let fail = Arc::new(fail);
    let state = (Box::pin(upstream), bill, None::<Usage>, false);
    futures_util::stream::unfold(
        state,
        move |(mut upstream, mut bill, mut usage, finished)| {
            let fail = Arc::clone(&fail);
            async move {
                if finished {
                    return None;
                }
                loop {
                    match upstream.next().await {
                        Some(Ok(Chunk::Delta(text))) => {
                            bill.wrote(&text);
                            let event = GenerateEvent::Delta { text };
                            return Some((Ok(event), (upstream, bill, usage, false)));
                        }
                        Some(Ok(Chunk::Usage(u))) => {
                            bill.reported(u);
                            usage = Some(u);
                        }
                        Some(Err(e)) => {
                            tracing::warn!(provider = bill.provider(), error = %e, "a streamed generation failed");
                            bill.end_early().await;
                            return Some((Err(fail(e)), (upstream, bill, usage, true)));
                        }
                        None => {
                            let usage = usage.unwrap_or_else(|| bill.estimate());
                            let summary = match bill.settle(usage, true).await {
                                Ok(Charge { usage, cost }) => Ok(GenerateEvent::Done(Summary {
                                    model: bill.model().to_owned(),
                                    provider: bill.provider().to_owned(),
                                    usage,
                                    cost_usd: cost.usd(),
                                })),
                                Err(e) => Err(RouteError::internal(e)),
                            };
                            return Some((summary, (upstream, bill, Some(usage), true)));
                        }
                    }
                }
            }
        },
    )
}

/// List the models
///
/// Each configured model with its provider and prices, and the default.
#[plugin_route(
    method = "GET",
    path = "/models",
    errors(PROVIDER_NOT_CONFIGURED = (503, "no provider is configured on this server"))
)]
pub(crate) async fn list_models(ctx: Ctx<AiState>) -> RouteResult<Models> {
    let config = ctx.config();
    if !config.is_configured() {
        return Err(route_error!(
            PROVIDER_NOT_CONFIGURED,
            "no AI provider is configured on this server: set AI_OPENAI_API_KEY, AI_OLLAMA_MODEL or providers in AI_CONFIG"
        ));
    }
    Ok(Models {
        models: config
            .models
            .iter()
            .map(|m| ModelInfo {
                name: m.name.clone(),
                provider: m.provider.clone(),
                input_per_million_usd: m.prices.input_per_million_usd(),
                output_per_million_usd: m.prices.output_per_million_usd(),
            })
            .collect(),
        default_model: config.default_model.clone(),
    })
}

/// Your usage
///
/// Your generations, tokens and cost today and this month (UTC), against your budgets.
#[plugin_route(method = "GET", path = "/usage")]
pub(crate) async fn usage(ctx: Ctx<AiState>) -> RouteResult<UsageReport> {
    let caller = ctx.caller()?.user_id();
    let periods = Periods::now();
    let (day, month) = ctx
        .ledger
        .totals(caller, &periods)
        .await
        .map_err(RouteError::internal)?;
    let config = ctx.config();
    Ok(UsageReport {
        today: period(periods.day, day, config.daily_budget),
        month: period(periods.month, month, config.monthly_budget),
    })
}

fn period(name: String, t: Totals, budget: Pico) -> PeriodUsage {
    PeriodUsage {
        period: name,
        generations: t.generations,
        usage: Usage::new(t.input_tokens, t.output_tokens),
        cost_usd: t.cost.usd(),
        budget_usd: budget.usd(),
        remaining_usd: Pico(budget.0.saturating_sub(t.cost.0).max(0)).usd(),
    }
}
