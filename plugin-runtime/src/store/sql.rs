//! Users, sessions and API keys in SQL, through sqlx's `Any` driver so one set of queries serves
//! SQLite and PostgreSQL. Every lookup on the request path is one query on a primary or unique
//! key, joined to the owner for their current scopes.
//!
//! Every statement waits at most [`STATEMENT_WAIT`](crate::database::STATEMENT_WAIT) for its
//! answer ([`bounded`]), then fails as unavailable: a credential looked up on a connection whose
//! database went silent is answered `503` within it, not held until the route's timeout (`504`
//! after a minute); and the writes made in the background, where no route's timeout bounds them,
//! give their connection's place in the pool back.

use super::scope;
use crate::database::bounded;
use crate::declare::AuthMethod;
use crate::request::Principal;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("a user with this email exists")]
    EmailTaken,
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::EmailTaken,
            _ => StoreError::Database(e),
        }
    }
}

/// A user as stored (without the password hash).
#[derive(Clone, Debug)]
pub(crate) struct UserRow {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) created_at: i64,
}

/// An API key as listed.
#[derive(Clone, Debug)]
pub(crate) struct KeyRow {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) prefix: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) created_at: i64,
    pub(crate) expires_at: Option<i64>,
    pub(crate) last_used_at: Option<i64>,
}

/// What a credential lookup finds: the caller and until when the credential is valid.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) principal: Principal,
    pub(crate) expires_at: Option<i64>,
    /// The key's id (API keys only), for the last-used time.
    pub(crate) key_id: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct Store {
    pool: AnyPool,
}

fn join(scopes: &[String]) -> String {
    scopes.join(",")
}

fn split(scopes: &str) -> Vec<String> {
    scopes
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What [`Store::ping`] found of a database that answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Health {
    Serving,
    /// PostgreSQL answers but takes no writes: a standby, or read-only sessions.
    ReadOnly,
}

impl Store {
    /// Runs the auth migrations (idempotent) and wraps the pool.
    pub(crate) async fn open(pool: AnyPool) -> Result<Self, sqlx::migrate::MigrateError> {
        let mut migrator = sqlx::migrate!("./migrations");
        // The application's own migrations share the database and its migration table.
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        Ok(Store { pool })
    }

    /// Whether the database can serve requests: PostgreSQL answers and takes writes (it is not a
    /// standby, and its sessions are not read-only); SQLite answers a `SELECT 1`.
    ///
    /// A PostgreSQL that takes no writes counts as a write refused with `25006`: the pools
    /// replace the connections they made before, so that once a failover is done the next
    /// check (and request) reaches the new primary.
    pub(crate) async fn ping(&self) -> Result<Health, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        if conn.backend_name() == "PostgreSQL" {
            let read_only: bool = sqlx::query_scalar(
                "SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'",
            )
            .fetch_one(&mut *conn)
            .await?;
            if read_only {
                crate::request::outage::read_only_seen();
                return Ok(Health::ReadOnly);
            }
            return Ok(Health::Serving);
        }
        // A query that reads the file would not prove more: in WAL mode it may be served from
        // the log and the cache, and a file deleted under a connection stays readable to it.
        sqlx::query("SELECT 1")
            .execute(&mut *conn)
            .await
            .map(|_| Health::Serving)
    }

    pub(crate) async fn create_user(
        &self,
        id: &str,
        email: &str,
        password_hash: &str,
        scopes: &[String],
        now: i64,
    ) -> Result<UserRow, StoreError> {
        let statement = sqlx::query(
            "INSERT INTO auth_users (id, email, password_hash, scopes, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(email)
        .bind(password_hash)
        .bind(join(scopes))
        .bind(now)
        .execute(&self.pool);
        bounded(statement).await?;
        Ok(UserRow {
            id: id.to_owned(),
            email: email.to_owned(),
            scopes: scopes.to_vec(),
            created_at: now,
        })
    }

    /// Replaces a user's scopes; the user, or `None` if no user has the email.
    pub(crate) async fn set_scopes(
        &self,
        email: &str,
        scopes: &[String],
    ) -> Result<Option<UserRow>, StoreError> {
        let statement = sqlx::query(
            "UPDATE auth_users SET scopes = $1 WHERE email = $2 RETURNING id, email, scopes, created_at",
        )
        .bind(join(scopes))
        .bind(email)
        .fetch_optional(&self.pool);
        let row = bounded(statement).await?;
        Ok(row.as_ref().map(user).transpose()?)
    }

    /// The user and their password hash.
    pub(crate) async fn user_by_email(
        &self,
        email: &str,
    ) -> Result<Option<(UserRow, String)>, StoreError> {
        let statement = sqlx::query(
            "SELECT id, email, scopes, created_at, password_hash FROM auth_users WHERE email = $1",
        )
        .bind(email)
        .fetch_optional(&self.pool);
        let row = bounded(statement).await?;
        row.map(|r| Ok((user(&r)?, r.try_get("password_hash")?)))
            .transpose()
    }

    pub(crate) async fn create_session(
        &self,
        token_hash: &str,
        user_id: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let statement = sqlx::query(
            "INSERT INTO auth_sessions (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool);
        bounded(statement).await?;
        Ok(())
    }

    /// The session's user, if the session exists and has not expired.
    pub(crate) async fn session(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<Found>, StoreError> {
        // Found by its digest: what timing could reveal about the lookup is a digest's prefix,
        // which says nothing about the session id.
        let statement = sqlx::query(
            "SELECT s.expires_at, u.id, u.email, u.scopes FROM auth_sessions s \
             JOIN auth_users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool);
        let row = bounded(statement).await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Found {
            principal: Principal {
                user_id: row.try_get("id")?,
                email: Some(row.try_get("email")?),
                scheme: AuthMethod::Session.scheme(),
                scopes: split(&row.try_get::<String, _>("scopes")?),
            },
            expires_at: Some(row.try_get("expires_at")?),
            key_id: None,
        }))
    }

    pub(crate) async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        let statement = sqlx::query("DELETE FROM auth_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool);
        bounded(statement).await?;
        Ok(())
    }

    /// Sessions past their expiry are useless; this keeps the table from growing without bound.
    pub(crate) async fn delete_expired_sessions(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM auth_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&self.pool);
        Ok(bounded(done).await?.rows_affected())
    }

    #[allow(clippy::too_many_arguments, reason = "one column each")]
    pub(crate) async fn create_key(
        &self,
        id: &str,
        user_id: &str,
        name: &str,
        key_hash: &str,
        prefix: &str,
        scopes: &[String],
        now: i64,
        expires_at: Option<i64>,
    ) -> Result<KeyRow, StoreError> {
        let statement = sqlx::query(
            "INSERT INTO auth_api_keys (id, user_id, name, key_hash, prefix, scopes, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(user_id)
        .bind(name)
        .bind(key_hash)
        .bind(prefix)
        .bind(join(scopes))
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool);
        bounded(statement).await?;
        Ok(KeyRow {
            id: id.to_owned(),
            name: name.to_owned(),
            prefix: prefix.to_owned(),
            scopes: scopes.to_vec(),
            created_at: now,
            expires_at,
            last_used_at: None,
        })
    }

    /// The key's owner, if the key exists, is not revoked and has not expired. Its scopes are
    /// narrowed to what the owner holds now. Keys are found by their public prefix (indexed);
    /// the digest of the key presented is then compared, in constant time, with each candidate's.
    pub(crate) async fn key(
        &self,
        prefix: &str,
        key_hash: &str,
        now: i64,
    ) -> Result<Option<Found>, StoreError> {
        let statement = sqlx::query(
            "SELECT k.id AS key_id, k.key_hash, k.scopes AS key_scopes, k.expires_at, u.id, u.email, u.scopes \
             FROM auth_api_keys k JOIN auth_users u ON u.id = k.user_id \
             WHERE k.prefix = $1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2)",
        )
        .bind(prefix)
        .bind(now)
        .fetch_all(&self.pool);
        let rows = bounded(statement).await?;
        let mut matched = None;
        // Every candidate is compared, so the time taken does not depend on which one matches.
        for row in &rows {
            let stored: String = row.try_get("key_hash")?;
            if super::secret::same_digest(&stored, key_hash) {
                matched = Some(row);
            }
        }
        let Some(row) = matched else { return Ok(None) };
        let key_scopes = split(&row.try_get::<String, _>("key_scopes")?);
        let owner_scopes = split(&row.try_get::<String, _>("scopes")?);
        Ok(Some(Found {
            principal: Principal {
                user_id: row.try_get("id")?,
                email: Some(row.try_get("email")?),
                scheme: AuthMethod::ApiKey.scheme(),
                scopes: scope::intersect(&key_scopes, &owner_scopes),
            },
            expires_at: row.try_get("expires_at")?,
            key_id: Some(row.try_get("key_id")?),
        }))
    }

    /// The user's keys that are not revoked, newest first (expired ones included, marked by
    /// their expiry).
    pub(crate) async fn list_keys(&self, user_id: &str) -> Result<Vec<KeyRow>, StoreError> {
        let statement = sqlx::query(
            "SELECT id, name, prefix, scopes, created_at, expires_at, last_used_at FROM auth_api_keys \
             WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id",
        )
        .bind(user_id)
        .fetch_all(&self.pool);
        let rows = bounded(statement).await?;
        rows.iter()
            .map(|r| {
                Ok(KeyRow {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    prefix: r.try_get("prefix")?,
                    scopes: split(&r.try_get::<String, _>("scopes")?),
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    last_used_at: r.try_get("last_used_at")?,
                })
            })
            .collect()
    }

    /// Revokes the user's key; its hash, for evicting it from the cache, or `None` when the user
    /// has no such active key.
    pub(crate) async fn revoke_key(
        &self,
        user_id: &str,
        id: &str,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        let statement = sqlx::query(
            "UPDATE auth_api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL \
             RETURNING key_hash",
        )
        .bind(now)
        .bind(id)
        .bind(user_id)
        .fetch_optional(&self.pool);
        let row = bounded(statement).await?;
        Ok(row.map(|r| r.try_get("key_hash")).transpose()?)
    }

    /// Records a use of the key, at most once per `every_ms`.
    pub(crate) async fn touch_key(
        &self,
        id: &str,
        now: i64,
        every_ms: i64,
    ) -> Result<(), StoreError> {
        let touched = sqlx::query(
            "UPDATE auth_api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)",
        )
        .bind(now)
        .bind(id)
        .bind(now - every_ms)
        .execute(&self.pool);
        bounded(touched).await?;
        Ok(())
    }
}

fn user(r: &AnyRow) -> Result<UserRow, sqlx::Error> {
    Ok(UserRow {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        scopes: split(&r.try_get::<String, _>("scopes")?),
        created_at: r.try_get("created_at")?,
    })
}
