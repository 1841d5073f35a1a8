//! Both routes' work done by hand, with nothing between the connection and the work: no router
//! (the path is compared as text), no middleware, no boxed service. The id is parsed,
//! the body is read within a limit and checked (its content type, its fields, the name's length
//! in characters), the item is serialized, a request id is taken or made and echoed, and every
//! failure is answered in the same envelope as the other servers. A timeout bounds each request.
//!
//! Served by raw hyper (`peer-hyper-work`), it is the floor for this contract on this stack:
//! what a server that answers the same fourteen cases alike must spend at the least. Raw hyper
//! answering fixed bytes (`peer-hyper`) is below it only because it does none of the work. Served
//! through axum's router (`peer-axum-work`), it is the floor for any server built on that router.

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
/// from two per-process seeds and a counter.
pub fn request_id(headers: &http::HeaderMap) -> HeaderValue {
    if let Some(v) = headers.get(REQUEST_ID) {
        let b = v.as_bytes();
        if (1..=128).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b':'))
        {
            return v.clone();
        }
    }
    static SEED: std::sync::OnceLock<(u64, u64)> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // Two seeds, so the two halves of an id never repeat each other.
    let (a, b) = *SEED.get_or_init(|| {
        use std::hash::BuildHasher;
        let state = std::collections::hash_map::RandomState::new();
        let a = state.hash_one(std::process::id());
        (a, state.hash_one(a))
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut out = [0u8; 32];
    for (half, word) in [scramble(a ^ n), scramble(b.wrapping_add(n))]
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

/// A failure in the envelope, with its request id in the body and the header.
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

/// `400 INVALID_INPUT`, naming where the input is wrong.
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

/// `GET /items/{id}`, the id as the path gave it.
pub fn get_item(segment: &str, id: HeaderValue) -> Response<Full<Bytes>> {
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

/// `POST /items`: the content type, the body within its limit, its fields and the name's length.
pub async fn create_item<B>(request: Request<B>, id: HeaderValue) -> Response<Full<Bytes>>
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

/// Both routes, the path compared as text; `404` and `405` in the envelope for the rest.
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
        return no_route(request.method(), path, id);
    }
    not_allowed(request.method(), id)
}

/// `404 NOT_FOUND`: no route has this path.
pub fn no_route(method: &Method, path: &str, id: HeaderValue) -> Response<Full<Bytes>> {
    let message = format!("no route for {method} {path}");
    failure(StatusCode::NOT_FOUND, "NOT_FOUND", &message, None, id)
}

/// `405 METHOD_NOT_ALLOWED`: the path's route takes another method.
pub fn not_allowed(method: &Method, id: HeaderValue) -> Response<Full<Bytes>> {
    let message = format!("{method} is not allowed here");
    failure(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        &message,
        None,
        id,
    )
}

/// `work`, or the timeout's answer in the envelope once it has run for [`TIMEOUT`].
pub async fn within_time<T>(
    id: &HeaderValue,
    work: impl Future<Output = T>,
) -> Result<T, Response<Full<Bytes>>> {
    tokio::time::timeout(TIMEOUT, work).await.map_err(|_| {
        failure(
            StatusCode::GATEWAY_TIMEOUT,
            "TIMEOUT",
            "the request took too long",
            None,
            id.clone(),
        )
    })
}

/// One request, its request id made or taken here and its work timed.
pub async fn handle<B>(request: Request<B>) -> Result<Response<Full<Bytes>>, Infallible>
where
    B: hyper::body::Body,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    let id = request_id(request.headers());
    let answer = within_time(&id, route(request, id.clone())).await;
    Ok(answer.unwrap_or_else(|late| late))
}
