//! Assembles the 500-route fixture N times, for counting instructions under callgrind:
//! `bench-startup <router|documents> <N>`. `cargo xtask bench` runs it with two N and divides
//! the difference, as for the per-request figures.

// A measurement harness over generated fixtures: a failure should abort it, and the fixture's
// items are public only so the module compiles quietly.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub, dead_code)]

mod many_routes;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, what, n] = args.as_slice() else {
        eprintln!("usage: bench-startup <router|documents> <N>");
        std::process::exit(2);
    };
    let n: u32 = n.parse().expect("N is a number");
    for _ in 0..n {
        match what.as_str() {
            "router" => drop(std::hint::black_box(many_routes::router())),
            "documents" => drop(std::hint::black_box(plugin_routes::openapi::Specs::build(
                &plugin_routes::ServerConfig::default(),
                &[],
                many_routes::METAS,
            ))),
            other => panic!("unknown target {other}"),
        }
    }
}
