//! The generic cell rate algorithm's vocabulary, shared by the stores that count with it: who a
//! quota is counted for, one policy's step of a check, and what a check came to.

use crate::declare::RateLimit;
use std::net::IpAddr;

/// Who a quota is counted for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Who<'a> {
    /// An authenticated caller's id, or another name (an email).
    Name(&'a str),
    /// A client address, in canonical form.
    Address(IpAddr),
    /// Everyone at once.
    Everyone,
}

impl std::fmt::Display for Who<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Who::Name(n) => write!(f, "n:{n}"),
            Who::Address(a) => write!(f, "a:{a}"),
            Who::Everyone => f.write_str("all"),
        }
    }
}

/// One policy's part of a check: who it counts and its GCRA parameters, in nanoseconds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Step<'a> {
    pub(crate) policy: &'a str,
    pub(crate) who: Who<'a>,
    /// `window / quota`.
    pub(crate) interval: u64,
    /// `burst × interval`.
    pub(crate) tolerance: u64,
}

impl<'a> Step<'a> {
    pub(crate) fn new(policy: &'a RateLimit, who: Who<'a>) -> Self {
        let window = u128::from(policy.window_secs) * 1_000_000_000;
        let interval = u64::try_from(window / u128::from(policy.quota.max(1))).unwrap_or(u64::MAX);
        Step {
            policy: policy.name,
            who,
            interval,
            tolerance: interval.saturating_mul(u64::from(policy.burst)),
        }
    }
}

/// What counting decided, for up to `MAX_RATE_LIMITS` steps.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Counted {
    /// The first step over quota and the nanoseconds until it admits, if any.
    pub(crate) violated: Option<(usize, u64)>,
    /// Per step: nanoseconds from now to its TAT after this request (before it, if refused).
    pub(crate) used: [u64; plugin_routes_rules::MAX_RATE_LIMITS],
}

/// The store could not be asked (Redis unreachable or too slow).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Unreachable;

/// What to do with a request when Redis cannot be asked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WhenUnreachable {
    /// Admit it, uncounted (the default): an outage of Redis is not an outage of the API.
    #[default]
    Admit,
    /// Refuse it with `503 UNAVAILABLE`: no request goes uncounted.
    Refuse,
}

/// Nanoseconds as whole seconds, rounded up: never earlier than the quota really frees.
pub(crate) fn seconds_up(nanos: u64) -> u64 {
    nanos.div_ceil(1_000_000_000)
}
