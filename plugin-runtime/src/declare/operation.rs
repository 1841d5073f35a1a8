//! What a client reads of an operation (a route declared `operation`): its state, its last
//! progress, and once it ended its result or error. The server writes these shapes and the
//! typed clients read them, so they live with the declarations both share.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where an operation is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OperationState {
    /// Accepted, waiting for a server to run it.
    Queued,
    /// A server is running it.
    Running,
    /// It ended with its result.
    Succeeded,
    /// It ended with an error: one its route declares, or the framework's.
    Failed,
    /// It was cancelled before it ended.
    Cancelled,
}

#[cfg(feature = "operations")]
impl OperationState {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            OperationState::Queued => "queued",
            OperationState::Running => "running",
            OperationState::Succeeded => "succeeded",
            OperationState::Failed => "failed",
            OperationState::Cancelled => "cancelled",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<OperationState> {
        Some(match s {
            "queued" => OperationState::Queued,
            "running" => OperationState::Running,
            "succeeded" => OperationState::Succeeded,
            "failed" => OperationState::Failed,
            "cancelled" => OperationState::Cancelled,
            _ => return None,
        })
    }
}

impl OperationState {
    /// Whether it has ended (and will not change again).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            OperationState::Succeeded | OperationState::Failed | OperationState::Cancelled
        )
    }
}

/// The last progress an operation reported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Progress {
    /// How much is done, from 0 to 1, when the handler knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fraction: Option<f64>,
    /// What it is doing.
    pub message: String,
}

/// What a typed client reads: an operation whose result is a `T`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Operation<T> {
    /// Its id, the last segment of its URL.
    pub id: String,
    /// Where it is in its life.
    pub state: OperationState,
    /// The last progress it reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// Whether a cancel was asked for (a running operation stops where its server next looks).
    #[serde(default)]
    pub cancel_requested: bool,
    /// When it was accepted (RFC 3339).
    pub created_at: String,
    /// When its last run started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The status the route would have answered had it run within the request, once it ended:
    /// its success status, the status of its error, or 499 when cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The result, when it succeeded: what the route would have answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<T>,
    /// The error, when it failed or was cancelled: the `error` object of the envelope the route
    /// would have answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<serde_json::Value>,
}
