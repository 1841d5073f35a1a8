//! The items plugin: a small CRUD API under `/v1/plugins/items`, persisted in SQLite.
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

use plugin_runtime::plugin;

/// The items plugin. Mount it with `plugins![ItemsPlugin::new(state)]`.
#[plugin(
    name = "items",
    version = "1.0.0",
    state = ItemsState,
    timeout_ms = 30_000,
    routes(
        routes::list_items,
        routes::get_item,
        routes::create_item,
        routes::update_item,
        routes::delete_item,
    ),
)]
pub struct ItemsPlugin;
