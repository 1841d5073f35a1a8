//! What the macros generate must be quiet: this module denies every rustc warning and clippy's
//! pedantic group (CI runs clippy over all targets) while using each kind of expansion.
#![deny(warnings, clippy::pedantic)]

use plugin_routes::prelude::*;

/// State.
pub(crate) struct Shop;

/// An order.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
pub(crate) struct Order {
    #[garde(length(min = 1))]
    item: String,
    #[garde(range(min = 1, max = 9))]
    count: u8,
}

/// A receipt.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct Receipt {
    item: String,
    count: u8,
}

/// Filter.
#[derive(Debug, Deserialize, JsonSchema, Validate)]
pub(crate) struct Filter {
    #[garde(skip)]
    tag: Vec<String>,
}

/// Place an order.
#[plugin_route(method = "POST", path = "/shops/{shop}/orders", status = 201, errors(SOLD_OUT = (409, "sold out")), timeout_ms = 100, body_limit = 512)]
async fn order(
    ctx: Ctx<Shop>,
    shop: u32,
    input: Order,
    #[extract] headers: axum::http::HeaderMap,
) -> RouteResult<Receipt> {
    let _: &Shop = ctx.state();
    if input.count > 5 || headers.is_empty() && shop == 0 {
        return Err(route_error!(SOLD_OUT, "only {} left", 5));
    }
    Ok(Receipt {
        item: input.item,
        count: input.count,
    })
}

/// List.
#[plugin_route(method = "GET", path = "/orders")]
async fn list(filter: Filter) -> RouteResult<Vec<String>> {
    Ok(filter.tag)
}

/// Cancel.
#[plugin_route(
    method = "DELETE",
    path = "/orders/:id",
    status = 204,
    errors(UNKNOWN_ORDER = 404)
)]
async fn cancel(id: u64) -> RouteResult<()> {
    if id == 0 {
        Err(route_error!(UNKNOWN_ORDER))
    } else {
        Ok(())
    }
}

/// The shop plugin.
#[plugin(name = "shop", version = "1.0.0", state = Shop, routes(order, list, cancel))]
pub(crate) struct ShopPlugin;

#[test]
fn expansions_compile_without_warnings() {
    let _router = plugins![auth = plugin_routes::testing::RefuseAll; ShopPlugin::new(Shop)];
}
