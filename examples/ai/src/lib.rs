//! The AI plugin, mounted under `/v1/plugins/ai`: text generation through OpenAI-compatible
//! providers or Anthropic's Messages API, whole (`POST /generate`) or streamed as server-sent
//! events (`POST /generate/stream`), with why the model stopped, the tokens used and what they
//! cost; embeddings (`POST /embeddings`); per-caller daily and monthly budgets enforced before a
//! provider is asked and a rate limit on every call that asks one; the models and the caller's
//! usage to read (`GET /models`, `GET /usage`); and a history the caller owns, kept only when
//! asked, secrets removed (`GET /history`, `GET` and `DELETE /history/{id}`).
//!
//! Which providers and models exist comes from [`AiConfig`]; with none configured the plugin
//! still mounts, and generating answers `503 PROVIDER_NOT_CONFIGURED`.

pub mod config;
pub mod cost;
pub mod history;
pub mod ledger;
pub mod meter;
pub mod metrics;
pub mod provider;
mod routes;
pub mod sse;

pub use config::{AiConfig, AiSettings};
pub use history::HistoryEntry;
pub use provider::FinishReason;
pub use routes::{
    EmbeddingsRequest, EmbeddingsResponse, GENERATIONS_PER_MINUTE, GenerateEvent, GenerateRequest,
    GenerateResponse, HistoryPage, HistoryQuery, ModelInfo, ModelKind, Models, PeriodUsage,
    Summary, UsageReport,
};

use history::History;
use ledger::Ledger;
use meter::Meter;
use plugin_routes::database::Database;
use plugin_routes::reach::Placeholders;
use plugin_routes::{Starting, plugin};
use provider::Provider;
use std::collections::BTreeMap;

/// The plugin's state: the configuration, a client per provider, the ledger, the meter
/// charging to it and the callers' history.
#[derive(Debug)]
pub struct AiState {
    config: AiConfig,
    providers: BTreeMap<String, Provider>,
    ledger: Ledger,
    meter: Meter,
    history: History,
}

impl AiState {
    /// The state for `config`, recording in `ledger`.
    ///
    /// # Errors
    /// With a provider called over `https://`, when the providers' HTTP client cannot be built
    /// (no root certificates can be read).
    pub fn new(config: AiConfig, ledger: Ledger) -> Result<Self, String> {
        // No client without a provider to call: a system without roots serves the rest.
        let mut providers = BTreeMap::new();
        if !config.providers.is_empty() {
            // Root certificates are read only when a provider is called over TLS.
            let http = provider::http_client(config.providers.values().map(|p| &*p.base_url))?;
            for (name, p) in &config.providers {
                let client = Provider::of_kind(
                    p.kind,
                    name.clone(),
                    http.clone(),
                    &p.base_url,
                    p.api_key.clone(),
                );
                providers.insert(name.clone(), client);
            }
        }
        let meter = Meter::new(ledger.clone(), &config);
        let history = History::new(ledger.pool().clone());
        Ok(AiState {
            config,
            providers,
            ledger,
            meter,
            history,
        })
    }

    /// Counts every charged call's tokens and cost by model in `metrics` (see
    /// [`metrics::AiMetrics`]).
    pub fn count_in(&mut self, metrics: &plugin_routes::Metrics) {
        let models = self.config.models.iter().map(|m| m.name.as_str());
        self.meter
            .count_in(metrics::AiMetrics::register(metrics, models));
    }

    /// The meter charging callers' model calls to this plugin's ledger, within its budgets:
    /// for another plugin that asks a model on a caller's behalf, so that `GET /usage` shows
    /// those calls and the same budgets bound them.
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// The values of the placeholder `{provider}` in the plugin's permissions: each provider's
    /// base URL (a placeholder given no value when none is configured). Give them to the plugin:
    /// `AiPlugin::new(state).with_placeholders(&placeholders)`; its start hook does.
    pub fn placeholders(&self) -> Placeholders {
        let mut placeholders = Placeholders::new();
        placeholders.insert_none("provider");
        for p in self.providers.values() {
            placeholders.insert("provider", p.endpoint());
        }
        placeholders
    }

    /// The configuration in force.
    pub fn config(&self) -> &AiConfig {
        &self.config
    }
}

/// The start hook: checks the settings into an [`AiConfig`] and opens the ledger in the host's
/// database. Without a provider the plugin still starts (generating answers
/// `503 PROVIDER_NOT_CONFIGURED`), unless `AI_REQUIRED` is set.
///
/// # Errors
/// Settings that do not hold together, a provider required and none configured, a database that
/// cannot be opened.
pub async fn start(
    settings: AiSettings,
    cx: &mut Starting<'_>,
) -> Result<AiState, Box<dyn std::error::Error + Send + Sync>> {
    let required = settings.required;
    let config = AiConfig::from_settings(settings)?;
    if config.is_configured() {
        let models: Vec<&str> = config.models.iter().map(|m| m.name.as_str()).collect();
        tracing::info!(models = %models.join(", "), "the AI plugin's models");
    } else if required {
        return Err(NO_PROVIDER.into());
    } else {
        tracing::info!("{NO_PROVIDER}: /v1/plugins/ai answers 503 PROVIDER_NOT_CONFIGURED");
    }
    let db = cx.require::<Database>()?;
    let ledger = Ledger::open(db.pool.clone(), &db.url).await?;
    let mut state = AiState::new(config, ledger)?;
    // The server's metrics, when the host provides them: tokens and cost by model.
    if let Some(metrics) = cx.get::<plugin_routes::Metrics>() {
        state.count_in(metrics);
    }
    cx.placeholders(&state.placeholders());
    Ok(state)
}

/// What is said when no provider is configured.
pub const NO_PROVIDER: &str = "no AI provider is configured: set AI_OPENAI_API_KEY, AI_ANTHROPIC_API_KEY, AI_OLLAMA_MODEL or providers in AI_CONFIG";

/// Text generation and embeddings through the configured providers (OpenAI-compatible or
/// Anthropic): whole or streamed, with why each answer stopped, usage, cost, per-caller budgets
/// and rate limits, and a history each caller owns.
#[plugin(
    name = "ai",
    version = "1.0.0",
    state = AiState,
    config = AiSettings,
    start = start,
    security(user, token, oauth),
    permissions(net("{provider}")),
    scopes("ai:read"),
    routes(
        routes::generate::generate,
        routes::generate::generate_stream,
        routes::generate::generation,
        routes::embeddings::embeddings,
        routes::account::list_models,
        routes::account::usage,
        routes::history::list_history,
        routes::history::get_history,
        routes::history::delete_history,
    )
)]
pub struct AiPlugin;
