//! `GET /settings`: a page to log in and manage API keys, served by the runtime with no external
//! assets. Its style and script are inline, allowed by their SHA-256 in a strict
//! Content-Security-Policy (nothing else may load, and it talks only to this server).

use crate::declare::SETTINGS_PATH;
use crate::request::{Html, RequestId, RequestLayer, RouteOutput, WithHeaders};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
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

/// The page and its policy, built once when the router is. It is a page rather than an API
/// route (outside `/v1`, in no document), so it is a plain axum route; [`RequestLayer`] gives it
/// what every route has (the request id, the span, the timeout, panics answered in the
/// envelope), and it is written by the same [`Html`] and [`WithHeaders`] a route returns.
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
    let page = WithHeaders::new(Html::new(body))
        .header(header::CONTENT_SECURITY_POLICY, policy)
        .header(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        )
        .header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    axum::Router::new()
        .route(
            SETTINGS_PATH,
            axum::routing::get(move |id: RequestId| async move {
                page.clone().into_response(StatusCode::OK, &id)
            }),
        )
        .layer(RequestLayer::new())
}
