//! `bench-limits [redis-url]`: what counting one request costs, in wall time on this machine.
//!
//! - In memory: `LimitStore::count_one` on a warm key, in batches.
//! - In Redis (if a URL is given): the same check, one round trip each, set beside a bare
//!   `PING` on a connection of the same client, batches of each alternating so that the
//!   machine's noise falls on both alike.
//!
//! `bench-limits --checks N` only makes N in-memory checks after a warm-up: `cargo xtask
//! bench-limits` runs it under valgrind's DHAT with two values of N to count the allocations
//! one check makes.
//!
//! Prints each as the median of the batches' per-operation times [lowest, highest], and the
//! ratio check/PING as the median of the per-round ratios.

use plugin_routes::{LimitKey, LimitStore, RateLimit};
use std::time::Instant;

const POLICY: RateLimit = RateLimit {
    name: "bench",
    quota: 1_000_000_000,
    window_secs: 1,
    burst: 1_000_000_000,
    key: LimitKey::Caller,
};
const BATCH: u32 = 2_000;
const ROUNDS: usize = 15;

fn spread(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!("{:.0} [{:.0}, {:.0}]", v[v.len() / 2], v[0], v[v.len() - 1])
}

fn ratio_spread(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!("{:.2} [{:.2}, {:.2}]", v[v.len() / 2], v[0], v[v.len() - 1])
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let url = std::env::args().nth(1);

    let memory = LimitStore::memory();
    for _ in 0..BATCH {
        assert_eq!(
            memory.count_one("bench", &POLICY, "caller").await,
            Some(true)
        );
    }
    let mut in_memory = Vec::new();
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..BATCH {
            std::hint::black_box(memory.count_one("bench", &POLICY, "caller").await);
        }
        in_memory.push(start.elapsed().as_nanos() as f64 / f64::from(BATCH));
    }
    println!("| check | ns per check |");
    println!("|---|---:|");
    println!("| in memory, warm key | {} |", spread(in_memory));

    let Some(url) = url else {
        println!("(no Redis URL given: the Redis check was not measured)");
        return;
    };
    let prefix = format!("plugin-bench:{}", std::process::id());
    let redis: LimitStore = LimitStore::redis(&url)
        .expect("a redis:// URL")
        .key_prefix(prefix)
        .into();
    for _ in 0..200 {
        redis.ping().await.expect("Redis answers PING");
        assert_eq!(
            redis.count_one("bench", &POLICY, "caller").await,
            Some(true)
        );
    }
    let (mut pings, mut checks, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..BATCH {
            redis.ping().await.expect("PING");
        }
        let ping = start.elapsed().as_nanos() as f64 / f64::from(BATCH);
        let start = Instant::now();
        for _ in 0..BATCH {
            assert_eq!(
                redis.count_one("bench", &POLICY, "caller").await,
                Some(true)
            );
        }
        let check = start.elapsed().as_nanos() as f64 / f64::from(BATCH);
        pings.push(ping);
        checks.push(check);
        ratios.push(check / ping);
    }
    println!("| Redis `PING`, one round trip | {} |", spread(pings));
    println!(
        "| Redis check (`EVALSHA`), one round trip | {} |",
        spread(checks)
    );
    println!(
        "| ratio check / `PING` (per round) | {} |",
        ratio_spread(ratios)
    );
}
