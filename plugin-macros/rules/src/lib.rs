//! The rules that both halves of the framework apply: `plugin-routes-macros` when it expands an
//! attribute (so a bad declaration does not compile) and `plugin-routes` when it serves and
//! documents a route (and in its `const` checks). Each rule is written here once.
//!
//! This crate has no dependencies and is not meant to be used directly: depend on
//! `plugin-routes`, which re-exports what users see ([`Method`], [`FrameworkCode`]).

mod codes;
mod limits;
mod method;
mod names;
mod path;
mod reach;
mod scope;
mod suggest;

pub use codes::{FrameworkCode, MAX_ERROR_STATUS, MIN_ERROR_STATUS, is_error_code};
pub use limits::{CONCURRENCY_KEYS, LIMIT_KEYS, MAX_RATE_LIMITS, parse_window};
pub use method::Method;
pub use names::{
    AUTH_BASE_PATH, BASE_PREFIX, SITE_BASE_PATH, check_plugin_prefix, default_base_path,
    derive_operation_id, in_default_layout, is_allowed_base_path, is_plugin_name, is_semver,
    operation_id_byte, rebase, serves_default_health, suggest_plugin_name,
};
pub use path::{PathTemplate, full_path, parse_template};
pub use reach::{
    BUILTIN_PLACEHOLDERS, FS_KINDS, PERMISSION_KINDS, PRESET_NAMES, PRESETS, Preset, Program,
    check_net, check_path, env_matches, host_port_of, is_env_pattern, parse_host_port,
    parse_program, preset, split_placeholder,
};
pub use scope::{grant_covers, is_valid_grant, is_valid_scope, is_wildcard};
pub use suggest::{did_you_mean, is_scheme_name};

/// `a == b` in a `const fn` (the compile-time checks compare names and paths with it).
pub const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}
