//! Telling the operator of a proxy they did not name: its `X-Forwarded-For` is ignored, so every
//! client behind it counts as the proxy for rate limits and failed logins, and one guesser can
//! lock the rest out of logging in.
//!
//! Each address is named once per server, up to [`NAMED_AT_MOST`] of them, so a developer's
//! `curl -H 'X-Forwarded-For: …'` from this host does not use up the warning the real load
//! balancer needs. Only peers that could be a load balancer's are looked at: this host, private
//! networks, and the shared address space (100.64.0.0/10) that cloud load balancers and overlay
//! networks connect from. A client on the internet sending `X-Forwarded-For` is not taken for a
//! proxy and cannot fill the list (unless a layer-4 balancer or NAT in front makes its address a
//! private one: the warning then says to name only an HTTP proxy that sets the header itself).

use super::TrustedProxies;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// How many distinct proxies a server names before it stops looking.
const NAMED_AT_MOST: usize = 16;

/// The addresses a server has named as proxies it was not told of.
#[derive(Default)]
pub(super) struct UnnamedProxies {
    /// Set once [`NAMED_AT_MOST`] are named: from then on no connection is looked at.
    full: AtomicBool,
    named: Mutex<Vec<IpAddr>>,
}

impl UnnamedProxies {
    /// Whether a connection from `peer` is to have its first request looked at: a peer that
    /// `proxies` names (it may send only `Forwarded`, which is not read) or that could be a
    /// proxy, while the list has room. One relaxed load; [`Self::look_at`] takes the list's lock
    /// only for a first request that carries the headers.
    pub(super) fn worth_looking_at(&self, proxies: &TrustedProxies, peer: IpAddr) -> bool {
        !self.full.load(Ordering::Relaxed) && (could_be_a_proxy(peer) || proxies.contains(peer))
    }

    /// Warns of `peer`, once, if its request was forwarded for others and the client behind it
    /// cannot be told: from a proxy `proxies` does not name, or with only a `Forwarded` header
    /// (RFC 7239), which is not read. Called for a connection's first request only.
    pub(super) fn look_at(
        &self,
        proxies: &TrustedProxies,
        peer: IpAddr,
        headers: &http::HeaderMap,
    ) {
        let forwarded_for = headers.contains_key("x-forwarded-for");
        let only_forwarded = !forwarded_for && headers.contains_key(http::header::FORWARDED);
        let trusted = proxies.contains(peer);
        if !(only_forwarded || forwarded_for && !trusted) {
            return;
        }
        // `::ffff:10.0.0.5` on a dual-stack listener is named as the IPv4 address it is.
        let peer = peer.to_canonical();
        let last = {
            // A panic elsewhere while holding it leaves a list that is still whole.
            let mut named = self.named.lock().unwrap_or_else(|e| e.into_inner());
            if named.len() >= NAMED_AT_MOST || named.contains(&peer) {
                return;
            }
            named.push(peer);
            let last = named.len() == NAMED_AT_MOST;
            if last {
                self.full.store(true, Ordering::Relaxed);
            }
            last
        };
        if only_forwarded {
            let and = if trusted {
                ""
            } else {
                ", and name it a trusted proxy"
            };
            tracing::warn!(
                %peer,
                "requests forwarded for other clients come from {peer} with a Forwarded header \
                 and no X-Forwarded-For: only X-Forwarded-For is read, so every client behind \
                 it counts as {peer} for rate limits and failed logins; have the proxy send \
                 X-Forwarded-For{and}"
            );
        } else {
            tracing::warn!(
                %peer,
                "requests forwarded for other clients come from {peer}, which is not a trusted \
                 proxy: their X-Forwarded-For is ignored, so every client behind it counts as \
                 {peer} for rate limits and failed logins; if it is this server's HTTP proxy \
                 and sets X-Forwarded-For itself, name it (`Serve::with_trusted_proxies`; \
                 TRUSTED_PROXIES in the example server); never name a layer-4 balancer or NAT, \
                 which passes on what clients send"
            );
        }
        if last {
            tracing::warn!(
                "{NAMED_AT_MOST} addresses forwarding requests the server cannot follow were \
                 named; further ones will not be"
            );
        }
    }
}

/// Whether `peer` is where a load balancer or an ingress proxy would connect from: this host, a
/// private or link-local network, or the shared address space of RFC 6598 (100.64.0.0/10),
/// which some cloud load balancers and overlay networks use.
fn could_be_a_proxy(peer: IpAddr) -> bool {
    match peer.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_addresses_a_proxy_could_have() {
        for proxy in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.9",
            "192.168.1.1",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.5",
        ] {
            assert!(could_be_a_proxy(proxy.parse().unwrap()), "{proxy}");
        }
        for client in [
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "2001:db8::1",
            "::ffff:8.8.8.8",
        ] {
            assert!(!could_be_a_proxy(client.parse().unwrap()), "{client}");
        }
    }

    #[test]
    fn each_address_is_named_once_and_the_list_is_bounded() {
        let unnamed = UnnamedProxies::default();
        let none = TrustedProxies::default();
        let mut forwarded = http::HeaderMap::new();
        forwarded.insert("x-forwarded-for", "192.0.2.1".parse().unwrap());
        let peer = |n: u8| IpAddr::from([10, 0, 0, n]);
        // Without the header nothing is named.
        unnamed.look_at(&none, peer(1), &http::HeaderMap::new());
        assert!(unnamed.named.lock().unwrap().is_empty());
        for n in 1..=40 {
            assert_eq!(
                unnamed.worth_looking_at(&none, peer(n)),
                n as usize <= NAMED_AT_MOST,
                "{n}"
            );
            // Twice each: the second changes nothing.
            unnamed.look_at(&none, peer(n), &forwarded);
            unnamed.look_at(&none, peer(n), &forwarded);
        }
        let named = unnamed.named.lock().unwrap();
        assert_eq!(named.len(), NAMED_AT_MOST);
        assert_eq!(named[0], peer(1));
    }

    #[test]
    fn a_trusted_proxy_is_named_only_when_it_sends_only_forwarded() {
        let unnamed = UnnamedProxies::default();
        let proxies = TrustedProxies::parse("10.0.0.1, 203.0.113.5").unwrap();
        let header = |name: &'static str, value: &str| {
            let mut h = http::HeaderMap::new();
            h.insert(name, value.parse().unwrap());
            h
        };
        let named = || unnamed.named.lock().unwrap().clone();
        // A trusted proxy on a public address is looked at too.
        assert!(unnamed.worth_looking_at(&proxies, "203.0.113.5".parse().unwrap()));
        assert!(!unnamed.worth_looking_at(&proxies, "203.0.113.6".parse().unwrap()));
        // Trusted and sending X-Forwarded-For: followed, nothing to say.
        let trusted: IpAddr = "10.0.0.1".parse().unwrap();
        unnamed.look_at(&proxies, trusted, &header("x-forwarded-for", "192.0.2.1"));
        assert!(named().is_empty());
        // Trusted, but only `Forwarded`, which is not read: said.
        unnamed.look_at(&proxies, trusted, &header("forwarded", "for=192.0.2.1"));
        assert_eq!(named(), [trusted]);
        // Not trusted, only `Forwarded`: said too.
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        unnamed.look_at(&proxies, other, &header("forwarded", "for=192.0.2.1"));
        assert_eq!(named(), [trusted, other]);
    }
}
