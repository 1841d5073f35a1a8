//! Items in SQL through sqlx: the plugin's state. SQLite by default, PostgreSQL to run several
//! servers on one database; the same queries serve both (sqlx's `Any` driver). Every query is
//! scoped to the caller: an item is visible only to the user who created it. Every query waits
//! at most `plugin_routes::database::STATEMENT_WAIT` for its answer (`bounded`), so a database
//! gone silent is answered `503` within it rather than `504` at the route's timeout.

use crate::model::{Item, ItemStatus};
use plugin_routes::database::bounded;
use sqlx::{AnyPool, Row};

/// The items plugin's state: the database pool.
#[derive(Clone, Debug)]
pub struct ItemsState {
    pool: AnyPool,
}

/// A storage failure.
#[derive(Debug)]
pub enum StoreError {
    /// Another of the owner's items has the name.
    NameTaken,
    /// The database failed.
    Database(sqlx::Error),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::NameTaken => f.write_str("an item with this name exists"),
            StoreError::Database(e) => write!(f, "database error: {e}"),
        }
    }
}

impl std::error::Error for StoreError {
    // The database's error stays reachable, so the framework can tell a database that cannot be
    // reached (503) from a failing query (500).
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::NameTaken => None,
            StoreError::Database(e) => Some(e),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::NameTaken,
            _ => StoreError::Database(e),
        }
    }
}

impl ItemsState {
    /// Opens the database at `url` (see `plugin_routes::database::connect`) and runs the
    /// migrations. `sqlite::memory:` gives a private in-memory database, for tests.
    ///
    /// # Errors
    /// If the database cannot be opened or migrated.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let pool = plugin_routes::database::connect(url).await?;
        Self::open(pool, url).await
    }

    /// Runs the migrations for the database `url` names on `pool` (shared with the auth tables).
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
        Ok(ItemsState { pool })
    }

    /// The pool, to share with authentication.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub(crate) async fn list(
        &self,
        owner: &str,
        page: u32,
        limit: u32,
        filter: Option<ItemStatus>,
    ) -> Result<(Vec<Item>, u64), StoreError> {
        let offset = i64::from(page - 1) * i64::from(limit);
        let status = filter.map(ItemStatus::as_str);
        let rows = sqlx::query(
            "SELECT id, name, status, created_at FROM items WHERE owner = $1 AND ($2 IS NULL OR status = $2) ORDER BY id DESC LIMIT $3 OFFSET $4",
        )
        .bind(owner)
        .bind(status)
        .bind(i64::from(limit))
        .bind(offset)
        .fetch_all(&self.pool);
        let total = sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM items WHERE owner = $1 AND ($2 IS NULL OR status = $2)",
        )
        .bind(owner)
        .bind(status)
        .fetch_one(&self.pool);
        // The page and its count share one bound, so the two together answer within it.
        let (rows, total) = bounded(async { Ok((rows.await?, total.await?)) }).await?;
        let items = rows.iter().map(item).collect::<Result<_, _>>()?;
        Ok((items, u64::try_from(total).unwrap_or(0)))
    }

    pub(crate) async fn get(&self, owner: &str, id: i64) -> Result<Option<Item>, StoreError> {
        let statement = sqlx::query(
            "SELECT id, name, status, created_at FROM items WHERE id = $1 AND owner = $2",
        )
        .bind(id)
        .bind(owner)
        .fetch_optional(&self.pool);
        let row = bounded(statement).await?;
        Ok(row.as_ref().map(item).transpose()?)
    }

    pub(crate) async fn create(
        &self,
        owner: &str,
        name: &str,
        status: ItemStatus,
    ) -> Result<Item, StoreError> {
        let statement = sqlx::query(
            "INSERT INTO items (owner, name, status) VALUES ($1, $2, $3) RETURNING id, name, status, created_at",
        )
        .bind(owner)
        .bind(name)
        .bind(status.as_str())
        .fetch_one(&self.pool);
        let row = bounded(statement).await?;
        Ok(item(&row)?)
    }

    pub(crate) async fn update(
        &self,
        owner: &str,
        id: i64,
        name: Option<&str>,
        status: Option<ItemStatus>,
    ) -> Result<Option<Item>, StoreError> {
        let statement = sqlx::query(
            "UPDATE items SET name = COALESCE($2, name), status = COALESCE($3, status) WHERE id = $1 AND owner = $4 RETURNING id, name, status, created_at",
        )
        .bind(id)
        .bind(name)
        .bind(status.map(ItemStatus::as_str))
        .bind(owner)
        .fetch_optional(&self.pool);
        let row = bounded(statement).await?;
        Ok(row.as_ref().map(item).transpose()?)
    }

    pub(crate) async fn delete(&self, owner: &str, id: i64) -> Result<bool, StoreError> {
        let statement = sqlx::query("DELETE FROM items WHERE id = $1 AND owner = $2")
            .bind(id)
            .bind(owner)
            .execute(&self.pool);
        let done = bounded(statement).await?;
        Ok(done.rows_affected() == 1)
    }
}

fn item(row: &sqlx::any::AnyRow) -> Result<Item, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(Item {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        status: ItemStatus::parse(&status)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown status {status:?}").into()))?,
        created_at: row.try_get("created_at")?,
    })
}
