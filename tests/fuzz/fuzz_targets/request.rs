//! A generated route's request path on any request hyper would hand it: method, path, query,
//! headers and a JSON body, read from the input as a request's text (`METHOD TARGET`, header
//! lines, a blank line, the body; see `corpus/request`). Every answer is the route's own or a
//! documented refusal in the one envelope: never a panic, never a 500, no 5xx at all (these
//! routes neither time out nor need anything outside).
#![no_main]

use axum::body::Body;
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use plugin_routes::prelude::*;
use std::sync::OnceLock;
use tower::ServiceExt;

#[derive(Deserialize, JsonSchema, garde::Validate)]
struct Filter {
    /// Page size.
    #[garde(range(min = 1, max = 100))]
    limit: u32,
    /// Name prefix.
    #[garde(length(min = 1, max = 20))]
    name: Option<String>,
    /// Tags, repeated.
    #[garde(length(max = 5), inner(length(min = 1, max = 10)))]
    #[serde(default)]
    tag: Vec<String>,
    /// Only these.
    #[garde(skip)]
    state: Option<State>,
}

#[derive(Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum State {
    Open,
    Closed,
}

#[derive(Deserialize, JsonSchema, garde::Validate)]
struct NewThing {
    /// Its name.
    #[garde(length(min = 1, max = 50))]
    name: String,
    /// Its state.
    #[garde(skip)]
    state: State,
    /// Nested options.
    #[garde(dive)]
    options: Options,
    /// Labels.
    #[garde(length(max = 8), inner(length(max = 16)))]
    #[serde(default)]
    labels: Vec<String>,
}

#[derive(Deserialize, JsonSchema, garde::Validate)]
struct Options {
    /// Seconds.
    #[garde(range(min = 1, max = 3600))]
    timeout: u32,
    /// Weight.
    #[garde(range(min = 0.0, max = 1.0))]
    weight: Option<f64>,
}

#[derive(Serialize, JsonSchema)]
struct Thing {
    id: u64,
    name: String,
    state: Option<State>,
}

/// List things.
#[plugin_route(method = "GET", path = "/things", security(none))]
async fn list(query: Filter) -> RouteResult<Vec<Thing>> {
    Ok((0..u64::from(query.limit.min(3)))
        .map(|id| Thing {
            id,
            name: query.name.clone().unwrap_or_default(),
            state: query.state,
        })
        .collect())
}

/// One thing.
#[plugin_route(
    method = "GET",
    path = "/things/{id}/parts/{part}",
    security(none),
    errors(NO_SUCH_THING = 404)
)]
async fn one(id: u64, part: String) -> RouteResult<Thing> {
    if id > 1000 {
        return Err(route_error!(NO_SUCH_THING));
    }
    Ok(Thing {
        id,
        name: part,
        state: None,
    })
}

/// Make a thing.
#[plugin_route(
    method = "POST",
    path = "/things",
    status = 201,
    security(none),
    errors(THING_EXISTS = 409)
)]
async fn create(input: NewThing) -> RouteResult<Thing> {
    if input.name == "taken" {
        return Err(route_error!(THING_EXISTS));
    }
    Ok(Thing {
        id: u64::from(input.options.timeout),
        name: input.name,
        state: Some(input.state),
    })
}

#[plugin(name = "fuzz", version = "1.0.0", routes(list, one, create))]
struct FuzzPlugin;

fn served() -> &'static (tokio::runtime::Runtime, axum::Router) {
    static SERVED: OnceLock<(tokio::runtime::Runtime, axum::Router)> = OnceLock::new();
    SERVED.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        (rt, plugins![FuzzPlugin::new()])
    })
}

/// The request the input spells, or `None` where hyper would have refused it already.
fn request(data: &[u8]) -> Option<http::Request<Body>> {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let head = std::str::from_utf8(head).ok()?;
    let mut lines = head.lines();
    let (method, target) = lines.next()?.split_once(' ')?;
    let mut builder = http::Request::builder()
        .method(http::Method::from_bytes(method.as_bytes()).ok()?)
        .uri(target.parse::<http::Uri>().ok()?);
    for line in lines {
        let (name, value) = line.split_once(':')?;
        builder = builder.header(
            http::HeaderName::from_bytes(name.trim().as_bytes()).ok()?,
            http::HeaderValue::from_bytes(value.trim().as_bytes()).ok()?,
        );
    }
    builder.body(Body::from(body.to_vec())).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some(request) = request(data) else {
        return;
    };
    let (rt, router) = served();
    let (status, body) = rt.block_on(async {
        let response = router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let body = response.into_body().collect().await.expect("a body").to_bytes();
        (status, body)
    });
    assert!(
        !status.is_server_error(),
        "{status}: {}",
        String::from_utf8_lossy(&body)
    );
    if status.is_client_error() && !body.is_empty() {
        let envelope: serde_json::Value =
            serde_json::from_slice(&body).expect("an error body is the envelope");
        let code = envelope["error"]["code"].as_str().expect("a code");
        assert!(!code.is_empty());
        assert!(envelope["error"]["requestId"].is_string(), "{envelope}");
    }
});
