//! Runs one route variant N times, for counting instructions under callgrind:
//! `bench-instructions <generated|hand_written|public|api_key> <create_item|get_item> <N>`.
//! `public` and `api_key` are `get_item` in one router with authentication, without and with a
//! credential (a warm cache after the first request).
//! `cargo xtask bench` runs it twice per variant with different N and divides the difference, so
//! start-up work cancels out and what remains is the cost of one request.
//!
//! `bench-instructions paired <create_item|get_item> <N> <ROUNDS>` builds both the generated and
//! the hand-written router in one process and, after a warm-up, alternates batches of N requests
//! to each, ROUNDS times. Under callgrind with `--toggle-collect` on `measure_generated` and
//! `measure_hand_written`, the two share one heap and one history, so their ratio is not moved
//! by the state malloc happens to start a process in.
//!
//! `bench-instructions <paired-sdk|time-sdk> - <N> <ROUNDS>` (built with `otel`) measures the
//! OpenTelemetry SDK alone making a server span, sampled and dropped in turn (`sdk_floor`).

#![allow(clippy::unwrap_used)] // a measurement harness: any failure should abort it

use plugin_bench::apps;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, variant, route, n, ..] = args.as_slice() else {
        eprintln!("usage: bench-instructions <generated|hand_written> <create_item|get_item> <N>");
        std::process::exit(2);
    };
    let n: u32 = n.parse().expect("N is a number");
    apps::quiet_tracing();
    if variant == "paired-limit" {
        let rounds: u32 = args
            .get(4)
            .map_or(Ok(10), |r| r.parse())
            .expect("ROUNDS is a number");
        return paired_limit(n, rounds);
    }
    #[cfg(feature = "otel")]
    if variant == "paired-sdk" || variant == "time-sdk" {
        let rounds: u32 = args
            .get(4)
            .map_or(Ok(10), |r| r.parse())
            .expect("ROUNDS is a number");
        return sdk_floor(n, rounds, variant == "time-sdk");
    }
    #[cfg(feature = "metrics")]
    if let Some(what) = variant
        .strip_prefix("paired-")
        .or_else(|| variant.strip_prefix("time-"))
        .filter(|w| matches!(*w, "metrics" | "traced" | "unsampled"))
    {
        let rounds: u32 = args
            .get(4)
            .map_or(Ok(10), |r| r.parse())
            .expect("ROUNDS is a number");
        let on = match what {
            #[cfg(feature = "otel")]
            "traced" => apps::generated_traced(true),
            #[cfg(feature = "otel")]
            "unsampled" => apps::generated_traced(false),
            "metrics" => apps::generated(),
            other => panic!("`{other}` needs the harness built with `--features otel`"),
        };
        return paired_metrics(on, route, n, rounds, variant.starts_with("time-"));
    }
    if variant == "paired" {
        let rounds: u32 = args
            .get(4)
            .map_or(Ok(10), |r| r.parse())
            .expect("ROUNDS is a number");
        return paired(route, n, rounds);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (router, key) = match variant.as_str() {
            "generated" => (apps::generated(), None),
            #[cfg(feature = "metrics")]
            "generated_without_metrics" => (apps::generated_without_metrics(), None),
            #[cfg(feature = "otel")]
            "generated_traced" => (apps::generated_traced(true), None),
            #[cfg(feature = "otel")]
            "generated_unsampled" => (apps::generated_traced(false), None),
            "hand_written" => (apps::hand_written(), None),
            "public" | "api_key" => {
                let (router, key) = apps::with_auth().await;
                (router, Some(format!("Bearer {key}").parse().unwrap()))
            }
            other => panic!("unknown variant {other}"),
        };
        for _ in 0..n {
            match (variant.as_str(), route.as_str(), &key) {
                ("public", "get_item", Some(key)) => {
                    apps::send(&router, apps::get_request_with("bench", key), 200).await;
                }
                ("api_key", "get_item", Some(key)) => {
                    apps::send(&router, apps::get_request_with("secured", key), 200).await;
                }
                (_, "create_item", None) => apps::send(&router, apps::create_request(), 201).await,
                (_, "get_item", None) => apps::send(&router, apps::get_request(), 200).await,
                other => panic!("unknown variant and route {other:?}"),
            }
        }
    });
}

fn paired(route: &str, n: u32, rounds: u32) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let generated = apps::generated();
    let hand_written = apps::hand_written();
    // Warm both up (first-use allocations, lazily built state) before anything is counted.
    run(&rt, &generated, route, n);
    run(&rt, &hand_written, route, n);
    for _ in 0..rounds {
        measure_generated(&rt, &generated, route, n);
        measure_hand_written(&rt, &hand_written, route, n);
    }
}

// The two bodies differ (a side-effect-free marker each) so the compiler cannot merge them into
// one symbol, which would leave callgrind one function to report.
#[inline(never)]
fn measure_generated(rt: &tokio::runtime::Runtime, router: &axum::Router, route: &str, n: u32) {
    std::hint::black_box("generated");
    run(rt, router, route, n);
}

#[inline(never)]
fn measure_hand_written(rt: &tokio::runtime::Runtime, router: &axum::Router, route: &str, n: u32) {
    std::hint::black_box("hand-written");
    run(rt, router, route, n);
}

fn run(rt: &tokio::runtime::Runtime, router: &axum::Router, route: &str, n: u32) {
    rt.block_on(async {
        for _ in 0..n {
            match route {
                "create_item" => apps::send(router, apps::create_request(), 201).await,
                "get_item" => apps::send(router, apps::get_request(), 200).await,
                other => panic!("unknown route {other}"),
            }
        }
    });
}

/// One route in `on` (a router recording metrics, and tracing with `paired-traced`) and in one
/// that records none (the features compiled into both), batches alternating as in [`paired`].
/// With `time`, each batch is also timed and the medians of the per-batch nanoseconds per
/// request are printed: one process, one heap, the two sides interleaved.
#[cfg(feature = "metrics")]
fn paired_metrics(on: axum::Router, route: &str, n: u32, rounds: u32, time: bool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let off = apps::generated_without_metrics();
    run(&rt, &on, route, n);
    run(&rt, &off, route, n);
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let started = std::time::Instant::now();
        measure_metrics_on(&rt, &on, route, n);
        with.push(started.elapsed().as_nanos() as f64 / f64::from(n));
        let started = std::time::Instant::now();
        measure_metrics_off(&rt, &off, route, n);
        without.push(started.elapsed().as_nanos() as f64 / f64::from(n));
    }
    if time {
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let mut deltas: Vec<f64> = with.iter().zip(&without).map(|(a, b)| a - b).collect();
        let (a, b) = (median(&mut with), median(&mut without));
        println!(
            "{route}: {a:.0} ns/request recording, {b:.0} without; per-round difference median {:.0} ns",
            median(&mut deltas)
        );
    }
}

#[cfg(feature = "metrics")]
#[inline(never)]
fn measure_metrics_on(rt: &tokio::runtime::Runtime, router: &axum::Router, route: &str, n: u32) {
    std::hint::black_box("metrics on");
    run(rt, router, route, n);
}

#[cfg(feature = "metrics")]
#[inline(never)]
fn measure_metrics_off(rt: &tokio::runtime::Runtime, router: &axum::Router, route: &str, n: u32) {
    std::hint::black_box("metrics off");
    run(rt, router, route, n);
}

/// What the OpenTelemetry SDK alone takes to make a request's server span, with nothing of this
/// project around it: the span built by the same provider as [`apps::generated_traced`]'s (a
/// batch processor, an exporter that discards), named by the route, given the attributes the
/// HTTP conventions ask of a server span, its status, and ended; sampled and dropped in turn,
/// in one process. The floor under any integration that lets the host's provider decide and
/// record each span.
#[cfg(feature = "otel")]
fn sdk_floor(n: u32, rounds: u32, time: bool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _entered = rt.enter();
    let sampled = apps::bench_tracer_provider(true);
    let dropped = apps::bench_tracer_provider(false);
    // Warmed up outside the measured functions, which callgrind counts per call.
    sdk_spans(sampled, n);
    sdk_spans(dropped, n);
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let started = std::time::Instant::now();
        measure_sdk_sampled(sampled, n);
        with.push(started.elapsed().as_nanos() as f64 / f64::from(n));
        let started = std::time::Instant::now();
        measure_sdk_dropped(dropped, n);
        without.push(started.elapsed().as_nanos() as f64 / f64::from(n));
    }
    if time {
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "the SDK alone, a server span: {:.0} ns sampled, {:.0} ns dropped (medians of {rounds} batches of {n})",
            median(&mut with),
            median(&mut without)
        );
    }
}

#[cfg(feature = "otel")]
#[inline(never)]
fn measure_sdk_sampled(provider: &apps::SdkTracerProvider, n: u32) {
    std::hint::black_box("sdk sampled");
    sdk_spans(provider, n);
}

#[cfg(feature = "otel")]
#[inline(never)]
fn measure_sdk_dropped(provider: &apps::SdkTracerProvider, n: u32) {
    std::hint::black_box("sdk dropped");
    sdk_spans(provider, n);
}

#[cfg(feature = "otel")]
fn sdk_spans(provider: &apps::SdkTracerProvider, n: u32) {
    use plugin_routes::otel::opentelemetry::trace::{
        Span as _, SpanBuilder, SpanKind, Tracer as _, TracerProvider as _,
    };
    use plugin_routes::otel::opentelemetry::{Context, KeyValue};
    let tracer = provider.tracer("bench");
    let request = apps::get_request();
    for _ in 0..n {
        let request = std::hint::black_box(&request);
        let mut span = tracer.build_with_context(
            SpanBuilder {
                name: std::borrow::Cow::Borrowed("GET /v1/plugins/bench/items/{id}"),
                span_kind: Some(SpanKind::Server),
                ..SpanBuilder::default()
            },
            &Context::new(),
        );
        if span.is_recording() {
            span.set_attributes([
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("http.route", "/v1/plugins/bench/items/{id}"),
                KeyValue::new("url.path", request.uri().path().to_owned()),
                KeyValue::new("url.scheme", "http"),
                KeyValue::new("network.protocol.version", "1.1"),
            ]);
            span.set_attribute(KeyValue::new("http.response.status_code", 200_i64));
            span.end();
        }
        std::hint::black_box(span);
    }
}

/// `get_item` unlimited and limited, in one router: batches alternate as in [`paired`].
fn paired_limit(n: u32, rounds: u32) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let router = apps::with_limits();
    run_plugin(&rt, &router, "bench", n);
    run_plugin(&rt, &router, "limited", n);
    for _ in 0..rounds {
        measure_unlimited(&rt, &router, n);
        measure_limited(&rt, &router, n);
    }
}

#[inline(never)]
fn measure_unlimited(rt: &tokio::runtime::Runtime, router: &axum::Router, n: u32) {
    std::hint::black_box("unlimited");
    run_plugin(rt, router, "bench", n);
}

#[inline(never)]
fn measure_limited(rt: &tokio::runtime::Runtime, router: &axum::Router, n: u32) {
    std::hint::black_box("limited");
    run_plugin(rt, router, "limited", n);
}

fn run_plugin(rt: &tokio::runtime::Runtime, router: &axum::Router, plugin: &str, n: u32) {
    rt.block_on(async {
        for _ in 0..n {
            apps::send(router, apps::get_request_to(plugin), 200).await;
        }
    });
}
