//! Limit declarations: how long a rate limit's window is, and what a quota or a concurrency cap
//! is counted per.

/// What a quota can be counted per: the caller (its user or key id; its address when it has
/// none), the client's address, or the route as a whole.
pub const LIMIT_KEYS: [&str; 3] = ["caller", "address", "route"];

/// What a concurrency cap can be counted per: the caller (as for quotas) or the client's
/// address. Not the route as a whole: one slow client would then hold everyone's places.
pub const CONCURRENCY_KEYS: [&str; 2] = ["caller", "address"];

/// How many policies one route may have (the limiter keeps their state on the stack).
pub const MAX_RATE_LIMITS: usize = 8;

/// A window such as `"30s"`, `"1m"`, `"15m"`, `"1h"` or `"1d"`, in seconds.
pub fn parse_window(window: &str) -> Result<u64, String> {
    let digits = window.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = window.split_at(digits);
    let Ok(n) = number.parse::<u64>() else {
        return Err(format!(
            "`{window}` is not a window: write a number and a unit, e.g. `\"1m\"`"
        ));
    };
    if n == 0 {
        return Err(format!(
            "`{window}` is empty: a window is at least `\"1s\"`"
        ));
    }
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{window}`: expected `s`, `m`, `h` or `d`, e.g. `\"15m\"`"
            ));
        }
    };
    n.checked_mul(seconds)
        .ok_or_else(|| format!("`{window}` is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows() {
        assert_eq!(parse_window("30s"), Ok(30));
        assert_eq!(parse_window("15m"), Ok(900));
        assert_eq!(parse_window("1h"), Ok(3600));
        assert_eq!(parse_window("1d"), Ok(86_400));
        assert!(parse_window("0m").is_err());
        assert!(parse_window("1w").unwrap_err().contains("unknown unit `w`"));
        assert!(parse_window("m").is_err());
        assert!(parse_window("1 m").is_err());
    }
}
