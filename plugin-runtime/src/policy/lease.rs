//! Places under concurrency caps, counted in Redis (feature `redis`) as leases that lapse, so
//! that every server sharing the Redis shares the caps and a server that dies frees its places.
//!
//! The places of one caller in one scope are a sorted set, `<prefix>:concurrency:<scope>:<who>`,
//! whose members are leases and whose scores are when each lapses, in milliseconds of Redis's
//! clock. Taking a place is one script, atomic among servers: remove the lapsed members, count
//! the rest, and add one if there is room. A server renews each lease it holds every third of
//! the lease time, and removes it when the place is given back; a server that dies does
//! neither, so its leases lapse and are removed by the next taker.

use super::gcra::{Unreachable, Who};
use super::redis::{RedisCounter, Reply};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Takes a place: `KEYS[1]` the set, `ARGV` the limit, the lease in milliseconds and the
/// member. Returns `{1, held}` when taken, `{0, held}` when every place is taken.
const TAKE: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local held = redis.call('ZCARD', KEYS[1])
if held >= tonumber(ARGV[1]) then
  return {0, held}
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
return {1, held + 1}
";

/// Renews a lease: `KEYS[1]` the set, `ARGV` the lease in milliseconds and the member.
/// Returns 1 if the lease was still there, 0 if it had lapsed and been removed.
const RENEW: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local there = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not there then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[1]))
return 1
";

/// A place held in Redis: renewed by a task of its own until dropped, then removed.
pub(crate) struct Lease {
    redis: Arc<RedisCounter>,
    key: Arc<str>,
    member: Arc<str>,
    renewal: tokio::task::AbortHandle,
}

impl Lease {
    /// Takes one of `limit` places for `who` in `scope`: the lease, `None` if every place is
    /// taken.
    pub(super) async fn take(
        redis: &Arc<RedisCounter>,
        scope: &str,
        who: Who<'_>,
        limit: u32,
    ) -> Result<Option<Lease>, Unreachable> {
        let key: Arc<str> = format!("{}:concurrency:{scope}:{who}", redis.prefix()).into();
        let member: Arc<str> = next_member().into();
        let lease_ms = millis(redis.lease());
        let reply = redis
            .command(eval(
                TAKE,
                &key,
                &[&limit.to_string(), &lease_ms.to_string(), &member],
            ))
            .await?;
        let taken = match reply {
            Reply::Array(items) => matches!(items.first(), Some(Reply::Int(1))),
            _ => false,
        };
        if !taken {
            return Ok(None);
        }
        let renewal = tokio::spawn(renew(
            Arc::clone(redis),
            Arc::clone(&key),
            Arc::clone(&member),
            redis.lease(),
        ))
        .abort_handle();
        Ok(Some(Lease {
            redis: Arc::clone(redis),
            key,
            member,
            renewal,
        }))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewal.abort();
        // Given back by a task, since dropping cannot wait; outside a runtime (the server is
        // going away) the lease is left to lapse.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (redis, key, member) = (
                Arc::clone(&self.redis),
                Arc::clone(&self.key),
                Arc::clone(&self.member),
            );
            runtime.spawn(async move {
                let remove = vec![
                    b"ZREM".to_vec(),
                    key.as_bytes().to_vec(),
                    member.as_bytes().to_vec(),
                ];
                let _ = redis.command(remove).await;
            });
        }
    }
}

/// Renews `member`'s lease every third of `lease`, until aborted or the lease is found lapsed.
async fn renew(redis: Arc<RedisCounter>, key: Arc<str>, member: Arc<str>, lease: Duration) {
    let every = lease / 3;
    let lease_ms = millis(lease).to_string();
    loop {
        tokio::time::sleep(every).await;
        match redis
            .command(eval(RENEW, &key, &[&lease_ms, &member]))
            .await
        {
            Ok(Reply::Int(1)) => {}
            Ok(_) => {
                tracing::warn!(
                    key = %key,
                    "a concurrency lease lapsed while its request was still in flight (Redis \
                     was unreachable for longer than the lease?); the request runs on uncounted"
                );
                return;
            }
            // Unreachable: logged by the store; try again at the next renewal.
            Err(Unreachable) => {}
        }
    }
}

/// `EVAL script 1 key args...`. The scripts are short; Redis caches them by digest.
fn eval(script: &str, key: &str, args: &[&str]) -> Vec<Vec<u8>> {
    let mut out = vec![
        b"EVAL".to_vec(),
        script.as_bytes().to_vec(),
        b"1".to_vec(),
        key.as_bytes().to_vec(),
    ];
    out.extend(args.iter().map(|a| a.as_bytes().to_vec()));
    out
}

/// A lease's name, unique among servers: this process's random id and a count.
fn next_member() -> String {
    static PROCESS: OnceLock<u64> = OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let process = PROCESS.get_or_init(|| {
        use std::hash::BuildHasher;
        std::collections::hash_map::RandomState::new().hash_one(std::process::id())
    });
    format!("{process:016x}:{}", COUNT.fetch_add(1, Ordering::Relaxed))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
