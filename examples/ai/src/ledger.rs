//! Every generation recorded per caller, and the budgets enforced before a provider is asked:
//! in SQL through sqlx, SQLite or PostgreSQL with the same statements.
//!
//! A generation first *reserves* the most it could cost (its prompt's bytes as input tokens, a
//! bound no tokenizer exceeds, and all of `maxTokens` as output) against the caller's day and
//! month. The reservation is one conditional `UPDATE` per period (`... WHERE spent + reserved +
//! cost <= budget`), which both databases apply atomically, so two requests racing for the
//! last of a budget cannot both win. When the generation ends, the reservation is replaced by
//! what it really cost; when it fails, it is released.

use crate::cost::{Pico, Usage};
use sqlx::{AnyPool, Row};
use time::OffsetDateTime;

/// The ledger: the plugin's tables in the server's database.
#[derive(Clone, Debug)]
pub struct Ledger {
    pool: AnyPool,
}

/// A caller's budgets and the periods they apply to.
#[derive(Clone, Debug)]
pub struct Periods {
    /// `2026-12-01` (UTC).
    pub day: String,
    /// `2026-12` (UTC).
    pub month: String,
}

impl Periods {
    /// The day and month of `at`, in UTC.
    pub fn of(at: OffsetDateTime) -> Self {
        let at = at.to_offset(time::UtcOffset::UTC);
        Periods {
            day: format!(
                "{:04}-{:02}-{:02}",
                at.year(),
                u8::from(at.month()),
                at.day()
            ),
            month: format!("{:04}-{:02}", at.year(), u8::from(at.month())),
        }
    }

    /// Today and this month.
    pub fn now() -> Self {
        Periods::of(OffsetDateTime::now_utc())
    }
}

/// Which budget a reservation did not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over {
    /// Today's.
    Day,
    /// This month's.
    Month,
}

/// A reservation held for a generation under way.
#[derive(Debug, Clone)]
pub struct Reservation {
    /// Whose.
    pub caller: String,
    /// The periods it counts in.
    pub periods: Periods,
    /// How much is held.
    pub amount: Pico,
}

/// What one generation was, for the record.
#[derive(Debug, Clone)]
pub struct Generation<'a> {
    /// The model.
    pub model: &'a str,
    /// Its provider.
    pub provider: &'a str,
    /// The tokens used.
    pub usage: Usage,
    /// What it cost.
    pub cost: Pico,
    /// Streamed or whole.
    pub streamed: bool,
    /// `false` if the client left before the end (the usage is then estimated).
    pub complete: bool,
}

/// A caller's totals over one period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Generations recorded.
    pub generations: u64,
    /// Their input tokens.
    pub input_tokens: u64,
    /// Their output tokens.
    pub output_tokens: u64,
    /// What they cost.
    pub cost: Pico,
}

impl Ledger {
    /// The ledger in `pool`, whose database `url` names; runs the plugin's migrations.
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
        Ok(Ledger { pool })
    }

    /// Holds `amount` against `caller`'s day and month, or says which budget it would exceed.
    ///
    /// # Errors
    /// The database failing.
    pub async fn reserve(
        &self,
        caller: &str,
        periods: Periods,
        amount: Pico,
        daily: Pico,
        monthly: Pico,
    ) -> Result<Result<Reservation, Over>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        for (period, budget, over) in [
            (&periods.day, daily, Over::Day),
            (&periods.month, monthly, Over::Month),
        ] {
            sqlx::query(
                "INSERT INTO ai_budgets (caller, period, spent, reserved) VALUES ($1, $2, 0, 0) \
                 ON CONFLICT (caller, period) DO NOTHING",
            )
            .bind(caller)
            .bind(period.as_str())
            .execute(&mut *tx)
            .await?;
            let held = sqlx::query(
                "UPDATE ai_budgets SET reserved = reserved + $3 \
                 WHERE caller = $1 AND period = $2 AND spent + reserved + $3 <= $4",
            )
            .bind(caller)
            .bind(period.as_str())
            .bind(amount.0)
            .bind(budget.0)
            .execute(&mut *tx)
            .await?;
            if held.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok(Err(over));
            }
        }
        tx.commit().await?;
        Ok(Ok(Reservation {
            caller: caller.to_owned(),
            periods,
            amount,
        }))
    }

    /// Gives a reservation back: the generation did not happen.
    ///
    /// # Errors
    /// The database failing.
    pub async fn release(&self, r: &Reservation) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        for period in [&r.periods.day, &r.periods.month] {
            sqlx::query(
                "UPDATE ai_budgets SET reserved = reserved - $3 WHERE caller = $1 AND period = $2",
            )
            .bind(r.caller.as_str())
            .bind(period.as_str())
            .bind(r.amount.0)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// Replaces a reservation with what the generation cost, and records it.
    ///
    /// # Errors
    /// The database failing.
    pub async fn settle(&self, r: &Reservation, g: &Generation<'_>) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        for period in [&r.periods.day, &r.periods.month] {
            sqlx::query(
                "UPDATE ai_budgets SET reserved = reserved - $3, spent = spent + $4 \
                 WHERE caller = $1 AND period = $2",
            )
            .bind(r.caller.as_str())
            .bind(period.as_str())
            .bind(r.amount.0)
            .bind(g.cost.0)
            .execute(&mut *tx)
            .await?;
        }
        let now_ms = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        sqlx::query(
            "INSERT INTO ai_generations (caller, model, provider, input_tokens, output_tokens, \
             cost_picodollars, streamed, complete, created_at, day, month) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(r.caller.as_str())
        .bind(g.model)
        .bind(g.provider)
        .bind(i64::try_from(g.usage.input_tokens).unwrap_or(i64::MAX))
        .bind(i64::try_from(g.usage.output_tokens).unwrap_or(i64::MAX))
        .bind(g.cost.0)
        .bind(i32::from(g.streamed))
        .bind(i32::from(g.complete))
        .bind(i64::try_from(now_ms).unwrap_or(i64::MAX))
        .bind(r.periods.day.as_str())
        .bind(r.periods.month.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }

    /// `caller`'s totals for the day and the month of `periods`.
    ///
    /// # Errors
    /// The database failing.
    pub async fn totals(
        &self,
        caller: &str,
        periods: &Periods,
    ) -> Result<(Totals, Totals), sqlx::Error> {
        let day = self.totals_where(caller, "day", &periods.day).await?;
        let month = self.totals_where(caller, "month", &periods.month).await?;
        Ok((day, month))
    }

    async fn totals_where(
        &self,
        caller: &str,
        column: &str,
        period: &str,
    ) -> Result<Totals, sqlx::Error> {
        // `column` is one of two names written here, never input.
        let sql = format!(
            "SELECT CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT), \
             CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT), \
             CAST(COALESCE(SUM(cost_picodollars), 0) AS BIGINT) \
             FROM ai_generations WHERE caller = $1 AND {column} = $2"
        );
        let row = sqlx::query(&sql)
            .bind(caller)
            .bind(period)
            .fetch_one(&self.pool)
            .await?;
        let count = |i: usize| -> Result<u64, sqlx::Error> {
            Ok(u64::try_from(row.try_get::<i64, _>(i)?).unwrap_or(0))
        };
        Ok(Totals {
            generations: count(0)?,
            input_tokens: count(1)?,
            output_tokens: count(2)?,
            cost: Pico(row.try_get::<i64, _>(3)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_utc_days_and_months() {
        let at = OffsetDateTime::from_unix_timestamp(1_764_547_200).unwrap(); // 2025-12-01T00:00Z
        let p = Periods::of(at);
        assert_eq!(
            (p.day.as_str(), p.month.as_str()),
            ("2025-12-01", "2025-12")
        );
        let before = Periods::of(at - time::Duration::seconds(1));
        assert_eq!(
            (before.day.as_str(), before.month.as_str()),
            ("2025-11-30", "2025-11")
        );
    }
}
