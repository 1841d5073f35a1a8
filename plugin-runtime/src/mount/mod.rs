//! Floor 5, mounting: each route becomes an axum handler (the [`endpoint`] runs the policies,
//! then the request path), each plugin a router ([`Mounter`]), and the compile-time checks hold
//! plugins and routes to each other ([`check`]).

pub(crate) mod check;
mod endpoint;
mod mounter;
#[cfg(feature = "operations")]
mod operation;
mod plugin;

pub use endpoint::{RouteRuntime, ServeFn, ServeFuture, endpoint, serve};
pub use mounter::Mounter;
#[cfg(feature = "operations")]
pub use operation::{RunFn, accept_operation, operation_endpoint, run_operation};
pub use plugin::{Plugin, Route};
