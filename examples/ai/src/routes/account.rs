//! What can be asked for and what the caller has spent: `GET /models`, `GET /usage`.

use crate::AiState;
use crate::cost::{Pico, Usage};
use crate::ledger::{Periods, Totals};
use plugin_routes::RouteError;
use plugin_routes::prelude::*;

/// The models that can be asked for.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Models {
    /// Each configured model.
    pub models: Vec<ModelInfo>,
    /// The chat model used when a generation names none.
    pub default_model: Option<String>,
    /// The embeddings model used when `POST /embeddings` names none.
    pub default_embedding_model: Option<String>,
}

/// One model and its prices.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    /// Its name.
    pub name: String,
    /// The provider serving it.
    pub provider: String,
    /// `chat` (for `POST /generate`) or `embeddings` (for `POST /embeddings`).
    pub kind: ModelKind,
    /// USD per million input tokens.
    pub input_per_million_usd: f64,
    /// USD per million output tokens.
    pub output_per_million_usd: f64,
}

/// What a model makes.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Text, for `POST /generate` and `POST /generate/stream`.
    Chat,
    /// Vectors, for `POST /embeddings`.
    Embeddings,
}

/// The caller's calls today and this month, against their budgets.
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
    /// Calls recorded: generations and embeddings.
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

/// List the models
///
/// Each configured model with its provider, what it makes and its prices, and the defaults.
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
            "{}",
            super::NOT_CONFIGURED
        ));
    }
    Ok(Models {
        models: config
            .models
            .iter()
            .map(|m| ModelInfo {
                name: m.name.clone(),
                provider: m.provider.clone(),
                kind: if m.embeddings {
                    ModelKind::Embeddings
                } else {
                    ModelKind::Chat
                },
                input_per_million_usd: m.prices.input_per_million_usd(),
                output_per_million_usd: m.prices.output_per_million_usd(),
            })
            .collect(),
        default_model: config.default_model.clone(),
        default_embedding_model: config.default_embedding_model.clone(),
    })
}

/// Your usage
///
/// Your calls (generations and embeddings), tokens and cost today and this month (UTC), against
/// your budgets.
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
