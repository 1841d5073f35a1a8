//! HTTP behaviour through the in-process client: one test per status the framework sends, and the
//! envelope, request id and limits around them.

use crate::fixtures::client;
use axum::body::Body;
use plugin_routes::testing::{TestClient, TestResponse};
use serde_json::{Value, json};

const ITEMS: &str = "/v1/plugins/items/items";

async fn create(c: &TestClient, name: &str) -> Value {
    let r = c
        .post(ITEMS)
        .json(&json!({"name": name, "status": "active"}))
        .send()
        .await;
    assert_eq!(r.status(), 201, "{}", r.text());
    r.json()
}

/// The envelope has exactly code, message, requestId and optionally details; the id matches the
/// header.
fn assert_envelope(r: &TestResponse, status: u16, code: &str) -> Value {
    assert_eq!(r.status(), status, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let e = r.error();
    assert_eq!(e["code"], code, "{}", r.text());
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.text()
    );
    let id = r.header("x-request-id").expect("x-request-id header");
    assert_eq!(e["requestId"], id);
    let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
    assert!(
        keys.iter()
            .all(|k| ["code", "message", "details", "requestId"].contains(k)),
        "{keys:?}"
    );
    e
}

fn details(e: &Value) -> Vec<(String, String, String)> {
    e["details"]
        .as_array()
        .expect("details is a list")
        .iter()
        .map(|d| {
            (
                d["location"].as_str().unwrap().to_owned(),
                d["path"].as_str().unwrap().to_owned(),
                d["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn created_201_then_ok_200() {
    let c = client().await;
    let item = create(&c, "lamp").await;
    assert_eq!(item["name"], "lamp");
    assert_eq!(item["status"], "active");
    assert!(item["createdAt"].as_str().unwrap().ends_with('Z'));
    let r = c.get(&format!("{ITEMS}/{}", item["id"])).send().await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>(), item);
}

#[tokio::test]
async fn list_paginates_and_filters() {
    let c = client().await;
    for name in ["a", "b", "c"] {
        create(&c, name).await;
    }
    let id = create(&c, "d").await["id"].clone();
    let r = c
        .patch(&format!("{ITEMS}/{id}"))
        .json(&json!({"status": "archived"}))
        .send()
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    let page: Value = c
        .get(&format!("{ITEMS}?page=2&limit=2"))
        .send()
        .await
        .json();
    assert_eq!(
        page["pagination"],
        json!({"page": 2, "limit": 2, "total": 4})
    );
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b", "a"]);
    let archived: Value = c
        .get(&format!("{ITEMS}?filter=archived"))
        .send()
        .await
        .json();
    assert_eq!(
        archived["pagination"],
        json!({"page": 1, "limit": 20, "total": 1})
    );
    assert_eq!(archived["items"][0]["name"], "d");
}

#[tokio::test]
async fn no_content_204_has_no_body() {
    let c = client().await;
    let id = create(&c, "gone soon").await["id"].clone();
    let r = c.delete(&format!("{ITEMS}/{id}")).send().await;
    assert_eq!(r.status(), 204);
    assert!(r.bytes().is_empty());
    assert!(r.header("x-request-id").is_some());
    let again = c.delete(&format!("{ITEMS}/{id}")).send().await;
    assert_envelope(&again, 404, "ITEM_NOT_FOUND");
}

#[tokio::test]
async fn declared_error_404_and_409_carry_their_codes() {
    let c = client().await;
    let r = c.get(&format!("{ITEMS}/999")).send().await;
    let e = assert_envelope(&r, 404, "ITEM_NOT_FOUND");
    assert_eq!(e["message"], "no item has id 999");
    create(&c, "twin").await;
    let r = c
        .post(ITEMS)
        .json(&json!({"name": "twin", "status": "archived"}))
        .send()
        .await;
    let e = assert_envelope(&r, 409, "ITEM_EXISTS");
    assert_eq!(e["message"], "an item named \"twin\" exists");
}

#[tokio::test]
async fn invalid_input_400_for_malformed_json() {
    let c = client().await;
    let r = c
        .post(ITEMS)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    let d = details(&e);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].0, "body");
    assert!(d[0].2.contains("EOF"), "{d:?}");
}

#[tokio::test]
async fn invalid_input_400_for_wrong_type_and_missing_field() {
    let c = client().await;
    let r = c
        .post(ITEMS)
        .json(&json!({"name": 5, "status": "active"}))
        .send()
        .await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    assert_eq!(details(&e)[0].1, "name");
    assert_eq!(details(&e)[0].2, "expected a string, found the number 5");

    // A missing field is reported at the field, not at its parent.
    let r = c.post(ITEMS).json(&json!({"name": "x"})).send().await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    assert_eq!(
        (details(&e)[0].1.as_str(), details(&e)[0].2.as_str()),
        ("status", "required")
    );

    let r = c
        .post(ITEMS)
        .json(&json!({"name": "x", "status": "active", "colour": "red"}))
        .send()
        .await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    assert!(details(&e)[0].2.contains("unknown field `colour`"), "{e}");

    // A string outside an enumeration's values, in a body and in a query: the values allowed,
    // in the JSON the client writes, and never Rust's "variant".
    let r = c
        .post(ITEMS)
        .json(&json!({"name": "x", "status": "gone"}))
        .send()
        .await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    assert_eq!(
        (details(&e)[0].1.as_str(), details(&e)[0].2.as_str()),
        (
            "status",
            "expected one of \"active\", \"archived\", found the string \"gone\""
        )
    );
    // An object where the enumeration's string goes: serde words its key as it words a string,
    // and the client is told it sent an object.
    for (status, said) in [
        (
            json!({"gone": 1}),
            "expected one of \"active\", \"archived\", found an object whose key \"gone\" is none of them",
        ),
        (
            json!({"a": 1, "b": 2}),
            "expected one of \"active\", \"archived\", found an object of 2 keys",
        ),
    ] {
        let r = c
            .post(ITEMS)
            .json(&json!({"name": "x", "status": status}))
            .send()
            .await;
        let e = assert_envelope(&r, 400, "INVALID_INPUT");
        assert_eq!(
            (details(&e)[0].1.as_str(), details(&e)[0].2.as_str()),
            ("status", said),
            "{e}"
        );
    }
    let r = c.get(&format!("{ITEMS}?filter=gone")).send().await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    assert_eq!(
        (details(&e)[0].1.as_str(), details(&e)[0].2.as_str()),
        (
            "filter",
            "expected one of \"active\", \"archived\", found the string \"gone\""
        )
    );
}

#[tokio::test]
async fn invalid_input_400_lists_every_violation() {
    let c = client().await;
    let r = c.get(&format!("{ITEMS}?page=0&limit=101")).send().await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    let d = details(&e);
    let paths: Vec<(&str, &str)> = d.iter().map(|(l, p, _)| (l.as_str(), p.as_str())).collect();
    assert_eq!(paths, [("query", "limit"), ("query", "page")]);

    let long = "x".repeat(101);
    let r = c
        .post(ITEMS)
        .json(&json!({"name": long, "status": "active"}))
        .send()
        .await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    assert_eq!(details(&e)[0].1, "name");
}

#[tokio::test]
async fn invalid_input_400_names_nested_fields() {
    let c = client().await;
    let r = c
        .post("/v1/plugins/probe/jobs")
        .json(&json!({"input": "", "options": {"timeout": 5}}))
        .send()
        .await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    let paths: Vec<String> = details(&e)
        .into_iter()
        .map(|(l, p, _)| format!("{l}:{p}"))
        .collect();
    assert_eq!(paths, ["body:input", "body:options.timeout"]);

    let r = c
        .post("/v1/plugins/probe/jobs")
        .json(&json!({"input": "x", "options": {"timeout": "soon"}}))
        .send()
        .await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    assert_eq!(details(&e)[0].1, "options.timeout");

    let ok = c
        .post("/v1/plugins/probe/jobs")
        .json(&json!({"input": "x", "options": {"timeout": 2000}}))
        .send()
        .await;
    assert_eq!(ok.status(), 202);
}

#[tokio::test]
async fn invalid_input_400_for_bad_query_and_path() {
    let c = client().await;
    let r = c.get(&format!("{ITEMS}?limit=lots")).send().await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    assert_eq!(details(&e)[0].0, "query");
    assert_eq!(details(&e)[0].1, "limit");

    let r = c.get(&format!("{ITEMS}?filter=deleted")).send().await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    assert_eq!(details(&e)[0].1, "filter");

    let r = c.get(&format!("{ITEMS}/seven")).send().await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    assert_eq!(
        details(&e),
        [(
            "path".to_owned(),
            "id".to_owned(),
            "expected an integer, found the string \"seven\"".to_owned()
        )]
    );

    // An integer out of the type's range is told the range it was out of.
    let r = c.get(&format!("{ITEMS}/99999999999999999999")).send().await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    assert_eq!(
        details(&e)[0].2,
        "expected an integer from -9223372036854775808 to 9223372036854775807, found the string \"99999999999999999999\""
    );
}

#[tokio::test]
async fn query_lists_take_repeated_keys() {
    let c = client().await;
    let r = c
        .get("/v1/plugins/probe/tags?tag=a&tag=b&tag=c")
        .send()
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json::<Value>(), json!({"tags": ["a", "b", "c"]}));
    let r = c.get("/v1/plugins/probe/tags?tag=a&tag=").send().await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    assert_eq!(details(&e)[0].1, "tag[1]");
}

/// The query as a browser or a curl user writes it: escapes decode; an empty value is a value
/// (an optional enum given empty is refused, as its schema says); a parameter given twice where
/// one value is expected is named; an unknown one is refused where the type says so.
#[tokio::test]
async fn query_strings_as_clients_write_them() {
    let c = client().await;
    let r = c.get(&format!("{ITEMS}?filter=&page=1")).send().await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    assert_eq!(details(&e)[0].1, "filter");
    let r = c
        .get(&format!("{ITEMS}?%66ilter=archived&limit=1%30"))
        .send()
        .await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(r.json::<Value>()["pagination"]["limit"], 10);

    let r = c.get(&format!("{ITEMS}?page=1&page=2")).send().await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    let d = details(&e);
    assert_eq!((d[0].0.as_str(), d[0].1.as_str()), ("query", "page"));
    assert!(
        d[0].2.starts_with("expected a single value, found 2"),
        "{e}"
    );

    let r = c.get(&format!("{ITEMS}?filter=%FF")).send().await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    assert_eq!(details(&e)[0].1, "filter");

    let r = c.get(&format!("{ITEMS}?sort=name")).send().await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    assert!(details(&e)[0].2.starts_with("unknown field `sort`"), "{e}");
}

#[tokio::test]
async fn not_found_404_for_unknown_route() {
    let c = client().await;
    let r = c.get("/v1/plugins/nothing/here").send().await;
    let e = assert_envelope(&r, 404, "NOT_FOUND");
    assert_eq!(e["message"], "no route for GET /v1/plugins/nothing/here");
}

#[tokio::test]
async fn method_not_allowed_405_lists_allowed_methods() {
    let c = client().await;
    let r = c.put(ITEMS).json(&json!({})).send().await;
    assert_envelope(&r, 405, "METHOD_NOT_ALLOWED");
    let allow = r.header("allow").expect("Allow header");
    let mut methods: Vec<&str> = allow.split(',').map(str::trim).collect();
    methods.sort_unstable();
    assert_eq!(methods, ["GET", "HEAD", "POST"]);
}

#[tokio::test]
async fn payload_too_large_413_with_content_length() {
    let c = client().await;
    let r = c
        .post("/v1/plugins/probe/upload")
        .json(&json!({"much": "more than sixteen bytes"}))
        .send()
        .await;
    assert_envelope(&r, 413, "PAYLOAD_TOO_LARGE");
    let ok = c
        .post("/v1/plugins/probe/upload")
        .json(&json!({"a": 1}))
        .send()
        .await;
    assert_eq!(ok.status(), 200, "{}", ok.text());
}

#[tokio::test]
async fn payload_too_large_413_without_content_length() {
    let c = client().await;
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = (0..8)
        .map(|_| Ok(bytes::Bytes::from_static(b"[1,2,3,4,")))
        .collect();
    let body = Body::new(http_body_util::StreamBody::new(futures_stream(chunks)));
    let r = c
        .post("/v1/plugins/probe/upload")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    assert_envelope(&r, 413, "PAYLOAD_TOO_LARGE");
}

/// A body that arrives in frames and announces no length, like a chunked upload.
fn futures_stream(
    chunks: Vec<Result<bytes::Bytes, std::io::Error>>,
) -> impl futures_core::Stream<Item = Result<http_body::Frame<bytes::Bytes>, std::io::Error>> {
    struct Frames(std::vec::IntoIter<Result<bytes::Bytes, std::io::Error>>);
    impl futures_core::Stream for Frames {
        type Item = Result<http_body::Frame<bytes::Bytes>, std::io::Error>;
        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Self::Item>> {
            std::task::Poll::Ready(self.0.next().map(|c| c.map(http_body::Frame::data)))
        }
    }
    Frames(chunks.into_iter())
}

#[tokio::test]
async fn unsupported_media_type_415() {
    let c = client().await;
    let r = c
        .post(ITEMS)
        .header("content-type", "text/plain")
        .body("name=x")
        .send()
        .await;
    assert_envelope(&r, 415, "UNSUPPORTED_MEDIA_TYPE");
    let r = c.post(ITEMS).body("{}").send().await;
    assert_envelope(&r, 415, "UNSUPPORTED_MEDIA_TYPE");
    let r = c
        .post(ITEMS)
        .header(
            "content-type",
            "application/merge-patch+json; charset=utf-8",
        )
        .body(r#"{"name":"typed","status":"active"}"#)
        .send()
        .await;
    assert_eq!(r.status(), 201, "{}", r.text());
}

#[tokio::test]
async fn internal_500_hides_the_cause() {
    let c = client().await;
    let r = c.get("/v1/plugins/probe/fail").send().await;
    let e = assert_envelope(&r, 500, "INTERNAL");
    assert!(
        !r.text().contains("hunter2") && !r.text().contains("refused"),
        "{}",
        r.text()
    );
    assert!(e.get("details").is_none());
}

#[tokio::test]
async fn panic_500_and_the_server_keeps_serving() {
    let c = client().await;
    let r = c.get("/v1/plugins/probe/panic").send().await;
    assert_envelope(&r, 500, "INTERNAL");
    assert!(!r.text().contains("hunter2"));
    let after = c.get("/v1/plugins/probe/tags?tag=still-here").send().await;
    assert_eq!(after.status(), 200);
}

#[tokio::test]
async fn timeout_504_drops_the_handler() {
    let c = client().await;
    let r = c.get("/v1/plugins/probe/slow").send().await;
    let e = assert_envelope(&r, 504, "TIMEOUT");
    assert_eq!(e["message"], "the request did not complete within 50 ms");
}

#[tokio::test]
async fn request_id_is_kept_when_well_formed_and_replaced_otherwise() {
    let c = client().await;
    let r = c
        .get(&format!("{ITEMS}/1"))
        .header("x-request-id", "trace-42.a_b")
        .send()
        .await;
    assert_eq!(r.header("x-request-id"), Some("trace-42.a_b"));
    assert_eq!(r.error()["requestId"], "trace-42.a_b");
    let r = c
        .get(&format!("{ITEMS}/1"))
        .header("x-request-id", "<script>")
        .send()
        .await;
    let id = r.header("x-request-id").unwrap();
    assert_ne!(id, "<script>");
    assert_eq!(id.len(), 32);
    let r2 = c.get(&format!("{ITEMS}/1")).send().await;
    assert_ne!(r2.header("x-request-id"), Some(id));
}

#[tokio::test]
async fn context_reaches_plugin_and_request_id_and_extractors() {
    let c = client().await;
    let r = c
        .get("/v1/plugins/probe/agent")
        .header("user-agent", "probe-test")
        .header("x-request-id", "req-1")
        .send()
        .await;
    assert_eq!(
        r.json::<Value>(),
        json!({"tags": ["probe-test", "probe", "req-1"]})
    );
}

#[tokio::test]
async fn health_reports_plugin_and_version() {
    let c = client().await;
    let r = c.get("/v1/plugins/items/health").send().await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text(),
        r#"{"status":"healthy","plugin":"items","version":"1.0.0"}"#
    );
    let r = c.get("/v1/plugins/probe/health").send().await;
    assert_eq!(r.json::<Value>()["version"], "0.3.1");
}

#[tokio::test]
async fn plugins_compose_with_user_routes() {
    let app = crate::fixtures::items_app()
        .await
        .route("/", axum::routing::get(|| async { "home" }));
    let c = TestClient::new(app);
    assert_eq!(c.get("/").send().await.text(), "home");
    assert_eq!(c.get("/v1/plugins/items/health").send().await.status(), 200);
}

/// What a client reads about bad input names JSON's types and the client's fields, never a
/// Rust type (`struct CreateItem`, `u32`) or an unknown path segment (`?`).
#[tokio::test]
async fn bad_input_is_described_in_the_client_s_terms() {
    let c = client().await;
    let cases = [
        ("[]", "", "expected a JSON object, found an array"),
        (
            r#"{"name": "x", "status": 3}"#,
            "status",
            "not an allowed value here",
        ),
        (
            r#"{"name": null, "status": "active"}"#,
            "name",
            "expected a string, found null",
        ),
    ];
    let post = |body: &'static str| {
        c.post(ITEMS)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (body, path, message) in cases {
        let r = post(body).await;
        let e = assert_envelope(&r, 400, "INVALID_INPUT");
        let d = details(&e);
        assert_eq!(
            (d[0].1.as_str(), d[0].2.as_str()),
            (path, message),
            "{body}"
        );
    }

    // Broken syntax in a key: the path names only what is known, the message where it broke.
    let r = post(r#"{"name" "x"}"#).await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    let d = details(&e);
    assert_eq!(d[0].1, "", "{e}");
    assert_eq!(d[0].2, "expected `:` at line 1 column 9");
    assert_eq!(e["message"], "the body is not valid JSON");

    // An enumeration's value of another JSON type is valid JSON of the wrong shape; text that is
    // no JSON at all (here not even UTF-8) is told so, where it broke.
    let r = post(r#"{"name": "x", "status": true}"#).await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    assert_eq!(e["message"], "the body does not match the expected shape");
    let r = c
        .post(ITEMS)
        .header("content-type", "application/json")
        .body(&b"\xff\xfe{}"[..])
        .send()
        .await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    assert_eq!(e["message"], "the body is not valid JSON");
    assert_eq!(details(&e)[0].2, "expected value at line 1 column 1");
    // A string that is not UTF-8, and a wrong shape before the text stops being JSON: told
    // where the JSON breaks, not what the shape lacks.
    for (body, path, said) in [
        (
            &b"{\"name\": \"\xff\", \"status\": \"active\"}"[..],
            "name",
            "invalid unicode code point at line 1 column 11",
        ),
        (
            &b"{\"name\": \"x\", \"status\": 5} x"[..],
            "",
            "trailing characters at line 1 column 28",
        ),
    ] {
        let r = c
            .post(ITEMS)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        let e = assert_envelope(&r, 400, "INVALID_INPUT");
        assert_eq!(e["message"], "the body is not valid JSON", "{e}");
        assert_eq!(
            (details(&e)[0].1.as_str(), details(&e)[0].2.as_str()),
            (path, said)
        );
    }
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let r = c
        .post(ITEMS)
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    assert_eq!(
        e["message"],
        "the body is nested too deeply (at most 128 levels)"
    );

    let r = c.get(&format!("{ITEMS}?limit=many")).send().await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    let d = details(&e);
    assert_eq!((d[0].0.as_str(), d[0].1.as_str()), ("query", "limit"));
    assert_eq!(d[0].2, "expected an integer, found the string \"many\"");
    let r = c.get(&format!("{ITEMS}?limit=-1")).send().await;
    let e = assert_envelope(&r, 400, "INVALID_INPUT");
    assert_eq!(
        details(&e)[0].2,
        "expected an integer from 0 to 4294967295, found the string \"-1\""
    );

    for body in ["[]", r#"{"name": 5, "status": "active"}"#] {
        let text = post(body).await.text();
        for rust in ["struct", "CreateItem", "u32", "i64", "?"] {
            assert!(!text.contains(rust), "{body}: {text} names `{rust}`");
        }
    }
}
