//! Wall-clock comparison, side by side in one run: the generated `create_item` and `get_item`
//! against hand-written axum handlers with the same semantics. Run with `cargo bench -p plugin-bench`.

#![allow(clippy::unwrap_used)] // a measurement harness: any failure should abort it

use criterion::{Criterion, criterion_group, criterion_main};
use plugin_bench::apps;

fn routes(c: &mut Criterion) {
    apps::quiet_tracing();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let generated = apps::generated();
    let hand = apps::hand_written();

    let mut group = c.benchmark_group("create_item");
    group.bench_function("generated", |b| {
        b.to_async(&rt)
            .iter(|| apps::send(&generated, apps::create_request(), 201))
    });
    group.bench_function("hand_written", |b| {
        b.to_async(&rt)
            .iter(|| apps::send(&hand, apps::create_request(), 201))
    });
    group.finish();

    let mut group = c.benchmark_group("get_item");
    group.bench_function("generated", |b| {
        b.to_async(&rt)
            .iter(|| apps::send(&generated, apps::get_request(), 200))
    });
    group.bench_function("hand_written", |b| {
        b.to_async(&rt)
            .iter(|| apps::send(&hand, apps::get_request(), 200))
    });
    group.finish();

    // Authentication's cost: the same `get_item` in one router, public and behind an API key
    // (its lookup cached after the first request).
    let (with_auth, key) = rt.block_on(apps::with_auth());
    let authorization = format!("Bearer {key}").parse().unwrap();
    let mut group = c.benchmark_group("auth_get_item");
    group.bench_function("public", |b| {
        b.to_async(&rt).iter(|| {
            apps::send(
                &with_auth,
                apps::get_request_with("bench", &authorization),
                200,
            )
        })
    });
    group.bench_function("api_key_warm_cache", |b| {
        b.to_async(&rt).iter(|| {
            apps::send(
                &with_auth,
                apps::get_request_with("secured", &authorization),
                200,
            )
        })
    });
    group.finish();
}

/// A header looked up by name as `HeaderMap::get` does it (hashing the name, byte by byte) and
/// by comparing the names of the request's headers in turn, on requests with two to eight
/// headers; `traceparent` absent, as on most requests. Comparing was tried for the request path
/// and dropped: it wins only on requests with at most three headers (BENCHMARKS.md, issue 29).
fn header_lookup(c: &mut Criterion) {
    use http::{HeaderMap, HeaderName, HeaderValue};
    use std::hint::black_box;
    const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
    fn compared<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a HeaderValue> {
        headers
            .iter()
            .find_map(|(n, value)| (n == name).then_some(value))
    }
    let mut headers = apps::create_request().headers().clone();
    for count in [2, 4, 6, 8] {
        for i in headers.keys_len()..count {
            let name = HeaderName::try_from(format!("x-other-{i}")).unwrap();
            headers.insert(name, HeaderValue::from_static("value"));
        }
        let mut group = c.benchmark_group(format!("header_lookup_{count}_headers"));
        for name in [TRACEPARENT, plugin_routes::REQUEST_ID_HEADER] {
            group.bench_function(format!("{name}_hashed"), |b| {
                b.iter(|| black_box(&headers).get(black_box(&name)).is_some())
            });
            group.bench_function(format!("{name}_compared"), |b| {
                b.iter(|| compared(black_box(&headers), black_box(&name)).is_some())
            });
        }
        group.finish();
    }
}

criterion_group!(benches, routes, header_lookup);
criterion_main!(benches);
