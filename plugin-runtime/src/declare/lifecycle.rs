//! What a `#[plugin]` declares about its life outside requests: its typed configuration
//! (`config = T`) and its hooks (`start`, `stop`, `ready`).

/// A plugin's typed configuration, as `#[plugin(config = T)]` declares it.
#[derive(Debug)]
pub struct ConfigMeta {
    /// What its environment variables start with: `COMMIT_` for plugin `commit` unless the
    /// attribute says `config_env = "..."`.
    pub env_prefix: &'static str,
    /// The type's name, for diagnostics.
    pub type_name: &'static str,
    /// The type's JSON Schema: the manifest shows it, and the loader reads it to find every fault
    /// in one pass.
    pub schema: fn() -> schemars::Schema,
}

/// Which hooks a plugin declares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hooks {
    /// `start = f`: builds the plugin's state before the server listens, and may refuse to.
    pub start: bool,
    /// `stop = f`: runs after the server has drained.
    pub stop: bool,
    /// `ready = f`: answers whether the plugin can serve now, for the readiness route.
    pub ready: bool,
}

impl Hooks {
    /// No hooks.
    pub const NONE: Hooks = Hooks {
        start: false,
        stop: false,
        ready: false,
    };
}
