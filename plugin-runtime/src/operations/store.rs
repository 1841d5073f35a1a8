//! The rows a client reads: one per operation (who started it, its input, its state, its result)
//! and the progress it reported, in order. Written in SQL both SQLite and PostgreSQL accept, on
//! the application's pool; apalis's tables, beside them, only say which server runs what.

use crate::declare::OperationState as State;
use sqlx::{AnyPool, Row};

/// Every statement on the operations' tables and on the queue's is bounded (see
/// [`STATEMENT_WAIT`](crate::database::STATEMENT_WAIT)).
pub(super) use crate::database::bounded;

/// One operation as stored.
#[derive(Clone, Debug)]
pub(crate) struct OperationRow {
    pub(crate) id: String,
    pub(crate) plugin: String,
    pub(crate) route: String,
    pub(crate) owner: String,
    /// The caller, as JSON (`None` on a public route).
    pub(crate) caller: Option<String>,
    pub(crate) request_id: String,
    /// The accepting request's span as a W3C `traceparent`, when it was traced.
    pub(crate) traceparent: Option<String>,
    /// Which handing to a server took it for its current run (see [`Store::begin`]).
    pub(crate) taken_by: Option<String>,
    pub(crate) location: String,
    /// The path parameters and the input, as JSON.
    pub(crate) input: String,
    pub(crate) state: State,
    pub(crate) attempts: i64,
    pub(crate) cancel_requested: bool,
    pub(crate) progress: Option<f64>,
    pub(crate) message: Option<String>,
    pub(crate) last_event: i64,
    pub(crate) status: Option<i64>,
    pub(crate) result: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) started_at: Option<i64>,
    pub(crate) finished_at: Option<i64>,
}

/// One progress report.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct EventRow {
    pub(crate) seq: i64,
    pub(crate) fraction: Option<f64>,
    pub(crate) message: String,
}

/// How an operation ended, as stored.
pub(crate) struct Ending<'a> {
    pub(crate) state: State,
    pub(crate) status: u16,
    pub(crate) result: Option<&'a str>,
    pub(crate) error: Option<&'a str>,
}

/// Where a run stands, as its server reads it while it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Standing {
    Running,
    /// A cancel was asked for, or the operation was deleted.
    Cancelled,
    /// Another server has run it since (its server was taken for dead), or ended it.
    TakenOver,
}

/// The operations of one namespace (see `OperationSettings::with_namespace`): the cap and the
/// retention count and delete only its own.
#[derive(Clone, Debug)]
pub(crate) struct Store {
    pool: AnyPool,
    namespace: String,
    /// Whether the pool is PostgreSQL's, whose inserts at once take turns for the cap.
    postgres: bool,
}

impl Store {
    pub(crate) async fn open(
        pool: AnyPool,
        namespace: String,
    ) -> Result<Self, sqlx::migrate::MigrateError> {
        let mut migrator = sqlx::migrate!("./operations-migrations");
        // The application's own migrations (and the auth store's) share the migration table.
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        let postgres = pool
            .connect_options()
            .database_url
            .scheme()
            .starts_with("postgres");
        Ok(Store {
            pool,
            namespace,
            postgres,
        })
    }

    /// Stores a new operation, unless its owner has `max` queued or running already; whether
    /// it was stored. Requests at once cannot all pass the count: on SQLite the statement
    /// counts under the database's write lock; on PostgreSQL, whose statements at once would
    /// each count without the others' rows (read committed), one owner's inserts take turns
    /// behind a lock held until they commit. A request that finds the lock taken gives its
    /// connection back and tries again a moment later, so that one owner's burst cannot hold
    /// the pool; after [`CONNECTION_WAIT`](crate::database::CONNECTION_WAIT) it fails as a
    /// pool would (`503`).
    pub(crate) async fn insert(&self, row: &OperationRow, max: u64) -> Result<bool, sqlx::Error> {
        bounded(self.insert_within_cap(row, max)).await
    }

    async fn insert_within_cap(&self, row: &OperationRow, max: u64) -> Result<bool, sqlx::Error> {
        if !self.postgres {
            return self
                .insert_counted(&mut *self.pool.acquire().await?, row, max)
                .await;
        }
        let key = format!("plugin-operations/{}/{}", self.namespace, row.owner);
        let give_up = tokio::time::Instant::now() + crate::database::CONNECTION_WAIT;
        loop {
            let mut tx = self.pool.begin().await?;
            let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext($1))")
                .bind(&key)
                .fetch_one(&mut *tx)
                .await?;
            if locked {
                let stored = self.insert_counted(&mut tx, row, max).await?;
                tx.commit().await?;
                return Ok(stored);
            }
            tx.rollback().await?;
            if tokio::time::Instant::now() >= give_up {
                return Err(sqlx::Error::PoolTimedOut);
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    async fn insert_counted(
        &self,
        conn: &mut sqlx::AnyConnection,
        row: &OperationRow,
        max: u64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "INSERT INTO plugin_operations (id, plugin, route, owner, caller, request_id, location, \
             input, state, created_at, namespace, traceparent) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, CAST($10 AS BIGINT), $11, $13 \
             WHERE (SELECT COUNT(*) FROM plugin_operations WHERE namespace = $11 AND owner = $4 \
             AND state IN ('queued', 'running')) < CAST($12 AS BIGINT)",
        )
        .bind(&row.id)
        .bind(&row.plugin)
        .bind(&row.route)
        .bind(&row.owner)
        .bind(row.caller.as_deref())
        .bind(&row.request_id)
        .bind(&row.location)
        .bind(&row.input)
        .bind(row.state.as_str())
        .bind(row.created_at)
        .bind(&self.namespace)
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .bind(row.traceparent.as_deref())
        .execute(&mut *conn)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub(crate) async fn get(&self, id: &str) -> Result<Option<OperationRow>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, plugin, route, owner, caller, request_id, location, input, state, \
             attempts, cancel_requested, progress, message, last_event, status, result, error, \
             created_at, started_at, finished_at, traceparent, taken_by FROM plugin_operations \
             WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool);
        bounded(row).await?.as_ref().map(operation).transpose()
    }

    /// Takes the operation for one run, as the handing `taken_by` (unique to one handing of it
    /// to one server): from `queued`, or from `running` when the run before was interrupted
    /// (`attempts` as read, so two servers cannot both take it). Returns the last event
    /// recorded as it was taken (the run before may have recorded one since it was read), or
    /// `None` when it was not taken.
    pub(crate) async fn begin(
        &self,
        id: &str,
        attempts: i64,
        now: i64,
        taken_by: &str,
    ) -> Result<Option<i64>, sqlx::Error> {
        bounded(
            sqlx::query_scalar(
                "UPDATE plugin_operations SET state = 'running', attempts = attempts + 1, \
                 started_at = $3, taken_by = $4 WHERE id = $1 AND attempts = $2 \
                 AND state IN ('queued', 'running') AND cancel_requested = 0 RETURNING last_event",
            )
            .bind(id)
            .bind(attempts)
            .bind(now)
            .bind(taken_by)
            .fetch_optional(&self.pool),
        )
        .await
    }

    /// Records a progress report of run `attempt` as event `seq`; `false`, recording nothing,
    /// when the operation is no longer that run's (taken by another, or ended).
    pub(crate) async fn progress(
        &self,
        id: &str,
        attempt: i64,
        event: &EventRow,
    ) -> Result<bool, sqlx::Error> {
        bounded(self.record_progress(id, attempt, event)).await
    }

    async fn record_progress(
        &self,
        id: &str,
        attempt: i64,
        event: &EventRow,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let mine = sqlx::query(
            "UPDATE plugin_operations SET progress = $2, message = $3, last_event = $4 \
             WHERE id = $1 AND attempts = $5 AND state = 'running'",
        )
        .bind(id)
        .bind(event.fraction)
        .bind(&event.message)
        .bind(event.seq)
        .bind(attempt)
        .execute(&mut *tx)
        .await?;
        if mine.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO plugin_operation_events (operation_id, seq, fraction, message) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(event.seq)
        .bind(event.fraction)
        .bind(&event.message)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The operations of route `plugin`/`route` still `queued` that were stored before
    /// `before`: at most 100, oldest first (those a job never reached are the oldest).
    pub(crate) async fn queued_before(
        &self,
        plugin: &str,
        route: &str,
        before: i64,
    ) -> Result<Vec<String>, sqlx::Error> {
        let ids = sqlx::query_scalar(
            "SELECT id FROM plugin_operations WHERE namespace = $1 AND plugin = $2 \
             AND route = $3 AND state = 'queued' AND created_at < CAST($4 AS BIGINT) \
             ORDER BY created_at LIMIT 100",
        )
        .bind(&self.namespace)
        .bind(plugin)
        .bind(route)
        .bind(before)
        .fetch_all(&self.pool);
        bounded(ids).await
    }

    /// The progress reported after event `after`, in order.
    pub(crate) async fn events_after(
        &self,
        id: &str,
        after: i64,
    ) -> Result<Vec<EventRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT seq, fraction, message FROM plugin_operation_events \
             WHERE operation_id = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(id)
        .bind(after)
        .fetch_all(&self.pool);
        bounded(rows)
            .await?
            .iter()
            .map(|r| {
                Ok(EventRow {
                    seq: r.try_get(0)?,
                    fraction: r.try_get(1)?,
                    message: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Ends a queued or running operation whose `attempts` are still `attempts` (as read, or as
    /// a run began it): `false` when it had ended, or another server has taken it since.
    pub(crate) async fn finish(
        &self,
        id: &str,
        attempts: i64,
        ending: &Ending<'_>,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE plugin_operations SET state = $2, status = $3, result = $4, error = $5, \
             finished_at = $6 WHERE id = $1 AND state IN ('queued', 'running') AND attempts = $7",
        )
        .bind(id)
        .bind(ending.state.as_str())
        .bind(i64::from(ending.status))
        .bind(ending.result)
        .bind(ending.error)
        .bind(now)
        .bind(attempts)
        .execute(&self.pool);
        Ok(bounded(done).await?.rows_affected() == 1)
    }

    /// Asks for the operation to stop. One still queued ends `cancelled` at once; one running
    /// stops where its server next looks. Returns whether it was queued.
    pub(crate) async fn request_cancel(
        &self,
        id: &str,
        now: i64,
        error: &str,
    ) -> Result<bool, sqlx::Error> {
        bounded(self.mark_cancelled(id, now, error)).await
    }

    async fn mark_cancelled(&self, id: &str, now: i64, error: &str) -> Result<bool, sqlx::Error> {
        sqlx::query(
            "UPDATE plugin_operations SET cancel_requested = 1 WHERE id = $1 \
             AND state IN ('queued', 'running')",
        )
        .bind(id)
        .execute(&self.pool)
        .await?;
        let done = sqlx::query(
            "UPDATE plugin_operations SET state = 'cancelled', status = 499, finished_at = $2, \
             error = $3 WHERE id = $1 AND state = 'queued'",
        )
        .bind(id)
        .bind(now)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether run `attempt` of the operation goes on: not when a cancel was asked for (or the
    /// row was deleted), nor when the operation is no longer that run's.
    pub(crate) async fn standing(&self, id: &str, attempt: i64) -> Result<Standing, sqlx::Error> {
        let row = sqlx::query(
            "SELECT cancel_requested, attempts, state FROM plugin_operations WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool);
        let Some(row) = bounded(row).await? else {
            return Ok(Standing::Cancelled);
        };
        let cancel: i64 = row.try_get(0)?;
        let attempts: i64 = row.try_get(1)?;
        let state: String = row.try_get(2)?;
        Ok(if attempts != attempt || state != "running" {
            Standing::TakenOver
        } else if cancel != 0 {
            Standing::Cancelled
        } else {
            Standing::Running
        })
    }

    /// Deletes the operations that ended before `cutoff`, with their events; returns how many.
    /// They go [`DELETE_BATCH`] at a time, each batch a transaction bounded on its own, so that a
    /// backlog (a retention shortened, a long stop) is worked through instead of given up whole
    /// at the bound every time, and no write waits long behind one.
    pub(crate) async fn delete_ended_before(&self, cutoff: i64) -> Result<u64, sqlx::Error> {
        in_batches(|| self.delete_ended(cutoff)).await
    }

    /// One batch of [`Self::delete_ended_before`]: the oldest ended operations, by a subquery
    /// that both statements run alike (the same order, ties broken by id).
    async fn delete_ended(&self, cutoff: i64) -> Result<u64, sqlx::Error> {
        let oldest = format!(
            "SELECT id FROM plugin_operations WHERE namespace = $2 AND finished_at < $1 \
             ORDER BY finished_at, id LIMIT {DELETE_BATCH}"
        );
        let mut tx = self.pool.begin().await?;
        let events =
            format!("DELETE FROM plugin_operation_events WHERE operation_id IN ({oldest})");
        sqlx::query(sqlx::AssertSqlSafe(events))
            .bind(cutoff)
            .bind(&self.namespace)
            .execute(&mut *tx)
            .await?;
        let operations = format!("DELETE FROM plugin_operations WHERE id IN ({oldest})");
        let done = sqlx::query(sqlx::AssertSqlSafe(operations))
            .bind(cutoff)
            .bind(&self.namespace)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

/// How many ended operations, or done jobs of a queue, are deleted at a time (the `LIMIT` the
/// deletions write).
pub(super) const DELETE_BATCH: u64 = 500;

/// Runs `batch` (a deletion of at most [`DELETE_BATCH`] rows, saying how many it deleted), each
/// run bounded on its own, until one deletes fewer; how many were deleted in all.
pub(super) async fn in_batches<F, Fut>(mut batch: F) -> Result<u64, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, sqlx::Error>>,
{
    let mut deleted = 0;
    loop {
        let n = bounded(batch()).await?;
        deleted += n;
        if n < DELETE_BATCH {
            return Ok(deleted);
        }
    }
}

fn operation(r: &sqlx::any::AnyRow) -> Result<OperationRow, sqlx::Error> {
    let state: String = r.try_get(8)?;
    Ok(OperationRow {
        id: r.try_get(0)?,
        plugin: r.try_get(1)?,
        route: r.try_get(2)?,
        owner: r.try_get(3)?,
        caller: r.try_get(4)?,
        request_id: r.try_get(5)?,
        location: r.try_get(6)?,
        input: r.try_get(7)?,
        state: State::parse(&state)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown state {state:?}").into()))?,
        attempts: r.try_get(9)?,
        cancel_requested: r.try_get::<i64, _>(10)? != 0,
        progress: r.try_get(11)?,
        message: r.try_get(12)?,
        last_event: r.try_get(13)?,
        status: r.try_get(14)?,
        result: r.try_get(15)?,
        error: r.try_get(16)?,
        created_at: r.try_get(17)?,
        started_at: r.try_get(18)?,
        finished_at: r.try_get(19)?,
        traceparent: r.try_get(20)?,
        taken_by: r.try_get(21)?,
    })
}
