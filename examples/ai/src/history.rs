//! The callers' history: generations kept when the request asks (`saveHistory`) or the
//! configuration says so, with the secrets in the prompt and the answer removed first
//! ([`secret_scan::redact_text`], the scanner the commit plugin uses). Every entry is its
//! caller's alone: reading or deleting another's is the same as reading or deleting nothing.
//! Each statement waits at most `plugin_routes::database::STATEMENT_WAIT` for its answer.

use crate::cost::{Pico, Usage};
use crate::provider::FinishReason;
use plugin_routes::database::bounded;
use schemars::JsonSchema;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The history table, in the ledger's database.
#[derive(Clone, Debug)]
pub struct History {
    pool: AnyPool,
}

/// One generation to keep, as it happened.
#[derive(Debug)]
pub struct Kept<'a> {
    /// The model that wrote it.
    pub model: &'a str,
    /// The provider that served it.
    pub provider: &'a str,
    /// The prompt, as sent.
    pub prompt: &'a str,
    /// The answer, as received.
    pub answer: &'a str,
    /// Why it stopped.
    pub finish: FinishReason,
    /// The tokens charged.
    pub usage: Usage,
    /// What they cost.
    pub cost: Pico,
    /// Whether it was streamed.
    pub streamed: bool,
}

/// One kept generation.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// Its id.
    pub id: String,
    /// When it was made (RFC 3339, UTC).
    pub created_at: String,
    /// The model that wrote it.
    pub model: String,
    /// The provider that served it.
    pub provider: String,
    /// The prompt, secrets replaced by `[redacted]`.
    pub prompt: String,
    /// The answer, secrets replaced by `[redacted]`.
    pub text: String,
    /// Why the model stopped.
    pub finish_reason: FinishReason,
    /// The tokens charged.
    pub usage: Usage,
    /// What they cost, in USD.
    pub cost_usd: f64,
    /// Whether it was streamed.
    pub streamed: bool,
    /// How many secrets were removed from the prompt and the answer before they were kept.
    pub secrets_removed: u32,
}

const COLUMNS: &str = "id, created_at, model, provider, prompt, answer, finish_reason, \
                       input_tokens, output_tokens, cost_picodollars, streamed, secrets_removed";

impl History {
    /// The history in `pool`, whose table the ledger's migrations made.
    pub fn new(pool: AnyPool) -> Self {
        History { pool }
    }

    /// Keeps `kept` as `caller`'s, secrets removed; its id. A `U+0000` (NUL) in the prompt or the
    /// answer, which PostgreSQL's text cannot hold, is kept as `U+FFFD` on every database.
    ///
    /// # Errors
    /// The database failing.
    pub async fn keep(&self, caller: &str, kept: &Kept<'_>) -> Result<String, sqlx::Error> {
        let mut prompt = secret_scan::redact_text(kept.prompt);
        let mut answer = secret_scan::redact_text(kept.answer);
        for text in [&mut prompt.text, &mut answer.text] {
            if text.contains('\0') {
                *text = text.replace('\0', "\u{fffd}");
            }
        }
        let removed = u32::try_from(prompt.secrets + answer.secrets).unwrap_or(u32::MAX);
        let id = new_id();
        let statement = sqlx::query(
            "INSERT INTO ai_history (id, caller, model, provider, prompt, answer, finish_reason, \
             input_tokens, output_tokens, cost_picodollars, streamed, secrets_removed, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(id.as_str())
        .bind(caller)
        .bind(kept.model)
        .bind(kept.provider)
        .bind(prompt.text)
        .bind(answer.text)
        .bind(kept.finish.as_str())
        .bind(i64::try_from(kept.usage.input_tokens).unwrap_or(i64::MAX))
        .bind(i64::try_from(kept.usage.output_tokens).unwrap_or(i64::MAX))
        .bind(kept.cost.0)
        .bind(i64::from(kept.streamed))
        .bind(i64::from(removed))
        .bind(crate::ledger::now_ms())
        .execute(&self.pool);
        bounded(statement).await?;
        Ok(id)
    }

    /// `caller`'s entries, newest first, at most `limit`, older than the entry `before` if
    /// given; `None` if `before` is not one of `caller`'s.
    ///
    /// # Errors
    /// The database failing.
    pub async fn list(
        &self,
        caller: &str,
        limit: u32,
        before: Option<&str>,
    ) -> Result<Option<Vec<HistoryEntry>>, sqlx::Error> {
        let rows = match before {
            None => {
                let sql = format!(
                    "SELECT {COLUMNS} FROM ai_history WHERE caller = $1 \
                     ORDER BY created_at DESC, id DESC LIMIT $2"
                );
                let statement = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(caller)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool);
                bounded(statement).await?
            }
            Some(before) => {
                let statement = sqlx::query_scalar(
                    "SELECT created_at FROM ai_history WHERE caller = $1 AND id = $2",
                )
                .bind(caller)
                .bind(before)
                .fetch_optional(&self.pool);
                let at: Option<i64> = bounded(statement).await?;
                let Some(at) = at else { return Ok(None) };
                let sql = format!(
                    "SELECT {COLUMNS} FROM ai_history WHERE caller = $1 \
                     AND (created_at < $2 OR (created_at = $2 AND id < $3)) \
                     ORDER BY created_at DESC, id DESC LIMIT $4"
                );
                let statement = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(caller)
                    .bind(at)
                    .bind(before)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool);
                bounded(statement).await?
            }
        };
        rows.iter().map(entry).collect::<Result<_, _>>().map(Some)
    }

    /// `caller`'s entry `id`, if there is one.
    ///
    /// # Errors
    /// The database failing.
    pub async fn get(&self, caller: &str, id: &str) -> Result<Option<HistoryEntry>, sqlx::Error> {
        let sql = format!("SELECT {COLUMNS} FROM ai_history WHERE caller = $1 AND id = $2");
        let statement = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(caller)
            .bind(id)
            .fetch_optional(&self.pool);
        let row = bounded(statement).await?;
        row.as_ref().map(entry).transpose()
    }

    /// Deletes `caller`'s entry `id`; whether there was one.
    ///
    /// # Errors
    /// The database failing.
    pub async fn delete(&self, caller: &str, id: &str) -> Result<bool, sqlx::Error> {
        let statement = sqlx::query("DELETE FROM ai_history WHERE caller = $1 AND id = $2")
            .bind(caller)
            .bind(id)
            .execute(&self.pool);
        let done = bounded(statement).await?;
        Ok(done.rows_affected() == 1)
    }
}

/// `h_` and 16 random bytes in hex: not guessable, and sorted only by time.
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("h_{hex}")
}

fn entry(row: &AnyRow) -> Result<HistoryEntry, sqlx::Error> {
    let ms: i64 = row.try_get("created_at")?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let count = |name: &str| -> Result<u64, sqlx::Error> {
        let n: i64 = row.try_get(name)?;
        Ok(u64::try_from(n).unwrap_or(0))
    };
    let finish: String = row.try_get("finish_reason")?;
    let streamed: i64 = row.try_get("streamed")?;
    let removed: i64 = row.try_get("secrets_removed")?;
    Ok(HistoryEntry {
        id: row.try_get("id")?,
        created_at: at.format(&Rfc3339).unwrap_or_default(),
        model: row.try_get("model")?,
        provider: row.try_get("provider")?,
        prompt: row.try_get("prompt")?,
        text: row.try_get("answer")?,
        finish_reason: FinishReason::from_wire(&finish),
        usage: Usage::new(count("input_tokens")?, count("output_tokens")?),
        cost_usd: Pico(row.try_get("cost_picodollars")?).usd(),
        streamed: streamed != 0,
        secrets_removed: u32::try_from(removed).unwrap_or(u32::MAX),
    })
}
