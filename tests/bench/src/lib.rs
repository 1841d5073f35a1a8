//! The routers the benchmarks compare; see `apps`.
// A benchmark fixture, not an API: its items are public only for the bench targets, and a failed
// request should stop the measurement loudly.
#![allow(unreachable_pub, missing_debug_implementations, clippy::unwrap_used)]

pub mod apps;
