//! Which models exist, which provider serves each, where the providers are, their keys and the
//! prices, and the callers' budgets: the plugin's typed configuration ([`AiSettings`], variables
//! `AI_*` or a file), checked at start into an [`AiConfig`]. API keys are [`Secret`]s: never
//! logged, serialized or put in an error.

use crate::cost::{Pico, Prices};
use crate::provider::Kind;
use plugin_routes::config::Secret;
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
    /// The chat model used when a request names none.
    pub default_model: Option<String>,
    /// The embeddings model used when a request names none.
    pub default_embedding_model: Option<String>,
    /// Whether generations are kept in the callers' history unless a request says
    /// `saveHistory: false`.
    pub save_history: bool,
    /// What each caller may spend per UTC day.
    pub daily_budget: Pico,
    /// What each caller may spend per UTC month.
    pub monthly_budget: Pico,
}

/// One provider.
#[derive(Clone)]
pub struct ProviderConfig {
    /// The wire format it speaks.
    pub kind: Kind,
    /// Its base URL, up to and including `/v1` (`https://api.openai.com/v1`,
    /// `http://127.0.0.1:11434/v1` for Ollama).
    pub base_url: String,
    /// The key sent as `Authorization: Bearer` (or Anthropic's `x-api-key`), from
    /// `AI_PROVIDERS__<NAME>__API_KEY`, say.
    pub api_key: Option<String>,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("kind", &self.kind)
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
    /// Whether it makes embeddings (for `POST /embeddings`) rather than text.
    pub embeddings: bool,
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
/// | `AI_PROVIDERS__<NAME>__BASE_URL`, `AI_PROVIDERS__<NAME>__API_KEY`, `AI_PROVIDERS__<NAME>__KIND` | a provider: an OpenAI-compatible API (`openai`, the default) or Anthropic's (`anthropic`) |
/// | `AI_OPENAI_API_KEY`, `AI_OPENAI_BASE_URL`, `AI_OPENAI_MODEL` | OpenAI (`gpt-4o-mini` at $0.15 / $0.60 per million tokens by default, and `text-embedding-3-small` at $0.02) |
/// | `AI_ANTHROPIC_API_KEY`, `AI_ANTHROPIC_BASE_URL`, `AI_ANTHROPIC_MODEL` | Anthropic's Messages API (`claude-haiku-4-5` at $1 / $5 per million tokens by default) |
/// | `AI_OLLAMA_MODEL`, `AI_OLLAMA_BASE_URL` | a local model, free (`http://127.0.0.1:11434/v1` by default) |
/// | `AI_DEFAULT_MODEL`, `AI_DEFAULT_EMBEDDING_MODEL` | the models used when a request names none (the first of each by default) |
/// | `AI_SAVE_HISTORY` | `true`: keep every generation in its caller's history unless the request says `saveHistory: false` (off by default: only when a request asks) |
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
    /// The chat model used when a request names none; the first by default.
    #[garde(length(min = 1))]
    pub default_model: Option<String>,
    /// The embeddings model used when a request names none; the first by default.
    #[garde(length(min = 1))]
    pub default_embedding_model: Option<String>,
    /// Whether every generation is kept in its caller's history unless the request says
    /// `saveHistory: false`; by default only those whose request asks are kept.
    #[serde(default)]
    #[garde(skip)]
    pub save_history: bool,
    /// What each caller may spend per UTC day, in USD.
    #[garde(range(min = 0.0, max = 1_000_000.0))]
    pub daily_budget_usd: Option<f64>,
    /// What each caller may spend per UTC month, in USD.
    #[garde(range(min = 0.0, max = 1_000_000.0))]
    pub monthly_budget_usd: Option<f64>,
    /// OpenAI's key: configures provider `openai` with model `openai_model`.
    #[garde(skip)]
    pub openai_api_key: Option<Secret<String>>,
    /// OpenAI's base URL (`https://api.openai.com/v1` by default).
    #[garde(inner(custom(http_url)))]
    pub openai_base_url: Option<String>,
    /// The OpenAI model (`gpt-4o-mini` by default; another costs $0 unless a file prices it).
    #[garde(length(min = 1))]
    pub openai_model: Option<String>,
    /// Anthropic's key: configures provider `anthropic` with model `anthropic_model`.
    #[garde(skip)]
    pub anthropic_api_key: Option<Secret<String>>,
    /// Anthropic's base URL (`https://api.anthropic.com/v1` by default).
    #[garde(inner(custom(http_url)))]
    pub anthropic_base_url: Option<String>,
    /// The Anthropic model (`claude-haiku-4-5` by default; another costs $0 unless a file
    /// prices it).
    #[garde(length(min = 1))]
    pub anthropic_model: Option<String>,
    /// A local Ollama model: configures provider `ollama`.
    #[garde(length(min = 1))]
    pub ollama_model: Option<String>,
    /// Ollama's base URL (`http://127.0.0.1:11434/v1` by default).
    #[garde(inner(custom(http_url)))]
    pub ollama_base_url: Option<String>,
    /// Whether the server must have a provider: without one, the plugin refuses to start.
    #[serde(default)]
    #[garde(skip)]
    pub required: bool,
}

/// One provider.
#[derive(Debug, Deserialize, garde::Validate, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// The wire format it speaks: `openai` (chat completions and embeddings, as OpenAI, Ollama,
    /// vLLM and LiteLLM speak it; the default) or `anthropic` (the Messages API).
    #[serde(default)]
    #[garde(skip)]
    pub kind: Kind,
    /// Its base URL, up to and including `/v1`.
    #[garde(custom(http_url))]
    pub base_url: String,
    /// The key sent as `Authorization: Bearer` (Anthropic's `x-api-key`).
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
    /// Whether it makes embeddings (`POST /embeddings`) rather than text.
    #[serde(default)]
    #[garde(skip)]
    pub embeddings: bool,
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
            default_embedding_model: None,
            save_history: false,
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
                    kind: p.kind,
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
                embeddings: m.embeddings,
            });
        }
        if let Some(key) = s.openai_api_key {
            let base = s
                .openai_base_url
                .unwrap_or_else(|| "https://api.openai.com/v1".into());
            config.providers.insert(
                "openai".into(),
                ProviderConfig {
                    kind: Kind::Openai,
                    base_url: base.trim_end_matches('/').to_owned(),
                    api_key: Some(key.into_inner()),
                },
            );
            let (name, prices) = match s.openai_model {
                // Prices of a model named by variable are unknown: configure them in a file.
                Some(m) => (m, (0.0, 0.0)),
                None => ("gpt-4o-mini".into(), (0.15, 0.60)),
            };
            config.models.push(built_in(name, "openai", prices, false)?);
            config.models.push(built_in(
                "text-embedding-3-small".into(),
                "openai",
                (0.02, 0.0),
                true,
            )?);
        }
        if let Some(key) = s.anthropic_api_key {
            let base = s
                .anthropic_base_url
                .unwrap_or_else(|| "https://api.anthropic.com/v1".into());
            config.providers.insert(
                "anthropic".into(),
                ProviderConfig {
                    kind: Kind::Anthropic,
                    base_url: base.trim_end_matches('/').to_owned(),
                    api_key: Some(key.into_inner()),
                },
            );
            let (name, prices) = match s.anthropic_model {
                Some(m) => (m, (0.0, 0.0)),
                None => ("claude-haiku-4-5".into(), (1.0, 5.0)),
            };
            config
                .models
                .push(built_in(name, "anthropic", prices, false)?);
        }
        if let Some(model) = s.ollama_model {
            let base = s
                .ollama_base_url
                .unwrap_or_else(|| "http://127.0.0.1:11434/v1".into());
            config.providers.insert(
                "ollama".into(),
                ProviderConfig {
                    kind: Kind::Openai,
                    base_url: base.trim_end_matches('/').to_owned(),
                    api_key: None,
                },
            );
            config
                .models
                .push(built_in(model, "ollama", (0.0, 0.0), false)?);
        }
        let first = |embeddings: bool| {
            config
                .models
                .iter()
                .find(|m| m.embeddings == embeddings)
                .map(|m| m.name.clone())
        };
        config.default_model = s.default_model.or_else(|| first(false));
        config.default_embedding_model = s.default_embedding_model.or_else(|| first(true));
        for (default, embeddings, what) in [
            (&config.default_model, false, "chat"),
            (&config.default_embedding_model, true, "embeddings"),
        ] {
            if let Some(d) = default
                && config.model(d).is_none_or(|m| m.embeddings != embeddings)
            {
                return Err(ConfigError(format!(
                    "the default {what} model `{d}` is not among the {what} models"
                )));
            }
        }
        for m in &config.models {
            if m.embeddings && config.providers[&m.provider].kind == Kind::Anthropic {
                return Err(ConfigError(format!(
                    "model `{}` makes embeddings, which provider `{}` (Anthropic) does not offer",
                    m.name, m.provider
                )));
            }
        }
        config.save_history = s.save_history;
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

/// A model the shortcuts configure, at `(input, output)` USD per million tokens.
fn built_in(
    name: String,
    provider: &str,
    (input, output): (f64, f64),
    embeddings: bool,
) -> Result<ModelConfig, ConfigError> {
    Ok(ModelConfig {
        name,
        provider: provider.into(),
        prices: Prices::per_million_usd(input, output)
            .ok_or_else(|| ConfigError("bad built-in price".into()))?,
        embeddings,
    })
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
