//! Nothing here: `tests/core_only.rs` compiles programs against `plugin-runtime` without its
//! default features.
