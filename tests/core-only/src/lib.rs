//! Nothing here: `tests/core_only.rs` compiles programs against `plugin-routes` without its
//! default features.
