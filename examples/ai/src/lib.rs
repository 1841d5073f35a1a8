//! The AI plugin, mounted under `/v1/plugins/ai`: text generation through OpenAI-compatible
//! providers, whole (`POST /generate`) or streamed as server-sent events
//! (`POST /generate/stream`), with the tokens used and what they cost, per-caller daily and
//! monthly budgets enforced before a provider is asked, and the models and the caller's usage
//! to read (`GET /models`, `GET /usage`).
//!
//! Which providers and models exist comes from [`AiConfig`]; with none configured the plugin
//! still mounts, and generating answers `503 PROVIDER_NOT_CONFIGURED`.

pub mod config;
pub mod cost;
pub mod ledger;
pub mod meter;
pub mod provider;
mod routes;
pub mod sse;

pub use config::AiConfig;
pub use routes::{
    GenerateEvent, GenerateRequest, GenerateResponse, ModelInfo, Models, PeriodUsage, Summary,
    UsageReport,
};

use ledger::Ledger;
use meter::Meter;
use plugin_runtime::plugin;
use provider::Provider;
use std::collections::BTreeMap;

/// The plugin's state: the configuration, a client per provider, the ledger and the meter
/// charging to it.
#[derive(Debug)]
pub struct AiState {
    config: AiConfig,
    providers: BTreeMap<String, Provider>,
    ledger: Ledger,
    meter: Meter,
}

impl AiState {
    /// The state for `config`, recording in `ledger`.
    pub fn new(config: AiConfig, ledger: Ledger) -> Self {
        let http = provider::http_client();
        let providers = config
            .providers
            .iter()
            .map(|(name, p)| {
                let client =
                    Provider::new(name.clone(), http.clone(), &p.base_url, p.api_key.clone());
                (name.clone(), client)
            })
            .collect();
        let meter = Meter::new(ledger.clone(), &config);
        AiState {
            config,
            providers,
            ledger,
            meter,
        }
    }

    /// The meter charging callers' model calls to this plugin's ledger, within its budgets:
    /// for another plugin that asks a model on a caller's behalf, so that `GET /usage` shows
    /// those calls and the same budgets bound them.
    pub fn meter(&self) -> &Meter {
        &self.meter
    }

    /// The configuration in force.
    pub fn config(&self) -> &AiConfig {
        &self.config
    }
}

/// Text generation through the configured providers: whole or streamed, with usage, cost and
/// per-caller budgets.
#[plugin(
    name = "ai",
    version = "1.0.0",
    state = AiState,
    security(user, token, oauth),
    scopes("ai:read"),
    routes(
        routes::generate,
        routes::generate_stream,
        routes::list_models,
        routes::usage,
    )
)]
pub struct AiPlugin;
