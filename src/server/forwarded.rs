//! The client address behind reverse proxies (`LANYARD_TRUSTED_PROXIES`).
//!
//! Lanyard serves no TLS, so production runs behind a proxy and every connection comes from the
//! proxy's address. Only when the connection's peer is a trusted proxy is `X-Forwarded-For` read:
//! walking it from the right (each proxy appends the address it received the request from), the
//! client is the first address that is not itself a trusted proxy. Everything left of that entry
//! was written by the client and is never believed. An entry that is not an address ends the walk
//! and the peer address is used (it may have been written by a trusted proxy, e.g. `unknown`, and
//! what lies left of it is the client's to choose). With no trusted proxies (the default) the
//! header is ignored and the peer address is the client's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// An address range: an address and a prefix length (`10.0.0.0/8`, `2001:db8::/32`, or one
/// address as `/32` or `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Parses `ip` or `ip/prefix`. IPv4-mapped IPv6 addresses are taken as IPv4.
    pub fn parse(raw: &str) -> Option<IpNet> {
        let (ip, prefix) = match raw.split_once('/') {
            Some((ip, p)) => {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                (ip, Some(p.parse::<u8>().ok()?))
            }
            None => (raw, None),
        };
        let parsed: IpAddr = ip.parse().ok()?;
        let (addr, max, prefix) = match parsed {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                // `::ffff:10.0.0.0/104` is `10.0.0.0/8`.
                Some(v4) => {
                    let p = match prefix {
                        None => 32,
                        Some(p) if (96..=128).contains(&p) => p - 96,
                        Some(_) => return None,
                    };
                    (IpAddr::V4(v4), 32, p)
                }
                None => (parsed, 128, prefix.unwrap_or(128)),
            },
            IpAddr::V4(_) => (parsed, 32, prefix.unwrap_or(32)),
        };
        if prefix > max {
            return None;
        }
        Some(IpNet { addr, prefix })
    }

    /// Whether `ip` lies in the range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn net(addr: IpAddr, prefix: u8) -> IpNet {
    IpNet { addr, prefix }
}

/// The proxies whose `X-Forwarded-For` is believed. Empty (the default) trusts none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses, CIDR ranges and the shorthands `loopback`
    /// (127.0.0.0/8, ::1) and `private` (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7).
    /// The error names the entry that is none of these.
    pub fn parse(raw: &str) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match entry.to_ascii_lowercase().as_str() {
                "loopback" => nets.extend([
                    net(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8),
                    net(IpAddr::V6(Ipv6Addr::LOCALHOST), 128),
                ]),
                "private" => nets.extend([
                    net(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)), 8),
                    net(IpAddr::V4(Ipv4Addr::new(172, 16, 0, 0)), 12),
                    net(IpAddr::V4(Ipv4Addr::new(192, 168, 0, 0)), 16),
                    net(IpAddr::V6(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0)), 7),
                ]),
                _ => nets.push(IpNet::parse(entry).ok_or_else(|| {
                    format!(
                        "'{entry}' is not an IP address, a CIDR range (10.0.0.0/8, 2001:db8::/32), 'loopback' or 'private'"
                    )
                })?),
            }
        }
        Ok(TrustedProxies(nets))
    }

    /// True when no proxy is trusted (`X-Forwarded-For` is never read).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// The client's address for a connection from `peer` that carries these `X-Forwarded-For`
    /// header values (in order): the peer itself unless it is a trusted proxy; otherwise the
    /// right-most forwarded address that is not a trusted proxy (or, when every hop is trusted,
    /// the left-most one). A malformed entry ends the walk: the peer is used.
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let entries: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut leftmost_trusted = None;
        for entry in entries.iter().rev() {
            if entry.is_empty() {
                // `a, , b` or a trailing comma: nothing to believe or refuse.
                continue;
            }
            let Some(ip) = parse_forwarded_addr(entry) else {
                return peer;
            };
            if !self.trusts(ip) {
                return ip;
            }
            leftmost_trusted = Some(ip);
        }
        leftmost_trusted.unwrap_or(peer)
    }
}

/// One `X-Forwarded-For` entry: `203.0.113.7`, `2001:db8::1`, or with a port as some proxies
/// write it (`203.0.113.7:4711`, `[2001:db8::1]:4711`, `[2001:db8::1]`). IPv4-mapped IPv6
/// addresses are taken as IPv4.
pub fn parse_forwarded_addr(entry: &str) -> Option<IpAddr> {
    let ip = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<Ipv6Addr>().ok())
                .map(IpAddr::V6)
        })?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(s: &str) -> TrustedProxies {
        TrustedProxies::parse(s).unwrap()
    }

    #[test]
    fn ranges_parse_and_match() {
        let n = IpNet::parse("10.0.0.0/8").unwrap();
        assert!(n.contains(ip("10.255.1.2")));
        assert!(!n.contains(ip("11.0.0.1")));
        assert!(
            n.contains(ip("::ffff:10.1.2.3")),
            "IPv4-mapped counts as IPv4"
        );
        let one = IpNet::parse("192.0.2.10").unwrap();
        assert!(one.contains(ip("192.0.2.10")));
        assert!(!one.contains(ip("192.0.2.11")));
        let all = IpNet::parse("0.0.0.0/0").unwrap();
        assert!(all.contains(ip("198.51.100.1")));
        assert!(!all.contains(ip("2001:db8::1")), "IPv4 range, IPv6 address");
        let v6 = IpNet::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:ffff::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(IpNet::parse("::/0").unwrap().contains(ip("::1")));
        let mapped = IpNet::parse("::ffff:10.0.0.0/104").unwrap();
        assert!(mapped.contains(ip("10.9.9.9")));
        assert!(!mapped.contains(ip("11.0.0.0")));
        for bad in [
            "10.0.0.0/33",
            "2001:db8::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0/8",
            "example.com",
            "10.0.0.0/8/8",
            "",
            "::ffff:10.0.0.0/8",
        ] {
            assert_eq!(IpNet::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_list_parses_with_shorthands_and_names_a_bad_entry() {
        let p = proxies(" 127.0.0.1 , 10.0.0.0/8,,2001:db8::/32 ");
        assert!(p.trusts(ip("127.0.0.1")));
        assert!(!p.trusts(ip("127.0.0.2")));
        assert!(p.trusts(ip("10.3.2.1")));
        assert!(p.trusts(ip("2001:db8::5")));
        assert!(!p.trusts(ip("192.168.1.1")));
        assert!(proxies("").is_empty());
        assert!(proxies(" , ").is_empty());

        let lo = proxies("loopback");
        assert!(lo.trusts(ip("127.8.9.10")) && lo.trusts(ip("::1")));
        assert!(!lo.trusts(ip("10.0.0.1")));
        let private = proxies("PRIVATE");
        for a in [
            "10.1.1.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.0.9",
            "fd00::1",
        ] {
            assert!(private.trusts(ip(a)), "{a}");
        }
        for a in ["172.32.0.1", "127.0.0.1", "8.8.8.8", "2001:db8::1"] {
            assert!(!private.trusts(ip(a)), "{a}");
        }

        let err = TrustedProxies::parse("127.0.0.1, 10.0.0.0/40").unwrap_err();
        assert!(err.contains("'10.0.0.0/40'"), "{err}");
        assert!(TrustedProxies::parse("proxy.internal").is_err());
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_forwarded_address() {
        let p = proxies("127.0.0.1, 10.0.0.0/8");
        let proxy = ip("127.0.0.1");
        // One proxy: it appended the client.
        assert_eq!(p.client_ip(proxy, ["203.0.113.7"]), ip("203.0.113.7"));
        // The client's own entries (left of the proxy's) are never believed.
        assert_eq!(
            p.client_ip(proxy, ["1.2.3.4, 198.51.100.9"]),
            ip("198.51.100.9")
        );
        // Two trusted hops, in one header or several.
        assert_eq!(
            p.client_ip(proxy, ["6.6.6.6, 203.0.113.7, 10.0.0.2"]),
            ip("203.0.113.7")
        );
        assert_eq!(
            p.client_ip(proxy, ["6.6.6.6", "203.0.113.7", "10.0.0.2"]),
            ip("203.0.113.7")
        );
        // Ports and brackets as some proxies write them; IPv4-mapped IPv6.
        assert_eq!(p.client_ip(proxy, ["203.0.113.7:4711"]), ip("203.0.113.7"));
        assert_eq!(p.client_ip(proxy, ["[2001:db8::7]:443"]), ip("2001:db8::7"));
        assert_eq!(p.client_ip(proxy, ["[2001:db8::7]"]), ip("2001:db8::7"));
        assert_eq!(
            p.client_ip(proxy, ["::ffff:203.0.113.7"]),
            ip("203.0.113.7")
        );
        assert_eq!(
            p.client_ip(ip("::ffff:127.0.0.1"), ["203.0.113.7"]),
            ip("203.0.113.7"),
            "a mapped peer address is the IPv4 proxy"
        );
        // Empty entries are skipped.
        assert_eq!(p.client_ip(proxy, ["203.0.113.7, ,"]), ip("203.0.113.7"));
        // Every hop trusted: the left-most (an internal client).
        assert_eq!(p.client_ip(proxy, ["10.0.0.5, 10.0.0.2"]), ip("10.0.0.5"));
        // No header, or an empty one: the peer.
        assert_eq!(p.client_ip(proxy, []), proxy);
        assert_eq!(p.client_ip(proxy, [""]), proxy);
    }

    #[test]
    fn a_malformed_entry_ends_the_walk_at_the_peer() {
        let p = proxies("127.0.0.1, 10.0.0.0/8");
        let proxy = ip("127.0.0.1");
        for bad in [
            "unknown",
            "evil.example",
            "203.0.113.7 foo",
            "300.1.1.1",
            "_hidden",
        ] {
            // Written by a trusted proxy: what lies left of it is the client's to choose.
            assert_eq!(
                p.client_ip(proxy, [format!("6.6.6.6, {bad}").as_str()]),
                proxy,
                "{bad}"
            );
            // Written by the client, left of the address the proxy appended: never reached.
            assert_eq!(
                p.client_ip(proxy, [format!("{bad}, 203.0.113.7").as_str()]),
                ip("203.0.113.7"),
                "{bad}"
            );
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let p = proxies("127.0.0.1");
        let stranger = ip("198.51.100.1");
        assert_eq!(p.client_ip(stranger, ["203.0.113.7"]), stranger);
        assert_eq!(p.client_ip(stranger, ["127.0.0.1"]), stranger);
        // Nothing trusted (the default): the header is never read.
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_ip(ip("127.0.0.1"), ["203.0.113.7"]),
            ip("127.0.0.1")
        );
    }
}
