//! Each client address's share of the connection cap: how many connections it has open, and
//! how many it may, so one client cannot fill the cap and keep everyone else waiting.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// How many connections each address has open, and how many it may.
pub(super) struct PerAddress {
    share: usize,
    open: std::sync::Mutex<HashMap<IpAddr, usize>>,
}

impl PerAddress {
    /// At most `share` connections per address.
    pub(super) fn new(share: usize) -> Self {
        PerAddress {
            share,
            open: std::sync::Mutex::default(),
        }
    }

    /// A connection counted against `ip`'s share; `None` if the share is full.
    pub(super) fn take(this: &Arc<PerAddress>, ip: IpAddr) -> Option<Share> {
        let mut open = lock(&this.open);
        let n = open.entry(ip).or_insert(0);
        if *n >= this.share {
            return None;
        }
        *n += 1;
        Some(Share {
            of: Arc::clone(this),
            ip,
        })
    }
}

/// One connection of an address, given back when it closes.
pub(super) struct Share {
    of: Arc<PerAddress>,
    ip: IpAddr,
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut open = lock(&self.of.open);
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
