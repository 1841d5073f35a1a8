//! What `rate_limit(...)` declares, as `'static` data.

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
