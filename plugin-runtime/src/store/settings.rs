//! `GET /settings`: a page to log in and manage API keys, served by the runtime with no external
//! assets. Its style and script are inline, allowed by their SHA-256 in a strict
//! Content-Security-Policy (nothing else may load, and it talks only to this server).

use crate::declare::SETTINGS_PATH;
use crate::request::{REQUEST_ID_HEADER, RequestId};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderValue, header};
use sha2::{Digest, Sha256};

const HTML: &str = include_str!("settings/page.html");
const STYLE: &str = include_str!("settings/page.css");
const SCRIPT: &str = include_str!("settings/page.js");

fn csp_hash(text: &str) -> String {
    format!(
        "'sha256-{}'",
        STANDARD.encode(Sha256::digest(text.as_bytes()))
    )
}

/// The page and its policy, built once when the router is.
pub(crate) fn router() -> axum::Router {
    let body = Bytes::from(
        HTML.replace("{{STYLE}}", STYLE)
            .replace("{{SCRIPT}}", SCRIPT),
    );
    let policy = format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; img-src 'self'; \
         form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
        csp_hash(SCRIPT),
        csp_hash(STYLE)
    );
    let policy =
        HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static("default-src 'none'"));
    axum::Router::new().route(
        SETTINGS_PATH,
        axum::routing::get(move |request: Request| async move { page(&request, body, policy) }),
    )
}

fn page(request: &Request, body: Bytes, policy: HeaderValue) -> Response {
    let request_id = RequestId::from_headers(request.headers());
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(REQUEST_ID_HEADER, request_id.header_value());
    response
}
