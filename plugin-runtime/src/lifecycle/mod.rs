//! Floor 3, a plugin's life outside requests: its typed configuration, read and checked whole
//! before the server listens ([`config`], feature `config`), and its hooks: `start` builds its
//! state (and may refuse, with its own message), `stop` runs after the drain, `ready` answers the
//! readiness route. Imports only the floors below (declared data, reach's placeholders).

#[cfg(feature = "config")]
pub(crate) mod config;
pub(crate) mod hooks;
#[cfg(feature = "config")]
mod secret;

pub use hooks::{Lifecycle, Missing, Readiness, ReadyCheck, StartFailed, Starting};
#[cfg(feature = "config")]
pub use secret::Secret;
