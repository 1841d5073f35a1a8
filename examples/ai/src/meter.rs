//! Charging callers for model calls, for this plugin's routes and for any other plugin that asks
//! a model on a caller's behalf (the commit plugin does): one [`Meter`] over the
//! [`Ledger`](crate::ledger::Ledger), so `GET /v1/plugins/ai/usage` shows every call and one
//! budget bounds them all.
//!
//! A call first holds the most it could cost ([`Meter::hold`]); the [`Bill`] it gets then keeps
//! that hold until it is settled with what the provider reports, released (nothing was
//! generated), or charged by estimate (a stream broke off after sending text). A whole answer
//! ([`Meter::complete`]) is asked on a task of its own: if the caller goes away (a client that
//! disconnects, a route's timeout), the provider still does the work and bills the operator, so
//! the task waits for its answer and settles with the usage it reports, or charges the whole
//! hold if no answer comes within [`ANSWER_DEADLINE`].
//!
//! **How far a budget can be overshot.** A call is let through only if its hold (the prompt's
//! bytes as input tokens, all of `maxTokens` as output) fits in what is left, so a provider that
//! keeps to `max_tokens` never takes a caller past a budget. A provider that reports more (a
//! gateway's mock did, and a count of hidden reasoning tokens may) is charged what it reports,
//! since that is what the operator is billed, and the excess is logged as a warning: the
//! overshoot is then what each call under way at once reported beyond its hold, which nothing
//! here can bound. Once spent reaches the budget, every later call is refused before a
//! provider is asked (`QUOTA_EXCEEDED`).

use crate::AiConfig;
use crate::cost::{Pico, Prices, Usage};
use crate::ledger::{Generation, Ledger, Over, Periods, Reservation, STALE_AFTER};
use crate::metrics::AiMetrics;
use crate::provider::{Ask, Completion, Embeddings, Provider, UpstreamError};
use std::sync::Arc;
use std::time::Duration;

/// How long a whole answer is waited for once asked, whether or not anyone still waits for it;
/// longer than any route's timeout. An answer that has not come by then is charged the hold.
pub const ANSWER_DEADLINE: Duration = Duration::from_secs(600);

// A hold is released by age only once no call still waits on it.
const _: () = assert!(ANSWER_DEADLINE.as_secs() < STALE_AFTER.as_secs());

/// Charges callers' model calls to the ledger, within the configured budgets.
#[derive(Clone, Debug)]
pub struct Meter {
    ledger: Ledger,
    daily: Pico,
    monthly: Pico,
    /// Where charged calls are counted, when the server has metrics.
    metrics: Option<Arc<AiMetrics>>,
}

/// What a call cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Charge {
    /// The tokens charged: the provider's count, or an estimate.
    pub usage: Usage,
    /// What they cost.
    pub cost: Pico,
}

/// Why a metered call did not give an answer.
#[derive(Debug)]
pub enum MeterError {
    /// It could cost more than is left of the caller's budget; the provider was not asked.
    Over(Over),
    /// The provider failed; nothing was charged.
    Upstream(UpstreamError),
    /// The ledger failing (or the task asking the provider panicking): an internal error.
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

impl std::fmt::Display for MeterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MeterError::Over(over) => write!(
                f,
                "this call could cost more than is left of the caller's {} budget",
                over.as_str()
            ),
            MeterError::Upstream(e) => e.fmt(f),
            MeterError::Internal(e) => write!(f, "the ledger failed: {e}"),
        }
    }
}

impl std::error::Error for MeterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MeterError::Internal(e) => Some(&**e),
            MeterError::Over(_) | MeterError::Upstream(_) => None,
        }
    }
}

impl Meter {
    /// Charging to `ledger` within `config`'s daily and monthly budgets.
    pub fn new(ledger: Ledger, config: &AiConfig) -> Self {
        Meter {
            ledger,
            daily: config.daily_budget,
            monthly: config.monthly_budget,
            metrics: None,
        }
    }

    /// Counts every charged call in `metrics`.
    pub fn count_in(&mut self, metrics: AiMetrics) {
        self.metrics = Some(Arc::new(metrics));
    }

    /// The most tokens `ask` can use: its prompt's bytes as input tokens (a tokenizer never
    /// makes more tokens than bytes, plus a few for the chat's framing) and all of its
    /// `max_tokens` as output.
    pub fn ceiling(ask: &Ask) -> Usage {
        Usage::new(ask.prompt.len() as u64 + 16, u64::from(ask.max_tokens))
    }

    /// Holds what `most` would cost at `prices` against `caller`'s day and month, for a call to
    /// `model` of `provider`, or says which budget it would exceed.
    ///
    /// # Errors
    /// The database failing.
    pub async fn hold(
        &self,
        caller: &str,
        provider: &str,
        model: &str,
        prices: Prices,
        most: Usage,
        streamed: bool,
    ) -> Result<Result<Bill, Over>, sqlx::Error> {
        let held = self
            .ledger
            .reserve(
                caller,
                Periods::now(),
                prices.cost(most),
                self.daily,
                self.monthly,
            )
            .await?;
        Ok(held.map(|reservation| Bill {
            tab: Tab {
                ledger: self.ledger.clone(),
                metrics: self.metrics.clone(),
                reservation: Some(reservation),
                model: model.to_owned(),
                provider: provider.to_owned(),
                prices,
                most,
                delivered: Delivered::default(),
                streamed,
                owed: None,
            },
        }))
    }

    /// Asks `provider` for a whole answer to `ask` on `caller`'s account: holds its most, asks,
    /// and settles with the usage the provider reports (or releases the hold if it failed).
    /// The asking and the settling run on a task of their own, so dropping this future (the
    /// client left, a timeout) does not let the call go uncharged.
    ///
    /// # Errors
    /// See [`MeterError`].
    pub async fn complete(
        &self,
        caller: &str,
        provider: &Provider,
        prices: Prices,
        ask: Ask,
    ) -> Result<(Completion, Charge), MeterError> {
        let most = Meter::ceiling(&ask);
        let held = self.hold(caller, provider.name(), &ask.model, prices, most, false);
        let mut bill = match held.await {
            Ok(Ok(bill)) => bill,
            Ok(Err(over)) => return Err(MeterError::Over(over)),
            Err(e) => return Err(MeterError::Internal(e.into())),
        };
        let provider = provider.clone();
        // The call continues the request's trace, though it runs on its own task.
        let call = tokio::spawn(plugin_routes::in_current_trace(async move {
            match tokio::time::timeout(ANSWER_DEADLINE, provider.answer(&ask)).await {
                Ok(Ok(answer)) => {
                    let usage = match (answer.text.is_some(), answer.usage) {
                        (_, Some(usage)) => usage,
                        // No count: the prompt's bound and a token a byte of the text, at most
                        // the hold.
                        (true, None) => {
                            bill.wrote(answer.text.as_deref().unwrap_or_default());
                            bill.estimate()
                        }
                        // Neither text nor count: whatever it did cannot be told, so all of it.
                        (false, None) => bill.tab.most,
                    };
                    let whole = answer.text.is_some() && answer.usage.is_some();
                    let charge = bill.settle_or_owe(usage, whole).await;
                    match answer.into_completion() {
                        Ok(completion) => Ok((completion, charge)),
                        Err(e) => {
                            tracing::warn!(provider = provider.name(), error = %e, "a model call answered something unusable; charged");
                            Err(MeterError::Upstream(e))
                        }
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(provider = provider.name(), error = %e, "a model call failed");
                    bill.release()
                        .await
                        .map_err(|e| MeterError::Internal(e.into()))?;
                    Err(MeterError::Upstream(e))
                }
                Err(_) => {
                    tracing::warn!(
                        provider = provider.name(),
                        "a model call got no answer in time; its hold is charged"
                    );
                    bill.charge_hold().await;
                    Err(MeterError::Upstream(UpstreamError::Unreachable(
                        "it did not answer in time".into(),
                    )))
                }
            }
        }));
        call.await
            .unwrap_or_else(|e| Err(MeterError::Internal(e.into())))
    }
}

impl Meter {
    /// The most tokens embedding `inputs` can use: each input's bytes and a few for its
    /// framing, as [`Meter::ceiling`] counts a prompt; embeddings write nothing.
    pub fn embedding_ceiling(inputs: &[String]) -> Usage {
        let bytes: u64 = inputs.iter().map(|i| i.len() as u64 + 16).sum();
        Usage::new(bytes, 0)
    }

    /// Embeds `inputs` with `model` of `provider` on `caller`'s account: holds their most,
    /// asks, and settles with the tokens the provider reports (all that was held if it reports
    /// none), or releases the hold if it failed. Asked on a task of its own, like
    /// [`Meter::complete`].
    ///
    /// # Errors
    /// See [`MeterError`].
    pub async fn embed(
        &self,
        caller: &str,
        provider: &Provider,
        model: &str,
        prices: Prices,
        inputs: Vec<String>,
    ) -> Result<(Embeddings, Charge), MeterError> {
        let most = Meter::embedding_ceiling(&inputs);
        let mut bill = match self
            .hold(caller, provider.name(), model, prices, most, false)
            .await
        {
            Ok(Ok(bill)) => bill,
            Ok(Err(over)) => return Err(MeterError::Over(over)),
            Err(e) => return Err(MeterError::Internal(e.into())),
        };
        let provider = provider.clone();
        let model = model.to_owned();
        // The call continues the request's trace, though it runs on its own task.
        let call = tokio::spawn(plugin_routes::in_current_trace(async move {
            match tokio::time::timeout(ANSWER_DEADLINE, provider.embed(&model, &inputs)).await {
                Ok(Ok(embeddings)) => {
                    let usage = embeddings.usage.unwrap_or(most);
                    let charge = bill.settle_or_owe(usage, embeddings.usage.is_some()).await;
                    Ok((embeddings, charge))
                }
                Ok(Err(e)) => {
                    tracing::warn!(provider = provider.name(), error = %e, "an embeddings call failed");
                    bill.release()
                        .await
                        .map_err(|e| MeterError::Internal(e.into()))?;
                    Err(MeterError::Upstream(e))
                }
                Err(_) => {
                    bill.charge_hold().await;
                    Err(MeterError::Upstream(UpstreamError::Unreachable(
                        "it did not answer in time".into(),
                    )))
                }
            }
        }));
        call.await
            .unwrap_or_else(|e| Err(MeterError::Internal(e.into())))
    }
}

/// What a call owes, holding its reservation until it is settled (the real usage), released
/// (it failed before anything was generated) or charged by estimate (a stream that broke off).
/// Dropped while still holding it (a streamed request cancelled: the client left, or the
/// timeout), it ends the call early ([`Bill::end_early`]) on a task of its own.
///
/// That task holds a `Tab`, not a bill: dropped, a tab only logs that its hold is left. If the
/// runtime shuts down before the task runs (a server stopping during the call), the task is
/// dropped unrun, nothing spawns again, and the hold stays in the ledger until it is released by
/// age ([`crate::ledger::STALE_AFTER`]).
#[derive(Debug)]
pub struct Bill {
    tab: Tab,
}

/// A bill's accounts, without the bill's care for being dropped.
#[derive(Debug)]
struct Tab {
    ledger: Ledger,
    metrics: Option<Arc<AiMetrics>>,
    reservation: Option<Reservation>,
    model: String,
    provider: String,
    prices: Prices,
    most: Usage,
    delivered: Delivered,
    streamed: bool,
    /// What a settlement the database refused was charging (usage, and whether the call was
    /// whole): what ending the call charges, rather than an estimate or nothing.
    owed: Option<(Usage, bool)>,
}

/// What a call delivered and what the provider counted: what an estimate is made of.
#[derive(Clone, Copy, Debug, Default)]
struct Delivered {
    /// Bytes of text delivered.
    bytes: u64,
    /// The provider's last count of the tokens used so far, if it sent one.
    reported: Option<Usage>,
    /// Bytes of text delivered since that count.
    bytes_since_report: u64,
}

impl Delivered {
    /// See [`Bill::estimate`]; `most` is what the call could use at most.
    fn estimate(self, most: Usage) -> Usage {
        match self.reported {
            Some(u) => Usage::new(
                u.input_tokens,
                u.output_tokens
                    .saturating_add(self.bytes_since_report)
                    .min(most.output_tokens.max(u.output_tokens)),
            ),
            None => Usage::new(most.input_tokens, self.bytes.min(most.output_tokens)),
        }
    }

    /// Whether anything was delivered or counted.
    fn any(self) -> bool {
        self.bytes > 0 || self.reported.is_some()
    }
}

impl Bill {
    /// The model asked.
    pub fn model(&self) -> &str {
        &self.tab.model
    }

    /// Its provider.
    pub fn provider(&self) -> &str {
        &self.tab.provider
    }

    /// Counts `text` as delivered to the caller: what an estimate charges.
    pub fn wrote(&mut self, text: &str) {
        let d = &mut self.tab.delivered;
        d.bytes = d.bytes.saturating_add(text.len() as u64);
        d.bytes_since_report = d.bytes_since_report.saturating_add(text.len() as u64);
    }

    /// Notes the provider's running count of the tokens used so far (sent with the text, or
    /// last): what an estimate starts from.
    pub fn reported(&mut self, usage: Usage) {
        self.tab.delivered.reported = Some(usage);
        self.tab.delivered.bytes_since_report = 0;
    }

    /// What to charge when the provider did not say what the whole call used: never less than it
    /// could have used. The provider's last count plus a token for each byte delivered since
    /// (no token is shorter than a byte); without a count, the prompt's bytes (see
    /// [`Meter::ceiling`]) and a token for each byte delivered, at most the call's `max_tokens`.
    pub fn estimate(&self) -> Usage {
        self.tab.delivered.estimate(self.tab.most)
    }

    /// What a call that ended as it should is charged: the provider's last count if no text
    /// came after it, else [`Bill::estimate`] (a count sent early, such as Anthropic's
    /// `message_start` when no `message_delta` follows, does not cover the text after it).
    pub fn final_usage(&self) -> Usage {
        match self.tab.delivered {
            Delivered {
                reported: Some(u),
                bytes_since_report: 0,
                ..
            } => u,
            _ => self.estimate(),
        }
    }

    /// Records the call at what `usage` cost; the hold is let go only once that is done.
    ///
    /// # Errors
    /// The database failing; the hold is then still the bill's.
    pub async fn settle(&mut self, usage: Usage, complete: bool) -> Result<Charge, sqlx::Error> {
        self.tab.settle(usage, complete).await
    }

    /// [`Bill::settle`] for an answer in hand: if the database will not take the charge now,
    /// the answer still goes to the caller (the provider did the work, and asking again would
    /// pay for it twice), and the charge is made once the database takes it, by the bill
    /// dropped. The charge either way.
    pub async fn settle_or_owe(&mut self, usage: Usage, complete: bool) -> Charge {
        match self.tab.settle(usage, complete).await {
            Ok(charge) => charge,
            Err(e) => {
                tracing::warn!(error = %e, model = %self.tab.model, "a call's charge could not be recorded yet; its answer is sent and the charge follows");
                Charge {
                    usage,
                    cost: self.tab.prices.cost(usage),
                }
            }
        }
    }

    /// Gives the hold back: the call generated nothing.
    ///
    /// # Errors
    /// The database failing.
    pub async fn release(&mut self) -> Result<(), sqlx::Error> {
        self.tab.release().await
    }

    /// Ends a call that stopped early: releases the hold if nothing was delivered and the
    /// provider reported nothing used, and charges the estimate otherwise. A failure of the
    /// database is logged.
    pub async fn end_early(&mut self) {
        self.tab.end_early().await;
    }

    /// Charges all that was held: the provider was asked and never said what it used.
    async fn charge_hold(&mut self) {
        let most = self.tab.most;
        if let Err(e) = self.tab.settle(most, false).await {
            tracing::error!(error = %e, "an unanswered call could not be recorded");
        }
    }
}

impl Tab {
    async fn settle(&mut self, usage: Usage, complete: bool) -> Result<Charge, sqlx::Error> {
        let cost = self.prices.cost(usage);
        if usage.output_tokens > self.most.output_tokens
            || usage.input_tokens > self.most.input_tokens
        {
            // Charged as reported: the provider's count is what the operator is billed.
            let held = self.prices.cost(self.most);
            tracing::warn!(
                provider = %self.provider,
                model = %self.model,
                input_tokens = usage.input_tokens,
                output_tokens = usage.output_tokens,
                most_input_tokens = self.most.input_tokens,
                most_output_tokens = self.most.output_tokens,
                excess_usd = Pico(cost.0.saturating_sub(held.0).max(0)).usd(),
                "the provider reported more tokens than the call could use; charged as reported"
            );
        }
        if let Some(r) = &self.reservation {
            let record = self.generation(usage, cost, complete);
            if let Err(e) = self.ledger.settle(r, &record).await {
                // The provider did the work: the call is charged this once the database takes
                // it (the bill, dropped, tries again), never handed back as if unused.
                self.owed = Some((usage, complete));
                return Err(e);
            }
            self.reservation = None;
            // Counted once, as the ledger recorded it.
            if let Some(metrics) = &self.metrics {
                metrics.charged(&self.model, usage, cost);
            }
        }
        Ok(Charge { usage, cost })
    }

    /// What the ledger records of this call, at `usage` costing `cost`.
    fn generation(&self, usage: Usage, cost: Pico, complete: bool) -> Generation<'_> {
        Generation {
            model: &self.model,
            provider: &self.provider,
            usage,
            cost,
            streamed: self.streamed,
            complete,
        }
    }

    /// Makes the settlement the database refused, unless it was made after all (its answer
    /// lost): charged once either way.
    async fn settle_again(&mut self, usage: Usage, complete: bool) -> Result<(), sqlx::Error> {
        let Some(r) = &self.reservation else {
            return Ok(());
        };
        let cost = self.prices.cost(usage);
        let record = self.generation(usage, cost, complete);
        let charged = self.ledger.settle_again(r, &record).await?;
        self.reservation = None;
        self.owed = None;
        if charged && let Some(metrics) = &self.metrics {
            metrics.charged(&self.model, usage, cost);
        }
        Ok(())
    }

    async fn release(&mut self) -> Result<(), sqlx::Error> {
        if let Some(r) = &self.reservation {
            self.ledger.release(r).await?;
            self.reservation = None;
        }
        Ok(())
    }

    /// Ends a call that stopped before it settled: charges what a refused settlement was
    /// charging, else releases the hold if nothing was delivered or counted, else charges the
    /// estimate.
    ///
    /// # Errors
    /// The database failing; the hold is then still the tab's.
    async fn end(&mut self) -> Result<(), sqlx::Error> {
        match self.owed {
            Some((usage, complete)) => self.settle_again(usage, complete).await,
            None if !self.delivered.any() => self.release().await,
            None => {
                let usage = self.delivered.estimate(self.most);
                self.settle(usage, false).await.map(drop)
            }
        }
    }

    async fn end_early(&mut self) {
        if let Err(e) = self.end().await {
            tracing::error!(error = %e, "an unfinished call could not be recorded; its bill tries again once dropped");
        }
    }

    /// [`Tab::end`], waiting out a database that cannot answer for a while (a little longer
    /// each time) for up to half a hold's life: past that the hold is released by age anyway.
    async fn end_in_time(&mut self) {
        let give_up = tokio::time::Instant::now() + STALE_AFTER / 2;
        let mut wait = Duration::from_millis(200);
        loop {
            match self.end().await {
                Ok(()) => return,
                Err(e)
                    if plugin_routes::database::is_unavailable(&e)
                        && tokio::time::Instant::now() + wait < give_up =>
                {
                    tracing::warn!(error = %e, model = %self.model, "an unfinished call could not be recorded yet; trying again");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    tracing::error!(error = %e, model = %self.model, "an unfinished call could not be recorded; its hold is left to be released by age");
                    return;
                }
            }
        }
    }
}

impl Drop for Bill {
    fn drop(&mut self) {
        let Some(reservation) = self.tab.reservation.take() else {
            return;
        };
        let mut rest = Tab {
            ledger: self.tab.ledger.clone(),
            metrics: self.tab.metrics.take(),
            reservation: Some(reservation),
            model: std::mem::take(&mut self.tab.model),
            provider: std::mem::take(&mut self.tab.provider),
            prices: self.tab.prices,
            most: self.tab.most,
            delivered: self.tab.delivered,
            streamed: self.tab.streamed,
            owed: self.tab.owed,
        };
        match tokio::runtime::Handle::try_current() {
            // A `Tab` dropped unfinished (the runtime shutting down before this task runs) does
            // not spawn again: its hold is left to be released by age.
            Ok(runtime) => drop(runtime.spawn(async move {
                rest.end_in_time().await;
                // A hold the database would not take back in time is left to age.
                let _ = rest.reservation.take();
            })),
            // No runtime to end it on: `rest` says, when dropped, that its hold is left to age.
            Err(_) => drop(rest),
        }
    }
}

impl Drop for Tab {
    fn drop(&mut self) {
        if self.reservation.is_some() {
            tracing::warn!(
                model = self.model,
                "a model call ended with the server; its hold will be released by age"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call that could use 56 tokens in and 100 out.
    const MOST: Usage = Usage {
        input_tokens: 56,
        output_tokens: 100,
        total_tokens: 156,
    };

    fn delivered(texts: &[&str], reported: Option<(Usage, usize)>) -> Delivered {
        let mut d = Delivered::default();
        for (i, text) in texts.iter().enumerate() {
            d.bytes += text.len() as u64;
            d.bytes_since_report += text.len() as u64;
            if let Some((usage, after)) = reported
                && after == i
            {
                d.reported = Some(usage);
                d.bytes_since_report = 0;
            }
        }
        d
    }

    #[test]
    fn without_a_count_a_token_a_byte_at_most_the_hold() {
        // Eight CJK characters are 24 bytes: 24 tokens, not the 2 of "four characters a token".
        assert_eq!(
            delivered(&["你好世界", "你好世界"], None).estimate(MOST),
            Usage::new(56, 24)
        );
        assert_eq!(
            delivered(&[&"x".repeat(500)], None).estimate(MOST),
            Usage::new(56, 100)
        );
        assert!(!delivered(&[], None).any());
    }

    #[test]
    fn with_a_count_the_count_and_a_token_a_byte_since() {
        // 70 tokens counted (hidden reasoning among them) with "ok", then 3 bytes more.
        let d = delivered(&["ok", "abc"], Some((Usage::new(9, 70), 0)));
        assert_eq!(d.estimate(MOST), Usage::new(9, 73));
        // A count above the hold is the provider's word: kept, not capped.
        let d = delivered(&["ok"], Some((Usage::new(9, 120), 0)));
        assert_eq!(d.estimate(MOST), Usage::new(9, 120));
        // A count and no text is something to charge.
        let counted_only = Delivered {
            reported: Some(Usage::new(9, 4)),
            ..Delivered::default()
        };
        assert!(counted_only.any());
        assert_eq!(counted_only.estimate(MOST), Usage::new(9, 4));
    }
}
