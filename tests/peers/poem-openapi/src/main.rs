//! The two routes with poem-openapi: the limits are its validators, the responses an
//! `ApiResponse` each, a request id made in a middleware, the document served at
//! `/openapi.json`.

use poem::{Endpoint, EndpointExt, IntoResponse, Request, Route};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, OpenApiService};

#[derive(Clone, Copy, Debug, Enum)]
#[oai(rename_all = "lowercase")]
enum Status {
    Active,
    Archived,
}

#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
struct CreateItem {
    /// The item's name.
    #[oai(validator(min_length = 1, max_length = 100))]
    name: String,
    /// Whether it is in use.
    status: Status,
}

#[derive(Debug, Object)]
struct Item {
    id: i64,
    name: String,
    status: Status,
}

#[derive(Debug, Object)]
struct ErrorEnvelope {
    error: ErrorObject,
}

#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
struct ErrorObject {
    code: String,
    message: String,
    /// Empty where poem-openapi answers before the handler runs (see `bad_request`).
    request_id: String,
}

fn envelope(code: &str, message: String, request_id: &str) -> Json<ErrorEnvelope> {
    Json(ErrorEnvelope {
        error: ErrorObject {
            code: code.to_owned(),
            message,
            request_id: request_id.to_owned(),
        },
    })
}

/// The request id this request carries or was given, as the middleware left it.
#[derive(Clone, Debug)]
struct RequestId(String);

fn request_id(req: &Request) -> &str {
    req.extensions()
        .get::<RequestId>()
        .map_or("", |id| id.0.as_str())
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "bad_create")]
enum CreateResponse {
    #[oai(status = 201)]
    Created(Json<Item>),
    #[oai(status = 400)]
    BadRequest(Json<ErrorEnvelope>),
    #[oai(status = 409)]
    Exists(Json<ErrorEnvelope>),
    #[oai(status = 415)]
    Unsupported(Json<ErrorEnvelope>),
}

#[derive(ApiResponse)]
#[oai(bad_request_handler = "bad_get")]
enum GetResponse {
    #[oai(status = 200)]
    Found(Json<Item>),
    #[oai(status = 400)]
    BadRequest(Json<ErrorEnvelope>),
    #[oai(status = 404)]
    NotFound(Json<ErrorEnvelope>),
}

// poem-openapi turns a body or parameter it cannot parse into the route's response through
// these; they see the error, not the request, so the request id is only in the header.
fn bad_create(err: poem::Error) -> CreateResponse {
    if err.status() == poem::http::StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return CreateResponse::Unsupported(envelope(
            "UNSUPPORTED_MEDIA_TYPE",
            err.to_string(),
            "",
        ));
    }
    CreateResponse::BadRequest(envelope("INVALID_INPUT", err.to_string(), ""))
}

fn bad_get(err: poem::Error) -> GetResponse {
    GetResponse::BadRequest(envelope("INVALID_INPUT", err.to_string(), ""))
}

struct Api;

#[OpenApi]
impl Api {
    /// Create an item.
    #[oai(path = "/items", method = "post")]
    async fn create_item(&self, req: &Request, input: Json<CreateItem>) -> CreateResponse {
        let input = input.0;
        if input.name == peers::TAKEN {
            return CreateResponse::Exists(envelope(
                "ITEM_EXISTS",
                "an item with this name exists".to_owned(),
                request_id(req),
            ));
        }
        CreateResponse::Created(Json(Item {
            id: peers::next_id(),
            name: input.name,
            status: input.status,
        }))
    }

    /// Get one item.
    #[oai(path = "/items/:id", method = "get")]
    async fn get_item(&self, req: &Request, id: Path<i64>) -> GetResponse {
        let id = id.0;
        if !peers::exists(id) {
            return GetResponse::NotFound(envelope(
                "ITEM_NOT_FOUND",
                format!("no item has id {id}"),
                request_id(req),
            ));
        }
        GetResponse::Found(Json(Item {
            id,
            name: peers::FOUND_NAME.to_owned(),
            status: Status::Active,
        }))
    }
}

fn app() -> impl Endpoint + 'static {
    let service = OpenApiService::new(Api, "items", "1.0.0");
    let spec = service.spec_endpoint();
    Route::new()
        .nest("/v1/plugins/items", service)
        .at("/openapi.json", spec)
        .around(|next, mut req| async move {
            let id = req
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            req.extensions_mut().insert(RequestId(id.clone()));
            let mut response = next.call(req).await?.into_response();
            if let Ok(value) = id.parse() {
                response.headers_mut().insert("x-request-id", value);
            }
            Ok(response)
        })
}

/// The request `peers::Route::request` describes, built the way poem builds its own.
fn poem_request(route: peers::Route) -> Request {
    let (parts, body) = route.request::<String>().into_parts();
    let mut builder = Request::builder().method(parts.method).uri(parts.uri);
    for (name, value) in &parts.headers {
        builder = builder.header(name, value);
    }
    builder.body(body)
}

fn main() {
    match peers::mode() {
        peers::Mode::Serve(addr) => {
            let runtime = tokio::runtime::Runtime::new().expect("a runtime");
            runtime.block_on(async {
                poem::Server::new(poem::listener::TcpListener::bind(addr))
                    .run(app())
                    .await
                    .expect("serve");
            });
        }
        peers::Mode::Count { route, requests } => {
            let app = app();
            peers::count(route, requests, |route| {
                let request = poem_request(route);
                let app = &app;
                async move {
                    let response = app.get_response(request).await;
                    let status = response.status().as_u16();
                    let _ = response.into_body().into_bytes().await;
                    status
                }
            });
        }
    }
}
