//! Runs one route variant N times, for counting instructions under callgrind:
//! `bench-instructions <generated|hand_written|public|api_key> <create_item|get_item> <N>`.
//! `public` and `api_key` are `get_item` in one router with authentication, without and with a
//! credential (a warm cache after the first request).
//! `cargo xtask bench` runs it twice per variant with different N and divides the difference, so
//! start-up work cancels out and what remains is the cost of one request.

#![allow(clippy::unwrap_used)] // a measurement harness: any failure should abort it

use plugin_bench::apps;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, variant, route, n] = args.as_slice() else {
        eprintln!("usage: bench-instructions <generated|hand_written> <create_item|get_item> <N>");
        std::process::exit(2);
    };
    let n: u32 = n.parse().expect("N is a number");
    apps::quiet_tracing();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (router, key) = match variant.as_str() {
            "generated" => (apps::generated(), None),
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
