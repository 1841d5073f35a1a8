//! The attribute models: each key with a grammar of its own (security, scopes, permissions, rate
//! limits, concurrency) is one module here that parses, validates and emits it, for
//! `#[plugin_route]` and `#[plugin]` alike; and the keys each attribute accepts, spelled once.

pub(crate) mod concurrency;
pub(crate) mod errors;
pub(crate) mod operation;
pub(crate) mod permissions;
pub(crate) mod rate_limit;
pub(crate) mod scopes;
pub(crate) mod security;

/// The keys of `#[plugin_route(...)]`.
pub(crate) const ROUTE_KEYS: &[&str] = &[
    "crate",
    "method",
    "path",
    "status",
    "errors",
    "timeout_ms",
    "body_limit",
    "summary",
    "tags",
    "operation_id",
    "deprecated",
    "hidden",
    "security",
    "scopes",
    "permissions",
    "rate_limit",
    "concurrency",
    "operation",
];

/// The keys of `#[plugin(...)]`.
pub(crate) const PLUGIN_KEYS: &[&str] = &[
    "crate",
    "name",
    "version",
    "state",
    "base_path",
    "timeout_ms",
    "body_limit",
    "routes",
    "errors",
    "deprecated",
    "hidden",
    "security",
    "scopes",
    "permissions",
    "rate_limit",
    "concurrency",
    "client",
    "config",
    "config_env",
    "start",
    "stop",
    "ready",
];
