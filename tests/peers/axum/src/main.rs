//! The two routes hand-written in plain axum, with the envelope of `peer_axum`.

use axum::extract::Path;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router};
use garde::Validate;
use peer_axum::ApiError;
use serde::{Deserialize, Serialize};
use tower_http::request_id::RequestId;

#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Active,
    Archived,
}

#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
struct CreateItem {
    #[garde(length(chars, min = 1, max = 100))]
    name: String,
    #[garde(skip)]
    status: Status,
}

#[derive(Debug, Serialize)]
struct Item {
    id: i64,
    name: String,
    status: Status,
}

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

fn app() -> Router {
    peer_axum::layered(
        Router::new()
            .route("/v1/plugins/items/items", axum::routing::post(create_item))
            .route("/v1/plugins/items/items/{id}", axum::routing::get(get_item)),
    )
}

fn main() {
    peer_axum::run(app());
}
