//! The items routes: each validates nothing by hand (the attribute does) and returns only the
//! error codes it declares. Who may call them is declared on the plugin (`items:read`) and on
//! the routes that write (`items:write`); every query is scoped to the caller, so another user's
//! item is "not found", never shown.

use crate::model::{CreateItem, Item, ItemPage, ListQuery, Pagination, UpdateItem};
use crate::store::{ItemsState, StoreError};
use plugin_routes::prelude::*;

/// List items, newest first, one page at a time.
#[plugin_route(method = "GET", path = "/items")]
pub async fn list_items(ctx: Ctx<ItemsState>, query: ListQuery) -> RouteResult<ItemPage> {
    let (items, total) = ctx
        .list(
            ctx.caller()?.user_id(),
            query.page,
            query.limit,
            query.filter,
        )
        .await?;
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
#[plugin_route(method = "GET", path = "/items/{id}", errors(ITEM_NOT_FOUND = (404, "you have no item with this id")))]
pub async fn get_item(ctx: Ctx<ItemsState>, id: i64) -> RouteResult<Item> {
    match ctx.get(ctx.caller()?.user_id(), id).await? {
        Some(item) => Ok(item),
        None => Err(route_error!(ITEM_NOT_FOUND, "no item has id {id}")),
    }
}

/// Create an item.
#[plugin_route(
    method = "POST",
    path = "/items",
    status = 201,
    scopes("items:write"),
    errors(ITEM_EXISTS = (409, "you have an item with this name"))
)]
pub async fn create_item(ctx: Ctx<ItemsState>, input: CreateItem) -> RouteResult<Item> {
    match ctx
        .create(ctx.caller()?.user_id(), &input.name, input.status)
        .await
    {
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
    scopes("items:write"),
    errors(ITEM_NOT_FOUND = (404, "you have no item with this id"), ITEM_EXISTS = (409, "you have an item with this name"))
)]
pub async fn update_item(ctx: Ctx<ItemsState>, id: i64, input: UpdateItem) -> RouteResult<Item> {
    match ctx
        .update(
            ctx.caller()?.user_id(),
            id,
            input.name.as_deref(),
            input.status,
        )
        .await
    {
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
#[plugin_route(
    method = "DELETE",
    path = "/items/{id}",
    status = 204,
    scopes("items:write"),
    errors(ITEM_NOT_FOUND = (404, "you have no item with this id"))
)]
pub async fn delete_item(ctx: Ctx<ItemsState>, id: i64) -> RouteResult<()> {
    if ctx.delete(ctx.caller()?.user_id(), id).await? {
        Ok(())
    } else {
        Err(route_error!(ITEM_NOT_FOUND, "no item has id {id}"))
    }
}
