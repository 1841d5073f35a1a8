//! The items plugin: a small CRUD API under `/v1/plugins/items`, persisted in SQLite (or
//! PostgreSQL). Every route needs a session, an API key or an OAuth token with `items:read`;
//! writes need `items:write` too. Items belong to the user who created them.
//!
//! | route | does |
//! |---|---|
//! | `GET /items?page=1&limit=20&filter=active` | one page of items, newest first |
//! | `GET /items/{id}` | one item, or `404 ITEM_NOT_FOUND` |
//! | `POST /items` | creates one (`201`), or `409 ITEM_EXISTS` for a name in use |
//! | `PATCH /items/{id}` | changes name and/or status |
//! | `DELETE /items/{id}` | deletes one (`204`) |

mod model;
pub mod routes;
mod store;

pub use model::{CreateItem, Item, ItemPage, ItemStatus, ListQuery, Pagination, UpdateItem};
pub use store::{ItemsState, StoreError};

use ai_plugin::{AiPlugin, AiState};
use commit_plugin::{CommitPlugin, CommitState};
use plugin_routes::auth::{Auth, AuthRoutes, SettingsPage};
use plugin_routes::{App, ServerConfig, app, plugin};

/// The server's settings: the defaults, with the API's name and version in the documents.
pub fn config() -> ServerConfig {
    ServerConfig::default().with_api_info("Items example", env!("CARGO_PKG_VERSION"))
}

/// What `example-server` serves: the items plugin under `/v1/plugins/items`, the AI plugin under
/// `/v1/plugins/ai`, the commit plugin under `/v1/plugins/commit` when a repository is given
/// (without one it is neither served nor documented), the auth routes under `/v1/auth` and the
/// settings page, the OpenAPI documents and Swagger UI at `/docs`.
pub fn app(
    state: ItemsState,
    ai: AiState,
    commit: Option<CommitState>,
    auth: &Auth,
) -> axum::Router {
    app_with(state, ai, commit, auth, config())
}

/// [`app`] with other settings: where quotas are counted, say.
pub fn app_with(
    state: ItemsState,
    ai: AiState,
    commit: Option<CommitState>,
    auth: &Auth,
    config: ServerConfig,
) -> axum::Router {
    let commit = commit.map(|commit| {
        let placeholders = commit.placeholders();
        CommitPlugin::new(commit).with_placeholders(&placeholders)
    });
    let ai_placeholders = ai.placeholders();
    app_of(
        state,
        AiPlugin::new(ai).with_placeholders(&ai_placeholders),
        commit,
        auth,
        config,
    )
}

/// [`app_with`] from plugins already made: started through their hooks, as `example-server`
/// does.
pub fn app_of(
    state: ItemsState,
    ai: AiPlugin,
    commit: Option<CommitPlugin>,
    auth: &Auth,
    config: ServerConfig,
) -> axum::Router {
    assembled(state, ai, commit, auth, config).into_router()
}

/// [`app_of`] as the assembled [`App`]: the router, and the documents and manifest it serves
/// (`example-server openapi` writes them).
pub fn assembled(
    state: ItemsState,
    ai: AiPlugin,
    commit: Option<CommitPlugin>,
    auth: &Auth,
    config: ServerConfig,
) -> App {
    // One list, assembled with or without the commit plugin.
    macro_rules! assemble {
        ($($more:tt)*) => {
            app![
                config = config;
                auth = auth.clone();
                AuthRoutes::new(auth.clone()),
                SettingsPage::new(),
                ItemsPlugin::new(state),
                ai: AiPlugin
                $($more)*
            ]
        };
    }
    match commit {
        Some(commit) => assemble!(, commit: CommitPlugin),
        None => assemble!(),
    }
}

/// Items that people keep: create, list, rename, archive and delete them.
#[plugin(
    name = "items",
    version = "1.0.0",
    state = ItemsState,
    timeout_ms = 30_000,
    security(user, token, oauth),
    scopes("items:read"),
    client = ItemsClient,
    routes(
        routes::list_items,
        routes::get_item,
        routes::create_item,
        routes::update_item,
        routes::delete_item,
    ),
)]
pub struct ItemsPlugin;
