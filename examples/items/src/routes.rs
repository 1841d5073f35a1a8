//! The items routes: each validates nothing by hand (the attribute does) and returns only the
//! error codes it declares.

use crate::model::{CreateItem, Item, ItemPage, ListQuery, Pagination, UpdateItem};
use crate::store::{ItemsState, StoreError};
use plugin_runtime::prelude::*;

/// List items, newest first, one page at a time.
#[plugin_route(method = "GET", path = "/items")]
pub async fn list_items(ctx: Ctx<ItemsState>, query: ListQuery) -> RouteResult<ItemPage> {
    let (items, total) = ctx.list(query.page, query.limit, query.filter).await?;
    Ok(ItemPage {
        items,
        pagination: Pagination {
            page: query.page,
            limit: query.limit,
            total,
        },
    })
}

/// Get one item.
#[plugin_route(method = "GET", path = "/items/{id}", errors(ITEM_NOT_FOUND = (404, "no item has this id")))]
pub async fn get_item(ctx: Ctx<ItemsState>, id: i64) -> RouteResult<Item> {
    match ctx.get(id).await? {
        Some(item) => Ok(item),
        None => Err(route_error!(ITEM_NOT_FOUND, "no item has id {id}")),
    }
}

/// Create an item.
#[plugin_route(
    method = "POST",
    path = "/items",
    status = 201,
    errors(ITEM_EXISTS = (409, "an item with this name exists"))
)]
pub async fn create_item(ctx: Ctx<ItemsState>, input: CreateItem) -> RouteResult<Item> {
    match ctx.create(&input.name, input.status).await {
        Ok(item) => Ok(item),
        Err(StoreError::NameTaken) => Err(route_error!(
            ITEM_EXISTS,
            "an item named {:?} exists",
            input.name
        )),
        Err(e) => Err(e.into()),
    }
}

/// Change an item's name and/or status.
#[plugin_route(
    method = "PATCH",
    path = "/items/{id}",
    errors(ITEM_NOT_FOUND = (404, "no item has this id"), ITEM_EXISTS = (409, "an item with this name exists"))
)]
pub async fn update_item(ctx: Ctx<ItemsState>, id: i64, input: UpdateItem) -> RouteResult<Item> {
    match ctx.update(id, input.name.as_deref(), input.status).await {
        Ok(Some(item)) => Ok(item),
        Ok(None) => Err(route_error!(ITEM_NOT_FOUND, "no item has id {id}")),
        Err(StoreError::NameTaken) => Err(route_error!(
            ITEM_EXISTS,
            "an item named {:?} exists",
            input.name.unwrap_or_default()
        )),
        Err(e) => Err(e.into()),
    }
}

/// Delete an item.
#[plugin_route(method = "DELETE", path = "/items/{id}", status = 204, errors(ITEM_NOT_FOUND = (404, "no item has this id")))]
pub async fn delete_item(ctx: Ctx<ItemsState>, id: i64) -> RouteResult<()> {
    if ctx.delete(id).await? {
        Ok(())
    } else {
        Err(route_error!(ITEM_NOT_FOUND, "no item has id {id}"))
    }
}
