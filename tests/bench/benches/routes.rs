//! Wall-clock comparison, side by side in one run: the generated `create_item` and `get_item`
//! against hand-written axum handlers with the same semantics. Run with `cargo bench -p plugin-bench`.

#![allow(clippy::unwrap_used)] // a measurement harness: any failure should abort it

use criterion::{Criterion, criterion_group, criterion_main};
use plugin_bench::apps;

fn routes(c: &mut Criterion) {
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
}

criterion_group!(benches, routes);
criterion_main!(benches);
