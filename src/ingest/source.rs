//! Where a request comes from, and whether callbacks from there are taken: `--allow-from`
//! networks, and `--trusted-proxy` networks whose `X-Forwarded-For` is believed.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;

/// A list of networks, from `10.0.0.0/8,192.168.1.7,::1` (a bare address is one host).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Networks(Vec<IpNet>);

/// A network list that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{given:?} is not an address or network like 10.0.0.0/8 or 203.0.113.7")]
pub struct BadNetwork {
    pub given: String,
}

impl FromStr for Networks {
    type Err = BadNetwork;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                part.parse::<IpNet>()
                    .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| BadNetwork { given: part.into() })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

impl Networks {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` lies in one of the networks; an IPv4-mapped IPv6 address counts as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Adds the networks of `other` (repeated flags add up).
    pub fn extend(&mut self, other: Networks) {
        self.0.extend(other.0);
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// Who may post callbacks, and whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct SourcePolicy {
    /// Empty: callbacks from anywhere.
    pub allow_from: Networks,
    /// Peers whose `X-Forwarded-For` is read; empty: the header is ignored.
    pub trusted_proxies: Networks,
}

/// The source roomwatch believes a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// The TCP peer.
    pub peer: SocketAddr,
    /// The client named by a trusted proxy's `X-Forwarded-For`, when there is one.
    pub forwarded_for: Option<IpAddr>,
}

impl Source {
    /// The address the allow-list is checked against.
    pub fn client(&self) -> IpAddr {
        self.forwarded_for.unwrap_or_else(|| self.peer.ip())
    }

    /// For the log: `203.0.113.7 via 127.0.0.1:51234`, or just the peer.
    pub fn describe(&self) -> String {
        match self.forwarded_for {
            Some(client) => format!("{client} via {}", self.peer),
            None => peer_text(self.peer),
        }
    }
}

/// `peer` as `Display` spells it; IPv4 written by hand, since `core::fmt` costs more than
/// the rest of naming a request's source.
fn peer_text(peer: SocketAddr) -> String {
    let SocketAddr::V4(v4) = peer else {
        return peer.to_string();
    };
    let mut text = String::with_capacity(21);
    for (i, octet) in v4.ip().octets().into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        push_decimal(&mut text, u32::from(octet));
    }
    text.push(':');
    push_decimal(&mut text, u32::from(v4.port()));
    text
}

fn push_decimal(text: &mut String, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut len = 0;
    loop {
        // `n % 10` is below 10: the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation)]
        let digit = (n % 10) as u8;
        digits[len] = b'0' + digit;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    text.extend(digits[..len].iter().rev().map(|&d| char::from(d)));
}

impl SourcePolicy {
    /// Decides the source from the peer and the `X-Forwarded-For` values (in header order).
    /// Only a trusted peer's header is read, from the right: each hop was appended by the proxy
    /// before it, so the right-most address that is not itself a trusted proxy is the first one
    /// no trusted party vouches past. Everything left of it could be written by the client.
    pub fn source<'a>(
        &self,
        peer: SocketAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    ) -> Source {
        let mut source = Source {
            peer,
            forwarded_for: None,
        };
        if self.trusted_proxies.is_empty() || !self.trusted_proxies.contains(peer.ip()) {
            return source;
        }
        // Header lines in order, each a comma list: the right-most entry is the last hop.
        let hops: Vec<&str> = forwarded_for
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                // An unreadable hop: nothing to its left can be trusted either.
                return source;
            };
            source.forwarded_for = Some(ip);
            if !self.trusted_proxies.contains(ip) {
                break;
            }
        }
        source
    }

    /// Whether callbacks from `source` are taken.
    pub fn allows(&self, source: &Source) -> bool {
        self.allow_from.is_empty() || self.allow_from.contains(source.client())
    }
}

/// One `X-Forwarded-For` entry: `203.0.113.7`, `[2001:db8::1]:443` or `203.0.113.7:5000`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: &str, trusted: &str) -> SourcePolicy {
        SourcePolicy {
            allow_from: allow.parse().unwrap_or_default(),
            trusted_proxies: trusted.parse().unwrap_or_default(),
        }
    }

    fn peer(text: &str) -> SocketAddr {
        text.parse()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    #[test]
    fn parses_networks_and_hosts() {
        let nets: Networks = "10.0.0.0/8, 203.0.113.7,::1".parse().unwrap_or_default();
        assert!(nets.contains("10.1.2.3".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        assert!(nets.contains(IpAddr::from([203, 0, 113, 7])));
        assert!(!nets.contains(IpAddr::from([203, 0, 113, 8])));
        assert!(nets.contains("::ffff:10.9.9.9".parse().unwrap_or(IpAddr::from([0; 4]))));
        assert!("10.0.0.0/40".parse::<Networks>().is_err());
        assert!("example.com".parse::<Networks>().is_err());
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_peers() {
        let p = policy("", "127.0.0.1,10.0.0.0/8");
        let untrusted = p.source(peer("198.51.100.1:5000"), ["203.0.113.7"].into_iter());
        assert_eq!(untrusted.client(), IpAddr::from([198, 51, 100, 1]));
        let trusted = p.source(peer("127.0.0.1:5000"), ["203.0.113.7"].into_iter());
        assert_eq!(trusted.client(), IpAddr::from([203, 0, 113, 7]));
        // The client wrote a fake left-most hop; the proxies appended the real ones.
        let spoofed = p.source(
            peer("127.0.0.1:5000"),
            ["1.1.1.1, 198.51.100.9", "10.0.0.5"].into_iter(),
        );
        assert_eq!(spoofed.client(), IpAddr::from([198, 51, 100, 9]));
        let garbage = p.source(peer("127.0.0.1:5000"), ["1.1.1.1, junk"].into_iter());
        assert_eq!(garbage.client(), IpAddr::from([127, 0, 0, 1]));
    }

    #[test]
    fn allow_list_checks_the_believed_client() {
        let p = policy("203.0.113.0/24", "127.0.0.1");
        assert!(p.allows(&p.source(peer("127.0.0.1:1"), ["203.0.113.7"].into_iter())));
        assert!(!p.allows(&p.source(peer("127.0.0.1:1"), std::iter::empty())));
        assert!(policy("", "").allows(&p.source(peer("127.0.0.1:1"), std::iter::empty())));
    }

    #[test]
    fn peers_are_spelled_as_display_spells_them() {
        for peer in [
            "127.0.0.1:40000",
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "10.20.3.4:8",
            "[::1]:9000",
            "[2001:db8::7]:443",
        ] {
            let addr: SocketAddr = peer.parse().expect("an address");
            assert_eq!(peer_text(addr), addr.to_string());
        }
    }
}
