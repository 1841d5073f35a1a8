//! What a user of plain axum writes to answer like this project does: an error envelope with
//! the request id in it, the request id generated or taken from `x-request-id` and echoed,
//! extractor rejections turned into `400`/`415` envelopes naming the field, garde run by hand,
//! a timeout and a panic turned into envelopes.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::Serialize;
use std::time::Duration;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};

/// How long a request may take before it is answered `504`.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// One problem with the input.
#[derive(Debug, Serialize)]
pub struct FieldError {
    pub location: &'static str,
    pub path: String,
    pub message: String,
}

/// The error envelope: `{"error": {"code", "message", "details"?, "requestId"}}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Vec<FieldError>>,
    pub request_id: String,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: &'a Option<Vec<FieldError>>,
    request_id: &'a str,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
        id: &RequestId,
    ) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
            request_id: id.header_value().to_str().unwrap_or_default().to_owned(),
        }
    }

    /// `400 INVALID_INPUT` with one field error.
    pub fn invalid(location: &'static str, path: String, message: String, id: &RequestId) -> Self {
        let mut e = ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            "the input is not valid",
            id,
        );
        e.details = Some(vec![FieldError {
            location,
            path,
            message,
        }]);
        e
    }

    /// garde's report as `400 INVALID_INPUT`, one field error per problem.
    pub fn from_report(report: &garde::Report, id: &RequestId) -> Self {
        let mut e = ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            "the input is not valid",
            id,
        );
        e.details = Some(
            report
                .iter()
                .map(|(path, error)| FieldError {
                    location: "body",
                    path: path.to_string(),
                    message: error.to_string(),
                })
                .collect(),
        );
        e
    }

    /// A JSON body axum would not take: `415` without a JSON content type, `413` over the
    /// limit, else `400` naming the field (axum itself answers `422` for a wrong field).
    pub fn from_json(rejection: JsonRejection, id: &RequestId) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "expected application/json",
                id,
            ),
            r if r.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "the body is too large",
                id,
            ),
            r => ApiError::invalid("body", String::new(), r.body_text(), id),
        }
    }

    /// A path parameter of the wrong type: `400` naming it.
    pub fn from_path(rejection: PathRejection, name: &str, id: &RequestId) -> Self {
        ApiError::invalid("path", name.to_owned(), rejection.body_text(), id)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Envelope {
            error: Body {
                code: self.code,
                message: &self.message,
                details: &self.details,
                request_id: &self.request_id,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

fn envelope_without_id(status: StatusCode, code: &'static str, message: &'static str) -> Response {
    let body = Envelope {
        error: Body {
            code,
            message,
            details: &None,
            request_id: "",
        },
    };
    (status, Json(body)).into_response()
}

/// The layers every route runs under: request id in and out, a timeout, panics caught, all
/// answered in the envelope.
pub fn layered(router: Router) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    router
        .layer(
            tower::ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(
                    x_request_id.clone(),
                    MakeRequestUuid,
                ))
                .layer(PropagateRequestIdLayer::new(x_request_id))
                .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
                    envelope_without_id(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "INTERNAL",
                        "internal error",
                    )
                }))
                .layer(axum::middleware::map_response(timeout_envelope))
                .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                    StatusCode::GATEWAY_TIMEOUT,
                    TIMEOUT,
                )),
        )
        .fallback(|id: axum::Extension<RequestId>| async move {
            ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route", &id)
        })
}

async fn timeout_envelope(response: Response) -> Response {
    if response.status() == StatusCode::GATEWAY_TIMEOUT
        && response
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .is_none()
    {
        return envelope_without_id(
            StatusCode::GATEWAY_TIMEOUT,
            "TIMEOUT",
            "the request took too long",
        );
    }
    response
}

/// Serves `app` at the command line's address, or answers the command line's count of requests
/// in process: the `main` of both axum peers.
pub fn run(app: Router) {
    use tower::ServiceExt as _;
    match peers::mode() {
        peers::Mode::Serve(addr) => {
            let runtime = tokio::runtime::Runtime::new().expect("a runtime");
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
                axum::serve(listener, app).await.expect("serve");
            });
        }
        peers::Mode::Count { route, requests } => {
            peers::count(route, requests, |route| {
                let app = app.clone();
                async move {
                    let response = app
                        .oneshot(route.request::<axum::body::Body>())
                        .await
                        .expect("infallible");
                    let status = response.status().as_u16();
                    let _ = http_body_util::BodyExt::collect(response.into_body()).await;
                    status
                }
            });
        }
    }
}
