//! [`OperationSettings`]: how many operations a caller may have, how long ended ones stay, and
//! how a server watches for work, deaths and cancels.

use std::time::Duration;

/// What operations are allowed and how they are run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationSettings {
    pub(crate) max_active_per_caller: u32,
    pub(crate) retention: Duration,
    pub(crate) max_result_bytes: usize,
    pub(crate) max_running: usize,
    pub(crate) heartbeat: Duration,
    pub(crate) poll: Duration,
    pub(crate) cancel_poll: Duration,
    pub(crate) namespace: String,
}

impl Default for OperationSettings {
    /// 8 operations queued or running per caller, ended ones kept 7 days, results of at most
    /// 1 MiB, 16 running at once on one server, a heartbeat every 10 s (a dead server's work is handed on after 20 s), other
    /// servers' new operations looked for every second, a cancel seen within half a second.
    fn default() -> Self {
        OperationSettings {
            max_active_per_caller: 8,
            retention: Duration::from_secs(7 * 24 * 3600),
            max_result_bytes: 1024 * 1024,
            max_running: 16,
            heartbeat: Duration::from_secs(10),
            poll: Duration::from_secs(1),
            cancel_poll: Duration::from_millis(500),
            namespace: String::new(),
        }
    }
}

impl OperationSettings {
    /// At most `n` operations queued or running per caller, over every route; past it, starting
    /// one answers `429 RATE_LIMITED`.
    #[must_use]
    pub fn with_max_active_per_caller(mut self, n: u32) -> Self {
        self.max_active_per_caller = n.max(1);
        self
    }

    /// How long an ended operation stays readable; then it is deleted, with its events.
    #[must_use]
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// The largest result stored, in bytes of JSON; a larger one ends the operation
    /// `500 INTERNAL` (logged).
    #[must_use]
    pub fn with_max_result_bytes(mut self, bytes: usize) -> Self {
        self.max_result_bytes = bytes;
        self
    }

    /// At most `n` operations run at once on this server (over every route). A server takes a
    /// job from the queue only while it has a place free, one job at a time, so the others
    /// wait in the queue for whichever server frees a place first (with several operation
    /// routes, a server may hold at most one job a route beyond its places).
    #[must_use]
    pub fn with_max_running(mut self, n: usize) -> Self {
        self.max_running = n.max(1);
        self
    }

    /// How often a server says it is alive (whole seconds, at least one). A server silent for
    /// two of them is dead: its operations are run again or failed by another. A worker of its
    /// own that has made no heartbeat for the longer of two heartbeats and one plus 16 s (two
    /// waits for a connection and for SQLite's lock), plus
    /// [`STATEMENT_WAIT`](crate::database::STATEMENT_WAIT), is taken for stuck on a database that stopped
    /// answering, and started again: 36 s with the default heartbeat.
    #[must_use]
    pub fn with_heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every.max(Duration::from_secs(1));
        self
    }

    /// How often a server looks for operations accepted by others (those it accepts itself
    /// start at once).
    #[must_use]
    pub fn with_poll(mut self, every: Duration) -> Self {
        self.poll = every.max(Duration::from_millis(10));
        self
    }

    /// How often a running operation looks for a cancel asked on another server.
    #[must_use]
    pub fn with_cancel_poll(mut self, every: Duration) -> Self {
        self.cancel_poll = every.max(Duration::from_millis(10));
        self
    }

    /// Keeps this server's queues apart from those of servers on the same database that do not
    /// share its work (another application, a test): only servers with the same namespace take
    /// each other's operations.
    #[must_use]
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// The per-caller cap.
    pub fn max_active_per_caller(&self) -> u32 {
        self.max_active_per_caller
    }

    /// The retention period.
    pub fn retention(&self) -> Duration {
        self.retention
    }
}
