//! Who is on the other end: the client's IP address, for logs, limits and audit. It is the
//! connection's peer, unless the server was told which proxies it sits behind: then it is the
//! first address in `X-Forwarded-For`, read from the right, that is not one of those proxies.
//! `X-Forwarded-For` is never believed by default: any client can send one.

use axum::extract::{ConnectInfo, FromRequestParts};
use http::request::Parts;
use http::{HeaderMap, StatusCode};
use std::net::{IpAddr, SocketAddr};

/// The client's IP address, as an extractor (`#[extract] client: ClientAddr` in a route, or a
/// plain axum handler's argument).
///
/// [`serve`](crate::serve()) provides it, following `X-Forwarded-For` through the proxies given
/// to `with_trusted_proxies`. Under `axum::serve` it is the peer, if the router was served with
/// `into_make_service_with_connect_info::<SocketAddr>()`; otherwise extracting it fails with a
/// logged `500`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The client of a request: what `serve` put in its extensions, else the peer of axum's
    /// connect info, else unknown.
    pub(crate) fn of(parts: &Parts) -> Option<ClientAddr> {
        parts.extensions.get::<ClientAddr>().copied().or_else(|| {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(peer)| ClientAddr(peer.ip()))
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        ClientAddr::of(parts).ok_or((
            StatusCode::INTERNAL_SERVER_ERROR,
            "the client's address is unknown: serve with plugin_routes::serve, or with axum's \
             into_make_service_with_connect_info",
        ))
    }
}

/// The proxies a server sits behind: addresses and CIDR ranges, such as `10.0.0.0/8, ::1`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

/// As [`TrustedProxies::parse`] reads them: `10.0.0.0/8, 127.0.0.1` (a whole address without
/// its prefix length).
impl std::fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, &(ip, bits)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            let whole = if ip.is_ipv4() { 32 } else { 128 };
            if bits == whole {
                write!(f, "{ip}")?;
            } else {
                write!(f, "{ip}/{bits}")?;
            }
        }
        Ok(())
    }
}

impl TrustedProxies {
    /// No proxy is trusted: the client is always the peer.
    pub fn none() -> Self {
        TrustedProxies(Vec::new())
    }

    /// Parses a comma-separated list of addresses (`127.0.0.1`) and ranges (`10.0.0.0/8`,
    /// `fd00::/8`); an empty list trusts none.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (addr, bits) = match item.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (item, None),
            };
            let ip: IpAddr = addr
                .parse()
                .map_err(|_| format!("`{item}` is not an IP address or a CIDR range"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => max,
                Some(b) => b
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("`{item}`: the prefix length must be 0 to {max}"))?,
            };
            // An IPv4 address written mapped into IPv6 (`::ffff:10.0.0.5`) is the IPv4 one, as
            // a peer's address is compared.
            let (ip, bits) = match (ip, ip.to_canonical()) {
                (IpAddr::V6(_), IpAddr::V4(v4)) if bits >= 96 => (IpAddr::V4(v4), bits - 96),
                _ => (ip, bits),
            };
            ranges.push((ip, bits));
        }
        Ok(TrustedProxies(ranges))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is one of the proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|&(net, bits)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), bits),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), bits),
            _ => false,
        })
    }

    /// The client behind `peer`: `peer` itself unless it is a trusted proxy; then, from the
    /// right of `X-Forwarded-For`, the first hop that is not a trusted proxy. An entry that is
    /// not an address ends the walk at the last trusted hop (nothing to its left can be
    /// believed), and if every hop is trusted the leftmost one is the client.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut current = peer;
        for hop in hops.iter().rev() {
            match parse_hop(hop) {
                Some(ip) if self.contains(ip) => current = ip,
                Some(ip) => return ip,
                None => return current,
            }
        }
        current
    }
}

/// An `X-Forwarded-For` entry: an address, perhaps with a port (`1.2.3.4:5678`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    let rest = bits % 8;
    if a[..full] != b[..full] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[full] & mask) == (b[full] & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", v.parse().unwrap());
        h
    }

    #[test]
    fn ranges_and_single_addresses_are_matched() {
        let t = TrustedProxies::parse("10.0.0.0/8, 192.168.1.7, fd00::/8").unwrap();
        assert!(t.contains(ip("10.200.3.4")));
        assert!(!t.contains(ip("11.0.0.1")));
        assert!(t.contains(ip("192.168.1.7")));
        assert!(!t.contains(ip("192.168.1.8")));
        assert!(t.contains(ip("fd12::1")));
        assert!(!t.contains(ip("fe80::1")));
        // An IPv4 peer seen through an IPv6 socket.
        assert!(t.contains(ip("::ffff:10.1.2.3")));
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.internal").is_err());
        assert_eq!(TrustedProxies::parse(" ").unwrap(), TrustedProxies::none());
        // Written back as it is read.
        assert_eq!(t.to_string(), "10.0.0.0/8, 192.168.1.7, fd00::/8");
        assert!(!t.is_empty() && TrustedProxies::none().is_empty());
    }

    #[test]
    fn a_mapped_ipv4_proxy_is_the_ipv4_one() {
        let t = TrustedProxies::parse("::ffff:10.0.0.5, ::ffff:192.168.0.0/112").unwrap();
        assert!(t.contains(ip("10.0.0.5")));
        assert!(t.contains(ip("::ffff:10.0.0.5")));
        assert!(t.contains(ip("192.168.3.4")));
        assert!(!t.contains(ip("192.169.0.1")));
    }

    #[test]
    fn forwarded_for_is_believed_only_through_trusted_proxies() {
        let none = TrustedProxies::none();
        let h = xff("203.0.113.7");
        assert_eq!(none.client(ip("127.0.0.1"), &h), ip("127.0.0.1"));

        let t = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8").unwrap();
        // An untrusted peer's header is ignored.
        assert_eq!(t.client(ip("198.51.100.1"), &h), ip("198.51.100.1"));
        // Through two trusted hops, the first untrusted one from the right.
        let h = xff("192.0.2.9, 203.0.113.7, 10.0.0.2");
        assert_eq!(t.client(ip("127.0.0.1"), &h), ip("203.0.113.7"));
        // Every hop trusted: the leftmost.
        assert_eq!(
            t.client(ip("127.0.0.1"), &xff("10.0.0.5, 10.0.0.2")),
            ip("10.0.0.5")
        );
        // Garbage ends the walk at the last trusted hop.
        assert_eq!(
            t.client(ip("127.0.0.1"), &xff("203.0.113.7, nonsense, 10.0.0.2")),
            ip("10.0.0.2")
        );
        // No header: the peer.
        assert_eq!(
            t.client(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
        // Ports are allowed.
        assert_eq!(
            t.client(ip("127.0.0.1"), &xff("[2001:db8::1]:4711")),
            ip("2001:db8::1")
        );
    }
}
