//! Which models exist, which provider serves each, where the providers are, their keys and the
//! prices, and the callers' budgets: the plugin's typed configuration ([`AiSettings`], variables
//! `AI_*` or a file), checked at start into an [`AiConfig`]. API keys are [`Secret`]s: never
//! logged, serialized or put in an error.

use crate::cost::{Pico, Prices};
use plugin_runtime::config::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The seed system's default budgets: $10 a day and $100 a month per caller.
pub const DAILY_BUDGET_USD: f64 = 10.0;
/// See [`DAILY_BUDGET_USD`].
pub const MONTHLY_BUDGET_USD: f64 = 100.0;

/// The plugin's configuration, as checked.
#[derive(Clone, Debug)]
pub struct AiConfig {
    /// Where each provider is, by name.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// The models, in the order listed.
    pub models: Vec<ModelConfig>,
    /// The model used when a request names none.
    pub default_model: Option<String>,
    /// What each caller may spend per UTC day.
    pub daily_budget: Pico,
    /// What each caller may spend per UTC month.
    pub monthly_budget: Pico,
}

/// One provider: an OpenAI-compatible chat-completions API.
#[derive(Clone)]
pub struct ProviderConfig {
    /// Its base URL, up to and including `/v1` (`https://api.openai.com/v1`,
    /// `http://127.0.0.1:11434/v1` for Ollama).
    pub base_url: String,
    /// The key sent as `Authorization: Bearer` (from `AI_PROVIDERS__<NAME>__API_KEY`, say).
    pub api_key: Option<String>,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// One model.
#[derive(Clone, Debug)]
pub struct ModelConfig {
    /// The name clients ask for and the provider is sent.
    pub name: String,
    /// The provider serving it.
    pub provider: String,
    /// Its prices.
    pub prices: Prices,
}

/// A configuration that cannot be used, said so that the file can be mended.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AI configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The plugin's settings as read at start (variables `AI_*`, or the file `AI_CONFIG` names, or an
/// `[ai]` table of a shared file), checked into an [`AiConfig`] by the start hook.
///
/// | variable | setting |
/// |---|---|
/// | `AI_CONFIG` | a TOML or JSON file with the settings below (providers and models are easier there) |
/// | `AI_PROVIDERS__<NAME>__BASE_URL`, `AI_PROVIDERS__<NAME>__API_KEY` | a provider (an OpenAI-compatible API) |
/// | `AI_OPENAI_API_KEY`, `AI_OPENAI_BASE_URL`, `AI_OPENAI_MODEL` | OpenAI (`gpt-4o-mini` at $0.15 / $0.60 per million tokens by default) |
/// | `AI_OLLAMA_MODEL`, `AI_OLLAMA_BASE_URL` | a local model, free (`http://127.0.0.1:11434/v1` by default) |
/// | `AI_DEFAULT_MODEL` | the model used when a request names none (the first by default) |
/// | `AI_DAILY_BUDGET_USD`, `AI_MONTHLY_BUDGET_USD` | what each caller may spend ($10 and $100) |
/// | `AI_REQUIRED` | `true`: refuse to start without a provider |
#[derive(Debug, Default, Deserialize, garde::Validate, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AiSettings {
    /// Providers by name.
    #[serde(default)]
    #[garde(dive)]
    pub providers: BTreeMap<String, ProviderSettings>,
    /// The models, in order.
    #[serde(default)]
    #[garde(dive)]
    pub models: Vec<ModelSettings>,
    /// The model used when a request names none; the first by default.
    #[garde(inner(length(min = 1)))]
    pub default_model: Option<String>,
    /// What each caller may spend per UTC day, in USD.
    #[garde(inner(range(min = 0.0, max = 1_000_000.0)))]
    pub daily_budget_usd: Option<f64>,
    /// What each caller may spend per UTC month, in USD.
    #[garde(inner(range(min = 0.0, max = 1_000_000.0)))]
    pub monthly_budget_usd: Option<f64>,
    /// OpenAI's key: configures provider `openai` with model `openai_model`.
    #[garde(skip)]
    pub openai_api_key: Option<Secret<String>>,
    /// OpenAI's base URL (`https://api.openai.com/v1` by default).
    #[garde(inner(custom(http_url)))]
    pub openai_base_url: Option<String>,
    /// The OpenAI model (`gpt-4o-mini` by default; another costs $0 unless a file prices it).
    #[garde(inner(length(min = 1)))]
    pub openai_model: Option<String>,
    /// A local Ollama model: configures provider `ollama`.
    #[garde(inner(length(min = 1)))]
    pub ollama_model: Option<String>,
    /// Ollama's base URL (`http://127.0.0.1:11434/v1` by default).
    #[garde(inner(custom(http_url)))]
    pub ollama_base_url: Option<String>,
    /// Whether the server must have a provider: without one, the plugin refuses to start.
    #[serde(default)]
    #[garde(skip)]
    pub required: bool,
}

/// One provider: an OpenAI-compatible chat-completions API.
#[derive(Debug, Deserialize, garde::Validate, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Its base URL, up to and including `/v1`.
    #[garde(custom(http_url))]
    pub base_url: String,
    /// The key sent as `Authorization: Bearer`.
    #[garde(skip)]
    pub api_key: Option<Secret<String>>,
}

/// One model and its prices.
#[derive(Debug, Deserialize, garde::Validate, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    /// The name clients ask for and the provider is sent.
    #[garde(length(min = 1, max = 200))]
    pub name: String,
    /// The provider serving it.
    #[garde(length(min = 1))]
    pub provider: String,
    /// USD per million input tokens.
    #[serde(default)]
    #[garde(range(min = 0.0, max = 1_000_000.0))]
    pub input_per_million_usd: f64,
    /// USD per million output tokens.
    #[serde(default)]
    #[garde(range(min = 0.0, max = 1_000_000.0))]
    pub output_per_million_usd: f64,
}

fn http_url(url: &str, (): &()) -> garde::Result {
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return Err(garde::Error::new("must be an http:// or https:// URL"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') || url.contains(['\\', ' ']) {
        // Credentials go in `api_key`, never in the URL, which is logged and documented.
        return Err(garde::Error::new(
            "must name a host, without credentials, spaces or backslashes",
        ));
    }
    Ok(())
}

impl AiConfig {
    /// No provider: the plugin mounts and answers `503 PROVIDER_NOT_CONFIGURED`.
    pub fn none() -> Self {
        AiConfig {
            providers: BTreeMap::new(),
            models: Vec::new(),
            default_model: None,
            daily_budget: Pico::from_usd(DAILY_BUDGET_USD).unwrap_or_default(),
            monthly_budget: Pico::from_usd(MONTHLY_BUDGET_USD).unwrap_or_default(),
        }
    }

    /// A settings file's text (JSON) checked into a configuration: for tests and tools.
    ///
    /// # Errors
    /// As [`AiConfig::from_settings`], or JSON that is not [`AiSettings`].
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        // serde_json's messages quote the value at fault, which may be a key: only where.
        let settings: AiSettings = serde_json::from_str(text).map_err(|e| {
            ConfigError(format!(
                "the file: not valid settings at line {}, column {}",
                e.line(),
                e.column()
            ))
        })?;
        Self::from_settings(settings)
    }

    /// Checks what the settings' types cannot: every model's provider exists, the default model
    /// is among the models, prices and budgets are amounts.
    ///
    /// # Errors
    /// A model of an unknown provider, an unknown default model, a bad price or budget.
    pub fn from_settings(s: AiSettings) -> Result<Self, ConfigError> {
        let mut config = AiConfig::none();
        for (name, p) in s.providers {
            config.providers.insert(
                name,
                ProviderConfig {
                    base_url: p.base_url.trim_end_matches('/').to_owned(),
                    api_key: p.api_key.map(Secret::into_inner),
                },
            );
        }
        for m in s.models {
            if !config.providers.contains_key(&m.provider) {
                return Err(ConfigError(format!(
                    "model `{}` names provider `{}`, which is not among the providers",
                    m.name, m.provider
                )));
            }
            let prices = Prices::per_million_usd(m.input_per_million_usd, m.output_per_million_usd)
                .ok_or_else(|| ConfigError(format!("model `{}` has a bad price", m.name)))?;
            config.models.push(ModelConfig {
                name: m.name,
                provider: m.provider,
                prices,
            });
        }
        if let Some(key) = s.openai_api_key {
            let base = s
                .openai_base_url
                .unwrap_or_else(|| "https://api.openai.com/v1".into());
            config.providers.insert(
                "openai".into(),
                ProviderConfig {
                    base_url: base.trim_end_matches('/').to_owned(),
                    api_key: Some(key.into_inner()),
                },
            );
            let (name, prices) = match s.openai_model {
                // Prices of a model named by variable are unknown: configure them in a file.
                Some(m) => (m, Prices::per_million_usd(0.0, 0.0)),
                None => ("gpt-4o-mini".into(), Prices::per_million_usd(0.15, 0.60)),
            };
            config.models.push(ModelConfig {
                name,
                provider: "openai".into(),
                prices: prices.ok_or_else(|| ConfigError("bad built-in price".into()))?,
            });
        }
        if let Some(model) = s.ollama_model {
            let base = s
                .ollama_base_url
                .unwrap_or_else(|| "http://127.0.0.1:11434/v1".into());
            config.providers.insert(
                "ollama".into(),
                ProviderConfig {
                    base_url: base.trim_end_matches('/').to_owned(),
                    api_key: None,
                },
            );
            config.models.push(ModelConfig {
                name: model,
                provider: "ollama".into(),
                prices: Prices::per_million_usd(0.0, 0.0)
                    .ok_or_else(|| ConfigError("bad built-in price".into()))?,
            });
        }
        config.default_model = s
            .default_model
            .or_else(|| config.models.first().map(|m| m.name.clone()));
        if let Some(d) = &config.default_model
            && config.model(d).is_none()
        {
            return Err(ConfigError(format!(
                "the default model `{d}` is not among the models"
            )));
        }
        if let Some(d) = s.daily_budget_usd {
            config.daily_budget = budget("AI_DAILY_BUDGET_USD", d)?;
        }
        if let Some(m) = s.monthly_budget_usd {
            config.monthly_budget = budget("AI_MONTHLY_BUDGET_USD", m)?;
        }
        Ok(config)
    }

    /// The model named `name`.
    pub fn model(&self, name: &str) -> Option<&ModelConfig> {
        self.models.iter().find(|m| m.name == name)
    }

    /// Whether any model can be used.
    pub fn is_configured(&self) -> bool {
        !self.models.is_empty()
    }
}

fn budget(what: &str, usd: f64) -> Result<Pico, ConfigError> {
    Pico::from_usd(usd).ok_or_else(|| ConfigError(format!("{what} must be an amount in USD")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_checks_its_models_and_never_prints_a_key() {
        let text = r#"{
            "providers": {"openai": {"base_url": "https://api.openai.com/v1/", "api_key": "sk-secret"}},
            "models": [{"name": "gpt-4o-mini", "provider": "openai", "input_per_million_usd": 0.15, "output_per_million_usd": 0.6}],
            "daily_budget_usd": 2.5
        }"#;
        let c = AiConfig::from_json(text).unwrap();
        assert_eq!(c.providers["openai"].base_url, "https://api.openai.com/v1");
        assert_eq!(c.default_model.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(c.daily_budget, Pico::from_usd(2.5).unwrap());
        assert_eq!(c.monthly_budget, Pico::from_usd(100.0).unwrap());
        assert!(
            !format!("{c:?}").contains("sk-secret"),
            "the key is never printed"
        );
        let settings: AiSettings = serde_json::from_str(text).unwrap();
        assert!(!format!("{settings:?}").contains("sk-secret"));
    }

    #[test]
    fn a_model_of_an_unknown_provider_is_refused() {
        let text = r#"{"models": [{"name": "m", "provider": "nowhere"}]}"#;
        let e = AiConfig::from_json(text).unwrap_err();
        assert!(e.0.contains("`nowhere`"), "{e}");
    }

    #[test]
    fn shortcuts_configure_ollama_and_openai() {
        let c = AiConfig::from_settings(AiSettings {
            ollama_model: Some("llama3.2".into()),
            ..AiSettings::default()
        })
        .unwrap();
        assert_eq!(c.providers["ollama"].base_url, "http://127.0.0.1:11434/v1");
        assert_eq!(c.default_model.as_deref(), Some("llama3.2"));
        let c = AiConfig::from_settings(AiSettings {
            openai_api_key: Some(Secret::new("sk-x".into())),
            daily_budget_usd: Some(1.0),
            ..AiSettings::default()
        })
        .unwrap();
        assert_eq!(c.model("gpt-4o-mini").unwrap().provider, "openai");
        assert_eq!(c.daily_budget, Pico::from_usd(1.0).unwrap());
        assert!(
            !AiConfig::from_settings(AiSettings::default())
                .unwrap()
                .is_configured()
        );
    }
}
