//! Prometheus metrics (feature `metrics`), shaped by what routes declare: requests by status and
//! a latency histogram per route template and method, a counter for each declared error code and
//! each rate-limit policy of each route, present at zero from the start, requests in flight and
//! open event streams. Every label set is known when the routes are mounted, so the series are
//! bounded and the manifest lists them.
//!
//! The per-route counters are atomics made at mount ([`route::RouteMetrics`]); a request adds to
//! its route's without a lock or a lookup. prometheus-client writes the text format, through a
//! collector that reads those atomics at scrape time, and keeps the metrics a host or a plugin
//! registers beside them ([`Metrics::register`]).

pub(crate) mod route;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use route::RouteMetrics;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

/// The server's metrics: what the routes record, and what a host or plugin registers. Cloning
/// shares them. Rendered at the path [`ServerConfig::with_metrics_path`] sets (`/metrics` by
/// default), or by [`Metrics::render`] wherever the host serves them.
///
/// [`ServerConfig::with_metrics_path`]: crate::ServerConfig::with_metrics_path
#[derive(Clone)]
pub struct Metrics {
    shared: Arc<Shared>,
    registry: Arc<Mutex<Registry>>,
}

/// What the routes record into, read by the collector.
#[derive(Default)]
struct Shared {
    routes: Mutex<Vec<Arc<RouteMetrics>>>,
    auth: Mutex<Option<Arc<AuthFailures>>>,
    in_flight: AtomicI64,
    streams: AtomicI64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("routes", &self.shared.routes().len())
            .finish_non_exhaustive()
    }
}

/// The same metrics (one is a clone of the other).
impl PartialEq for Metrics {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl Eq for Metrics {}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Shared {
    fn routes(&self) -> std::sync::MutexGuard<'_, Vec<Arc<RouteMetrics>>> {
        self.routes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Metrics {
    /// Metrics with no route yet.
    pub fn new() -> Self {
        let shared = Arc::new(Shared::default());
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Routes(Arc::clone(&shared))));
        Metrics {
            shared,
            registry: Arc::new(Mutex::new(registry)),
        }
    }

    /// Adds a metric of a host's or a plugin's own (a prometheus-client `Counter`, `Gauge`,
    /// `Histogram` or `Family` of them); it is rendered with the routes' metrics. prometheus-client
    /// adds `_total` to a counter's name and a full stop to `help`. The Prometheus 0.0.4 text
    /// [`render`](Self::render) writes has no `Info` metrics and no exemplars: register neither.
    pub fn register(
        &self,
        name: &str,
        help: &str,
        metric: impl prometheus_client::registry::Metric,
    ) {
        self.registry
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .register(name, help, metric);
    }

    /// Every metric in Prometheus' text format (version 0.0.4), what Prometheus scrapes by
    /// default and `promtool check metrics` reads.
    pub fn render(&self) -> String {
        classic(&self.render_openmetrics())
    }

    /// Every metric in the OpenMetrics 1.0 text format (ending in `# EOF`), for a scraper that
    /// asks for `application/openmetrics-text`.
    pub fn render_openmetrics(&self) -> String {
        let mut text = String::new();
        let registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        // Writing to a `String` cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        text
    }

    /// The failed-authentication counters of an authenticator serving `schemes`, at zero.
    pub(crate) fn auth_failures(
        &self,
        schemes: impl Iterator<Item = &'static str>,
    ) -> Arc<AuthFailures> {
        let counted = Arc::new(AuthFailures {
            by_scheme: schemes.map(|s| (s, AtomicU64::new(0))).collect(),
            unnamed: AtomicU64::new(0),
        });
        *self
            .shared
            .auth
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&counted));
        counted
    }

    /// The counters of a route being mounted, at zero: its declared error codes and the
    /// policies that can refuse it. The same counters for a route mounted again (a second app
    /// assembled with the same configuration), so no series is written twice.
    pub(crate) fn route(
        &self,
        served: route::Served,
        errors: impl Iterator<Item = &'static str>,
        policies: impl Iterator<Item = &'static str>,
    ) -> Arc<RecordTo> {
        let counters = {
            let mut routes = self.shared.routes();
            let mounted = routes.iter().find(|r| {
                r.plugin == served.plugin
                    && r.method == served.method
                    && r.template == served.template
            });
            match mounted {
                Some(r) => Arc::clone(r),
                None => {
                    let made = Arc::new(RouteMetrics::new(served, errors, policies));
                    routes.push(Arc::clone(&made));
                    made
                }
            }
        };
        Arc::new(RecordTo {
            route: counters,
            shared: Arc::clone(&self.shared),
        })
    }
}

/// OpenMetrics text rewritten in Prometheus' 0.0.4 format. prometheus-client writes only the
/// former; the two differ in what this needs: a counter's `# HELP` and `# TYPE` name its family
/// (`x`) in OpenMetrics and its sample (`x_total`) in 0.0.4, and 0.0.4 has no `# UNIT` or
/// `# EOF`.
fn classic(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let described = ["# HELP ", "# TYPE "].into_iter().find_map(|tag| {
            let rest = line.strip_prefix(tag)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(&name)
                .then(|| format!("{tag}{name}_total {tail}"))
        });
        match described {
            Some(rewritten) => text.push_str(&rewritten),
            None => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

/// Failed authentications (401s from the authenticator) per scheme, and those that named none.
pub(crate) struct AuthFailures {
    by_scheme: Box<[(&'static str, AtomicU64)]>,
    unnamed: AtomicU64,
}

impl AuthFailures {
    /// The authenticator refused a credential presented for `scheme`.
    pub(crate) fn failed(&self, scheme: Option<&str>) {
        let counter = scheme
            .and_then(|s| self.by_scheme.iter().find(|(name, _)| *name == s))
            .map_or(&self.unnamed, |(_, n)| n);
        counter.fetch_add(1, Relaxed);
    }
}

/// What one route records into: its own counters and the server's gauges.
pub(crate) struct RecordTo {
    pub(crate) route: Arc<RouteMetrics>,
    shared: Arc<Shared>,
}

impl RecordTo {
    /// A request begun at `started` (the time its timeout counts from too, so that one read
    /// of the clock serves both); it is in flight until the guard is dropped, answered or
    /// abandoned.
    pub(crate) fn begin(&self, started: tokio::time::Instant) -> InFlight<'_> {
        self.shared.in_flight.fetch_add(1, Relaxed);
        InFlight { started, to: self }
    }

    /// An open event stream on this route, until the guard is dropped.
    pub(crate) fn stream_opened(&self) -> StreamOpen {
        self.shared.streams.fetch_add(1, Relaxed);
        StreamOpen(Arc::clone(&self.shared))
    }
}

/// A request in flight on a route.
pub(crate) struct InFlight<'a> {
    started: tokio::time::Instant,
    to: &'a RecordTo,
}

impl InFlight<'_> {
    /// The request is answered with `response` (and the error `code`, if it failed). An event
    /// stream is counted open until the guard returned is dropped, with the response's body.
    pub(crate) fn answered(
        self,
        response: &axum::response::Response,
        code: Option<&'static str>,
    ) -> Option<StreamOpen> {
        self.to
            .route
            .record(response.status().as_u16(), self.started.elapsed(), code);
        // A streamed route's failures before its stream are JSON envelopes: its answer says.
        let streams = self.to.route.streams
            && response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        streams.then(|| self.to.stream_opened())
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.to.shared.in_flight.fetch_sub(1, Relaxed);
    }
}

/// An open event stream, counted until dropped.
pub(crate) struct StreamOpen(Arc<Shared>);

impl Drop for StreamOpen {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Relaxed);
    }
}

/// A metric the routes record, as the manifest lists it.
#[derive(serde::Serialize)]
pub(crate) struct Described {
    /// The family's name; a counter's samples add `_total`.
    #[serde(skip)]
    family: &'static str,
    /// The name as scraped.
    pub(crate) name: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
}

const ROUTE: [&str; 3] = ["plugin", "route", "method"];

const fn counter(
    family: &'static str,
    name: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
) -> Described {
    Described {
        family,
        name,
        kind: "counter",
        labels,
        help,
    }
}

/// Every metric the routes record, spelled once: the collector writes these and the manifest
/// lists them.
pub(crate) const CATALOGUE: [Described; 7] = [
    counter(
        "http_server_requests",
        "http_server_requests_total",
        &["plugin", "route", "method", "status"],
        "Requests answered, by plugin, route template, method and status.",
    ),
    Described {
        family: "http_server_request_duration_seconds",
        name: "http_server_request_duration_seconds",
        kind: "histogram",
        labels: &ROUTE,
        help: "Time from a request's arrival at its route to its response head, by plugin, route template and method.",
    },
    counter(
        "plugin_route_errors",
        "plugin_route_errors_total",
        &["plugin", "route", "method", "code"],
        "Declared errors answered, by plugin, route template, method and code; every code a route declares is present from the start.",
    ),
    counter(
        "plugin_rate_limit_refusals",
        "plugin_rate_limit_refusals_total",
        &["plugin", "route", "method", "policy"],
        "Requests refused by a rate limit or a concurrency cap, by plugin, route template, method and policy; every policy in force is present from the start.",
    ),
    counter(
        "plugin_auth_failures",
        "plugin_auth_failures_total",
        &["scheme"],
        "Credentials the authenticator refused (401), by the scheme they were presented for; `none` when it did not say. Every scheme served is present from the start.",
    ),
    Described {
        family: "http_server_requests_in_flight",
        name: "http_server_requests_in_flight",
        kind: "gauge",
        labels: &[],
        help: "Requests being handled by a route now.",
    },
    Described {
        family: "http_server_open_event_streams",
        name: "http_server_open_event_streams",
        kind: "gauge",
        labels: &[],
        help: "Event-stream responses being sent now.",
    },
];

// The catalogue's entries, by position.
const REQUESTS: usize = 0;
const DURATION: usize = 1;
const ERRORS: usize = 2;
const REFUSALS: usize = 3;
const AUTH_FAILURES: usize = 4;
const IN_FLIGHT: usize = 5;
const STREAMS: usize = 6;

impl Described {
    fn descriptor<'e>(
        &'static self,
        encoder: &'e mut DescriptorEncoder<'_>,
    ) -> Result<prometheus_client::encoding::MetricEncoder<'e>, std::fmt::Error> {
        let kind = match self.kind {
            "counter" => MetricType::Counter,
            "histogram" => MetricType::Histogram,
            _ => MetricType::Gauge,
        };
        encoder.encode_descriptor(self.family, self.help, None, kind)
    }
}

/// Reads the routes' counters at scrape time.
struct Routes(Arc<Shared>);

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Routes")
    }
}

/// A counter read at scrape time.
struct Count(u64);

impl EncodeMetric for Count {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder<'_>,
    ) -> std::fmt::Result {
        encoder.encode_counter::<NoLabelSet, _, u64>(&self.0, None)
    }
    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

impl Collector for Routes {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let routes = self.0.routes().clone();
        fn labels(r: &RouteMetrics) -> [(&'static str, &str); 3] {
            [
                ("plugin", r.plugin),
                ("route", r.template.as_str()),
                ("method", r.method),
            ]
        }
        {
            let mut family = CATALOGUE[REQUESTS].descriptor(&mut encoder)?;
            for r in &routes {
                for (status, n) in r.statuses() {
                    let status = status.map_or_else(|| "other".to_owned(), |s| s.to_string());
                    let set = (labels(r), [("status", status.as_str())]);
                    Count(n).encode(family.encode_family(&set)?)?;
                }
            }
        }
        {
            let mut family = CATALOGUE[DURATION].descriptor(&mut encoder)?;
            for r in &routes {
                let (sum, count, buckets) = r.histogram();
                family
                    .encode_family(&labels(r))?
                    .encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
            }
        }
        {
            let mut family = CATALOGUE[ERRORS].descriptor(&mut encoder)?;
            for r in &routes {
                for (code, n) in r.errors.iter() {
                    let set = (labels(r), [("code", *code)]);
                    Count(n.load(Relaxed)).encode(family.encode_family(&set)?)?;
                }
            }
        }
        {
            let mut family = CATALOGUE[REFUSALS].descriptor(&mut encoder)?;
            for r in &routes {
                for (policy, n) in r.refusals.iter() {
                    let set = (labels(r), [("policy", *policy)]);
                    Count(n.load(Relaxed)).encode(family.encode_family(&set)?)?;
                }
            }
        }
        let auth = self
            .0
            .auth
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(auth) = auth {
            let mut family = CATALOGUE[AUTH_FAILURES].descriptor(&mut encoder)?;
            let unnamed = ("none", &auth.unnamed);
            for (scheme, n) in auth.by_scheme.iter().map(|(s, n)| (*s, n)).chain([unnamed]) {
                Count(n.load(Relaxed)).encode(family.encode_family(&[("scheme", scheme)])?)?;
            }
        }
        for (described, value) in [
            (&CATALOGUE[IN_FLIGHT], &self.0.in_flight),
            (&CATALOGUE[STREAMS], &self.0.streams),
        ] {
            described
                .descriptor(&mut encoder)?
                .encode_gauge(&value.load(Relaxed))?;
        }
        Ok(())
    }
}
