//! Streamed routes: `RouteResult<EventStream<T>>` answers `text/event-stream`, one event per
//! item; errors before the stream use the envelope, errors after it end it with an error event;
//! the timeout bounds the wait for each event; quiet streams get keep-alive comments; dropping
//! the response drops the stream.

use futures_util::stream::{self, StreamExt};
use plugin_routes::prelude::*;
use plugin_routes::testing::TestClient;
use plugin_routes::{EventStream, RouteError};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
enum Piece {
    /// A part of the text.
    Delta { text: String },
    /// The end, with a count.
    Done { pieces: u32 },
}

#[derive(Deserialize, JsonSchema, garde::Validate)]
struct Ask {
    /// How many pieces; 0 fails before the stream starts.
    #[garde(range(max = 10))]
    pieces: u32,
    /// Fail after this many pieces.
    #[garde(skip)]
    #[serde(default)]
    fail_after: Option<u32>,
}

/// Stream some pieces.
#[plugin_route(
    method = "POST",
    path = "/pieces",
    security(none),
    errors(NOTHING_TO_SAY = 422, RAN_DRY = 503)
)]
async fn pieces(input: Ask) -> RouteResult<EventStream<Piece>> {
    if input.pieces == 0 {
        return Err(route_error!(NOTHING_TO_SAY, "ask for at least one piece"));
    }
    let fail_after = input.fail_after;
    let n = input.pieces;
    let items = stream::iter(0..=n).map(move |i| match (i, fail_after) {
        (i, Some(f)) if i == f => Err(route_error!(RAN_DRY, "ran dry after {i} pieces")),
        (i, _) if i == n => Ok(Piece::Done { pieces: n }),
        (i, _) => Ok(Piece::Delta {
            text: format!("p{i}"),
        }),
    });
    Ok(EventStream::new(items))
}

/// One piece, then silence.
#[plugin_route(method = "GET", path = "/silence", timeout_ms = 1_000, security(none))]
async fn silence() -> RouteResult<EventStream<Piece>> {
    let first = stream::iter([Ok(Piece::Delta { text: "hi".into() })]);
    let events = first.chain(stream::pending());
    Ok(EventStream::new(events).keep_alive(Duration::from_millis(300)))
}

/// A stream that panics on its second item.
#[plugin_route(method = "GET", path = "/panics", security(none))]
async fn panics() -> RouteResult<EventStream<Piece>> {
    let items = stream::iter(0..3).map(|i| {
        assert!(i < 1, "the second piece is broken");
        Ok::<_, RouteError>(Piece::Delta { text: "ok".into() })
    });
    Ok(EventStream::new(items))
}

/// Set when the held stream is dropped.
#[derive(Default)]
struct Watch {
    dropped: Arc<AtomicBool>,
}

struct Guard(Arc<AtomicBool>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// One piece, then waits forever holding a guard.
#[plugin_route(method = "GET", path = "/held", security(none))]
async fn held(ctx: Ctx<Watch>) -> RouteResult<EventStream<Piece>> {
    let guard = Guard(Arc::clone(&ctx.dropped));
    let first = stream::iter([Ok(Piece::Delta { text: "x".into() })]);
    let rest = stream::pending().map(move |()| {
        let _keep = &guard;
        Ok(Piece::Done { pieces: 0 })
    });
    Ok(EventStream::new(first.chain(rest)))
}

#[plugin(
    name = "talk",
    version = "1.0.0",
    state = Watch,
    routes(pieces, silence, panics, held)
)]
struct Talk;

fn client() -> (TestClient, Arc<AtomicBool>) {
    let watch = Watch::default();
    let dropped = Arc::clone(&watch.dropped);
    (TestClient::new(plugins![Talk::new(watch)]), dropped)
}

#[tokio::test]
async fn each_item_is_an_event_in_order() {
    let (c, _) = client();
    let r = c
        .post("/v1/plugins/talk/pieces")
        .json(&json!({"pieces": 2}))
        .send()
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    assert_eq!(r.header("cache-control"), Some("no-cache"));
    assert!(r.header("x-request-id").is_some());
    assert_eq!(
        r.events(),
        [
            ("message".into(), json!({"type": "delta", "text": "p0"})),
            ("message".into(), json!({"type": "delta", "text": "p1"})),
            ("message".into(), json!({"type": "done", "pieces": 2})),
        ]
    );
}

#[tokio::test]
async fn errors_before_the_stream_are_envelopes_with_their_status() {
    let (c, _) = client();
    let r = c
        .post("/v1/plugins/talk/pieces")
        .json(&json!({"pieces": 0}))
        .send()
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(r.error()["code"], "NOTHING_TO_SAY");
    let r = c
        .post("/v1/plugins/talk/pieces")
        .json(&json!({"pieces": 11}))
        .send()
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.error()["details"][0]["path"], "pieces");
}

#[tokio::test]
async fn an_error_after_events_ends_the_stream_with_an_error_event() {
    let (c, _) = client();
    let r = c
        .post("/v1/plugins/talk/pieces")
        .json(&json!({"pieces": 5, "fail_after": 2}))
        .send()
        .await;
    assert_eq!(r.status(), 200);
    let events = r.events();
    assert_eq!(events.len(), 3, "{events:?}");
    let (name, error) = &events[2];
    assert_eq!(name, "error");
    assert_eq!(error["code"], "RAN_DRY");
    assert_eq!(error["message"], "ran dry after 2 pieces");
    assert_eq!(error["requestId"], r.header("x-request-id").unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_quiet_stream_gets_keep_alives_then_ends_at_the_timeout() {
    let (c, _) = client();
    let r = c.get("/v1/plugins/talk/silence").send().await;
    assert_eq!(r.status(), 200);
    let text = r.text();
    // 1 s of silence with a comment every 300 ms.
    assert_eq!(text.matches(": keep-alive\n\n").count(), 3, "{text}");
    let events = r.events();
    assert_eq!(events[0].1, json!({"type": "delta", "text": "hi"}));
    let (name, error) = events.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(error["code"], "TIMEOUT");
    assert_eq!(
        error["message"],
        "no event within 1000 ms; the stream is ended"
    );
}

#[tokio::test]
async fn a_panicking_stream_ends_with_an_internal_error_event() {
    let (c, _) = client();
    let r = c.get("/v1/plugins/talk/panics").send().await;
    let events = r.events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1].0, "error");
    assert_eq!(events[1].1["code"], "INTERNAL");
    assert!(!r.text().contains("broken"), "the panic's text is not sent");
}

#[tokio::test]
async fn dropping_the_response_drops_the_stream() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let watch = Watch::default();
    let dropped = Arc::clone(&watch.dropped);
    let app: axum::Router = plugins![Talk::new(watch)];
    let request = axum::http::Request::get("/v1/plugins/talk/held")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert!(first.starts_with(b"data: "), "{first:?}");
    assert!(!dropped.load(Ordering::SeqCst), "still streaming");
    drop(body);
    assert!(
        dropped.load(Ordering::SeqCst),
        "the stream went with the body"
    );
}

/// The longest timeout there is (a host's "none") bounds nothing: each event resets the wait
/// for the next without overflowing the clock.
#[tokio::test]
async fn the_longest_timeout_is_none() {
    let config = ServerConfig::default().with_timeout(Duration::MAX);
    let c = TestClient::new(plugins![config = config; Talk::new(Watch::default())]);
    let r = c
        .post("/v1/plugins/talk/pieces")
        .json(&json!({"pieces": 2}))
        .send()
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.events().len(), 3, "{}", r.text());
}

#[tokio::test]
async fn the_documents_describe_the_stream_and_its_events() {
    let doc = plugin_routes::openapi::document(
        &ServerConfig::default(),
        &[],
        &[<Talk as Plugin>::META],
        plugin_routes::openapi::Scope::Plugins,
    );
    let ok = &doc["paths"]["/v1/plugins/talk/pieces"]["post"]["responses"]["200"];
    // The schema describes one event: its data is JSON of the item's schema, or of the
    // envelope's `error` for the event that ends a failed stream.
    let events = &ok["content"]["text/event-stream"]["schema"]["oneOf"];
    let data = |i: usize| &events[i]["properties"]["data"];
    assert_eq!(events[0]["properties"]["event"]["const"], "message");
    assert_eq!(data(0)["contentMediaType"], "application/json");
    assert_eq!(
        data(0)["contentSchema"]["$ref"],
        "#/components/schemas/Piece"
    );
    assert_eq!(events[1]["properties"]["event"]["const"], "error");
    assert_eq!(
        data(1)["contentSchema"]["$ref"],
        "#/components/schemas/ErrorEnvelope/properties/error"
    );
    assert!(ok["description"].as_str().unwrap().contains("event: error"));
    let piece = &doc["components"]["schemas"]["Piece"];
    assert!(piece["oneOf"].is_array(), "{piece}");
    // Declared errors stay in the responses, as for any route.
    let responses = &doc["paths"]["/v1/plugins/talk/pieces"]["post"]["responses"];
    assert!(responses["422"].is_object() && responses["503"].is_object());
}

/// The events as they are on the wire: `event` only when the line is there, `data` as sent.
fn raw_events(text: &str) -> Vec<serde_json::Value> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut event = serde_json::Map::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    event.insert("event".into(), v.into());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    event.insert("data".into(), v.into());
                }
            }
            event.contains_key("data").then_some(event.into())
        })
        .collect()
}

/// A JSON Schema 2020-12 validator for the schema at `pointer` in `doc`, its `$ref`s resolved
/// within the document.
fn validator_at(doc: &serde_json::Value, pointer: &str) -> jsonschema::Validator {
    let mut root = doc.clone();
    root["$ref"] = format!("#{pointer}").into();
    jsonschema::draft202012::new(&root).unwrap_or_else(|e| panic!("{pointer}: {e}"))
}

#[tokio::test]
async fn every_event_the_server_sends_is_valid_under_the_document() {
    let doc = plugin_routes::openapi::document(
        &plugin_routes::ServerConfig::default(),
        &[],
        &[<Talk as plugin_routes::Plugin>::META],
        plugin_routes::openapi::Scope::All,
    );
    let at =
        "/paths/~1v1~1plugins~1talk~1pieces/post/responses/200/content/text~1event-stream/schema";
    let event = validator_at(&doc, at);
    let item = validator_at(&doc, &format!("{at}/oneOf/0/properties/data/contentSchema"));
    let error = validator_at(&doc, &format!("{at}/oneOf/1/properties/data/contentSchema"));
    let (c, _) = client();
    let mut seen = Vec::new();
    for ask in [json!({"pieces": 3}), json!({"pieces": 3, "fail_after": 2})] {
        let r = c.post("/v1/plugins/talk/pieces").json(&ask).send().await;
        seen.extend(raw_events(&r.text()));
    }
    assert_eq!(seen.len(), 4 + 3, "{seen:#?}");
    for e in &seen {
        let problems: Vec<String> = event.iter_errors(e).map(|p| p.to_string()).collect();
        assert!(problems.is_empty(), "{e}: {problems:?}");
        // `contentSchema` is an annotation in 2020-12: the data is checked against it here.
        let data: serde_json::Value = serde_json::from_str(e["data"].as_str().unwrap()).unwrap();
        let of = if e.get("event").is_some_and(|n| n == "error") {
            &error
        } else {
            &item
        };
        assert!(of.is_valid(&data), "{data} against its contentSchema");
    }
    // The branches exclude each other: an error event is not a message, and no event is both.
    let failed = seen.iter().filter(|e| e.get("event").is_some()).count();
    assert_eq!(failed, 1, "{seen:#?}");
    let mut mislabelled = seen[0].clone();
    mislabelled["event"] = "error".into();
    let under_message = validator_at(&doc, &format!("{at}/oneOf/0"));
    assert!(!under_message.is_valid(&mislabelled));
}
