//! What `rate_limit(...)` and `concurrency(...)` declare, as `'static` data.

/// One rate-limit policy: `quota` requests per `window_secs`, at most `burst` at once, counted
/// per `key`. A request must be within every policy of its route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// The policy's name, in the `RateLimit` fields and in the 429's details (`default` when
    /// `rate_limit(50, per = "1m")` names none).
    pub name: &'static str,
    /// Requests admitted per window.
    pub quota: u32,
    /// The window, in seconds.
    pub window_secs: u64,
    /// How many may come at once, from a rested state (the quota unless declared).
    pub burst: u32,
    /// What the quota is counted per.
    pub key: LimitKey,
}

/// What a quota is counted per.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitKey {
    /// The authenticated caller (user or key id); a request without one, by its address.
    Caller,
    /// The client's address ([`ClientAddr`](crate::ClientAddr)).
    Address,
    /// The route as a whole: one quota shared by everyone.
    Route,
}

impl RateLimit {
    /// As the manifest and the documents' `x-rate-limit` show it.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "quota": self.quota,
            "windowSeconds": self.window_secs,
            "burst": self.burst,
            "key": self.key.as_str(),
        })
    }
}

impl LimitKey {
    /// As declared: `caller`, `address` or `route`.
    pub const fn as_str(self) -> &'static str {
        match self {
            LimitKey::Caller => "caller",
            LimitKey::Address => "address",
            LimitKey::Route => "route",
        }
    }
}

/// What `concurrency(...)` declares on a route or a plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Concurrency {
    /// `concurrency(none)`: no cap, whatever the plugin or the server's stream cap says.
    Unlimited,
    /// `concurrency(4)`, `concurrency(4, key = "address")`: at most `limit` requests in flight
    /// at once per `key` ([`LimitKey::Caller`] or [`LimitKey::Address`]).
    Capped {
        /// Requests in flight at once.
        limit: u32,
        /// What they are counted per.
        key: LimitKey,
    },
}

/// A concurrency cap in force for a route: how many of its requests one caller (or address)
/// may have in flight at once. A request holds its place until its response is finished (an
/// event stream, until it ends or the client goes away); one past the cap is answered
/// `429 RATE_LIMITED`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConcurrencyLimit {
    /// `concurrency` for a declared cap, `streams` for the server's default cap on streams
    /// (in the 429's details and the documents).
    pub name: &'static str,
    /// Requests in flight at once.
    pub limit: u32,
    /// What they are counted per: [`LimitKey::Caller`] or [`LimitKey::Address`].
    pub key: LimitKey,
    /// Counted across every route it applies to (the server's stream cap: 16 streams per
    /// caller in all), rather than per route (a declared cap).
    pub shared: bool,
}

impl ConcurrencyLimit {
    /// The name of a cap declared with `concurrency(...)`.
    pub const DECLARED: &'static str = "concurrency";
    /// The name of the server's default cap on event streams.
    pub const STREAMS: &'static str = "streams";

    /// As the manifest and the documents' `x-concurrency-limit` show it.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "limit": self.limit,
            "key": self.key.as_str(),
            "per": if self.shared { "server" } else { "route" },
        })
    }
}
