//! What confining a child costs: spawning and waiting for `true` with a plain
//! `tokio::process::Command`, and through a `plugin_routes::reach::Reach` (a thread per spawn
//! that applies the route's Landlock ruleset first), on the same runtime. Run with
//! `cargo bench -p plugin-bench --bench spawn`.

// A measurement harness: a failure should abort it.
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use plugin_routes::Permissions;
use plugin_routes::reach::{Placeholders, Reach, enforcement};

static PERMS: Permissions = Permissions {
    presets: &[],
    shell: &["true"],
    read: &[],
    write: &["{tmp}"],
    net: &["127.0.0.1:9"],
    env: &["PATH"],
};

fn spawn(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let e = enforcement();
    eprintln!("enforcement: {}", serde_json::to_string(e).unwrap());
    let reach = Reach::resolve("bench POST /spawn", &PERMS, &Placeholders::new()).unwrap();

    let mut group = c.benchmark_group("spawn_true");
    group.bench_function("plain", |b| {
        b.to_async(&rt).iter(|| async {
            let status = tokio::process::Command::new("/usr/bin/true")
                .spawn()
                .unwrap()
                .wait()
                .await
                .unwrap();
            assert!(status.success());
        });
    });
    let name = if e.fs.enforced {
        "reach_landlock"
    } else {
        "reach_unconfined"
    };
    group.bench_function(name, |b| {
        b.to_async(&rt).iter(|| async {
            let status = reach.command("true").unwrap().status().await.unwrap();
            assert!(status.success());
        });
    });
    group.finish();
}

criterion_group!(benches, spawn);
criterion_main!(benches);
