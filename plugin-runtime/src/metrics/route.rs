//! One route's counters: plain atomics made when the route is mounted, so recording a request
//! takes no lock, looks nothing up by name and allocates nothing. The declared error codes and
//! the rate-limit policies are known then, so each has its counter from the start, at zero.

use std::sync::atomic::{AtomicU16, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The upper bounds of the latency histogram's buckets, in seconds (`+Inf` is added).
pub(crate) const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The same bounds in nanoseconds, compared with a request's duration.
const BUCKET_NANOS: [u64; 12] = {
    let mut nanos = [0u64; 12];
    let mut i = 0;
    while i < BUCKETS.len() {
        nanos[i] = (BUCKETS[i] * 1e9) as u64;
        i += 1;
    }
    nanos
};

/// How many distinct statuses one route can count; a route answers a handful (its success, the
/// framework's refusals, its declared errors), so a status past these is counted as `other`.
const STATUS_SLOTS: usize = 16;

/// What a route's series are labelled with: its plugin, its template as served (never a raw
/// path) and its method.
pub(crate) struct Served {
    pub(crate) plugin: &'static str,
    pub(crate) template: String,
    pub(crate) method: &'static str,
    /// Whether it is declared to answer with an event stream (counted open while sent).
    pub(crate) streams: bool,
}

/// A route's requests, latency, declared errors and rate-limit refusals.
pub(crate) struct RouteMetrics {
    pub(crate) plugin: &'static str,
    /// The route's template as served (`/v1/plugins/items/items/{id}`), never a raw path.
    pub(crate) template: String,
    pub(crate) method: &'static str,
    /// Declared to answer with an event stream: only such a route's answers are looked at for
    /// one, which spares every other request a header lookup.
    pub(crate) streams: bool,
    /// Statuses seen, each with its count; a slot's status is set once, by the first request
    /// that answers it (0 is free).
    statuses: [(AtomicU16, AtomicU64); STATUS_SLOTS],
    /// Requests whose status found no free slot.
    other_statuses: AtomicU64,
    /// Requests per latency bucket (not cumulative; the last is `+Inf`).
    buckets: [AtomicU64; BUCKETS.len() + 1],
    /// The sum of the latencies, in nanoseconds.
    nanos: AtomicU64,
    /// Each declared error code and how often the route answered it.
    pub(crate) errors: Box<[(&'static str, AtomicU64)]>,
    /// Each rate-limit policy and how many requests it refused.
    pub(crate) refusals: Box<[(&'static str, AtomicU64)]>,
}

impl RouteMetrics {
    pub(crate) fn new(
        served: Served,
        errors: impl Iterator<Item = &'static str>,
        policies: impl Iterator<Item = &'static str>,
    ) -> Self {
        let errors = distinct(errors);
        let refusals = distinct(policies);
        RouteMetrics {
            plugin: served.plugin,
            template: served.template,
            method: served.method,
            streams: served.streams,
            statuses: std::array::from_fn(|_| (AtomicU16::new(0), AtomicU64::new(0))),
            other_statuses: AtomicU64::new(0),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            nanos: AtomicU64::new(0),
            errors: errors.into_iter().map(|c| (c, AtomicU64::new(0))).collect(),
            refusals: refusals
                .into_iter()
                .map(|p| (p, AtomicU64::new(0)))
                .collect(),
        }
    }

    /// One request answered `status` after `took`; `error` is the code of its error, if any.
    pub(crate) fn record(&self, status: u16, took: Duration, error: Option<&str>) {
        self.count_status(status);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let bucket = BUCKET_NANOS
            .iter()
            .position(|&bound| nanos <= bound)
            .unwrap_or(BUCKET_NANOS.len());
        self.buckets[bucket].fetch_add(1, Relaxed);
        self.nanos.fetch_add(nanos, Relaxed);
        if let Some(code) = error
            && let Some((_, n)) = self.errors.iter().find(|(c, _)| *c == code)
        {
            n.fetch_add(1, Relaxed);
        }
    }

    /// The policy `name` refused a request.
    pub(crate) fn refused(&self, name: &str) {
        if let Some((_, n)) = self.refusals.iter().find(|(p, _)| *p == name) {
            n.fetch_add(1, Relaxed);
        }
    }

    fn count_status(&self, status: u16) {
        for (slot, count) in &self.statuses {
            match slot.load(Relaxed) {
                s if s == status => {
                    count.fetch_add(1, Relaxed);
                    return;
                }
                0 => match slot.compare_exchange(0, status, Relaxed, Relaxed) {
                    Ok(_) => {
                        count.fetch_add(1, Relaxed);
                        return;
                    }
                    // Another request took the slot: for this status, or the next one looks.
                    Err(s) if s == status => {
                        count.fetch_add(1, Relaxed);
                        return;
                    }
                    Err(_) => {}
                },
                _ => {}
            }
        }
        self.other_statuses.fetch_add(1, Relaxed);
    }

    /// Each status answered and its count (`None` for the statuses past the slots).
    pub(crate) fn statuses(&self) -> impl Iterator<Item = (Option<u16>, u64)> + '_ {
        self.statuses
            .iter()
            .filter_map(|(s, n)| match s.load(Relaxed) {
                0 => None,
                s => Some((Some(s), n.load(Relaxed))),
            })
            .chain(
                Some(self.other_statuses.load(Relaxed))
                    .filter(|&n| n > 0)
                    .map(|n| (None, n)),
            )
    }

    /// The histogram: its sum in seconds, its count, and the count in each bucket by its upper
    /// bound (not cumulative: the encoder adds them up).
    pub(crate) fn histogram(&self) -> (f64, u64, Vec<(f64, u64)>) {
        let buckets: Vec<(f64, u64)> = self
            .buckets
            .iter()
            .enumerate()
            .map(|(i, n)| {
                // prometheus-client writes `+Inf` for the largest float.
                let bound = BUCKETS.get(i).copied().unwrap_or(f64::MAX);
                (bound, n.load(Relaxed))
            })
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = self.nanos.load(Relaxed) as f64 / 1e9;
        (sum, count, buckets)
    }
}

/// `names` without repeats, in their order: one series per code and per policy, whatever repeats
/// (a policy named like the concurrency cap, a code declared on the plugin and the route).
fn distinct(names: impl Iterator<Item = &'static str>) -> Vec<&'static str> {
    let mut kept: Vec<&'static str> = Vec::new();
    for name in names {
        if !kept.contains(&name) {
            kept.push(name);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_make_one_series() {
        let names = ["concurrency", "day", "concurrency", "day", "hour"];
        assert_eq!(distinct(names.into_iter()), ["concurrency", "day", "hour"]);
    }

    #[test]
    fn bounds_in_nanoseconds_match_the_seconds() {
        assert_eq!(BUCKET_NANOS[0], 1_000_000);
        assert_eq!(BUCKET_NANOS[11], 10_000_000_000);
    }
}
