//! Plans kept in the server's database through sqlx (SQLite or PostgreSQL, the same statements),
//! one per scope, so a restart keeps them. A plan records the state of the files it was made
//! from: each file's blob hash, or `deleted`, and who made it and who last edited it (their user
//! ids), kept in columns of their own so no stored JSON can claim another author. Every change
//! is written only over the revision it was made from (a column too), so of two requests at once
//! that change the same plan, the second to finish is told, never erases the first's work.

use crate::planner::CommitType;
use plugin_routes::database::bounded;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sqlx::{AnyPool, Row};
use std::collections::BTreeMap;

/// Where a plan stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlanState {
    /// Made, not applied.
    Ready,
    /// Its commits were made.
    Applied,
    /// They were pushed.
    Pushed,
}

impl PlanState {
    /// As stored and answered: `ready`, `applied`, `pushed`.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanState::Ready => "ready",
            PlanState::Applied => "applied",
            PlanState::Pushed => "pushed",
        }
    }

    fn parse(s: &str) -> PlanState {
        match s {
            "applied" => PlanState::Applied,
            "pushed" => PlanState::Pushed,
            _ => PlanState::Ready,
        }
    }
}

/// One commit of a plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlannedCommit {
    /// Its id in the plan (`c1`, `c2`, …).
    pub id: String,
    /// Its conventional type.
    #[serde(rename = "type")]
    pub kind: CommitType,
    /// Its scope (`feat(api): …`), if any.
    pub scope: Option<String>,
    /// The subject line after `type(scope): `.
    pub message: String,
    /// More lines after the subject, if any.
    pub body: Option<String>,
    /// Its files, from the repository's root.
    pub files: Vec<String>,
    /// Whether it breaks compatibility (`feat!: …`).
    pub breaking: bool,
    /// The commit's hash, once it was made.
    pub sha: Option<String>,
    /// Why the model grouped these files so, when a model planned it and said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
}

/// How a plan was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlanMethod {
    /// By a model (`COMMIT_MODEL`).
    Model,
    /// Without one, from the diffs ([`crate::planner`]).
    Heuristics,
}

/// How a plan was made and what it cost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanMetadata {
    /// `model` or `heuristics`.
    pub method: PlanMethod,
    /// The model, when one planned it.
    pub model: Option<String>,
    /// Tokens the model used for this plan: planning it and redoing its commits (0 without one).
    pub tokens_used: u64,
}

/// A plan of commits for one scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The scope it was made for.
    pub scope: String,
    /// The git repository whose root its files are named from: `.` for the configured one, or
    /// the directory of a repository of its own nested in it. Absent in a plan made before this
    /// was kept, which means `.`.
    #[serde(default)]
    pub repository: Option<String>,
    /// Where it stands.
    pub state: PlanState,
    /// The commits, in the order they are to be made.
    pub commits: Vec<PlannedCommit>,
    /// The model that planned it; absent when it was planned without one.
    pub model: Option<String>,
    /// When it was made, in milliseconds since 1970.
    pub created_at: i64,
    /// The user id of who made it; only they apply, edit, redo or discard it, unless the caller
    /// holds `commit:admin`. Absent for a plan made before authors were recorded.
    pub created_by: Option<String>,
    /// The user id of who last edited or redid one of its commits; absent until someone does.
    pub edited_by: Option<String>,
    /// How it was made and the tokens it took; absent for a plan made before this was kept.
    #[serde(default)]
    pub metadata: Option<PlanMetadata>,
    /// The stored revision this plan was read at (0 before it is stored); not part of the
    /// plan's JSON.
    #[serde(skip)]
    #[schemars(skip)]
    pub revision: i64,
}

/// The plans' table.
#[derive(Clone, Debug)]
pub struct Plans {
    pool: AnyPool,
    /// Whether the database is PostgreSQL, where several servers may share it.
    postgres: bool,
}

/// An apply or push holding a repository for every server that shares the database: on
/// PostgreSQL, a session-level advisory lock on a connection of its own, taken out of the pool
/// (so a long apply neither holds one of the pool's connections nor sits idle in a transaction
/// that a server-side timeout could end). It is let go by [`RepositoryLock::release`], or when
/// the connection closes: the lock dropped (its request cancelled), or its server's process
/// ending. A server whose host vanishes without closing the connection holds it until
/// PostgreSQL notices the connection is dead (its TCP keepalive settings). On SQLite it holds
/// nothing: one server owns an SQLite file, and its own lock serves.
#[derive(Debug)]
pub struct RepositoryLock {
    held: Option<(sqlx::AnyConnection, i64)>,
}

impl RepositoryLock {
    /// Lets the lock go now.
    pub async fn release(mut self) {
        use sqlx::Connection;
        if let Some((mut conn, key)) = self.held.take() {
            // Closing the connection lets the lock go even if the unlock fails. Made after the
            // request may be gone, where no route's timeout bounds it: a connection whose server
            // stopped answering is dropped, and so closed, once the wait is over.
            let _ = bounded(async move {
                let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(key)
                    .execute(&mut conn)
                    .await;
                conn.close().await
            })
            .await;
        }
    }
}

/// The advisory lock's key for the repository at `path`: FNV-1a of the path, so every server
/// naming the repository by the same path takes the same lock.
fn lock_key(path: &std::path::Path) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in b"commit-plugin:"
        .iter()
        .chain(path.as_os_str().as_encoded_bytes())
    {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_le_bytes(hash.to_le_bytes())
}

impl Plans {
    /// The plans in `pool`, whose database `url` names; runs the plugin's migrations.
    ///
    /// # Errors
    /// If the migrations fail.
    pub async fn open(pool: AnyPool, url: &str) -> Result<Self, sqlx::Error> {
        plugin_routes::database::migrate(
            &pool,
            url,
            sqlx::migrate!("./migrations/sqlite"),
            sqlx::migrate!("./migrations/postgres"),
        )
        .await?;
        let postgres = plugin_routes::database::Backend::of(url)
            == Some(plugin_routes::database::Backend::Postgres);
        Ok(Plans { pool, postgres })
    }

    /// Takes the repository whose git directory is `path` (links resolved) for an apply or a
    /// push across every server sharing the database (each must reach it by the same path);
    /// `None` while another holds it.
    ///
    /// # Errors
    /// The database failing.
    pub async fn lock_repository(
        &self,
        path: &std::path::Path,
    ) -> Result<Option<RepositoryLock>, sqlx::Error> {
        if !self.postgres {
            return Ok(Some(RepositoryLock { held: None }));
        }
        let key = lock_key(path);
        // Given up, the connection is dropped, and closed: a lock the server took on it goes
        // with its session.
        let (conn, taken) = bounded(async {
            let mut conn = self.pool.acquire().await?.detach();
            // A server-side idle timeout would end the session, and the lock with it, mid-apply.
            // (`idle_session_timeout` exists from PostgreSQL 14; older servers have none to end it.)
            let _ = sqlx::query("SET idle_session_timeout = 0")
                .execute(&mut conn)
                .await;
            let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(key)
                .fetch_one(&mut conn)
                .await?;
            Ok((conn, taken))
        })
        .await?;
        Ok(taken.then_some(RepositoryLock {
            held: Some((conn, key)),
        }))
    }

    /// Saves `plan` for its scope, made from files in the state `files`, over `seen`: the plan
    /// the scope had when the caller decided to replace it (its owner checked), or none. `false`,
    /// and nothing saved, if the scope's plan is no longer `seen` (another was made, or it was
    /// changed or discarded, meanwhile). On success `plan.revision` is the stored one.
    ///
    /// # Errors
    /// The database failing.
    pub async fn save(
        &self,
        plan: &mut Plan,
        files: &BTreeMap<String, String>,
        seen: Option<&Plan>,
    ) -> Result<bool, sqlx::Error> {
        let json = serde_json::to_string(plan).unwrap_or_default();
        let fingerprint = serde_json::to_string(files).unwrap_or_default();
        // One statement each way, so the check and the write cannot be torn apart: a new row
        // only where there is none, or the row `seen` replaced only while it is still `seen`.
        let (sql, revision) = match seen {
            None => (
                "INSERT INTO commit_plans \
                 (scope, plan, state, fingerprint, created_at, updated_at, created_by, edited_by, \
                 revision) VALUES ($1, $2, $3, $4, $5, $5, $6, $7, 0) \
                 ON CONFLICT (scope) DO NOTHING",
                0,
            ),
            Some(old) => (
                "UPDATE commit_plans SET plan = $2, state = $3, fingerprint = $4, \
                 created_at = $5, updated_at = $5, created_by = $6, edited_by = $7, \
                 revision = revision + 1 \
                 WHERE scope = $1 AND revision = $8 AND created_at = $9",
                old.revision + 1,
            ),
        };
        let mut query = sqlx::query(sql)
            .bind(plan.scope.as_str())
            .bind(json)
            .bind(plan.state.as_str())
            .bind(fingerprint)
            .bind(plan.created_at)
            .bind(plan.created_by.as_deref())
            .bind(plan.edited_by.as_deref());
        if let Some(old) = seen {
            query = query.bind(old.revision).bind(old.created_at);
        }
        let done = bounded(query.execute(&self.pool)).await?;
        let saved = done.rows_affected() == 1;
        if saved {
            plan.revision = revision;
        }
        Ok(saved)
    }

    /// Replaces the commits, state and last editor of `scope`'s plan (its files' state and its
    /// author stay), raising its revision; `false` if it has none, or if the one it has is no
    /// longer `plan` as read (another was made, or it was changed, since): nothing is
    /// overwritten. On success `plan.revision` is the stored one.
    ///
    /// # Errors
    /// The database failing.
    pub async fn update(&self, plan: &mut Plan, now_ms: i64) -> Result<bool, sqlx::Error> {
        let json = serde_json::to_string(plan).unwrap_or_default();
        let statement = sqlx::query(
            "UPDATE commit_plans SET plan = $2, state = $3, updated_at = $4, edited_by = $5, \
             revision = revision + 1 \
             WHERE scope = $1 AND created_at = $6 AND revision = $7",
        )
        .bind(plan.scope.as_str())
        .bind(json)
        .bind(plan.state.as_str())
        .bind(now_ms)
        .bind(plan.edited_by.as_deref())
        .bind(plan.created_at)
        .bind(plan.revision)
        .execute(&self.pool);
        let done = bounded(statement).await?;
        let saved = done.rows_affected() == 1;
        if saved {
            plan.revision += 1;
        }
        Ok(saved)
    }

    /// `scope`'s plan and the state of the files it was made from.
    ///
    /// # Errors
    /// The database failing, or a stored plan that no longer parses.
    pub async fn load(
        &self,
        scope: &str,
    ) -> Result<Option<(Plan, BTreeMap<String, String>)>, sqlx::Error> {
        let statement = sqlx::query(
            "SELECT plan, state, fingerprint, created_by, edited_by, revision FROM commit_plans \
             WHERE scope = $1",
        )
        .bind(scope)
        .fetch_optional(&self.pool);
        let row = bounded(statement).await?;
        let Some(row) = row else { return Ok(None) };
        let decode = |e: serde_json::Error| sqlx::Error::Decode(Box::new(e));
        let mut plan: Plan = serde_json::from_str(&row.try_get::<String, _>(0)?).map_err(decode)?;
        plan.state = PlanState::parse(&row.try_get::<String, _>(1)?);
        plan.created_by = row.try_get::<Option<String>, _>(3)?;
        plan.edited_by = row.try_get::<Option<String>, _>(4)?;
        plan.revision = row.try_get::<i64, _>(5)?;
        let files = serde_json::from_str(&row.try_get::<String, _>(2)?).map_err(decode)?;
        Ok(Some((plan, files)))
    }

    /// Discards `plan`; `false` if its scope has no plan, or another than `plan` (made or
    /// changed since `plan` was read: it stays).
    ///
    /// # Errors
    /// The database failing.
    pub async fn discard(&self, plan: &Plan) -> Result<bool, sqlx::Error> {
        let statement = sqlx::query(
            "DELETE FROM commit_plans WHERE scope = $1 AND created_at = $2 AND revision = $3",
        )
        .bind(plan.scope.as_str())
        .bind(plan.created_at)
        .bind(plan.revision)
        .execute(&self.pool);
        let done = bounded(statement).await?;
        Ok(done.rows_affected() == 1)
    }
}
