//! Start-up cost of a large API: 500 generated routes in 10 plugins (see `build.rs`) assembled
//! into one router, which builds and serializes every OpenAPI document. Run with
//! `cargo bench -p plugin-bench --bench startup`.

// A measurement harness over generated fixtures: a failure should abort it, and the fixture's
// items are public only so the module compiles quietly.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

#[path = "../src/many_routes.rs"]
mod many_routes;

use criterion::{Criterion, criterion_group, criterion_main};
use many_routes::{METAS, router};
use plugin_routes::ServerConfig;
use plugin_routes::openapi::Specs;

fn startup(c: &mut Criterion) {
    let routes: usize = METAS.iter().map(|m| m.routes.len()).sum();
    assert_eq!(routes, 500);
    let mut group = c.benchmark_group("startup_500_routes");
    group.sample_size(20);
    group.bench_function("router_and_documents", |b| b.iter(router));
    group.bench_function("documents_only", |b| {
        b.iter(|| Specs::build(&ServerConfig::default(), &[], METAS));
    });
    group.finish();
}

criterion_group!(benches, startup);
criterion_main!(benches);
