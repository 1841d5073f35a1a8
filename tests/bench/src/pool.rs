//! `bench-pool <postgres-url>`: what the shared pool's bounded check on a connection coming back
//! (`plugin_routes::database::RELEASE_WAIT`) costs queries, in wall time on this machine.
//!
//! The pool `plugin_routes::database::connect` opens is set beside a pool of sqlx's defaults on
//! the same database and of the same size (16), rounds of each alternating so that the machine's
//! noise falls on both alike. In each round, `tasks` tasks (1, 4, 16, and 64, which wait for
//! connections) run `SELECT 1` through the pool, one query after another, for `ROUND`; the
//! figure is queries a second, as the median of the rounds [lowest, highest], and the ratio
//! ours / sqlx's as the median of the per-round ratios.
//! Runs on a multi-threaded runtime, as a server does.

use sqlx::AnyPool;
use std::time::{Duration, Instant};

const ROUND: Duration = Duration::from_millis(1_500);
const ROUNDS: usize = 7;
const SIZE: u32 = 16;

fn spread(mut v: Vec<f64>, digits: usize) -> String {
    v.sort_by(f64::total_cmp);
    let (mid, low, high) = (v[v.len() / 2], v[0], v[v.len() - 1]);
    format!("{mid:.digits$} [{low:.digits$}, {high:.digits$}]")
}

/// Queries a second through `pool` from `tasks` tasks over one round.
async fn round(pool: &AnyPool, tasks: usize) -> f64 {
    let start = Instant::now();
    let runs: Vec<_> = (0..tasks)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while start.elapsed() < ROUND {
                    sqlx::query("SELECT 1")
                        .execute(&pool)
                        .await
                        .expect("SELECT 1");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for run in runs {
        total += run.await.expect("a task");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    let url = std::env::args()
        .nth(1)
        .expect("usage: bench-pool postgres://...");
    let ours = plugin_routes::database::connect_with(&url, SIZE)
        .await
        .expect("the database answers");
    let plain = sqlx::any::AnyPoolOptions::new()
        .max_connections(SIZE)
        .connect(&url)
        .await
        .expect("the database answers");
    println!("| tasks | ours, queries/s | sqlx's defaults, queries/s | ours / sqlx's |");
    println!("|---:|---:|---:|---:|");
    for tasks in [1, 4, 16, 64] {
        round(&ours, tasks).await;
        round(&plain, tasks).await;
        let (mut a, mut b, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..ROUNDS {
            // Which goes first alternates too.
            let (x, y) = if i % 2 == 0 {
                let x = round(&ours, tasks).await;
                (x, round(&plain, tasks).await)
            } else {
                let y = round(&plain, tasks).await;
                (round(&ours, tasks).await, y)
            };
            a.push(x);
            b.push(y);
            ratios.push(x / y);
        }
        println!(
            "| {tasks} | {} | {} | {} |",
            spread(a, 0),
            spread(b, 0),
            spread(ratios, 3)
        );
    }
}
