//! Every generation recorded per caller, and the budgets enforced before a provider is asked:
//! in SQL through sqlx, SQLite or PostgreSQL with the same statements.
//!
//! A generation first *reserves* the most it could cost (its prompt's bytes as input tokens, a
//! bound no tokenizer exceeds, and all of `maxTokens` as output) against the caller's day and
//! month. The reservation is one conditional `UPDATE` per period (`... WHERE spent + reserved +
//! cost <= budget`), which both databases apply atomically, so two requests racing for the
//! last of a budget cannot both win. When the generation ends, the reservation is replaced by
//! what it really cost; when it fails, it is released.
//!
//! Each reservation is also a row of `ai_holds`, with when it was made. A hold its server never
//! gave back (the process ended while a call was under way) is released once it is older than
//! [`STALE_AFTER`], longer than any call can run: when the ledger is opened (a server starting)
//! and before each reservation of the same caller. Giving a hold back deletes its row first, so
//! a hold is released once, whether by its call or by age; a call settled after its hold was
//! released by age (a stream running longer than [`STALE_AFTER`]) is still charged in full.

use crate::cost::{Pico, Usage};
// A settlement or a release is made after its request may be gone (the bill's task goes on,
// or the bill dropped tries again), where no route's timeout bounds it.
use plugin_routes::database::bounded;
use sqlx::{AnyConnection, AnyPool, Row};
use std::time::Duration;
use time::OffsetDateTime;

/// How old a hold must be to be taken for one its server never gave back: longer than a whole
/// answer is waited for (`meter::ANSWER_DEADLINE`, ten minutes) with a margin for settling.
pub const STALE_AFTER: Duration = Duration::from_secs(15 * 60);

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

impl Over {
    /// `daily` or `monthly`, as error messages and details say it.
    pub fn as_str(self) -> &'static str {
        match self {
            Over::Day => "daily",
            Over::Month => "monthly",
        }
    }
}

/// A reservation held for a generation under way.
#[derive(Debug, Clone)]
pub struct Reservation {
    /// Its row in `ai_holds`.
    pub id: i64,
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
        plugin_routes::database::migrate(
            &pool,
            url,
            sqlx::migrate!("./migrations/sqlite"),
            sqlx::migrate!("./migrations/postgres"),
        )
        .await?;
        let ledger = Ledger { pool };
        // Not a reason to stay down (a statement given up behind another server's migration,
        // say): each caller's stale holds are also released at their next reserve.
        match ledger.release_stale(STALE_AFTER).await {
            Ok(0) => {}
            Ok(released) => tracing::warn!(
                released,
                "released budget holds left by a server that ended during model calls"
            ),
            Err(e) => tracing::warn!(
                error = %e,
                "releasing the budget holds left by ended servers failed; each caller's are released at their next reserve"
            ),
        }
        Ok(ledger)
    }

    /// The database it records in.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Releases every hold older than `age`, whoever's: holds their servers never gave back.
    /// Returns how many.
    ///
    /// # Errors
    /// The database failing.
    pub async fn release_stale(&self, age: Duration) -> Result<u64, sqlx::Error> {
        bounded(async {
            let mut tx = self.pool.begin().await?;
            let released = release_older(&mut tx, None, age).await?;
            tx.commit().await?;
            Ok(released)
        })
        .await
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
        // On the path of every generation, whose route waits two minutes: a database gone
        // silent is answered 503 within the statement's bound instead. A reserve given up that
        // the database still made leaves a hold on the caller's budgets until it is released by
        // age (`STALE_AFTER`), as a hold whose server stopped is: nothing is spent by it. One
        // given up before its end leaves its transaction open, holding the caller's budget rows,
        // so the caller's next reserves wait out their bound too, until the database ends the
        // session (when the pool closes the connection, or by keepalives if it is cut off).
        bounded(async {
            let mut tx = self.pool.begin().await?;
            release_older(&mut tx, Some(caller), STALE_AFTER).await?;
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
            let id: i64 = sqlx::query(
                "INSERT INTO ai_holds (caller, day, month, amount, created_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(caller)
            .bind(periods.day.as_str())
            .bind(periods.month.as_str())
            .bind(amount.0)
            .bind(now_ms())
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
            tx.commit().await?;
            Ok(Ok(Reservation {
                id,
                caller: caller.to_owned(),
                periods,
                amount,
            }))
        })
        .await
    }

    /// Gives a reservation back: the generation did not happen.
    ///
    /// # Errors
    /// The database failing.
    pub async fn release(&self, r: &Reservation) -> Result<(), sqlx::Error> {
        bounded(async {
            let mut tx = self.pool.begin().await?;
            let held = take_hold(&mut tx, r.id).await?;
            if held {
                for period in [&r.periods.day, &r.periods.month] {
                    unreserve(&mut tx, &r.caller, period, r.amount, Pico(0)).await?;
                }
            }
            tx.commit().await
        })
        .await
    }

    /// Replaces a reservation with what the generation cost, and records it. If the hold was
    /// already released by age, the cost is still spent.
    ///
    /// # Errors
    /// The database failing.
    pub async fn settle(&self, r: &Reservation, g: &Generation<'_>) -> Result<(), sqlx::Error> {
        self.settle_as(r, g, true).await.map(drop)
    }

    /// [`Ledger::settle`] tried again after a failure whose outcome is unknown (the answer to
    /// its commit lost): if the hold is gone, that settlement was made (holds are released by
    /// age only long after), and nothing is charged again. Whether this one charged.
    ///
    /// # Errors
    /// The database failing.
    pub async fn settle_again(
        &self,
        r: &Reservation,
        g: &Generation<'_>,
    ) -> Result<bool, sqlx::Error> {
        self.settle_as(r, g, false).await
    }

    async fn settle_as(
        &self,
        r: &Reservation,
        g: &Generation<'_>,
        without_hold: bool,
    ) -> Result<bool, sqlx::Error> {
        bounded(self.settle_in(r, g, without_hold)).await
    }

    async fn settle_in(
        &self,
        r: &Reservation,
        g: &Generation<'_>,
        without_hold: bool,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        let held = if take_hold(&mut tx, r.id).await? {
            r.amount
        } else if without_hold {
            Pico(0)
        } else {
            tx.rollback().await?;
            return Ok(false);
        };
        for period in [&r.periods.day, &r.periods.month] {
            unreserve(&mut tx, &r.caller, period, held, g.cost).await?;
        }
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
        .bind(now_ms())
        .bind(r.periods.day.as_str())
        .bind(r.periods.month.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
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
        let statement = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(caller)
            .bind(period)
            .fetch_one(&self.pool);
        let row = bounded(statement).await?;
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

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> i64 {
    let ms = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// Deletes hold `id`'s row; whether it was still there (not yet released, by its call or by age).
async fn take_hold(tx: &mut AnyConnection, id: i64) -> Result<bool, sqlx::Error> {
    let deleted = sqlx::query("DELETE FROM ai_holds WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(deleted.rows_affected() == 1)
}

/// Takes `held` off `caller`'s reservations in `period` and adds `spent` to what they spent.
async fn unreserve(
    tx: &mut AnyConnection,
    caller: &str,
    period: &str,
    held: Pico,
    spent: Pico,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE ai_budgets SET reserved = reserved - $3, spent = spent + $4 \
         WHERE caller = $1 AND period = $2",
    )
    .bind(caller)
    .bind(period)
    .bind(held.0)
    .bind(spent.0)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Releases the holds older than `age` (of `caller`, or everyone's); how many.
async fn release_older(
    tx: &mut AnyConnection,
    caller: Option<&str>,
    age: Duration,
) -> Result<u64, sqlx::Error> {
    let age_ms = i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
    let before = now_ms().saturating_sub(age_ms);
    // One statement that deletes and answers what it deleted: a hold released concurrently (its
    // call ending, another server's sweep) is not taken off twice. It is also a write first: on
    // SQLite a transaction that reads before it writes cannot wait for another writer (the
    // upgrade fails at once with "database is locked"), and this runs at the start of
    // `reserve`'s transaction.
    let stale =
        match caller {
            Some(caller) => {
                sqlx::query(
                    "DELETE FROM ai_holds WHERE caller = $1 AND created_at < $2 \
                 RETURNING caller, day, month, amount",
                )
                .bind(caller)
                .bind(before)
                .fetch_all(&mut *tx)
                .await?
            }
            None => sqlx::query(
                "DELETE FROM ai_holds WHERE created_at < $1 RETURNING caller, day, month, amount",
            )
            .bind(before)
            .fetch_all(&mut *tx)
            .await?,
        };
    let mut released = 0;
    for row in stale {
        let caller: String = row.try_get("caller")?;
        let amount = Pico(row.try_get("amount")?);
        for column in ["day", "month"] {
            let period: String = row.try_get(column)?;
            unreserve(tx, &caller, &period, amount, Pico(0)).await?;
        }
        released += 1;
    }
    Ok(released)
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
