//! What the engine runs: each operation route's handler behind [`Runner`] (implemented where
//! routes are mounted), given a [`Job`] and giving an [`Outcome`].

use crate::request::{ApiError, ProgressSink, RequestId};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// What a route's runner gets for one run.
#[derive(Debug)]
pub(crate) struct Job {
    /// The path parameters and the input, as JSON.
    pub(crate) input: String,
    /// The caller, as JSON.
    pub(crate) caller: Option<String>,
    pub(crate) request_id: RequestId,
    /// The operation's id.
    pub(crate) id: String,
    /// The accepting request's span as a W3C `traceparent`, when it was traced.
    pub(crate) traceparent: Option<String>,
    pub(crate) progress: ProgressSink,
}

/// What a run produced.
#[doc(hidden)]
#[derive(Debug)]
pub enum Outcome {
    /// The success the route would have answered: its status and its body (JSON).
    Succeeded { status: u16, result: String },
    /// The error it would have answered.
    Failed(ApiError),
}

#[doc(hidden)]
pub type RunFuture = Pin<Box<dyn Future<Output = Outcome> + Send + 'static>>;

/// One operation route's handler, as the engine runs it (implemented in `mount`).
pub(crate) trait Runner: Send + Sync + 'static {
    fn run(&self, job: Job) -> RunFuture;
    fn timeout(&self) -> Duration;
    /// Whether a run interrupted by its server's death is run again (else it fails).
    fn rerun(&self) -> bool;
}
