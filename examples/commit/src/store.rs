//! Plans kept in the server's database through sqlx (SQLite or PostgreSQL, the same statements),
//! one per scope, so a restart keeps them. A plan records the state of the files it was made
//! from: each file's blob hash, or `deleted`.

use crate::planner::CommitType;
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
}

/// A plan of commits for one scope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The scope it was made for.
    pub scope: String,
    /// Where it stands.
    pub state: PlanState,
    /// The commits, in the order they are to be made.
    pub commits: Vec<PlannedCommit>,
    /// The model that planned it; absent when it was planned without one.
    pub model: Option<String>,
    /// When it was made, in milliseconds since 1970.
    pub created_at: i64,
}

/// The plans' table.
#[derive(Clone, Debug)]
pub struct Plans {
    pool: AnyPool,
}

impl Plans {
    /// The plans in `pool`, whose database `url` names; runs the plugin's migrations.
    ///
    /// # Errors
    /// If the migrations fail.
    pub async fn open(pool: AnyPool, url: &str) -> Result<Self, sqlx::Error> {
        plugin_runtime::database::migrate(
            &pool,
            url,
            sqlx::migrate!("./migrations/sqlite"),
            sqlx::migrate!("./migrations/postgres"),
        )
        .await?;
        Ok(Plans { pool })
    }

    /// Saves `plan` for its scope, made from files in the state `files`, replacing any other.
    ///
    /// # Errors
    /// The database failing.
    pub async fn save(
        &self,
        plan: &Plan,
        files: &BTreeMap<String, String>,
    ) -> Result<(), sqlx::Error> {
        let json = serde_json::to_string(plan).unwrap_or_default();
        let fingerprint = serde_json::to_string(files).unwrap_or_default();
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM commit_plans WHERE scope = $1")
            .bind(plan.scope.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO commit_plans (scope, plan, state, fingerprint, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(plan.scope.as_str())
        .bind(json)
        .bind(plan.state.as_str())
        .bind(fingerprint)
        .bind(plan.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// Replaces the commits of `scope`'s plan (its files' state stays); `false` if it has none.
    ///
    /// # Errors
    /// The database failing.
    pub async fn update(&self, plan: &Plan, now_ms: i64) -> Result<bool, sqlx::Error> {
        let json = serde_json::to_string(plan).unwrap_or_default();
        let done = sqlx::query(
            "UPDATE commit_plans SET plan = $2, state = $3, updated_at = $4 WHERE scope = $1",
        )
        .bind(plan.scope.as_str())
        .bind(json)
        .bind(plan.state.as_str())
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// `scope`'s plan and the state of the files it was made from.
    ///
    /// # Errors
    /// The database failing, or a stored plan that no longer parses.
    pub async fn load(
        &self,
        scope: &str,
    ) -> Result<Option<(Plan, BTreeMap<String, String>)>, sqlx::Error> {
        let row = sqlx::query("SELECT plan, state, fingerprint FROM commit_plans WHERE scope = $1")
            .bind(scope)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let decode = |e: serde_json::Error| sqlx::Error::Decode(Box::new(e));
        let mut plan: Plan = serde_json::from_str(&row.try_get::<String, _>(0)?).map_err(decode)?;
        plan.state = PlanState::parse(&row.try_get::<String, _>(1)?);
        let files = serde_json::from_str(&row.try_get::<String, _>(2)?).map_err(decode)?;
        Ok(Some((plan, files)))
    }

    /// Discards `scope`'s plan; `false` if it had none.
    ///
    /// # Errors
    /// The database failing.
    pub async fn discard(&self, scope: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query("DELETE FROM commit_plans WHERE scope = $1")
            .bind(scope)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
