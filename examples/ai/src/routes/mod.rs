//! The routes, their inputs and outputs. Each failure is a declared code, mapped from what
//! happened: the model unknown, no provider configured, the budget spent, the provider rate
//! limiting or overloaded (its `Retry-After` passed on) or failing in any other way.
//!
//! The routes that ask a provider (`POST /generate`, `POST /generate/stream`,
//! `POST /embeddings`) declare the rate-limit policy `generations`: 50 a minute per caller on
//! each route, the seed's tier for writes. A server changes it with
//! `ServerConfig::with_rate_limit_override("ai", policy)` (in `example-server`,
//! `--rate-limit ai.generations=100/1m`); the documents show what is in force.

/// The rate-limit policy of the routes that ask a provider: 50 a minute per caller. Their
/// `rate_limit(generations(50, per = "1m"))` must say the same (an attribute takes a literal);
/// the tests check the documents against this.
pub const GENERATIONS_PER_MINUTE: u32 = 50;

/// What is said when no provider is configured.
pub(crate) const NOT_CONFIGURED: &str = "no AI provider is configured on this server: set AI_OPENAI_API_KEY, AI_ANTHROPIC_API_KEY, AI_OLLAMA_MODEL or providers in AI_CONFIG";

/// Why a call to a provider cannot go ahead, before the handler turns it into its declared
/// code.
pub(crate) enum Refusal {
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
            $crate::routes::Refusal::NotConfigured => {
                route_error!(PROVIDER_NOT_CONFIGURED, "{}", $crate::routes::NOT_CONFIGURED)
            }
            $crate::routes::Refusal::UnknownModel(m) => {
                route_error!(MODEL_NOT_FOUND, "{m}; GET /v1/plugins/ai/models lists them")
            }
            $crate::routes::Refusal::Over(over) => route_error!(
                QUOTA_EXCEEDED,
                "this call could cost more than is left of your {} budget",
                over.as_str()
            )
            .with_details(serde_json::json!({"budget": over.as_str()})),
            $crate::routes::Refusal::Upstream($crate::provider::UpstreamError::RateLimited { retry_after }) => {
                let error = route_error!(
                    UPSTREAM_RATE_LIMITED,
                    "the provider is rate limiting; try again later"
                );
                match retry_after {
                    Some(s) => error.with_details(serde_json::json!({"retryAfterSeconds": s})),
                    None => error,
                }
            }
            $crate::routes::Refusal::Upstream($crate::provider::UpstreamError::Overloaded { retry_after }) => {
                let error = route_error!(
                    UPSTREAM_OVERLOADED,
                    "the provider is overloaded; try again later"
                );
                match retry_after {
                    Some(s) => error.with_details(serde_json::json!({"retryAfterSeconds": s})),
                    None => error,
                }
            }
            $crate::routes::Refusal::Upstream(e) => route_error!(LLM_FAILED, "{e}"),
        }
    };
}

/// [`crate::meter::MeterError`] as the route's declared error.
macro_rules! metered {
    ($error:expr) => {
        match $error {
            $crate::meter::MeterError::Over(over) => {
                refuse!($crate::routes::Refusal::Over(over))
            }
            $crate::meter::MeterError::Upstream(e) => {
                refuse!($crate::routes::Refusal::Upstream(e))
            }
            $crate::meter::MeterError::Internal(e) => plugin_routes::RouteError::internal(e),
        }
    };
}

pub(crate) mod account;
pub(crate) mod embeddings;
pub(crate) mod generate;
pub(crate) mod history;

pub use account::{ModelInfo, ModelKind, Models, PeriodUsage, UsageReport};
pub use embeddings::{EmbeddingsRequest, EmbeddingsResponse};
pub use generate::{GenerateEvent, GenerateRequest, GenerateResponse, Summary};
pub use history::{HistoryPage, HistoryQuery};

use crate::ledger::Over;
use crate::provider::UpstreamError;
