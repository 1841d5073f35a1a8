//! The two routes of `../ours` with utoipa-axum: each status and error written out in
//! `#[utoipa::path]`, validation called by hand, and an error body of its own.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use garde::Validate;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Default)]
struct Store {
    items: Mutex<HashMap<u64, Item>>,
}

#[derive(Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
struct CreateItem {
    /// The item's name.
    #[garde(length(chars, min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// How many there are.
    #[garde(range(min = 0, max = 1000))]
    #[schema(minimum = 0, maximum = 1000)]
    count: u32,
}

#[derive(Clone, Serialize, ToSchema)]
struct Item {
    id: u64,
    name: String,
    count: u32,
}

#[derive(Serialize, ToSchema)]
struct ApiError {
    code: &'static str,
    message: String,
}

fn error(status: StatusCode, code: &'static str, message: String) -> Response {
    (status, Json(ApiError { code, message })).into_response()
}

/// Create an item.
#[utoipa::path(post, path = "/items", request_body = CreateItem, responses(
    (status = 201, body = Item),
    (status = 400, body = ApiError),
    (status = 409, body = ApiError),
))]
async fn create_item(State(store): State<Arc<Store>>, Json(input): Json<CreateItem>) -> Response {
    if let Err(report) = input.validate() {
        return error(StatusCode::BAD_REQUEST, "VALIDATION_FAILED", report.to_string());
    }
    let mut items = store.items.lock().unwrap_or_else(|e| e.into_inner());
    if items.values().any(|i| i.name == input.name) {
        return error(StatusCode::CONFLICT, "ITEM_EXISTS", format!("an item named {:?} exists", input.name));
    }
    let item = Item { id: items.len() as u64 + 1, name: input.name, count: input.count };
    items.insert(item.id, item.clone());
    (StatusCode::CREATED, Json(item)).into_response()
}

/// Get one item.
#[utoipa::path(get, path = "/items/{id}", params(("id" = u64, Path)), responses(
    (status = 200, body = Item),
    (status = 404, body = ApiError),
))]
async fn get_item(State(store): State<Arc<Store>>, Path(id): Path<u64>) -> Response {
    let items = store.items.lock().unwrap_or_else(|e| e.into_inner());
    match items.get(&id) {
        Some(item) => Json(item.clone()).into_response(),
        None => error(StatusCode::NOT_FOUND, "ITEM_NOT_FOUND", format!("no item has id {id}")),
    }
}

#[derive(OpenApi)]
#[openapi(info(title = "items", version = "1.0.0"))]
struct ApiDoc;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(create_item))
        .routes(routes!(get_item))
        .with_state(Arc::new(Store::default()))
        .split_for_parts();
    let document = api.to_json().unwrap_or_default();
    let app = Router::new()
        .nest("/v1/plugins/items", router)
        .route("/openapi.json", axum::routing::get(move || async move { document }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app).await
}
