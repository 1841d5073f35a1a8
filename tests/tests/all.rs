//! The project's one integration-test binary: the compile-fail suite, HTTP behaviour through the
//! in-process client, the real `example-server` over TCP, and handler unit tests.

// Test helpers outside `#[test]` functions unwrap too: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod ai;
mod ai_metering;
mod ai_upstreams;
mod auth;
mod client;
mod commit;
mod commit_apply;
mod commit_billing;
mod commit_eval;
mod commit_plans;
mod commit_races;
mod commit_reads;
mod commit_sandbox;
mod commit_scopes;
mod concurrency;
mod custom_auth;
mod fake_llm;
mod fixtures;
mod handlers;
mod host_layout;
mod http;
mod lifecycle;
mod limits;
mod lints;
mod logs;
mod metrics;
mod openapi;
mod operations;
mod outputs;
mod path_params;
mod postgres_tls;
mod rate_limits;
mod reach;
mod readiness;
mod redis_tls;
mod request_layer;
mod rules;
mod serve;
mod server;
mod shared_declarations;
mod streams;
mod throttling;
mod traces;
mod ui;
