//! Items in SQLite through sqlx: the plugin's state. Migrations run at connect; the database is
//! in WAL mode with `synchronous = FULL`, so every acknowledged write survives a crash or restart.

use crate::model::{Item, ItemStatus};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::str::FromStr;

/// The items plugin's state: the database pool.
#[derive(Clone, Debug)]
pub struct ItemsState {
    pool: SqlitePool,
}

/// A storage failure.
#[derive(Debug)]
pub enum StoreError {
    /// Another item has the name.
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

impl std::error::Error for StoreError {}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::NameTaken,
            _ => StoreError::Database(e),
        }
    }
}

const COLUMNS: &str = "id, name, status, created_at";

impl ItemsState {
    /// Opens (creating if needed) the SQLite database at `url` and runs the migrations.
    /// `sqlite::memory:` gives a private in-memory database, for tests.
    ///
    /// # Errors
    /// If the database cannot be opened or migrated.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true);
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        // Every connection to `:memory:` is a database of its own: keep exactly one, forever.
        let pool = if memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(8)
        }
        .connect_with(options)
        .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(ItemsState { pool })
    }

    pub(crate) async fn list(
        &self,
        page: u32,
        limit: u32,
        filter: Option<ItemStatus>,
    ) -> Result<(Vec<Item>, u64), StoreError> {
        let offset = i64::from(page - 1) * i64::from(limit);
        let status = filter.map(ItemStatus::as_str);
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM items WHERE (?1 IS NULL OR status = ?1) ORDER BY id DESC LIMIT ?2 OFFSET ?3"
        ))
        .bind(status)
        .bind(i64::from(limit))
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM items WHERE (?1 IS NULL OR status = ?1)")
                .bind(status)
                .fetch_one(&self.pool)
                .await?;
        let items = rows.iter().map(item).collect::<Result<_, _>>()?;
        Ok((items, u64::try_from(total).unwrap_or(0)))
    }

    pub(crate) async fn get(&self, id: i64) -> Result<Option<Item>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM items WHERE id = ?1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(item).transpose()?)
    }

    pub(crate) async fn create(&self, name: &str, status: ItemStatus) -> Result<Item, StoreError> {
        let row = sqlx::query(&format!(
            "INSERT INTO items (name, status) VALUES (?1, ?2) RETURNING {COLUMNS}"
        ))
        .bind(name)
        .bind(status.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(item(&row)?)
    }

    pub(crate) async fn update(
        &self,
        id: i64,
        name: Option<&str>,
        status: Option<ItemStatus>,
    ) -> Result<Option<Item>, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE items SET name = COALESCE(?2, name), status = COALESCE(?3, status) WHERE id = ?1 RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(name)
        .bind(status.map(ItemStatus::as_str))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(item).transpose()?)
    }

    pub(crate) async fn delete(&self, id: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM items WHERE id = ?1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

fn item(row: &sqlx::sqlite::SqliteRow) -> Result<Item, sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(Item {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        status: ItemStatus::parse(&status)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown status {status:?}").into()))?,
        created_at: row.try_get("created_at")?,
    })
}
