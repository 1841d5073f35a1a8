//! What the commit plugin adds to the server's `/metrics`: the commits it made and its pushes by
//! how they ended. Every series exists from the start, at zero.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

/// How a push ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) enum PushEnd {
    /// The remote's branch moved.
    Pushed,
    /// The remote already had every commit.
    UpToDate,
    /// The remote refused it (not a fast-forward, a lease lost, a hook).
    Rejected,
    /// The remote could not be reached, or git ran out of time.
    Failed,
}

impl EncodeLabelValue for PushEnd {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        encoder.write_str(match self {
            PushEnd::Pushed => "pushed",
            PushEnd::UpToDate => "up_to_date",
            PushEnd::Rejected => "rejected",
            PushEnd::Failed => "failed",
        })
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PushLabel {
    result: PushEnd,
}

/// The commit plugin's counters, registered with the server's metrics.
#[derive(Clone, Debug, Default)]
pub struct CommitMetrics {
    commits: Counter,
    pushes: Family<PushLabel, Counter>,
}

impl CommitMetrics {
    /// Counters at zero, registered in `metrics` as `commit_commits_total` and
    /// `commit_pushes_total`.
    pub fn register(metrics: &plugin_routes::Metrics) -> Self {
        let counted = CommitMetrics::default();
        for result in [
            PushEnd::Pushed,
            PushEnd::UpToDate,
            PushEnd::Rejected,
            PushEnd::Failed,
        ] {
            // The series made now, at zero (the guard is let go at once).
            let _ = counted.pushes.get_or_create(&PushLabel { result });
        }
        metrics.register(
            "commit_commits",
            "Commits the plugin made in the repository",
            counted.commits.clone(),
        );
        metrics.register(
            "commit_pushes",
            "Pushes the plugin ran, by how they ended: pushed, up_to_date, rejected or failed",
            counted.pushes.clone(),
        );
        counted
    }

    /// `n` commits were made.
    pub(crate) fn committed(&self, n: u64) {
        self.commits.inc_by(n);
    }

    /// A push ended as `result`.
    pub(crate) fn pushed(&self, result: PushEnd) {
        self.pushes.get_or_create(&PushLabel { result }).inc();
    }
}
