//! The handler of the `GET <base>/health` every plugin serves unless it declares its own
//! (declared in `declare::health`).

use crate::declare::{Health, PluginMeta};
use crate::request::{REQUEST_ID_HEADER, RequestId};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use bytes::Bytes;
use http::{HeaderValue, header};

/// The handler of the default health route: the body is serialized once, when the router is
/// built; each request clones the bytes (a reference count).
pub(crate) fn router(plugin: &PluginMeta) -> MethodRouter {
    let health = Health::of(plugin);
    let body = Bytes::from(serde_json::to_vec(&health).unwrap_or_default());
    axum::routing::get(move |request: Request| async move { respond(&request, body) })
}

fn respond(request: &Request, body: Bytes) -> Response {
    let request_id = RequestId::from_headers(request.headers());
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(REQUEST_ID_HEADER, request_id.header_value());
    response
}
