//! The caller's history: `GET /history`, `GET /history/{id}`, `DELETE /history/{id}`. Each
//! entry is its caller's alone; another's answers `404` as if it did not exist.

use crate::AiState;
use crate::history::HistoryEntry;
use plugin_routes::RouteError;
use plugin_routes::prelude::*;

/// What `GET /history` takes.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// How many entries, 1 to 100.
    #[garde(range(min = 1, max = 100))]
    #[serde(default = "default_limit")]
    #[schemars(default = "default_limit")]
    pub limit: u32,
    /// Only entries older than this one: the `next` of the page before.
    #[garde(length(min = 1, max = 100))]
    pub before: Option<String>,
}

fn default_limit() -> u32 {
    20
}

/// A page of your history, newest first.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPage {
    /// The entries.
    pub entries: Vec<HistoryEntry>,
    /// Pass as `before` for the next page; absent when the page has fewer than `limit` entries
    /// (a full last page has it, and the page after it is empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Your history
///
/// The generations you kept (`saveHistory`, or every one if the server is configured so),
/// newest first, secrets removed from their prompts and answers.
#[plugin_route(
    method = "GET",
    path = "/history",
    errors(HISTORY_NOT_FOUND = (404, "`before` names no entry of your history"))
)]
pub(crate) async fn list_history(
    ctx: Ctx<AiState>,
    query: HistoryQuery,
) -> RouteResult<HistoryPage> {
    let caller = ctx.caller()?.user_id();
    let limit = query.limit;
    let entries = ctx
        .history
        .list(caller, limit, query.before.as_deref())
        .await
        .map_err(RouteError::internal)?
        .ok_or_else(|| {
            route_error!(HISTORY_NOT_FOUND, "`before` names no entry of your history")
        })?;
    let next = (entries.len() == limit as usize)
        .then(|| entries.last().map(|e| e.id.clone()))
        .flatten();
    Ok(HistoryPage { entries, next })
}

/// One entry of your history
///
/// A generation you kept, secrets removed.
#[plugin_route(
    method = "GET",
    path = "/history/{id}",
    errors(HISTORY_NOT_FOUND = (404, "you have no entry with this id"))
)]
pub(crate) async fn get_history(ctx: Ctx<AiState>, id: String) -> RouteResult<HistoryEntry> {
    let caller = ctx.caller()?.user_id();
    ctx.history
        .get(caller, &id)
        .await
        .map_err(RouteError::internal)?
        .ok_or_else(|| route_error!(HISTORY_NOT_FOUND, "you have no entry `{id}`"))
}

/// Delete an entry of your history
///
/// Forgets a generation you kept. What it cost stays in your usage. Needs `ai:generate`, as
/// keeping one does.
#[plugin_route(
    method = "DELETE",
    path = "/history/{id}",
    status = 204,
    scopes("ai:generate"),
    errors(HISTORY_NOT_FOUND = (404, "you have no entry with this id"))
)]
pub(crate) async fn delete_history(ctx: Ctx<AiState>, id: String) -> RouteResult<()> {
    let caller = ctx.caller()?.user_id();
    if ctx
        .history
        .delete(caller, &id)
        .await
        .map_err(RouteError::internal)?
    {
        Ok(())
    } else {
        Err(route_error!(HISTORY_NOT_FOUND, "you have no entry `{id}`"))
    }
}
