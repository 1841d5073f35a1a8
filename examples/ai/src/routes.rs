//! The routes, their inputs and outputs. Each failure is a declared code, mapped from what
//! happened: the model unknown, no provider configured, the budget spent, the provider rate
//! limiting (its `Retry-After` passed on) or failing in any other way.

use crate::AiState;
use crate::config::ModelConfig;
use crate::cost::{Pico, Prices, Usage};
use crate::ledger::{Generation, Ledger, Over, Periods, Reservation, Totals};
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
                "no AI provider is configured on this server: set AI_CONFIG, OPENAI_API_KEY or OLLAMA_MODEL"
            ),
            Refusal::UnknownModel(m) => {
                route_error!(MODEL_NOT_FOUND, "no model `{m}`; GET /v1/plugins/ai/models lists them")
            }
            Refusal::Over(over) => route_error!(
                QUOTA_EXCEEDED,
                "this generation could cost more than is left of your {} budget",
                match over {
                    Over::Day => "daily",
                    Over::Month => "monthly",
                }
            )
            .with_details(json!({"budget": match over { Over::Day => "daily", Over::Month => "monthly" }})),
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

/// A generation about to be sent: the model, its provider and the most it can cost.
struct Plan<'a> {
    model: &'a ModelConfig,
    provider: &'a Provider,
    ask: Ask,
    ceiling: Pico,
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
        // A tokenizer never makes more tokens than bytes, plus a few for the chat's framing.
        let most = Usage::new(input.prompt.len() as u64 + 16, u64::from(input.maxTokens));
        Ok(Plan {
            model,
            provider,
            ceiling: model.prices.cost(most),
            ask: Ask {
                model: name,
                prompt: input.prompt,
                max_tokens: input.maxTokens,
                temperature: input.temperature,
                json: false,
            },
        })
    }

    async fn reserve(
        &self,
        caller: &str,
        ceiling: Pico,
    ) -> Result<Result<Reservation, Refusal>, RouteError> {
        let held = self
            .ledger
            .reserve(
                caller,
                Periods::now(),
                ceiling,
                self.config.daily_budget,
                self.config.monthly_budget,
            )
            .await
            .map_err(RouteError::internal)?;
        Ok(held.map_err(Refusal::Over))
    }
}

/// Generate a text
///
/// Asks the model (or the configured default) and answers the whole text with the tokens used
/// and their cost. The most the generation could cost is held against the caller's daily and
/// monthly budgets before the provider is asked.
#[plugin_route(
    method = "POST",
    path = "/generate",
    timeout_ms = 120_000,
    permissions("ai:generate"),
    errors(
        MODEL_NOT_FOUND = (400, "no configured model has this name"),
        QUOTA_EXCEEDED = (429, "the generation could cost more than is left of the caller's budget"),
        UPSTREAM_RATE_LIMITED = (429, "the provider is rate limiting; `Retry-After` says for how long, when it said"),
        LLM_FAILED = (502, "the provider failed, answered something malformed or cut off, or cannot be reached"),
        PROVIDER_NOT_CONFIGURED = (503, "no provider is configured on this server"),
    )
)]
pub(crate) async fn generate(
    ctx: Ctx<AiState>,
    input: GenerateRequest,
) -> RouteResult<GenerateResponse> {
    let caller = ctx.caller()?.user_id().to_owned();
    let plan = ctx.plan(input).map_err(|r| refuse!(r))?;
    let reservation = ctx
        .reserve(&caller, plan.ceiling)
        .await?
        .map_err(|r| refuse!(r))?;
    // From here the hold is the bill's: settled, released, or released if the request is
    // cancelled (the client left, or the timeout).
    let mut bill = Bill::new(ctx.ledger.clone(), reservation, &plan, false);
    let completion = match plan.provider.complete(&plan.ask).await {
        Ok(c) => c,
        Err(e) => {
            bill.release().await.map_err(RouteError::internal)?;
            tracing::warn!(provider = plan.provider.name(), error = %e, "a generation failed");
            return Err(refuse!(Refusal::Upstream(e)));
        }
    };
    let summary = bill
        .settle(completion.usage, true)
        .await
        .map_err(RouteError::internal)?;
    Ok(GenerateResponse {
        text: completion.text,
        model: summary.model,
        provider: summary.provider,
        usage: summary.usage,
        cost_usd: summary.cost_usd,
    })
}

/// Generate a text, streamed
///
/// The same as `POST /generate`, answered as server-sent events: a `delta` event for each piece
/// of text as the model writes it, then a `done` event with the tokens used and their cost.
/// Closing the connection cancels the generation upstream; what was generated until then is
/// charged, estimated from its length.
#[plugin_route(
    method = "POST",
    path = "/generate/stream",
    timeout_ms = 120_000,
    permissions("ai:generate"),
    errors(
        MODEL_NOT_FOUND = (400, "no configured model has this name"),
        QUOTA_EXCEEDED = (429, "the generation could cost more than is left of the caller's budget"),
        UPSTREAM_RATE_LIMITED = (429, "the provider is rate limiting; `Retry-After` says for how long, when it said"),
        LLM_FAILED = (502, "the provider failed, answered something malformed or cut off, or cannot be reached"),
        PROVIDER_NOT_CONFIGURED = (503, "no provider is configured on this server"),
    )
)]
pub(crate) async fn generate_stream(
    ctx: Ctx<AiState>,
    input: GenerateRequest,
) -> RouteResult<EventStream<GenerateEvent>> {
    let caller = ctx.caller()?.user_id().to_owned();
    let plan = ctx.plan(input).map_err(|r| refuse!(r))?;
    let reservation = ctx
        .reserve(&caller, plan.ceiling)
        .await?
        .map_err(|r| refuse!(r))?;
    let mut bill = Bill::new(ctx.ledger.clone(), reservation, &plan, true);
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
/// settled. An upstream failure ends the stream with the route's error.
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
                            bill.written_chars += text.chars().count();
                            let event = GenerateEvent::Delta { text };
                            return Some((Ok(event), (upstream, bill, usage, false)));
                        }
                        Some(Ok(Chunk::Usage(u))) => usage = Some(u),
                        Some(Err(e)) => {
                            tracing::warn!(provider = %bill.provider, error = %e, "a streamed generation failed");
                            bill.charge_estimate().await;
                            return Some((Err(fail(e)), (upstream, bill, usage, true)));
                        }
                        None => {
                            let usage = usage.unwrap_or_else(|| bill.estimate());
                            let summary = match bill.settle(usage, true).await {
                                Ok(s) => Ok(GenerateEvent::Done(s)),
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

/// What a generation owes, holding its reservation until it is settled (the real usage),
/// released (it failed before anything was generated) or charged by estimate (a stream that
/// broke off). Dropped while still holding it (the request was cancelled: the client left, or
/// the timeout), it releases the hold if nothing was written, and charges what was written
/// otherwise, on a task of its own.
struct Bill {
    ledger: Ledger,
    reservation: Option<Reservation>,
    model: String,
    provider: String,
    prices: Prices,
    prompt_chars: usize,
    written_chars: usize,
    streamed: bool,
}

impl Bill {
    fn new(ledger: Ledger, reservation: Reservation, plan: &Plan<'_>, streamed: bool) -> Self {
        Bill {
            ledger,
            reservation: Some(reservation),
            model: plan.ask.model.clone(),
            provider: plan.provider.name().to_owned(),
            prices: plan.model.prices,
            prompt_chars: plan.ask.prompt.chars().count(),
            written_chars: 0,
            streamed,
        }
    }

    /// About four characters a token, when the provider did not say.
    fn estimate(&self) -> Usage {
        Usage::new(
            self.prompt_chars.div_ceil(4) as u64,
            self.written_chars.div_ceil(4) as u64,
        )
    }

    /// Records the generation at what `usage` cost; the hold is let go only once that is done.
    async fn settle(&mut self, usage: Usage, complete: bool) -> Result<Summary, sqlx::Error> {
        let cost = self.prices.cost(usage);
        if let Some(r) = &self.reservation {
            let record = Generation {
                model: &self.model,
                provider: &self.provider,
                usage,
                cost,
                streamed: self.streamed,
                complete,
            };
            self.ledger.settle(r, &record).await?;
            self.reservation = None;
        }
        Ok(Summary {
            model: self.model.clone(),
            provider: self.provider.clone(),
            usage,
            cost_usd: cost.usd(),
        })
    }

    async fn release(&mut self) -> Result<(), sqlx::Error> {
        if let Some(r) = &self.reservation {
            self.ledger.release(r).await?;
            self.reservation = None;
        }
        Ok(())
    }

    async fn charge_estimate(&mut self) {
        let usage = self.estimate();
        if let Err(e) = self.settle(usage, false).await {
            tracing::error!(error = %e, "an unfinished generation could not be recorded");
        }
    }
}

impl Drop for Bill {
    fn drop(&mut self) {
        let Some(reservation) = self.reservation.take() else {
            return;
        };
        let mut rest = Bill {
            ledger: self.ledger.clone(),
            reservation: Some(reservation),
            model: std::mem::take(&mut self.model),
            provider: std::mem::take(&mut self.provider),
            prices: self.prices,
            prompt_chars: self.prompt_chars,
            written_chars: self.written_chars,
            streamed: self.streamed,
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if rest.written_chars == 0 {
                    if let Err(e) = rest.release().await {
                        tracing::error!(error = %e, "a cancelled generation's hold could not be released");
                    }
                } else {
                    rest.charge_estimate().await;
                }
                // Tried once: a hold the database would not take back is not retried forever.
                let _ = rest.reservation.take();
            });
        }
    }
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
            "no AI provider is configured on this server: set AI_CONFIG, OPENAI_API_KEY or OLLAMA_MODEL"
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
