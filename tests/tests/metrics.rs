//! `GET /metrics` (feature `metrics`) as Prometheus scrapes it: every declared error code of every
//! route present at zero from the start and moving by exactly one per answer, rate-limit refusals
//! per policy, requests in flight and open event streams, all in a text that Prometheus' own
//! `promtool check metrics` accepts.

use futures_util::stream;
use plugin_routes::EventStream;
use plugin_routes::prelude::*;
use plugin_routes::testing::TestClient;
use std::sync::Arc;
use tokio::sync::Notify;
use tower::ServiceExt;

#[derive(Clone, Default)]
struct Gate {
    open: Arc<Notify>,
}

#[derive(Deserialize, JsonSchema, garde::Validate)]
struct Pick {
    /// Which way to answer: `ok`, `missing` or `gone`.
    #[garde(length(min = 1, max = 10))]
    how: String,
}

#[derive(Serialize, JsonSchema)]
struct Picked {
    how: String,
}

/// Answers as asked: a success or one of two declared errors.
#[plugin_route(
    method = "GET",
    path = "/pick",
    security(none),
    errors(NOT_THERE = 404, GONE_FOR_GOOD = 410)
)]
async fn pick(input: Pick) -> RouteResult<Picked> {
    match input.how.as_str() {
        "missing" => Err(route_error!(NOT_THERE)),
        "gone" => Err(route_error!(GONE_FOR_GOOD)),
        _ => Ok(Picked { how: input.how }),
    }
}

/// One request a minute per route.
#[plugin_route(
    method = "POST",
    path = "/scarce",
    status = 204,
    security(none),
    rate_limit(scarce(1, per = "1m", key = "route"))
)]
async fn scarce() -> RouteResult<()> {
    Ok(())
}

/// Waits until the test opens the gate.
#[plugin_route(method = "GET", path = "/wait", status = 204, security(none))]
async fn wait(ctx: Ctx<Gate>) -> RouteResult<()> {
    ctx.open.notified().await;
    Ok(())
}

#[derive(Serialize, JsonSchema)]
struct Tick {
    n: u32,
}

/// One event, then silence until dropped.
#[plugin_route(method = "GET", path = "/ticks", security(none))]
async fn ticks() -> RouteResult<EventStream<Tick>> {
    use futures_util::StreamExt;
    let first = stream::iter([Ok(Tick { n: 1 })]);
    Ok(EventStream::new(first.chain(stream::pending())))
}

#[plugin(name = "gauge", version = "1.0.0", state = Gate, routes(pick, scarce, wait, ticks))]
struct Gauge;

/// The value of the one sample whose line starts with `series` (name and labels as written).
pub(crate) fn sample(text: &str, series: &str) -> f64 {
    let found: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix(series))
        .filter_map(|rest| rest.strip_prefix(' '))
        .collect();
    assert_eq!(found.len(), 1, "one sample `{series}` in:\n{text}");
    found[0].trim().parse().unwrap()
}

const PICK: &str = r#"plugin="gauge",route="/v1/plugins/gauge/pick",method="GET""#;

async fn scrape(c: &TestClient) -> String {
    let r = c.get("/metrics").send().await;
    assert_eq!(r.status(), 200, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    r.text()
}

#[tokio::test]
async fn declared_errors_start_at_zero_and_move_by_exactly_one() {
    let c = TestClient::new(plugins![Gauge::new(Gate::default())]);
    let before = scrape(&c).await;
    for code in ["NOT_THERE", "GONE_FOR_GOOD"] {
        let series = format!(r#"plugin_route_errors_total{{{PICK},code="{code}"}}"#);
        assert_eq!(
            sample(&before, &series),
            0.0,
            "{code} listed before any request"
        );
    }
    assert_eq!(
        sample(
            &before,
            &format!("http_server_request_duration_seconds_count{{{PICK}}}")
        ),
        0.0
    );

    assert_eq!(
        c.get("/v1/plugins/gauge/pick?how=ok").send().await.status(),
        200
    );
    assert_eq!(
        c.get("/v1/plugins/gauge/pick?how=missing")
            .send()
            .await
            .status(),
        404
    );
    assert_eq!(
        c.get("/v1/plugins/gauge/pick?how=").send().await.status(),
        400
    );
    let after = scrape(&c).await;
    let errors = |code: &str| {
        sample(
            &after,
            &format!(r#"plugin_route_errors_total{{{PICK},code="{code}"}}"#),
        )
    };
    assert_eq!(errors("NOT_THERE"), 1.0);
    assert_eq!(errors("GONE_FOR_GOOD"), 0.0);
    let requests = |status: &str| {
        sample(
            &after,
            &format!(r#"http_server_requests_total{{{PICK},status="{status}"}}"#),
        )
    };
    assert_eq!(requests("200"), 1.0);
    assert_eq!(requests("404"), 1.0);
    assert_eq!(requests("400"), 1.0);
    let count = format!("http_server_request_duration_seconds_count{{{PICK}}}");
    assert_eq!(sample(&after, &count), 3.0);
    let inf = format!(r#"http_server_request_duration_seconds_bucket{{le="+Inf",{PICK}}}"#);
    assert_eq!(
        sample(&after, &inf),
        3.0,
        "every request in the last bucket"
    );
    // Neither the scrape nor the documents count as a plugin's request.
    assert!(!after.contains(r#"route="/metrics""#), "{after}");
}

#[tokio::test]
async fn a_refusal_by_a_rate_limit_moves_its_policy_s_counter() {
    let c = TestClient::new(plugins![Gauge::new(Gate::default())]);
    let series = r#"plugin_rate_limit_refusals_total{plugin="gauge",route="/v1/plugins/gauge/scarce",method="POST",policy="scarce"}"#;
    assert_eq!(sample(&scrape(&c).await, series), 0.0);
    assert_eq!(
        c.post("/v1/plugins/gauge/scarce").send().await.status(),
        204
    );
    assert_eq!(sample(&scrape(&c).await, series), 0.0, "admitted");
    assert_eq!(
        c.post("/v1/plugins/gauge/scarce").send().await.status(),
        429
    );
    assert_eq!(sample(&scrape(&c).await, series), 1.0);
}

#[tokio::test]
async fn requests_in_flight_and_open_streams_are_gauges() {
    let gate = Gate::default();
    let app = plugins![Gauge::new(gate.clone())];
    let c = TestClient::new(app.clone());
    let get = |uri: &str| {
        axum::http::Request::get(uri)
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let in_flight = "http_server_requests_in_flight";
    let streams = "http_server_open_event_streams";
    assert_eq!(sample(&scrape(&c).await, in_flight), 0.0);

    // A request that waits: in flight until answered.
    let waiting = tokio::spawn(app.clone().oneshot(get("/v1/plugins/gauge/wait")));
    assert!(
        until(&c, in_flight, 1.0).await,
        "the waiting request is in flight"
    );

    // A stream: open while its body is held, closed when it is dropped.
    let stream = app
        .clone()
        .oneshot(get("/v1/plugins/gauge/ticks"))
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(sample(&scrape(&c).await, streams), 1.0);
    drop(stream);
    assert_eq!(sample(&scrape(&c).await, streams), 0.0);

    // The waiting request is let go; a cancelled one leaves the count too.
    let cancelled = tokio::spawn(app.clone().oneshot(get("/v1/plugins/gauge/wait")));
    assert!(until(&c, in_flight, 2.0).await, "both are in flight");
    cancelled.abort();
    let _ = cancelled.await;
    gate.open.notify_waiters();
    let answered = waiting.await.unwrap().unwrap();
    assert_eq!(answered.status(), 204);
    assert!(until(&c, in_flight, 0.0).await, "nothing in flight");
}

/// Whether the gauge `name` reaches `value` within 200 scrapes, yielding between them.
async fn until(c: &TestClient, name: &str, value: f64) -> bool {
    for _ in 0..200 {
        if sample(&scrape(c).await, name) == value {
            return true;
        }
        tokio::task::yield_now().await;
    }
    false
}

/// Where `promtool` is; `None`, after saying the check is skipped, when it is not installed
/// (CI installs Debian's `prometheus` package, and there it must be found).
fn promtool() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("promtool"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "promtool is not installed: .ci/run installs Debian's `prometheus` package"
        );
        eprintln!("skipped: install promtool (Debian's `prometheus` package) to check the text");
    }
    found
}

#[tokio::test]
async fn promtool_accepts_the_text() {
    let Some(promtool) = promtool() else { return };
    let c = TestClient::new(plugins![Gauge::new(Gate::default())]);
    for uri in [
        "/v1/plugins/gauge/pick?how=ok",
        "/v1/plugins/gauge/pick?how=gone",
    ] {
        c.get(uri).send().await;
    }
    c.post("/v1/plugins/gauge/scarce").send().await;
    c.post("/v1/plugins/gauge/scarce").send().await;
    let text = scrape(&c).await;
    let mut child = tokio::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(text.as_bytes()).await.unwrap();
    }
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}\n{}{}\n{text}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn the_host_chooses_the_path_or_serves_the_text_itself() {
    let config = ServerConfig::default().with_metrics_path("/internal/metrics");
    let c = TestClient::new(plugins![config = config; Gauge::new(Gate::default())]);
    assert_eq!(c.get("/metrics").send().await.status(), 404);
    let r = c.get("/internal/metrics").send().await;
    assert_eq!(r.status(), 200);
    assert!(
        r.text().contains("plugin_route_errors_total{"),
        "{}",
        r.text()
    );

    let config = ServerConfig::default().without_metrics_route();
    let metrics = config.metrics().unwrap().clone();
    let c = TestClient::new(plugins![config = config; Gauge::new(Gate::default())]);
    assert_eq!(c.get("/metrics").send().await.status(), 404);
    c.get("/v1/plugins/gauge/pick?how=missing").send().await;
    let text = metrics.render();
    let series = format!(r#"plugin_route_errors_total{{{PICK},code="NOT_THERE"}}"#);
    assert_eq!(sample(&text, &series), 1.0);
    // Nothing recorded or served, though the feature is compiled in.
    let config = ServerConfig::default().without_metrics();
    assert!(config.metrics().is_none());
    let c = TestClient::new(plugins![config = config; Gauge::new(Gate::default())]);
    assert_eq!(c.get("/metrics").send().await.status(), 404);
    let r = c.get("/v1/plugins/gauge/pick?how=missing").send().await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.error()["code"], "NOT_THERE");

    // OpenMetrics for a scraper that asks for it.
    let c = TestClient::new(plugins![Gauge::new(Gate::default())]);
    let r = c
        .get("/metrics")
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await;
    assert_eq!(
        r.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let open = r.text();
    assert!(open.ends_with("# EOF\n"), "{open}");
    assert!(
        open.contains("# TYPE plugin_route_errors counter\n"),
        "{open}"
    );
    // Not in the documents.
    let doc = c.get("/openapi.json").send().await.text();
    assert!(!doc.contains("metrics"), "{doc}");
}

#[tokio::test]
async fn failed_authentications_are_counted_per_scheme() {
    let w = crate::fixtures::world().await;
    let c = TestClient::new(w.app);
    let failures = |text: &str, scheme: &str| {
        sample(
            text,
            &format!(r#"plugin_auth_failures_total{{scheme="{scheme}"}}"#),
        )
    };
    let before = scrape(&c).await;
    for scheme in ["user", "token", "oauth", "none"] {
        assert_eq!(
            failures(&before, scheme),
            0.0,
            "{scheme} listed from the start"
        );
    }
    let items = "/v1/plugins/items/items";
    let r = c
        .get(items)
        .header("authorization", "Bearer plk_not-a-key-anyone-made")
        .send()
        .await;
    assert_eq!(r.status(), 401);
    assert_eq!(c.get(items).send().await.status(), 401, "no credential");
    let r = c
        .get(items)
        .header("authorization", format!("Bearer {}", w.key))
        .send()
        .await;
    assert_eq!(r.status(), 200, "a good key is no failure");
    // A key on a route that admits only sessions is a failure of the key's scheme.
    let r = c
        .post("/v1/auth/logout")
        .header("authorization", format!("Bearer {}", w.key))
        .send()
        .await;
    let after = scrape(&c).await;
    assert_eq!(r.status(), 401, "{}", r.text());
    assert_eq!(failures(&after, "token"), 2.0);
    assert_eq!(failures(&after, "none"), 1.0);
    assert_eq!(failures(&after, "user"), 0.0);
    assert_eq!(failures(&after, "oauth"), 0.0);
}

#[tokio::test]
async fn two_apps_from_one_configuration_share_each_route_s_series() {
    let config = ServerConfig::default();
    let metrics = config.metrics().unwrap().clone();
    let first = TestClient::new(plugins![config = config.clone(); Gauge::new(Gate::default())]);
    let second = TestClient::new(plugins![config = config; Gauge::new(Gate::default())]);
    first.get("/v1/plugins/gauge/pick?how=missing").send().await;
    second
        .get("/v1/plugins/gauge/pick?how=missing")
        .send()
        .await;
    let series = format!(r#"plugin_route_errors_total{{{PICK},code="NOT_THERE"}}"#);
    // `sample` insists on exactly one line for the series.
    assert_eq!(sample(&metrics.render(), &series), 2.0);
}
