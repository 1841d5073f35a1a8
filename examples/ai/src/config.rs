//! Which models exist, which provider serves each, where the providers are, their keys and the
//! prices, and the callers' budgets: read from a JSON file (`AI_CONFIG`) or, for the common
//! cases, from environment variables alone. API keys are only ever named here (the variable
//! that holds them), read from the environment when the server starts, and never logged,
//! serialized or put in an error.

use crate::cost::{Pico, Prices};
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
    /// The key sent as `Authorization: Bearer`, read from the variable the file names.
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct File {
    #[serde(default)]
    providers: BTreeMap<String, FileProvider>,
    #[serde(default)]
    models: Vec<FileModel>,
    default_model: Option<String>,
    #[serde(default)]
    budget: FileBudget,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileProvider {
    base_url: String,
    /// The environment variable holding the key; never the key itself.
    api_key_env: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileModel {
    name: String,
    provider: String,
    #[serde(default)]
    input_per_million_usd: f64,
    #[serde(default)]
    output_per_million_usd: f64,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct FileBudget {
    daily_usd: Option<f64>,
    monthly_usd: Option<f64>,
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

    /// Reads the configuration from the environment, through `var`:
    ///
    /// - `AI_CONFIG`: a JSON file (see the README); nothing else is read but the key
    ///   variables it names and the budget variables.
    /// - otherwise `OPENAI_API_KEY` (with `OPENAI_BASE_URL` and `OPENAI_MODEL`, by default
    ///   `https://api.openai.com/v1` and `gpt-4o-mini` at $0.15 / $0.60 per million tokens),
    ///   and/or `OLLAMA_MODEL` (with `OLLAMA_BASE_URL`, by default `http://127.0.0.1:11434/v1`,
    ///   free).
    /// - `AI_DAILY_BUDGET_USD` and `AI_MONTHLY_BUDGET_USD` override the budgets ($10 and $100).
    ///
    /// # Errors
    /// An unreadable or malformed file, a model of an unknown provider, a key variable that is
    /// not set, a bad price or budget.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = match var("AI_CONFIG") {
            Some(path) => {
                #[expect(
                    clippy::disallowed_methods,
                    reason = "the server's own configuration file, read once at start before any route runs"
                )]
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| ConfigError(format!("cannot read {path}: {e}")))?;
                Self::from_json(&text, &var)?
            }
            None => Self::from_shortcuts(&var)?,
        };
        if let Some(v) = var("AI_DAILY_BUDGET_USD") {
            config.daily_budget = budget("AI_DAILY_BUDGET_USD", &v)?;
        }
        if let Some(v) = var("AI_MONTHLY_BUDGET_USD") {
            config.monthly_budget = budget("AI_MONTHLY_BUDGET_USD", &v)?;
        }
        Ok(config)
    }

    /// Parses a configuration file's text; `var` reads the key variables it names.
    ///
    /// # Errors
    /// As [`AiConfig::from_env`].
    pub fn from_json(
        text: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let file: File =
            serde_json::from_str(text).map_err(|e| ConfigError(format!("the file: {e}")))?;
        let mut config = AiConfig::none();
        for (name, p) in file.providers {
            let api_key = match &p.api_key_env {
                Some(env) => Some(var(env).ok_or_else(|| {
                    ConfigError(format!(
                        "provider `{name}` takes its key from ${env}, which is not set"
                    ))
                })?),
                None => None,
            };
            config.providers.insert(
                name,
                ProviderConfig {
                    base_url: p.base_url.trim_end_matches('/').to_owned(),
                    api_key,
                },
            );
        }
        for m in file.models {
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
        config.default_model = file
            .default_model
            .or_else(|| config.models.first().map(|m| m.name.clone()));
        if let Some(d) = &config.default_model
            && config.model(d).is_none()
        {
            return Err(ConfigError(format!(
                "the default model `{d}` is not among the models"
            )));
        }
        if let Some(d) = file.budget.daily_usd {
            config.daily_budget = budget("budget.dailyUsd", &d.to_string())?;
        }
        if let Some(m) = file.budget.monthly_usd {
            config.monthly_budget = budget("budget.monthlyUsd", &m.to_string())?;
        }
        Ok(config)
    }

    fn from_shortcuts(var: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = AiConfig::none();
        if let Some(key) = var("OPENAI_API_KEY") {
            let base = var("OPENAI_BASE_URL").unwrap_or_else(|| "https://api.openai.com/v1".into());
            config.providers.insert(
                "openai".into(),
                ProviderConfig {
                    base_url: base.trim_end_matches('/').to_owned(),
                    api_key: Some(key),
                },
            );
            let (name, prices) = match var("OPENAI_MODEL") {
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
        if let Some(model) = var("OLLAMA_MODEL") {
            let base = var("OLLAMA_BASE_URL").unwrap_or_else(|| "http://127.0.0.1:11434/v1".into());
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
        config.default_model = config.models.first().map(|m| m.name.clone());
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

fn budget(what: &str, v: &str) -> Result<Pico, ConfigError> {
    v.trim()
        .parse::<f64>()
        .ok()
        .and_then(Pico::from_usd)
        .ok_or_else(|| ConfigError(format!("{what} must be an amount in USD, not `{v}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn a_file_names_keys_by_variable_and_checks_its_models() {
        let text = r#"{
            "providers": {"openai": {"baseUrl": "https://api.openai.com/v1/", "apiKeyEnv": "MY_KEY"}},
            "models": [{"name": "gpt-4o-mini", "provider": "openai", "inputPerMillionUsd": 0.15, "outputPerMillionUsd": 0.6}],
            "budget": {"dailyUsd": 2.5}
        }"#;
        let c = AiConfig::from_json(text, vars(&[("MY_KEY", "sk-secret")])).unwrap();
        assert_eq!(c.providers["openai"].base_url, "https://api.openai.com/v1");
        assert_eq!(c.default_model.as_deref(), Some("gpt-4o-mini"));
        assert_eq!(c.daily_budget, Pico::from_usd(2.5).unwrap());
        assert_eq!(c.monthly_budget, Pico::from_usd(100.0).unwrap());
        assert!(
            !format!("{c:?}").contains("sk-secret"),
            "the key is never printed"
        );
        let missing = AiConfig::from_json(text, vars(&[])).unwrap_err();
        assert!(missing.0.contains("$MY_KEY"), "{missing}");
        assert!(!missing.0.contains("sk-"), "{missing}");
    }

    #[test]
    fn a_model_of_an_unknown_provider_is_refused() {
        let text = r#"{"models": [{"name": "m", "provider": "nowhere"}]}"#;
        let e = AiConfig::from_json(text, vars(&[])).unwrap_err();
        assert!(e.0.contains("`nowhere`"), "{e}");
    }

    #[test]
    fn shortcuts_configure_ollama_and_openai() {
        let c = AiConfig::from_env(vars(&[("OLLAMA_MODEL", "llama3.2")])).unwrap();
        assert_eq!(c.providers["ollama"].base_url, "http://127.0.0.1:11434/v1");
        assert_eq!(c.default_model.as_deref(), Some("llama3.2"));
        let c = AiConfig::from_env(vars(&[
            ("OPENAI_API_KEY", "sk-x"),
            ("AI_DAILY_BUDGET_USD", "1"),
        ]))
        .unwrap();
        assert_eq!(c.model("gpt-4o-mini").unwrap().provider, "openai");
        assert_eq!(c.daily_budget, Pico::from_usd(1.0).unwrap());
        assert!(!AiConfig::from_env(vars(&[])).unwrap().is_configured());
    }
}
