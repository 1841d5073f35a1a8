//! How a handler's output becomes the success response: a JSON body with the route's status, or
//! no body at all (`status = 204`). Errors never pass through here; they go through the envelope.

use super::error::ApiError;
use super::request_id::{self, RequestId};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use std::marker::PhantomData;

/// How a handler's output becomes the success response.
pub trait Responder: Send + 'static {
    /// The `T` of the handler's `RouteResult<T>`.
    type Output: Send;
    /// Writes the response.
    fn respond(status: StatusCode, output: Self::Output, request_id: &RequestId) -> Response;
}

/// A JSON body with the route's status.
#[derive(Debug)]
pub struct JsonOutput<T>(PhantomData<fn() -> T>);

impl<T: Serialize + Send + 'static> Responder for JsonOutput<T> {
    type Output = T;

    fn respond(status: StatusCode, output: T, request_id: &RequestId) -> Response {
        match serde_json::to_vec(&output) {
            Ok(bytes) => {
                let mut response = (status, bytes).into_response();
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                headers.insert(request_id::HEADER, request_id.header_value());
                response
            }
            Err(e) => {
                tracing::error!(error = %e, "the handler's output could not be serialized");
                ApiError::internal().into_response(request_id)
            }
        }
    }
}

/// No body (`status = 204`).
#[derive(Debug)]
pub struct NoContent;

impl Responder for NoContent {
    type Output = ();

    fn respond(status: StatusCode, (): (), request_id: &RequestId) -> Response {
        let mut response = status.into_response();
        response
            .headers_mut()
            .insert(request_id::HEADER, request_id.header_value());
        response
    }
}
