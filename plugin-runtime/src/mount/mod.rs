//! Floor 5, mounting: each route becomes an axum handler (the [`endpoint`] runs the policies,
//! then the request path), each plugin a router ([`Mounter`]), and the compile-time checks hold
//! plugins and routes to each other ([`check`]).

pub(crate) mod check;
mod endpoint;
mod mounter;
mod plugin;

pub use endpoint::{RouteRuntime, ServeFn, ServeFuture, endpoint, serve};
pub use mounter::Mounter;
pub use plugin::{Plugin, Route};
