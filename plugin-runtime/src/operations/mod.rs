//! Operations: a route declared `operation` answers `202 Accepted` at once, with the `Location`
//! of a resource the client reads (`GET`), watches (`GET …/events`) and cancels
//! (`POST …/cancel`), while its handler runs on whichever server takes it, after the request
//! is gone. The outcome outlives the connection, the server and a deploy: operations are rows
//! in the application's database, handed to servers by apalis (features `operations-sqlite`,
//! `operations-postgres`).
//!
//! ```ignore
//! let db = Database::connect(&url).await?;
//! let operations = Operations::open(&db, OperationSettings::default()).await?;
//! let config = ServerConfig::default().with_operations(&operations);
//! let app = plugins![config; auth = auth; CommitPlugin::new(state)];
//! let running = operations.start();          // after the plugins are mounted
//! plugin_routes::serve(listener, app).await?;
//! running.stop(Duration::from_secs(8)).await;
//! ```
//!
//! Why apalis: it is the maintained job library for Rust that keeps its queue in SQLite and
//! PostgreSQL through sqlx (as this crate does), with worker heartbeats that hand the work of a
//! dead server to a live one; what a client reads (state, progress, result) is this module's
//! own two tables beside apalis's.

mod engine;
mod runner;
mod settings;
mod store;
mod view;

pub use crate::declare::{Operation, OperationState, Progress};
pub(crate) use runner::{Job, Runner};
pub use runner::{Outcome, RunFuture};
pub use settings::OperationSettings;

pub(crate) use crate::declare::OperationState as State;
/// The clean-up's statement, for the tests that ask for its plan. Not public API.
#[doc(hidden)]
pub use engine::done_jobs_statement;
pub(crate) use engine::{Engine, now_ms};
pub(crate) use store::OperationRow;
pub(crate) use view::View;

use crate::database::Database;
use std::sync::Arc;
use std::time::Duration;

/// The operations of a server: open once on the application's database, give it to the
/// [`ServerConfig`](crate::ServerConfig), [`start`](Operations::start) it once the plugins
/// are mounted.
#[derive(Clone, Debug)]
pub struct Operations(pub(crate) Arc<engine::Engine>);

impl PartialEq for Operations {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for Operations {}

impl Operations {
    /// Creates the tables of operations and of apalis's queue on `db` if missing (SQLite with
    /// `operations-sqlite`, PostgreSQL with `operations-postgres`).
    ///
    /// # Errors
    /// A database that cannot be reached or migrated, or one whose feature is off.
    pub async fn open(db: &Database, settings: OperationSettings) -> Result<Self, sqlx::Error> {
        Ok(Operations(Arc::new(
            engine::Engine::open(db, settings).await?,
        )))
    }

    /// Starts taking work: one apalis worker per operation route mounted with this server's
    /// configuration, and the deletion of operations past their retention.
    #[must_use = "stop the workers with `Running::stop` once the server has drained"]
    pub fn start(&self) -> Running {
        Running {
            engine: Arc::clone(&self.0),
            tasks: self.0.start(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &OperationSettings {
        &self.0.settings
    }
}

/// The workers of a started [`Operations`].
#[derive(Debug)]
pub struct Running {
    engine: Arc<engine::Engine>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Stops taking work and waits up to `grace` for the operations running here. Those still
    /// running then are dropped: their rows say `running` until another server (or this one,
    /// started again) finds their worker dead and runs them again or fails them, as their
    /// routes declare. A stopping server sends no heartbeats, and others take a server for dead
    /// two heartbeats after the last one it sent, which may be as soon as one heartbeat (see
    /// [`OperationSettings::with_heartbeat`]) after it stops: its runs then stop here, writing
    /// nothing. A grace under one heartbeat avoids running them twice.
    pub async fn stop(self, grace: Duration) {
        /// How long workers get to acknowledge what ended once nothing runs.
        const ACKNOWLEDGE: Duration = Duration::from_secs(2);
        self.engine.stop();
        let engine = &self.engine;
        let started = tokio::time::Instant::now();
        let runs_ended = async {
            // Runs a worker let go of before it stopped (it failed and started again) are
            // driven apart from it: waited for too.
            while !engine.idle() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        if tokio::time::timeout(grace, runs_ended).await.is_ok() {
            // The workers acknowledge the jobs whose ends are written, then stop. One holding
            // the job of a run dropped before its end never does (the job is left to the
            // queue): it is not waited for past a moment.
            let left = grace.saturating_sub(started.elapsed()).min(ACKNOWLEDGE);
            let aborts: Vec<_> = self.tasks.iter().map(|t| t.abort_handle()).collect();
            let all = async {
                for task in self.tasks {
                    let _ = task.await;
                }
            };
            if tokio::time::timeout(left, all).await.is_err() {
                aborts.iter().for_each(tokio::task::AbortHandle::abort);
            }
        } else {
            self.tasks.iter().for_each(tokio::task::JoinHandle::abort);
        }
        // Whatever is left (nothing, when all ended in time) holds the engine no longer.
        self.engine.abort_runs();
    }
}

/// What an operation route needs of the server's operations: where they are, and what accepts
/// its requests (implemented where routes are mounted).
#[derive(Clone)]
pub(crate) struct RouteOperation {
    pub(crate) operations: Operations,
    pub(crate) acceptor: Arc<dyn crate::request::Acceptor>,
}

impl Operations {
    pub(crate) fn register(&self, key: String, runner: Arc<dyn Runner>) {
        self.0.register(key, runner);
    }
}
