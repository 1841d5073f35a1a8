//! Raw hyper doing each route's work by hand, with nothing between the connection and the work:
//! no router (the path is compared as text), no middleware, no boxed service. The id is parsed,
//! the body is read within a limit and checked (its content type, its fields, the name's length
//! in characters), the item is serialized, a request id is taken or made and echoed, and every
//! failure is answered in the same envelope as the other servers. A timeout bounds each request.
//!
//! It is the floor for this contract on this stack: what a server that answers the same
//! fourteen cases alike must spend at the least. Raw hyper answering fixed bytes (`peer-hyper`)
//! is below it only because it does none of the work.

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const BODY_LIMIT: usize = 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Active,
    Archived,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateItem {
    name: String,
    status: Status,
}

#[derive(Serialize)]
struct Item {
    id: i64,
    name: String,
    status: Status,
}

#[derive(Serialize)]
struct Detail<'a> {
    location: &'a str,
    path: &'a str,
    message: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Failure<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<[Detail<'a>; 1]>,
    request_id: &'a str,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Failure<'a>,
}

/// The incoming `x-request-id` when it is 1 to 128 of `A-Za-z0-9-_.:`, else 32 hex digits made
/// from a per-process seed and a counter.
fn request_id(headers: &http::HeaderMap) -> HeaderValue {
    if let Some(v) = headers.get(REQUEST_ID) {
        let b = v.as_bytes();
        if (1..=128).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'))
        {
            return v.clone();
        }
    }
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        use std::hash::BuildHasher;
        std::collections::hash_map::RandomState::new().hash_one(std::process::id())
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut out = [0u8; 32];
    for (half, word) in [scramble(seed ^ n), scramble(seed.wrapping_add(n))]
        .into_iter()
        .enumerate()
    {
        for (i, byte) in word.to_be_bytes().into_iter().enumerate() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out[half * 16 + i * 2] = HEX[usize::from(byte >> 4)];
            out[half * 16 + i * 2 + 1] = HEX[usize::from(byte & 0xf)];
        }
    }
    HeaderValue::from_bytes(&out).expect("hex digits")
}

/// A 64-bit mixing function: every input bit moves every output bit.
fn scramble(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn json(status: StatusCode, body: Vec<u8>, id: HeaderValue) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(REQUEST_ID, id);
    response
}

fn failure(
    status: StatusCode,
    code: &str,
    message: &str,
    detail: Option<Detail<'_>>,
    id: HeaderValue,
) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(&Envelope {
        error: Failure {
            code,
            message,
            details: detail.map(|d| [d]),
            request_id: id.to_str().unwrap_or_default(),
        },
    })
    .expect("the envelope serializes");
    json(status, body, id)
}

fn invalid(location: &str, path: &str, message: String, id: HeaderValue) -> Response<Full<Bytes>> {
    failure(
        StatusCode::BAD_REQUEST,
        "INVALID_INPUT",
        "the input is not valid",
        Some(Detail {
            location,
            path,
            message,
        }),
        id,
    )
}

fn get_item(segment: &str, id: HeaderValue) -> Response<Full<Bytes>> {
    let Ok(item) = segment.parse::<i64>() else {
        return invalid(
            "path",
            "id",
            format!("expected an integer, found {segment:?}"),
            id,
        );
    };
    if !peers::exists(item) {
        return failure(
            StatusCode::NOT_FOUND,
            "ITEM_NOT_FOUND",
            &format!("no item has id {item}"),
            None,
            id,
        );
    }
    let body = serde_json::to_vec(&Item {
        id: item,
        name: peers::FOUND_NAME.to_owned(),
        status: Status::Active,
    })
    .expect("an item serializes");
    json(StatusCode::OK, body, id)
}

async fn create_item<B>(request: Request<B>, id: HeaderValue) -> Response<Full<Bytes>>
where
    B: hyper::body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return failure(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "expected a body of type application/json",
            None,
            id,
        );
    }
    let bytes = match Limited::new(request.into_body(), BODY_LIMIT)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return failure(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "the body is larger than 1 MiB",
                None,
                id,
            );
        }
        Err(_) => {
            return failure(
                StatusCode::BAD_REQUEST,
                "INVALID_INPUT",
                "the body could not be read",
                None,
                id,
            );
        }
    };
    let input: CreateItem = match serde_json::from_slice(&bytes) {
        Ok(input) => input,
        Err(e) => return invalid("body", "", e.to_string(), id),
    };
    if !(1..=100).contains(&input.name.chars().count()) {
        return invalid(
            "body",
            "name",
            "expected 1 to 100 characters".to_owned(),
            id,
        );
    }
    if input.name == peers::TAKEN {
        return failure(
            StatusCode::CONFLICT,
            "ITEM_EXISTS",
            "an item with this name exists",
            None,
            id,
        );
    }
    let body = serde_json::to_vec(&Item {
        id: peers::next_id(),
        name: input.name,
        status: input.status,
    })
    .expect("an item serializes");
    json(StatusCode::CREATED, body, id)
}

async fn route<B>(request: Request<B>, id: HeaderValue) -> Response<Full<Bytes>>
where
    B: hyper::body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let path = request.uri().path();
    if path == peers::ITEMS {
        if request.method() == Method::POST {
            return create_item(request, id).await;
        }
    } else if let Some(segment) = path
        .strip_prefix(peers::ITEMS)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|s| !s.is_empty() && !s.contains('/'))
    {
        if request.method() == Method::GET {
            return get_item(segment, id);
        }
    } else {
        let message = format!("no route for {} {path}", request.method());
        return failure(StatusCode::NOT_FOUND, "NOT_FOUND", &message, None, id);
    }
    let message = format!("{} is not allowed here", request.method());
    failure(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        &message,
        None,
        id,
    )
}

async fn handle<B>(request: Request<B>) -> Result<Response<Full<Bytes>>, Infallible>
where
    B: hyper::body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let id = request_id(request.headers());
    Ok(
        match tokio::time::timeout(TIMEOUT, route(request, id.clone())).await {
            Ok(response) => response,
            Err(_) => failure(
                StatusCode::GATEWAY_TIMEOUT,
                "TIMEOUT",
                "the request took too long",
                None,
                id,
            ),
        },
    )
}

fn main() {
    match peers::mode() {
        peers::Mode::Serve(addr) => {
            let runtime = tokio::runtime::Runtime::new().expect("a runtime");
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    tokio::spawn(async move {
                        let io = hyper_util::rt::TokioIo::new(stream);
                        let service = hyper::service::service_fn(handle::<hyper::body::Incoming>);
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await;
                    });
                }
            });
        }
        peers::Mode::Count { route, requests } => {
            peers::count(route, requests, |route| async move {
                let response = handle(route.request::<Full<Bytes>>())
                    .await
                    .unwrap_or_else(|never| match never {});
                let status = response.status().as_u16();
                let _ = response.into_body().collect().await;
                status
            })
        }
    }
}
