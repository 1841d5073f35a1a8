//! Running operations: apalis hands each one to a server (its queues and workers live in the
//! application's database, SQLite or PostgreSQL), and this module runs it there, watching for a
//! cancel and writing its progress and its end where every server reads them.
//!
//! Each operation route has its own queue, so a server only takes the work of routes it serves.
//! A worker that stops sending heartbeats (its server died) has its operations handed again by
//! apalis to a live server, which either runs them again (`operation(rerun)`) or ends them
//! failed; apalis is never asked to retry by itself: the handler's outcome is stored here, and
//! the job always succeeds.

use super::runner::{Job, Outcome, Runner};
use super::settings::OperationSettings;
use super::store::{Ending, EventRow, OperationRow, Standing, Store, bounded};
use crate::database::{Backend, Database};
use crate::declare::OperationState as State;
use crate::request::{ApiError, CatchUnwind, FrameworkCode, RequestId, panic_message};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};

/// What apalis carries: only the operation's id; everything else is in its row.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct OperationJob {
    id: String,
}

/// The queue apalis keeps, on the database the application uses.
#[derive(Clone, Debug)]
pub(crate) enum Queue {
    #[cfg(feature = "operations-sqlite")]
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "operations-postgres")]
    Postgres(sqlx::PgPool),
    /// Neither backend is compiled in: `Engine::open` refuses, so there is never a queue.
    #[cfg(not(any(feature = "operations-sqlite", feature = "operations-postgres")))]
    #[allow(
        dead_code,
        reason = "never made: it stands for the queue no build without a backend has"
    )]
    Missing(std::convert::Infallible),
}

pub(crate) struct Engine {
    pub(crate) store: Store,
    queue: Queue,
    pub(crate) settings: OperationSettings,
    /// The runner of each operation route this server serves, by `plugin/handler`.
    runners: Mutex<HashMap<String, Arc<dyn Runner>>>,
    /// The operations running here, or whose end is still being written.
    running: Mutex<HashMap<String, Here>>,
    /// Moves whenever an operation run here reports progress or ends: what event streams
    /// served here wait on between their reads.
    changed: watch::Sender<u64>,
    /// Wakes the worker of a route when an operation is accepted here.
    wake: Mutex<HashMap<String, futures_channel::mpsc::UnboundedSender<()>>>,
    stopping: watch::Sender<bool>,
    /// The tasks of the handings driven here, by number, to drop them when the server stops
    /// past its grace.
    runs: Mutex<HashMap<u64, tokio::task::AbortHandle>>,
    /// The places of the runs this server drives at once.
    places: Arc<Places>,
    instance: String,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("settings", &self.settings)
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

/// An operation this server has been handed and is running (or preparing to run, or writing
/// the end of).
struct Here {
    /// Wakes its cancel watch.
    cancel: Arc<Notify>,
    /// Says `true` once the handing is done with it; closed without, the run was dropped first.
    ended: watch::Receiver<bool>,
    /// Which handing registered it.
    token: u64,
}

/// Numbers each handing of a job to this process (and the task that drives it).
static NEXT_HANDLING: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A handing's hold on its operation in `running`: let go when dropped, whatever happened
/// (the future dropped, a panic); a job handed again meanwhile then learns that the run was
/// dropped, unless [`Registered::done`] said it ended.
struct Registered<'a> {
    engine: &'a Engine,
    id: &'a str,
    token: u64,
    ended: watch::Sender<bool>,
}

impl Registered<'_> {
    /// The handing is done with the operation (nothing to run, or its end written).
    fn done(self) -> Handled {
        self.release();
        self.ended.send_replace(true);
        Handled::Done
    }

    fn release(&self) {
        let mut running = lock(&self.engine.running);
        if running.get(self.id).is_some_and(|h| h.token == self.token) {
            running.remove(self.id);
        }
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.release();
    }
}

/// How a job is looked up in apalis's table.
#[cfg_attr(
    not(any(feature = "operations-sqlite", feature = "operations-postgres")),
    allow(dead_code, reason = "no queue to look in without a backend")
)]
enum JobBy<'a> {
    /// By its key, the operation's id (the queue's unique index).
    Key(&'a str),
    /// By what it carries, as apalis wrote it: for a job queued without a key.
    Carried(Vec<u8>),
}

impl JobBy<'_> {
    /// The column it is found by: one of two names, never input.
    fn column(&self) -> &'static str {
        match self {
            JobBy::Key(_) => "idempotency_key",
            JobBy::Carried(_) => "job",
        }
    }
}

/// What became of an operation handed to this server.
enum Handled {
    /// Run and ended here, or nothing to run: the queue may forget its job.
    Done,
    /// Its run here was dropped before its end was written (the server stopping past its
    /// grace): its job must stay with the queue, to be handed on once this server is gone.
    Dropped,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    crate::database::now_ms()
}

impl Engine {
    pub(crate) async fn open(
        db: &Database,
        settings: OperationSettings,
    ) -> Result<Engine, sqlx::Error> {
        let store = Store::open(db.pool.clone(), settings.namespace.clone())
            .await
            .map_err(|e| sqlx::Error::Migrate(Box::new(e)))?;
        let queue = open_queue(db).await?;
        let mut id = [0u8; 8];
        getrandom::fill(&mut id)
            .map_err(|e| sqlx::Error::Io(std::io::Error::other(e.to_string())))?;
        let places = Places::new(settings.max_running);
        Ok(Engine {
            store,
            queue,
            settings,
            runners: Mutex::new(HashMap::new()),
            running: Mutex::new(HashMap::new()),
            changed: watch::Sender::new(0),
            wake: Mutex::new(HashMap::new()),
            stopping: watch::Sender::new(false),
            places,
            runs: Mutex::new(HashMap::new()),
            instance: format!("{}-{}", std::process::id(), hex::encode(id)),
        })
    }

    pub(crate) fn register(&self, key: String, runner: Arc<dyn Runner>) {
        lock(&self.runners).insert(key, runner);
    }

    /// A receiver that sees every change made here.
    pub(crate) fn changes(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Stores a new operation and queues it; `Ok(false)` when its owner has `max` queued or
    /// running already. Once stored it is accepted: if the queue fails now, the operation is
    /// queued again by [`Self::requeue_orphans`] (marking it failed instead could write over a
    /// run that a job pushed meanwhile started, and the client would ask again).
    ///
    /// # Errors
    /// The operation could not be stored.
    pub(crate) async fn submit(&self, row: &OperationRow, max: u64) -> Result<bool, sqlx::Error> {
        if !self.store.insert(row, max).await? {
            return Ok(false);
        }
        let key = format!("{}/{}", row.plugin, row.route);
        if let Err(e) = bounded(self.push(&key, &row.id)).await {
            crate::request::outage::notice(&e);
            tracing::warn!(operation = %row.id, route = %key, error = %e, "an operation was stored but not queued; a server serving its route queues it after three heartbeats");
            return Ok(true);
        }
        match lock(&self.wake).get(&key) {
            Some(wake) => {
                let _ = wake.unbounded_send(());
            }
            None => tracing::warn!(
                route = %key,
                "an operation was accepted, but this server takes none: call `Operations::start` once the plugins are mounted (another server sharing the database may take it)"
            ),
        }
        Ok(true)
    }

    /// Queues operation `id` of route `key`: a job keyed by the operation's id, so that the
    /// queue holds at most one for it and [`Self::requeue_orphans`] can find it.
    async fn push(&self, key: &str, id: &str) -> Result<(), sqlx::Error> {
        let queue = queue_name(&self.settings.namespace, key);
        // The database's own error is passed on as it is, so that a caller can tell an outage
        // (and a read-only server) from a fault; anything else is described.
        let failed = |e: &dyn std::fmt::Display| {
            sqlx::Error::Protocol(format!("queueing the operation: {e}"))
        };
        #[cfg(any(feature = "operations-sqlite", feature = "operations-postgres"))]
        let task = apalis_core::task::builder::TaskBuilder::new(OperationJob { id: id.to_owned() })
            .idempotency_key(id)
            .build();
        match &self.queue {
            #[cfg(feature = "operations-sqlite")]
            Queue::Sqlite(pool) => {
                use apalis_core::backend::{TaskSink, TaskSinkError};
                let mut storage = apalis_sqlite::SqliteStorage::<OperationJob>::new(pool)
                    .with_config(apalis_sqlite::Config::default().queue(&queue));
                storage.push_task(task).await.map_err(|e| match e {
                    TaskSinkError::PushError(apalis_sqlite::Error::Database(e)) => e,
                    other => failed(&other),
                })
            }
            #[cfg(feature = "operations-postgres")]
            Queue::Postgres(pool) => {
                use apalis_core::backend::{TaskSink, TaskSinkError};
                let mut storage = apalis_postgres::PostgresStorage::<OperationJob>::new(pool)
                    .with_config(apalis_postgres::Config::default().queue(&queue));
                storage.push_task(task).await.map_err(|e| match e {
                    TaskSinkError::PushError(apalis_postgres::Error::Database(e)) => e,
                    other => failed(&other),
                })
            }
            #[cfg(not(any(feature = "operations-sqlite", feature = "operations-postgres")))]
            Queue::Missing(never) => {
                let _ = (queue, id, failed);
                match *never {}
            }
        }
    }

    /// Whether the queue holds a job for operation `id` of route `key` that a worker will still
    /// take or is running; a job that ended is removed, so that the operation can be queued
    /// again.
    async fn job_pending(&self, key: &str, id: &str) -> Result<bool, sqlx::Error> {
        let queue = queue_name(&self.settings.namespace, key);
        let Some(status) = self.job_status(&queue, id).await? else {
            return Ok(false);
        };
        if !matches!(status.as_str(), "Done" | "Failed" | "Killed") {
            return Ok(true);
        }
        self.delete_job(&queue, id, &status).await?;
        Ok(false)
    }

    /// The status apalis gives the job of operation `id` in `queue`, if there is one: one that
    /// has not ended if there are several. A job is found by its key (the queue's unique index),
    /// else by what it carries (`{"id":...}`, as apalis writes it) for one queued without a key,
    /// by an earlier version.
    async fn job_status(&self, queue: &str, id: &str) -> Result<Option<String>, sqlx::Error> {
        if let Some(status) = self.job_status_by(queue, JobBy::Key(id)).await? {
            return Ok(Some(status));
        }
        let carried = serde_json::to_vec(&OperationJob { id: id.to_owned() })
            .map_err(|e| sqlx::Error::Encode(e.into()))?;
        self.job_status_by(queue, JobBy::Carried(carried)).await
    }

    /// [`Self::job_status`] of the job found `by` its key or what it carries.
    async fn job_status_by(
        &self,
        queue: &str,
        by: JobBy<'_>,
    ) -> Result<Option<String>, sqlx::Error> {
        let column = by.column();
        match &self.queue {
            #[cfg(feature = "operations-sqlite")]
            Queue::Sqlite(pool) => {
                let sql = format!(
                    "SELECT status FROM Jobs WHERE job_type = ?1 AND {column} = ?2 \
                     ORDER BY status IN ('Done', 'Failed', 'Killed') LIMIT 1"
                );
                let query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(queue);
                match by {
                    JobBy::Key(key) => query.bind(key),
                    JobBy::Carried(carried) => query.bind(carried),
                }
                .fetch_optional(pool)
                .await
            }
            #[cfg(feature = "operations-postgres")]
            Queue::Postgres(pool) => {
                let sql = format!(
                    "SELECT status FROM apalis.jobs WHERE job_type = $1 AND {column} = $2 \
                     ORDER BY status IN ('Done', 'Failed', 'Killed') LIMIT 1"
                );
                let query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(queue);
                match by {
                    JobBy::Key(key) => query.bind(key),
                    JobBy::Carried(carried) => query.bind(carried),
                }
                .fetch_optional(pool)
                .await
            }
            #[cfg(not(any(feature = "operations-sqlite", feature = "operations-postgres")))]
            Queue::Missing(never) => {
                let _ = (queue, column, by);
                match *never {}
            }
        }
    }

    /// Deletes the job of operation `id` in `queue` if its status is still `status`.
    async fn delete_job(&self, queue: &str, id: &str, status: &str) -> Result<(), sqlx::Error> {
        match &self.queue {
            #[cfg(feature = "operations-sqlite")]
            Queue::Sqlite(pool) => {
                sqlx::query(
                    "DELETE FROM Jobs WHERE job_type = ?1 AND idempotency_key = ?2 AND status = ?3",
                )
                .bind(queue)
                .bind(id)
                .bind(status)
                .execute(pool)
                .await?;
                Ok(())
            }
            #[cfg(feature = "operations-postgres")]
            Queue::Postgres(pool) => {
                sqlx::query(
                    "DELETE FROM apalis.jobs WHERE job_type = $1 AND idempotency_key = $2 \
                     AND status = $3",
                )
                .bind(queue)
                .bind(id)
                .bind(status)
                .execute(pool)
                .await?;
                Ok(())
            }
            #[cfg(not(any(feature = "operations-sqlite", feature = "operations-postgres")))]
            Queue::Missing(never) => {
                let _ = (queue, id, status);
                match *never {}
            }
        }
    }

    /// Queues again the operations of routes served here that have been `queued` longer than
    /// three heartbeats with no job a worker will take: their job was never written (the queue
    /// failed after the operation was stored, or the answer to the insert was lost) or ended
    /// without the operation starting (a server stopping while it waited for the database).
    /// Without this they would stay `queued` for ever, counting against their owner's cap.
    /// The queue keeps one job an operation (its key), so two servers doing this at once, or a
    /// push that was only slow, queue it once.
    async fn requeue_orphans(&self) -> Result<u64, sqlx::Error> {
        let grace = i64::try_from((self.settings.heartbeat * 3).as_millis()).unwrap_or(i64::MAX);
        let before = now_ms().saturating_sub(grace);
        let keys: Vec<String> = lock(&self.runners).keys().cloned().collect();
        let mut requeued = 0;
        for key in keys {
            let Some((plugin, route)) = key.split_once('/') else {
                continue;
            };
            for id in self.store.queued_before(plugin, route, before).await? {
                if bounded(self.job_pending(&key, &id)).await? {
                    continue;
                }
                if let Err(e) = bounded(self.push(&key, &id)).await {
                    crate::request::outage::notice(&e);
                    tracing::debug!(operation = %id, error = %e, "an orphaned operation was not queued again here");
                    continue;
                }
                tracing::warn!(operation = %id, route = %key, "an operation left queued without a job was queued again");
                requeued += 1;
                if let Some(wake) = lock(&self.wake).get(&key) {
                    let _ = wake.unbounded_send(());
                }
            }
        }
        Ok(requeued)
    }

    /// Asks a running operation to stop; one running here stops at once. `request_id` is the
    /// one it was accepted under, for the error a queued one ends with.
    pub(crate) async fn cancel(&self, id: &str, request_id: &str) -> Result<(), sqlx::Error> {
        let error = cancelled(&RequestId::restored(request_id))
            .error
            .unwrap_or_default();
        let was_queued = self.store.request_cancel(id, now_ms(), &error).await?;
        if let Some(here) = lock(&self.running).get(id) {
            here.cancel.notify_one();
        }
        if was_queued {
            self.bump();
        }
        Ok(())
    }

    /// Runs one operation handed to this server. The database failing on the way (before the
    /// run, or when its end is written) is waited out, a little longer each time, as long as
    /// the server runs: an operation is never left `queued` or `running` for a moment's outage.
    async fn execute(self: &Arc<Self>, id: &str) -> Handled {
        let token = NEXT_HANDLING.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cancel = Arc::new(Notify::new());
        let (ended, ended_rx) = watch::channel(false);
        let first = {
            let mut running = lock(&self.running);
            match running.get(id) {
                Some(here) => Err(here.ended.clone()),
                None => {
                    running.insert(
                        id.to_owned(),
                        Here {
                            cancel: Arc::clone(&cancel),
                            ended: ended_rx,
                            token,
                        },
                    );
                    Ok(())
                }
            }
        };
        if let Err(mut ended) = first {
            // Handed again while this server has it (the worker started again under the same
            // name, after its database came back). This job is held until the first handing's
            // end is written: were it let go at once, and this server to stop before that end,
            // no job would be left to hand the operation to another server, and it would stay
            // `running` for ever.
            return match ended.wait_for(|written| *written).await {
                Ok(_) => Handled::Done,
                Err(_) => Handled::Dropped,
            };
        }
        // From here the operation is this handing's until `here` is dropped (or done with), at
        // the end or if this future is dropped or panics first.
        let here = Registered {
            engine: self,
            id,
            token,
            ended,
        };
        // A place among the runs this server drives at once, held until this one ends.
        let Some(_place) = self.places.take().await else {
            return here.done();
        };
        if *self.stopping.borrow() {
            // Stopping: not started now. One still `queued` is let go, for a server serving its
            // route to queue again (`requeue_orphans`); the job of one a dead server was running
            // is left to the queue to hand on.
            return match self.store.get(id).await {
                Ok(Some(row)) if row.state == State::Running => Handled::Dropped,
                Ok(_) => here.done(),
                Err(_) => Handled::Dropped,
            };
        }
        // What this handing writes in the row as it takes it, to know the run for its own if
        // the answer to taking it is lost and the row read again.
        let mut taking = Taking {
            by: format!("{}/{token}", self.instance),
            from: None,
        };
        let mut wait = Duration::from_millis(200);
        let prepared = loop {
            match self.prepare(id, &mut taking).await {
                Ok(p) => break p,
                Err(e) => {
                    tracing::warn!(operation = id, error = %e, "an operation could not be read or taken; trying again");
                    if *self.stopping.borrow() {
                        return Handled::Dropped;
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        };
        // The run's number: what `begin` made the row's `attempts`. Its progress and its end are
        // written only while the row still says so.
        let Some((row, attempt, runner, request_id)) = prepared else {
            return here.done();
        };
        let written = match self.run(&row, attempt, runner, &request_id, &cancel).await {
            // Still this server's until its end is written: handed again meanwhile (the queue
            // gives a worker's jobs back when it registers again after an outage), it is not
            // taken for a run that stopped, nor run twice.
            Some(finished) => self.record_end(&row.id, attempt, finished).await,
            None => {
                tracing::warn!(
                    operation = %row.id,
                    "another server took this operation while it ran here (this server was taken for dead, its database out of reach); its run here was stopped and wrote nothing more"
                );
                true
            }
        };
        if written {
            here.done()
        } else {
            Handled::Dropped
        }
    }

    /// Whether no operation is running here (or having its end written).
    pub(crate) fn idle(&self) -> bool {
        lock(&self.running).is_empty()
    }

    /// Writes how run `attempt` ended, waiting out the database's failures while the server
    /// runs; `false` when the server stopped first.
    async fn record_end(&self, id: &str, attempt: i64, finished: Finished) -> bool {
        let mut wait = Duration::from_millis(200);
        while let Err(e) = self.end(id, attempt, &finished).await {
            if *self.stopping.borrow() {
                tracing::error!(operation = id, error = %e, "an operation's end could not be written before the server stopped; the next server to take it runs it again or fails it");
                return false;
            }
            tracing::warn!(operation = id, error = %e, "an operation's end could not be written; trying again");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
        }
        true
    }

    /// Reads the operation and takes it for a run as `taking` says: the row, the run's
    /// number, its runner and its request id, or `None` when there is nothing to run (it ended,
    /// was deleted, was taken elsewhere, or was just ended here as cancelled or as interrupted).
    /// A row this handing took already (a try before this one was carried out, its answer lost
    /// or late) is its run, as taken.
    async fn prepare(
        &self,
        id: &str,
        taking: &mut Taking,
    ) -> Result<Option<(OperationRow, i64, Arc<dyn Runner>, RequestId)>, sqlx::Error> {
        let Some(mut row) = self.store.get(id).await? else {
            return Ok(None); // deleted since
        };
        if row.state.is_finished() {
            return Ok(None); // handed twice
        }
        let key = format!("{}/{}", row.plugin, row.route);
        let runner = lock(&self.runners).get(&key).cloned();
        let Some(runner) = runner else {
            return Ok(None); // only workers of registered routes take work
        };
        let request_id = RequestId::restored(&row.request_id);
        if row.cancel_requested {
            self.end(&row.id, row.attempts, &cancelled(&request_id))
                .await?;
            return Ok(None);
        }
        if taking.mine(&row) {
            self.bump();
            let attempt = row.attempts;
            return Ok(Some((row, attempt, runner, request_id)));
        }
        if row.state == State::Running && !runner.rerun() {
            tracing::warn!(operation = id, route = %key, "the server running this operation stopped before it ended; it is not declared `operation(rerun)`, so it fails");
            let error = ApiError::framework(
                FrameworkCode::Unavailable,
                "the server running this operation stopped before it ended; start it again",
            );
            self.end(&row.id, row.attempts, &Finished::error(&error, &request_id))
                .await?;
            return Ok(None);
        }
        taking.from = Some(row.attempts);
        let begun = self
            .store
            .begin(&row.id, row.attempts, now_ms(), &taking.by)
            .await?;
        let Some(last_event) = begun else {
            // Another server took it, or a cancel came meanwhile, or this handing's try before
            // this one, carried out late. A cancel of one still queued has ended it; one that a
            // dead server was running is ended here, or nobody would.
            let Some(now) = self.store.get(id).await? else {
                return Ok(None);
            };
            let mine = taking.mine(&now);
            if now.cancel_requested
                && !now.state.is_finished()
                && (mine || now.attempts == row.attempts)
            {
                self.end(&row.id, now.attempts, &cancelled(&request_id))
                    .await?;
                return Ok(None);
            }
            if mine {
                self.bump();
                let attempt = now.attempts;
                return Ok(Some((now, attempt, runner, request_id)));
            }
            return Ok(None);
        };
        // This run's events follow the last one recorded when it was taken.
        row.last_event = last_event;
        self.bump();
        let attempt = row.attempts + 1;
        Ok(Some((row, attempt, runner, request_id)))
    }

    /// The handler's run, number `attempt`, under its timeout, until it ends or is cancelled;
    /// its progress written in order meanwhile, all of it before the end. `None` when another
    /// server took the operation meanwhile: the run is dropped there, as for a cancel.
    async fn run(
        self: &Arc<Self>,
        row: &OperationRow,
        attempt: i64,
        runner: Arc<dyn Runner>,
        request_id: &RequestId,
        notify: &Notify,
    ) -> Option<Finished> {
        let (tx, rx) = mpsc::unbounded_channel();
        let (over, run_over) = tokio::sync::oneshot::channel::<()>();
        let writer = self.write_progress(&row.id, attempt, row.last_event, rx, run_over);
        let timeout = runner.timeout();
        let work = CatchUnwind::new(tokio::time::timeout(
            timeout,
            runner.run(Job {
                input: row.input.clone(),
                caller: row.caller.clone(),
                request_id: request_id.clone(),
                id: row.id.clone(),
                traceparent: row.traceparent.clone(),
                progress: crate::request::ProgressSink::new(tx),
            }),
        ));
        let ended = async {
            let ended = tokio::select! {
                outcome = work => Ok(outcome),
                stopped = self.stop_asked(&row.id, attempt, notify) => Err(stopped),
            };
            // The run is over, whoever still holds a clone of its context: the writer takes
            // what was reported until now, and nothing after.
            let _ = over.send(());
            ended
        };
        let (ended, ()) = tokio::join!(ended, writer);
        Some(match ended {
            Err(Standing::TakenOver) => return None,
            Err(_) => cancelled(request_id),
            Ok(Err(panic)) => {
                tracing::error!(operation = %row.id, panic = panic_message(&*panic), "the operation's handler panicked");
                Finished::error(&ApiError::internal(), request_id)
            }
            Ok(Ok(Err(_elapsed))) => {
                let error = ApiError::framework(
                    FrameworkCode::Timeout,
                    format!(
                        "the operation did not complete within {} ms",
                        timeout.as_millis()
                    ),
                );
                Finished::error(&error, request_id)
            }
            Ok(Ok(Ok(Outcome::Succeeded { status, result }))) => {
                if result.len() > self.settings.max_result_bytes {
                    tracing::error!(operation = %row.id, bytes = result.len(), limit = self.settings.max_result_bytes, "the operation's result is over the size stored");
                    return Some(Finished::error(&ApiError::internal(), request_id));
                }
                Finished {
                    state: State::Succeeded,
                    status,
                    result: Some(result),
                    error: None,
                }
            }
            Ok(Ok(Ok(Outcome::Failed(error)))) => {
                if error.status().is_server_error() && error.code() == "INTERNAL" {
                    tracing::error!(operation = %row.id, "the operation failed");
                }
                Finished::error(&error, request_id)
            }
        })
    }

    /// Writes each progress report as it comes, in order, until the run is over, then what
    /// was reported before it ended.
    async fn write_progress(
        &self,
        id: &str,
        attempt: i64,
        mut seq: i64,
        mut rx: mpsc::UnboundedReceiver<(Option<f64>, String)>,
        mut over: tokio::sync::oneshot::Receiver<()>,
    ) {
        let mut ended = false;
        // Set once the operation is found to be another run's: what is reported after is dropped.
        let mut taken = false;
        loop {
            let report = if ended {
                rx.recv().await
            } else {
                tokio::select! {
                    biased;
                    report = rx.recv() => report,
                    _ = &mut over => {
                        ended = true;
                        rx.close();
                        rx.recv().await
                    }
                }
            };
            let Some((fraction, message)) = report else {
                return;
            };
            if taken {
                continue;
            }
            seq += 1;
            let event = EventRow {
                seq,
                fraction,
                message,
            };
            // A database away for a while is waited out (the reports after it wait in order),
            // as long as the server runs: a client reading the events misses none.
            let mut wait = Duration::from_millis(200);
            loop {
                match self.store.progress(id, attempt, &event).await {
                    Ok(true) => break,
                    Ok(false) => {
                        taken = true;
                        break;
                    }
                    Err(e) if crate::database::is_unavailable(&e) && !*self.stopping.borrow() => {
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(5));
                    }
                    Err(e) => {
                        tracing::warn!(operation = id, error = %e, "a progress report was not recorded");
                        break;
                    }
                }
            }
            self.bump();
        }
    }

    /// Resolves when run `attempt` is to stop: a cancel asked for (at once from this server,
    /// else within the settings' `cancel_poll` from any), or the operation found to be another
    /// run's within the same poll.
    async fn stop_asked(&self, id: &str, attempt: i64, notify: &Notify) -> Standing {
        let mut stopping = self.stopping.subscribe();
        loop {
            tokio::select! {
                () = notify.notified() => {}
                () = tokio::time::sleep(self.settings.cancel_poll) => {}
                // A server stopping lets its runs go on until its grace ends.
                _ = stopping.changed() => {}
            }
            match self.store.standing(id, attempt).await {
                Ok(Standing::Running) => {}
                Ok(stop) => return stop,
                Err(e) => {
                    tracing::warn!(operation = id, error = %e, "could not read whether the operation was cancelled")
                }
            }
        }
    }

    /// Ends the operation if its `attempts` are still `attempts`: ended already, or taken by
    /// another run since, it is left as it is.
    async fn end(&self, id: &str, attempts: i64, finished: &Finished) -> Result<(), sqlx::Error> {
        let ending = Ending {
            state: finished.state,
            status: finished.status,
            result: finished.result.as_deref(),
            error: finished.error.as_deref(),
        };
        if !self.store.finish(id, attempts, &ending, now_ms()).await? {
            tracing::debug!(
                operation = id,
                "an operation's end was not written: it had ended, or another run had taken it"
            );
        }
        self.bump();
        Ok(())
    }

    /// Starts a worker for every registered route, and the sweeper of ended operations.
    pub(crate) fn start(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let keys: Vec<String> = lock(&self.runners).keys().cloned().collect();
        let mut tasks: Vec<_> = keys
            .into_iter()
            .map(|key| {
                let (tx, rx) = futures_channel::mpsc::unbounded();
                lock(&self.wake).insert(key.clone(), tx);
                tokio::spawn(Arc::clone(self).supervise(key, rx))
            })
            .collect();
        tasks.push(tokio::spawn(Arc::clone(self).sweep()));
        tasks
    }

    pub(crate) fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Drops every run still driven here: what a server stopping past its grace does.
    pub(crate) fn abort_runs(&self) {
        for (_, run) in lock(&self.runs).drain() {
            run.abort();
        }
    }

    /// Runs the worker of route `key`, starting it again when it fails (its database gone for a
    /// while), until the server stops.
    async fn supervise(
        self: Arc<Self>,
        key: String,
        wake: futures_channel::mpsc::UnboundedReceiver<()>,
    ) {
        let wake = Arc::new(tokio::sync::Mutex::new(wake));
        let mut stopping = self.stopping.subscribe();
        // A second after a failure, while the other servers still count this worker alive (two
        // heartbeats after its last), so that it is back before they take its work; past that,
        // twice as long after each failure, up to a heartbeat: a database that stays away (or
        // read-only) is not asked every second by every route's worker.
        let heartbeat = self.settings.heartbeat;
        let stuck_after = stuck_after(heartbeat);
        let mut backoff = Backoff::default();
        // When the worker's current spell of failures began, if it is in one: its first failure
        // is a warning, the rest of the spell only debug, and its end (a life's first
        // heartbeat) is said once with how long it lasted. An outage of minutes is two lines a
        // route, not one each time the worker starts again.
        let mut failing_since: Option<tokio::time::Instant> = None;
        loop {
            if *stopping.borrow_and_update() {
                return;
            }
            // One name for every life of the worker: its operations stay its own (not another
            // server's to take) across a restart after a failure.
            let name = format!("{}/{}", self.instance, key);
            let began = tokio::time::Instant::now();
            let beats = Arc::new(watch::Sender::new(began));
            // A life whose database stopped answering partway through one of apalis's calls
            // (which have no bound of their own) would wait for it as long as TCP keeps the
            // connection: it is dropped, its calls and their connections with it, once it has
            // gone too long without a heartbeat, and a new life started as after a failure.
            let result = tokio::select! {
                ended = self.work(&key, &name, Arc::clone(&wake), Arc::clone(&beats)) => {
                    ended.map_err(Some)
                }
                () = silent_for(&beats, stuck_after, self.stopping.subscribe()) => Err(None),
                () = say_when_back(&beats, failing_since, &key) => Ok(()),
            };
            if *stopping.borrow() {
                return;
            }
            let now = tokio::time::Instant::now();
            // A life was working until its last heartbeat: one that failed slowly (a call
            // waiting out its bounds) or got stuck made none since, whatever ended it.
            let failure_began = *beats.borrow();
            if failure_began > began {
                // It made a heartbeat: whatever ended it, the spell before it is over.
                failing_since = None;
            }
            let pause = backoff.after_life(began, failure_began, now, result.is_err(), heartbeat);
            if let Err(e) = result {
                let first = failing_since.is_none();
                failing_since.get_or_insert(failure_began);
                if let Some(e) = e.as_ref().and_then(database_error) {
                    crate::request::outage::notice(e);
                }
                let (error, silent_ms) = match &e {
                    Some(e) => (Some(e), None),
                    None => (None, Some(stuck_after.as_millis())),
                };
                let what = if e.is_some() {
                    "the operations worker stopped; starting it again after a pause, and again \
                     (logged at debug) until it runs"
                } else {
                    "the operations worker made no heartbeat for too long: its database stopped \
                     answering one of its calls; starting it again after a pause, and again \
                     (logged at debug) until it runs"
                };
                let pause_ms = pause.as_millis();
                if first {
                    tracing::warn!(route = %key, error = error.map(tracing::field::display), silent_ms, pause_ms, "{what}");
                } else {
                    tracing::debug!(route = %key, error = error.map(tracing::field::display), silent_ms, pause_ms, "{what}");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = stopping.changed() => return,
            }
        }
    }

    /// One life of the worker of route `key`, named `name`.
    async fn work(
        self: &Arc<Self>,
        key: &str,
        name: &str,
        wake: Arc<tokio::sync::Mutex<futures_channel::mpsc::UnboundedReceiver<()>>>,
        beats: Arc<watch::Sender<tokio::time::Instant>>,
    ) -> Result<(), apalis_core::error::WorkerError> {
        async fn handle(
            job: OperationJob,
            engine: apalis_core::task::data::Data<Arc<Engine>>,
        ) -> Result<(), apalis_core::error::BoxDynError> {
            // Run apart from the worker's own future: a worker that fails (its database gone
            // for a moment) and starts again does not take the runs it was driving with it.
            // The task is listed until it ends, whether or not this future is still awaiting it.
            let task = NEXT_HANDLING.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let driven = Arc::clone(&engine);
            let id = job.id.clone();
            let run = tokio::spawn(async move {
                let handled = driven.execute(&job.id).await;
                lock(&driven.runs).remove(&task);
                handled
            });
            lock(&engine.runs).insert(task, run.abort_handle());
            let handled = run.await;
            // Listed after it ended, had it ended at once.
            lock(&engine.runs).remove(&task);
            match handled {
                Ok(Handled::Done) => Ok(()),
                // The server is stopping: this job is not acknowledged, and is dropped with the
                // worker, so the queue hands it to a live server once this one is gone.
                Ok(Handled::Dropped) => std::future::pending().await,
                Err(e) => {
                    if e.is_panic() {
                        tracing::error!(operation = %id, "an operation's run panicked outside its handler; its job is left to the queue");
                    }
                    std::future::pending().await
                }
            }
        }

        let queue = queue_name(&self.settings.namespace, key);
        let heartbeat = self.settings.heartbeat;
        let strategy = apalis_core::backend::ext::poll_strategy::Strategy::new()
            .interval(self.settings.poll)
            .stream(WakeStream(wake));
        let mut stopping = self.stopping.subscribe();
        let stop = async move {
            let _ = stopping.wait_for(|s| *s).await;
            Ok::<(), std::io::Error>(())
        };
        // Registering and each heartbeat after it, as apalis reports them.
        #[cfg(any(feature = "operations-sqlite", feature = "operations-postgres"))]
        let beat = move |_: &apalis_core::worker::context::WorkerContext,
                         event: &apalis_core::worker::event::Event| {
            if matches!(event, apalis_core::worker::event::Event::HeartBeat) {
                beats.send_replace(tokio::time::Instant::now());
            }
        };
        match &self.queue {
            #[cfg(feature = "operations-sqlite")]
            Queue::Sqlite(pool) => {
                use apalis_core::backend::ext::BackendExt;
                use apalis_core::worker::builder::WorkerBuilder;
                use apalis_core::worker::ext::event_listener::EventListenerExt;
                let storage = apalis_sqlite::SqliteStorage::<OperationJob>::new(pool)
                    .with_config(
                        apalis_sqlite::Config::default()
                            .queue(&queue)
                            .heartbeat_interval(heartbeat)
                            .missed_heartbeats(2)
                            .batch_size(1),
                    )
                    .poll_with_strategy(strategy);
                WorkerBuilder::new(name)
                    .backend(worker_fails_with::<SqliteWorkerError, _>(storage))
                    .on_event(beat)
                    .layer(WhilePlaces(Arc::clone(&self.places)))
                    .data(Arc::clone(self))
                    .build(handle)
                    .run_until(stop)
                    .await
            }
            #[cfg(feature = "operations-postgres")]
            Queue::Postgres(pool) => {
                use apalis_core::backend::ext::BackendExt;
                use apalis_core::worker::builder::WorkerBuilder;
                use apalis_core::worker::ext::event_listener::EventListenerExt;
                let storage = apalis_postgres::PostgresStorage::<OperationJob>::new(pool)
                    .with_config(
                        apalis_postgres::Config::default()
                            .queue(&queue)
                            .heartbeat_interval(heartbeat)
                            .missed_heartbeats(2)
                            .batch_size(1),
                    )
                    .poll_with_strategy(strategy);
                WorkerBuilder::new(name)
                    .backend(worker_fails_with::<PostgresWorkerError, _>(storage))
                    .on_event(beat)
                    .layer(WhilePlaces(Arc::clone(&self.places)))
                    .data(Arc::clone(self))
                    .build(handle)
                    .run_until(stop)
                    .await
            }
            #[cfg(not(any(feature = "operations-sqlite", feature = "operations-postgres")))]
            Queue::Missing(never) => {
                let _ = (name, queue, heartbeat, strategy, stop, handle, beats);
                match *never {}
            }
        }
    }

    /// Deletes apalis's jobs of the queues this server takes that were done before `before`
    /// (milliseconds): an operation's job is always done once its run ends (its outcome is
    /// the operation's row), and apalis keeps done jobs until they are deleted. A queue's go
    /// [`DELETE_BATCH`](super::store::DELETE_BATCH) at a time, each statement bounded on its
    /// own.
    #[cfg(any(feature = "operations-sqlite", feature = "operations-postgres"))]
    async fn delete_jobs_done_before(&self, before: i64) -> Result<u64, sqlx::Error> {
        let queues: Vec<String> = lock(&self.runners)
            .keys()
            .map(|key| queue_name(&self.settings.namespace, key))
            .collect();
        let mut deleted = 0;
        for queue in queues {
            deleted += super::store::in_batches(|| self.delete_done_jobs(&queue, before)).await?;
        }
        Ok(deleted)
    }

    /// One batch of [`Self::delete_jobs_done_before`] in `queue`, read through
    /// `plugin_routes_jobs_done` where it was made ([`index_done_jobs`]).
    #[cfg(any(feature = "operations-sqlite", feature = "operations-postgres"))]
    async fn delete_done_jobs(&self, queue: &str, before: i64) -> Result<u64, sqlx::Error> {
        Ok(match &self.queue {
            // apalis writes `done_at` in seconds since the epoch on SQLite.
            #[cfg(feature = "operations-sqlite")]
            Queue::Sqlite(pool) => {
                sqlx::query(sqlx::AssertSqlSafe(done_jobs_statement(Backend::Sqlite)))
                    .bind(queue)
                    .bind(before / 1000)
                    .execute(pool)
                    .await?
                    .rows_affected()
            }
            #[cfg(feature = "operations-postgres")]
            Queue::Postgres(pool) => {
                sqlx::query(sqlx::AssertSqlSafe(done_jobs_statement(Backend::Postgres)))
                    .bind(queue)
                    .bind(before)
                    .execute(pool)
                    .await?
                    .rows_affected()
            }
        })
    }

    #[cfg(not(any(feature = "operations-sqlite", feature = "operations-postgres")))]
    async fn delete_jobs_done_before(&self, _before: i64) -> Result<u64, sqlx::Error> {
        match self.queue {
            Queue::Missing(never) => match never {},
        }
    }

    /// Deletes operations that ended longer ago than the retention period.
    async fn sweep(self: Arc<Self>) {
        let retention = i64::try_from(self.settings.retention.as_millis()).unwrap_or(i64::MAX);
        let delete_every = (self.settings.retention / 4)
            .clamp(Duration::from_millis(100), Duration::from_secs(60));
        // Orphans are looked for once a heartbeat, so one is queued again within four of them.
        let every = delete_every.min(self.settings.heartbeat);
        let mut deleted_at: Option<tokio::time::Instant> = None;
        let mut stopping = self.stopping.subscribe();
        loop {
            if deleted_at.is_none_or(|at| at.elapsed() >= delete_every) {
                deleted_at = Some(tokio::time::Instant::now());
                let before = now_ms().saturating_sub(retention);
                match self.store.delete_ended_before(before).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::debug!(deleted = n, "deleted operations past their retention");
                    }
                    Err(e) => {
                        crate::request::outage::notice(&e);
                        tracing::warn!(error = %e, "could not delete the operations past their retention");
                    }
                }
                if let Err(e) = self.delete_jobs_done_before(before).await {
                    crate::request::outage::notice(&e);
                    tracing::warn!(error = %e, "could not delete apalis's jobs past the operations' retention");
                }
            }
            if let Err(e) = self.requeue_orphans().await {
                crate::request::outage::notice(&e);
                tracing::warn!(error = %e, "could not look for operations left queued without a job");
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stopping.changed() => return,
            }
        }
    }
}

/// The database's error that ended a worker's life, if one did. apalis holds it as a field of
/// its own generic wrappers (the backend's error inside the decoding layer's), not as their
/// `source()`, so it is looked for by type.
fn database_error(e: &apalis_core::error::WorkerError) -> Option<&sqlx::Error> {
    let apalis_core::error::WorkerError::BackendError(inner) = e else {
        return None;
    };
    #[cfg(feature = "operations-postgres")]
    if let Some(apalis_core::backend::finalize::DurableError::PollNextError(
        apalis_postgres::Error::Database(e),
    )) = inner.downcast_ref::<PostgresWorkerError>()
    {
        return Some(e);
    }
    #[cfg(feature = "operations-sqlite")]
    if let Some(apalis_core::backend::finalize::DurableError::PollNextError(
        apalis_sqlite::Error::Database(e),
    )) = inner.downcast_ref::<SqliteWorkerError>()
    {
        return Some(e);
    }
    let _ = inner;
    None
}

/// What a PostgreSQL worker's life ends with when its backend fails (the backend's own error
/// inside the decoding layer's): what [`database_error`] reads.
#[cfg(feature = "operations-postgres")]
type PostgresWorkerError =
    apalis_core::backend::finalize::DurableError<apalis_postgres::Error, serde_json::Error>;

/// As [`PostgresWorkerError`], for SQLite's worker.
#[cfg(feature = "operations-sqlite")]
type SqliteWorkerError =
    apalis_core::backend::finalize::DurableError<apalis_sqlite::Error, serde_json::Error>;

/// A worker's backend, unchanged, if the worker apalis finalizes it into fails with `E`
/// ([`PostgresWorkerError`] or [`SqliteWorkerError`], what [`database_error`] reads): another
/// version of apalis that changes it is a compile error here, not a `25006` missed.
#[cfg(any(feature = "operations-sqlite", feature = "operations-postgres"))]
fn worker_fails_with<E, B>(backend: B) -> B
where
    B: apalis_core::backend::BackendConfig<Args = OperationJob>,
    B::Kind: apalis_core::backend::finalize::FinalizeBackend<B, OperationJob>,
    <B::Kind as apalis_core::backend::finalize::FinalizeBackend<B, OperationJob>>::Backend:
        apalis_core::backend::Backend<Error = E>,
{
    backend
}

/// How a handing of an operation to this server takes it for a run: what it writes in the
/// row's `taken_by` (this server's instance and the handing's number, unique to it), and the
/// `attempts` it last asked `begin` to take the row from.
struct Taking {
    by: String,
    from: Option<i64>,
}

impl Taking {
    /// Whether `row` runs as this handing took it: its `begin` carried out, the answer lost or
    /// late (a statement given up). Its `attempts` must be the one that `begin` made, so that a
    /// server that took the row after it (one that does not write `taken_by`) is not taken for
    /// this handing.
    fn mine(&self, row: &OperationRow) -> bool {
        row.state == State::Running
            && row.taken_by.as_deref() == Some(self.by.as_str())
            && self.from.is_some_and(|from| row.attempts == from + 1)
    }
}

/// How long a worker pauses before its next life: a second while it has been failing for less
/// than two heartbeats (so that it is back before other servers take its work), then twice as
/// long after each failure, up to a heartbeat. A life that made heartbeats for a heartbeat or
/// longer ends the streak: a failure after it starts a new one, counted from its last heartbeat.
#[derive(Default)]
struct Backoff {
    failing_since: Option<tokio::time::Instant>,
    pause: Option<Duration>,
}

impl Backoff {
    fn after_life(
        &mut self,
        began: tokio::time::Instant,
        failure_began: tokio::time::Instant,
        now: tokio::time::Instant,
        failed: bool,
        heartbeat: Duration,
    ) -> Duration {
        const FIRST: Duration = Duration::from_secs(1);
        if !failed || failure_began.duration_since(began) >= heartbeat {
            self.failing_since = None;
            self.pause = None;
        }
        if !failed {
            return FIRST;
        }
        let since = *self.failing_since.get_or_insert(failure_began);
        let pause = if now.duration_since(since) >= heartbeat * 2 {
            (self.pause.unwrap_or(FIRST) * 2).min(heartbeat)
        } else {
            FIRST
        };
        self.pause = Some(pause);
        pause
    }
}

/// How long a worker's life may go without a heartbeat (apalis's, due every `heartbeat`) before
/// it is taken for stuck on a call to a database that stopped answering. A working one's
/// heartbeats can be further apart than `heartbeat`: one comes due while a fetch or an
/// acknowledgement is under way, and each of those and the heartbeat itself may wait for a
/// connection ([`CONNECTION_WAIT`](crate::database::CONNECTION_WAIT)) and for SQLite's write
/// lock ([`SQLITE_BUSY_WAIT`](crate::database::SQLITE_BUSY_WAIT)). So: the longer of two
/// heartbeats (when the other servers take it for dead) and a heartbeat with two such waits,
/// and then as long as one of the operations' own statements may wait
/// ([`STATEMENT_WAIT`](crate::database::STATEMENT_WAIT)).
fn stuck_after(heartbeat: Duration) -> Duration {
    let waits = crate::database::CONNECTION_WAIT + crate::database::SQLITE_BUSY_WAIT;
    (heartbeat * 2).max(heartbeat + waits * 2) + crate::database::STATEMENT_WAIT
}

/// Says, at the first heartbeat of a life that follows failures (`failing_since`), that the
/// worker of route `key` runs again and how long it failed; never resolves.
async fn say_when_back(
    beats: &watch::Sender<tokio::time::Instant>,
    failing_since: Option<tokio::time::Instant>,
    key: &str,
) {
    if let Some(since) = failing_since {
        let mut seen = beats.subscribe();
        if seen.changed().await.is_ok() {
            tracing::info!(
                route = %key,
                failed_for_ms = since.elapsed().as_millis(),
                "the operations worker runs again"
            );
        }
    }
    std::future::pending().await
}

/// Resolves once `beats` has not moved for `limit`, unless the server is stopping (`stopping`
/// says so): a worker draining its runs makes no heartbeats, and is stopped by its grace.
async fn silent_for(
    beats: &watch::Sender<tokio::time::Instant>,
    limit: Duration,
    mut stopping: watch::Receiver<bool>,
) {
    loop {
        if *stopping.borrow_and_update() {
            return std::future::pending().await;
        }
        let due = *beats.borrow() + limit;
        if tokio::time::Instant::now() >= due {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep_until(due) => {}
            changed = stopping.changed() => {
                if changed.is_err() {
                    // The engine is gone: nothing left to watch for.
                    return std::future::pending().await;
                }
            }
        }
    }
}

/// The queue of route `key` (`plugin/handler`) in `namespace`.
fn queue_name(namespace: &str, key: &str) -> String {
    if namespace.is_empty() {
        format!("plugin-operations/{key}")
    } else {
        format!("plugin-operations/{namespace}/{key}")
    }
}

/// apalis wants its wake-ups as a `Stream`; the receiver is shared by the worker's lives.
struct WakeStream(Arc<tokio::sync::Mutex<futures_channel::mpsc::UnboundedReceiver<()>>>);

impl futures_core::Stream for WakeStream {
    type Item = ();

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<()>> {
        match self.0.try_lock() {
            Ok(mut rx) => std::pin::Pin::new(&mut *rx).poll_next(cx),
            // Another life of the worker still holds it: wake by the interval meanwhile.
            Err(_) => std::task::Poll::Pending,
        }
    }
}

/// How a run ended, ready to store.
struct Finished {
    state: State,
    status: u16,
    result: Option<String>,
    error: Option<String>,
}

impl Finished {
    fn error(error: &ApiError, request_id: &RequestId) -> Finished {
        Finished {
            state: State::Failed,
            status: error.status().as_u16(),
            result: None,
            error: Some(String::from_utf8_lossy(&error.body_json(request_id)).into_owned()),
        }
    }
}

/// A cancelled operation's end: the status nginx made common for a client that closed the
/// request, and an error object saying so.
fn cancelled(request_id: &RequestId) -> Finished {
    let error = ApiError::framework(FrameworkCode::Cancelled, "the operation was cancelled");
    Finished {
        state: State::Cancelled,
        status: 499,
        result: None,
        error: Some(String::from_utf8_lossy(&error.body_json(request_id)).into_owned()),
    }
}

async fn open_queue(db: &Database) -> Result<Queue, sqlx::Error> {
    match db.backend() {
        #[cfg(feature = "operations-sqlite")]
        Some(Backend::Sqlite) => {
            let pool = crate::database::connect_sqlite(&db.url).await?;
            let mut migrator = apalis_sqlite::SqliteStorage::<()>::migrations();
            migrator.set_ignore_missing(true);
            migrator.run(&pool).await?;
            // As on PostgreSQL (`index_done_jobs`): apalis's index on a queue's jobs by status
            // has the clean-up read every job of the queue done within the retention. A
            // server's own file: made here, or the server does not start, as with a migration.
            let jobs_index = DONE_JOBS_INDEX.replace("{jobs}", "Jobs");
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "CREATE INDEX IF NOT EXISTS {jobs_index}"
            )))
            .execute(&pool)
            .await?;
            Ok(Queue::Sqlite(pool))
        }
        #[cfg(feature = "operations-postgres")]
        Some(Backend::Postgres) => {
            let pool = crate::database::connect_postgres(&db.url, &db.pool).await?;
            apalis_postgres::PostgresStorage::setup(&pool)
                .await
                .map_err(|e| sqlx::Error::Protocol(format!("setting up apalis: {e}")))?;
            index_done_jobs(&pool).await;
            Ok(Queue::Postgres(pool))
        }
        other => Err(sqlx::Error::Configuration(
            format!(
                "operations on {other:?} need the feature `operations-{}` of plugin-routes, which this build does not have",
                match other {
                    Some(Backend::Postgres) => "postgres",
                    _ => "sqlite",
                }
            )
            .into(),
        )),
    }
}

/// The statement that deletes a batch of a queue's jobs done before a time: the queue's name
/// (`$1`/`?1`) and the time (`$2`/`?2`: milliseconds since the epoch as an `int8` on PostgreSQL,
/// seconds on SQLite, as apalis writes `done_at` there). Shared with the tests, which ask for its
/// plan.
pub fn done_jobs_statement(backend: Backend) -> String {
    let batch = super::store::DELETE_BATCH;
    match backend {
        Backend::Sqlite => format!(
            "DELETE FROM Jobs WHERE id IN (SELECT id FROM Jobs WHERE job_type = ?1 \
             AND status = 'Done' AND done_at < ?2 LIMIT {batch})"
        ),
        Backend::Postgres => format!(
            "DELETE FROM apalis.jobs WHERE id IN (SELECT id FROM apalis.jobs \
             WHERE job_type = $1 AND status = 'Done' \
             AND done_at < to_timestamp($2::double precision / 1000) LIMIT {batch})"
        ),
    }
}

/// What the index the clean-up of done jobs reads is made with, on either database.
#[cfg(any(feature = "operations-sqlite", feature = "operations-postgres"))]
const DONE_JOBS_INDEX: &str = "plugin_routes_jobs_done ON {jobs} (job_type, done_at) \
                               WHERE status = 'Done'";

/// Makes the index that the clean-up of done jobs reads ([`Engine::delete_done_jobs`]) on
/// apalis's table, unless it is there. apalis's own indexes on PostgreSQL have the clean-up
/// read every job of the queue, done within the retention or not, once a minute for each
/// operation route of each server, however few are past the retention (BENCHMARKS.md). Made
/// once for the database, by the first server to open the queue; a server opening while another
/// makes it goes on without it.
///
/// Building it holds off writes to the jobs table, about a second a million jobs, so it is not
/// built here on a table of more than [`BUILD_AT_MOST`] jobs, and it is given up if the
/// table's lock is not had within 2 s or the build does not end within 10 s; nor can it be
/// made by a role that does not own the table. In each case the server starts without it and
/// logs the statement for the table's owner (the clean-up is slower without it, not wrong); a
/// build given up is tried again at the next start.
#[cfg(feature = "operations-postgres")]
async fn index_done_jobs(pool: &sqlx::PgPool) {
    let jobs_index = DONE_JOBS_INDEX.replace("{jobs}", "apalis.jobs");
    let make = format!("CREATE INDEX CONCURRENTLY {jobs_index}");
    match make_done_jobs_index(pool, &jobs_index).await {
        Ok(Indexed::Valid) => {}
        Ok(Indexed::Elsewhere) => tracing::debug!(
            "another server is making the index `apalis.plugin_routes_jobs_done`; this one goes on"
        ),
        Ok(Indexed::Invalid) => tracing::warn!(
            "the index `apalis.plugin_routes_jobs_done` is there but not valid (a concurrent build that failed, or one still running): until it is made again the clean-up of done jobs reads every job of a queue; as the table's owner, run `DROP INDEX CONCURRENTLY apalis.plugin_routes_jobs_done`, then, on its own, `{make}`"
        ),
        Ok(Indexed::TooLarge(jobs)) => tracing::warn!(
            jobs,
            "apalis's jobs table is too large to build the index the clean-up of done jobs reads while writes to it wait; until it is made the clean-up reads every job of a queue; as the table's owner, run `{make}`"
        ),
        Err(e) => tracing::warn!(
            error = %e,
            "the index the clean-up of done jobs reads was not made; until it is, the clean-up reads every job of a queue; as the table's owner, run `{make}`"
        ),
    }
}

/// How many jobs (by the table's statistics, or its size) apalis's table may hold for the
/// index to be built when the queue is opened: about two seconds of writes held off.
#[cfg(feature = "operations-postgres")]
const BUILD_AT_MOST: f32 = 2_000_000.0;

/// What [`make_done_jobs_index`] found or did.
#[cfg(feature = "operations-postgres")]
enum Indexed {
    /// The index is there, usable.
    Valid,
    /// The index is there and not usable: a concurrent build failed or still runs.
    Invalid,
    /// Not built: the table holds about this many jobs.
    TooLarge(f32),
    /// Another server is making it now.
    Elsewhere,
}

/// [`index_done_jobs`]'s work, bounded as a whole (25 s) besides its statements' own limits: the
/// check for the index, which is all it does once the index is made, and the build.
#[cfg(feature = "operations-postgres")]
async fn make_done_jobs_index(
    pool: &sqlx::PgPool,
    jobs_index: &str,
) -> Result<Indexed, sqlx::Error> {
    const VALID: &str = "SELECT i.indisvalid FROM pg_index i \
                         WHERE i.indexrelid = to_regclass('apalis.plugin_routes_jobs_done')";
    let found = |valid: bool| {
        if valid {
            Indexed::Valid
        } else {
            Indexed::Invalid
        }
    };
    let make = async {
        if let Some(valid) = sqlx::query_scalar(VALID).fetch_optional(pool).await? {
            return Ok(found(valid));
        }
        let mut tx = pool.begin().await?;
        // One server builds it; one opening meanwhile goes on without waiting, and finds it
        // made at its next start.
        let ours: bool = sqlx::query_scalar(
            "SELECT pg_try_advisory_xact_lock(hashtext('apalis.plugin_routes_jobs_done'))",
        )
        .fetch_one(&mut *tx)
        .await?;
        if !ours {
            return Ok(Indexed::Elsewhere);
        }
        if let Some(valid) = sqlx::query_scalar(VALID).fetch_optional(&mut *tx).await? {
            return Ok(found(valid));
        }
        // The statistics' count, or, for a table never analysed, one from its size (a job's row
        // is some 250 bytes).
        let jobs: f32 = sqlx::query_scalar(
            "SELECT CASE WHEN reltuples >= 0 THEN reltuples \
             ELSE pg_relation_size(oid) / 250.0 END::real \
             FROM pg_class WHERE oid = 'apalis.jobs'::regclass",
        )
        .fetch_one(&mut *tx)
        .await?;
        if jobs > BUILD_AT_MOST {
            return Ok(Indexed::TooLarge(jobs));
        }
        sqlx::raw_sql("SET LOCAL lock_timeout = '2s'; SET LOCAL statement_timeout = '10s'")
            .execute(&mut *tx)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE INDEX IF NOT EXISTS {jobs_index}"
        )))
        .execute(&mut *tx)
        .await?;
        let valid = sqlx::query_scalar(VALID).fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        Ok(found(valid.unwrap_or(false)))
    };
    crate::database::within(Duration::from_secs(25), "while making the index", make).await
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these maps leaves it consistent (single inserts and removes).
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The places of the runs a server drives at once, and word each time one is given back.
pub(crate) struct Places {
    slots: Arc<tokio::sync::Semaphore>,
    freed: Arc<Notify>,
}

impl Places {
    fn new(n: usize) -> Arc<Places> {
        Arc::new(Places {
            slots: Arc::new(tokio::sync::Semaphore::new(n)),
            freed: Arc::new(Notify::new()),
        })
    }

    /// A place, once one is free (`None`: never, the places are closed).
    async fn take(self: &Arc<Self>) -> Option<Place> {
        let permit = Arc::clone(&self.slots).acquire_owned().await.ok()?;
        Some(Place {
            permit: Some(permit),
            places: Arc::clone(self),
        })
    }

    /// Whether a place is free now.
    #[cfg(any(feature = "operations-sqlite", feature = "operations-postgres"))]
    fn free(&self) -> bool {
        self.slots.available_permits() > 0
    }
}

/// A place held by a run, given back (and said so) when dropped.
struct Place {
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    places: Arc<Places>,
}

impl Drop for Place {
    fn drop(&mut self) {
        drop(self.permit.take());
        self.places.freed.notify_waiters();
    }
}

/// Makes a queue's worker take a job only while this server has a place to run one: a job it
/// took with none free would wait here, taken from the queue, while another server sat idle.
/// With each fetch taking one job (`batch_size(1)`), a server holds at most one job a queue
/// beyond its places: the workers of several queues can see the same place free at once, a
/// fetch that found nothing looks again without asking, and a job handed is counted once its
/// run takes its place (a moment later, on another task). The worker only watches for a free
/// place, taking none: the run takes its own.
///
/// A job the queue gives back to a full server (its worker registering again after missing
/// heartbeats) waits for a free place too. On PostgreSQL that happens when every other server
/// may take the job anyway (two missed heartbeats: the server is taken for dead). On SQLite a
/// worker gives its own jobs back after one; with several servers on one SQLite file, another
/// may then take the job of a run still going here, which it stops (`Standing::TakenOver`).
#[cfg(any(feature = "operations-sqlite", feature = "operations-postgres"))]
#[derive(Clone)]
struct WhilePlaces(Arc<Places>);

#[cfg(any(feature = "operations-sqlite", feature = "operations-postgres"))]
impl<Svc> tower::Layer<Svc> for WhilePlaces {
    type Service = PlaceGated<Svc>;

    fn layer(&self, inner: Svc) -> PlaceGated<Svc> {
        PlaceGated {
            places: Arc::clone(&self.0),
            waiting: None,
            open: false,
            inner,
        }
    }
}

/// See [`WhilePlaces`].
#[cfg(any(feature = "operations-sqlite", feature = "operations-postgres"))]
struct PlaceGated<Svc> {
    places: Arc<Places>,
    /// Word of a place given back, awaited while none is free.
    waiting: Option<std::pin::Pin<Box<tokio::sync::futures::OwnedNotified>>>,
    /// Said ready, and no job handed since. It stays so until one is: the worker drives its
    /// fetch only while this says ready, and a fetch left half done would hold its database
    /// connection (on SQLite, the write lock every run needs to begin).
    open: bool,
    inner: Svc,
}

#[cfg(any(feature = "operations-sqlite", feature = "operations-postgres"))]
impl<Svc: tower::Service<R>, R> tower::Service<R> for PlaceGated<Svc> {
    type Response = Svc::Response;
    type Error = Svc::Error;
    type Future = Svc::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Svc::Error>> {
        while !self.open {
            if let Some(waiting) = &mut self.waiting {
                std::task::ready!(waiting.as_mut().poll(cx));
                self.waiting = None;
            }
            if !self.places.free() {
                // Listening before looking again: a place given back in between is not missed.
                let mut freed = Box::pin(Arc::clone(&self.places.freed).notified_owned());
                freed.as_mut().enable();
                if !self.places.free() {
                    self.waiting = Some(freed);
                    continue;
                }
            }
            self.open = true;
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Svc::Future {
        self.open = false;
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::Backoff;
    use std::time::Duration;

    #[test]
    fn a_worker_failing_anew_after_a_long_life_starts_again_within_a_second() {
        let heartbeat = Duration::from_secs(10);
        let secs = Duration::from_secs;
        let t0 = tokio::time::Instant::now();
        let mut backoff = Backoff::default();
        // Failing from the start: a second each while under two heartbeats, then doubling.
        let mut now = t0;
        let mut pauses = Vec::new();
        for _ in 0..26 {
            let began = now;
            let pause = backoff.after_life(began, now, now, true, heartbeat);
            pauses.push(pause.as_secs());
            now += pause;
        }
        assert_eq!(&pauses[..20], [1; 20]);
        assert_eq!(&pauses[20..], [2, 4, 8, 10, 10, 10]);
        // A life of minutes, then a failure: a new streak, a second again (it was 10 s).
        let began = now;
        now += secs(300);
        assert_eq!(
            backoff.after_life(began, now, now, true, heartbeat),
            secs(1)
        );
        // A short life that failed continues the streak.
        let began = now + secs(1);
        now += secs(2);
        assert_eq!(
            backoff.after_life(began, now, now, true, heartbeat),
            secs(1)
        );
        // A life that ended without failing ends it too.
        assert_eq!(backoff.after_life(now, now, now, false, heartbeat), secs(1));
        // Lives stuck on a call, or failing slowly as their calls wait out their bounds (36 s
        // without a heartbeat each, from their start): failing for longer than two heartbeats
        // at once, so twice as long each time, as before.
        let mut backoff = Backoff::default();
        let mut stuck = Vec::new();
        for _ in 0..4 {
            let began = now;
            now += secs(36);
            let pause = backoff.after_life(began, began, now, true, heartbeat);
            stuck.push(pause.as_secs());
            now += pause;
        }
        assert_eq!(stuck, [2, 4, 8, 10]);
        // A life healthy for minutes that then got stuck: a new streak from its last heartbeat.
        let began = now;
        let last_beat = now + secs(300);
        now = last_beat + secs(36);
        assert_eq!(
            backoff.after_life(began, last_beat, now, true, heartbeat),
            secs(2)
        );
    }
}
