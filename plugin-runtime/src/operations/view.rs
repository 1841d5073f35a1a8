//! What a client reads of an operation: its state, its progress and, once it ended, the result
//! or the error its route would have answered. One shape for the answer that starts it (`202`),
//! for `GET` on it and for the end of its event stream.

use super::store::{EventRow, OperationRow};
use crate::declare::{OperationState as State, Progress};
use serde::Serialize;
use serde_json::value::RawValue;

impl From<&EventRow> for Progress {
    fn from(e: &EventRow) -> Self {
        Progress {
            fraction: e.fraction,
            message: e.message.clone(),
        }
    }
}

/// An operation as sent to its client, with its result written in as stored (already JSON).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct View<'a> {
    id: &'a str,
    state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    progress: Option<Progress>,
    cancel_requested: bool,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<String>,
    /// The status the route would have answered, once it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a RawValue>,
}

impl<'a> View<'a> {
    pub(crate) fn of(row: &'a OperationRow) -> Self {
        let raw = |s: &'a Option<String>| {
            s.as_deref()
                .and_then(|s| serde_json::from_str::<&RawValue>(s).ok())
        };
        View {
            id: &row.id,
            state: row.state,
            progress: row.message.as_ref().map(|m| Progress {
                fraction: row.progress,
                message: m.clone(),
            }),
            cancel_requested: row.cancel_requested,
            created_at: crate::database::rfc3339(row.created_at),
            started_at: row.started_at.map(crate::database::rfc3339),
            finished_at: row.finished_at.map(crate::database::rfc3339),
            status: row.status.filter(|_| row.state.is_finished()),
            result: raw(&row.result),
            error: raw(&row.error),
        }
    }

    pub(crate) fn to_json(&self) -> Vec<u8> {
        // Strings, numbers and JSON already parsed: serializing cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}
