//! The two routes with utoipa-axum: each response written out in `#[utoipa::path]`, the
//! schema's limits repeated beside garde's, validation called by hand, the document built at
//! start and served at `/openapi.json`.

use axum::extract::Path;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use garde::Validate;
use peer_axum::ApiError;
use serde::{Deserialize, Serialize};
use tower_http::request_id::RequestId;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum Status {
    Active,
    Archived,
}

#[derive(Debug, Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
struct CreateItem {
    /// The item's name.
    #[garde(length(chars, min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// Whether it is in use.
    #[garde(skip)]
    status: Status,
}

#[derive(Debug, Serialize, ToSchema)]
struct Item {
    id: i64,
    name: String,
    status: Status,
}

/// The error envelope, as documented (the body `peer_axum::ApiError` writes).
#[derive(Serialize, ToSchema)]
struct ErrorEnvelope {
    error: ErrorObject,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct ErrorObject {
    code: String,
    message: String,
    request_id: String,
}

/// Create an item.
#[utoipa::path(post, path = "/items", request_body = CreateItem, responses(
    (status = 201, body = Item),
    (status = 400, body = ErrorEnvelope),
    (status = 409, body = ErrorEnvelope),
    (status = 415, body = ErrorEnvelope),
))]
async fn create_item(
    Extension(id): Extension<RequestId>,
    input: Result<Json<CreateItem>, JsonRejection>,
) -> Response {
    let input = match input {
        Ok(Json(input)) => input,
        Err(rejection) => return ApiError::from_json(rejection, &id).into_response(),
    };
    if let Err(report) = input.validate() {
        return ApiError::from_report(&report, &id).into_response();
    }
    if input.name == peers::TAKEN {
        return ApiError::new(
            StatusCode::CONFLICT,
            "ITEM_EXISTS",
            "an item with this name exists",
            &id,
        )
        .into_response();
    }
    let item = Item {
        id: peers::next_id(),
        name: input.name,
        status: input.status,
    };
    (StatusCode::CREATED, Json(item)).into_response()
}

/// Get one item.
#[utoipa::path(get, path = "/items/{id}", params(("id" = i64, Path)), responses(
    (status = 200, body = Item),
    (status = 400, body = ErrorEnvelope),
    (status = 404, body = ErrorEnvelope),
))]
async fn get_item(
    Extension(id): Extension<RequestId>,
    item: Result<Path<i64>, PathRejection>,
) -> Response {
    let item = match item {
        Ok(Path(item)) => item,
        Err(rejection) => return ApiError::from_path(rejection, "id", &id).into_response(),
    };
    if !peers::exists(item) {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "ITEM_NOT_FOUND",
            format!("no item has id {item}"),
            &id,
        )
        .into_response();
    }
    Json(Item {
        id: item,
        name: peers::FOUND_NAME.to_owned(),
        status: Status::Active,
    })
    .into_response()
}

#[derive(OpenApi)]
#[openapi(info(title = "items", version = "1.0.0"))]
struct ApiDoc;

fn app() -> Router {
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(create_item))
        .routes(routes!(get_item))
        .split_for_parts();
    let document = api.to_pretty_json().expect("the document serializes");
    peer_axum::layered(Router::new().nest("/v1/plugins/items", router).route(
        "/openapi.json",
        axum::routing::get(move || async move { document }),
    ))
}

fn main() {
    peer_axum::run(app());
}
