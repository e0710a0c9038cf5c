//! Which outbound HTTP requests a skill may make: its `allow.http` patterns
//! (Spin's `allowed_outbound_hosts` in spirit) and the rule that internal
//! addresses (loopback, private, link-local...) are reachable only through a
//! pattern that names the host exactly, never through a wildcard. The same
//! policy, and [`resolve`], serve notification webhooks.

use serde::{Deserialize, Deserializer, de};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// The longest a host's name may take to resolve.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// One `allow.http` entry: `scheme://host:port`, each part literal or `*`;
/// a host may also be `*.example.com`. A missing port means the scheme's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    scheme: Part,
    host: HostPart,
    port: Part,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Any,
    Is(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPart {
    Any,
    /// `*.example.com`: any name ending in `.example.com`.
    Suffix(String),
    Is(String),
}

impl HostPattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("allowed host `{text}`: {why}");
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| bad("write it as scheme://host[:port], e.g. https://api.example.com"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "*" => Part::Any,
            s @ ("http" | "https") => Part::Is(s.to_owned()),
            other => return Err(bad(&format!("scheme `{other}` is not http, https or *"))),
        };
        if rest.contains('/') || rest.contains('?') {
            return Err(bad("a pattern names a host, not a path"));
        }
        let (host, port) = split_host_port(rest).map_err(|e| bad(&e))?;
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            HostPart::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            HostPart::Suffix(format!(".{suffix}"))
        } else if host.is_empty() || host.contains('*') {
            return Err(bad(
                "the host is empty or has a `*` other than a leading `*.`",
            ));
        } else {
            HostPart::Is(host)
        };
        let port = match (port, &scheme) {
            (Some("*"), _) => Part::Any,
            (Some(p), _) => {
                let n: u16 = p
                    .parse()
                    .map_err(|_| bad(&format!("port `{p}` is not a number or *")))?;
                Part::Is(n.to_string())
            }
            (None, Part::Is(s)) => Part::Is(if s == "https" { "443" } else { "80" }.into()),
            (None, Part::Any) => return Err(bad("with scheme `*`, give a port (or `:*`)")),
        };
        Ok(HostPattern {
            scheme,
            host,
            port,
            text: text.to_owned(),
        })
    }

    /// `Some(exact)` when `target` fits; `exact` says the host was named
    /// literally, which is what lets a request reach an internal address.
    fn fits(&self, target: &Target) -> Option<bool> {
        let part = |p: &Part, v: &str| matches!(p, Part::Any) || matches!(p, Part::Is(x) if x == v);
        if !part(&self.scheme, &target.scheme) || !part(&self.port, &target.port.to_string()) {
            return None;
        }
        match &self.host {
            HostPart::Any => Some(false),
            HostPart::Suffix(s) => target.host.ends_with(s.as_str()).then_some(false),
            HostPart::Is(h) => (*h == target.host).then_some(true),
        }
    }
}

fn split_host_port(s: &str) -> Result<(&str, Option<&str>), String> {
    // `[::1]:8080` and `[::1]`
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("an IPv6 host lacks its `]`")?;
        return match after {
            "" => Ok((host, None)),
            p => p
                .strip_prefix(':')
                .map(|p| (host, Some(p)))
                .ok_or_else(|| "junk after the IPv6 host".to_string()),
        };
    }
    Ok(match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    })
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for HostPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        HostPattern::parse(&text).map_err(de::Error::custom)
    }
}

/// Where a request goes, as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub scheme: String,
    /// Lower case; an IPv6 address without brackets.
    pub host: String,
    pub port: u16,
}

impl Target {
    pub fn from_uri(uri: &http::Uri) -> Option<Target> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(match scheme.as_str() {
            "https" => 443,
            _ => 80,
        });
        Some(Target {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// Why a request was refused; the operator's log gets the whole sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("{0} is not in the skill's allow.http list")]
    NotAllowed(Target),
    #[error(
        "{target} resolves to {ip}, an internal address; only a pattern naming the host exactly (not a wildcard) may reach one"
    )]
    Internal { target: Target, ip: IpAddr },
}

/// A skill's outbound HTTP grants.
#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    patterns: Vec<HostPattern>,
}

/// The verdict on a request before its host is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Allowed by a wildcard: public addresses only.
    PublicOnly,
    /// Allowed by a pattern naming this host: any address it resolves to.
    Named,
}

impl OutboundPolicy {
    pub fn new(patterns: Vec<HostPattern>) -> Self {
        OutboundPolicy { patterns }
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    pub fn check(&self, target: &Target) -> Result<Grant, Denied> {
        let mut grant = None;
        for p in &self.patterns {
            match p.fits(target) {
                Some(true) => return Ok(Grant::Named),
                Some(false) => grant = Some(Grant::PublicOnly),
                None => {}
            }
        }
        grant.ok_or_else(|| Denied::NotAllowed(target.clone()))
    }

    /// The second check, on each address the host resolved to.
    pub fn check_address(grant: Grant, target: &Target, ip: IpAddr) -> Result<(), Denied> {
        if grant == Grant::PublicOnly && is_internal(ip) {
            return Err(Denied::Internal {
                target: target.clone(),
                ip,
            });
        }
        Ok(())
    }
}

/// Why a granted request has nowhere it may go.
#[derive(Debug, thiserror::Error)]
pub enum Unreachable {
    #[error("resolving {0} took over {DNS_TIMEOUT:?}")]
    DnsTimeout(String),
    #[error("cannot resolve {host}")]
    NotFound {
        host: String,
        #[source]
        error: std::io::Error,
    },
    #[error("{0} resolves to no address")]
    NoAddress(String),
    #[error(transparent)]
    Denied(#[from] Denied),
}

/// Resolves `target`'s host and checks every address it gives under
/// `grant`: one address that may not be reached refuses them all, since the
/// client may try any of them. Skills' HTTP and notification webhooks both
/// come here, so the internal-address rule cannot differ between them.
pub async fn resolve(grant: Grant, target: &Target) -> Result<Vec<SocketAddr>, Unreachable> {
    let host = target.host.as_str();
    let addrs: Vec<SocketAddr> =
        tokio::time::timeout(DNS_TIMEOUT, tokio::net::lookup_host((host, target.port)))
            .await
            .map_err(|_| Unreachable::DnsTimeout(host.to_owned()))?
            .map_err(|error| Unreachable::NotFound {
                host: host.to_owned(),
                error,
            })?
            .collect();
    if addrs.is_empty() {
        return Err(Unreachable::NoAddress(host.to_owned()));
    }
    for addr in &addrs {
        OutboundPolicy::check_address(grant, target, addr.ip())?;
    }
    Ok(addrs)
}

/// Addresses a wildcard grant must never reach: this machine, private
/// networks, link-local (cloud metadata services live there), and the like.
/// An IPv6 address that carries an IPv4 one (mapped, compatible, NAT64,
/// 6to4, Teredo) is judged by the IPv4 address it carries: where such a
/// prefix routes, the packet ends up at that IPv4 host.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v6(v6: Ipv6Addr) -> bool {
    let s = v6.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if let Some(embedded) = embedded_v4(&s) {
        return embedded.iter().any(|&(hi, lo)| is_internal_v4(v4(hi, lo)));
    }
    let first = s[0];
    v6.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated, still routed inside)
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // local-use NAT64 64:ff9b:1::/48 (RFC 8215)
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard-only 100::/64
        || (s[0] == 0x2001 && s[1] < 0x0200) // IETF protocol assignments 2001::/23 (Teredo is above)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation 2001:db8::/32
}

/// The IPv4 address(es) an IPv6 address embeds, by the prefix that says so.
fn embedded_v4(s: &[u16; 8]) -> Option<Vec<(u16, u16)>> {
    match s {
        // IPv4-compatible ::a.b.c.d (deprecated), which also covers :: and ::1
        // (0.0.0.0 and 0.0.0.1, both in "this network").
        [0, 0, 0, 0, 0, 0, hi, lo] => Some(vec![(*hi, *lo)]),
        // IPv4-mapped ::ffff:a.b.c.d
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => Some(vec![(*hi, *lo)]),
        // IPv4-translated ::ffff:0:a.b.c.d (SIIT)
        [0, 0, 0, 0, 0xffff, 0, hi, lo] => Some(vec![(*hi, *lo)]),
        // NAT64 well-known prefix 64:ff9b::/96
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(vec![(*hi, *lo)]),
        // 6to4 2002:AABB:CCDD::/48
        [0x2002, hi, lo, ..] => Some(vec![(*hi, *lo)]),
        // Teredo 2001:0::/32: the server in bits 32..64, the client (the
        // destination) in the last 32 bits, inverted.
        [0x2001, 0, shi, slo, _, _, chi, clo] => Some(vec![(*shi, *slo), (!*chi, !*clo)]),
        _ => None,
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT 100.64/10
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18/15
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0/24
        || (a == 192 && b == 0 && c == 2) // documentation TEST-NET-1
        || (a == 198 && b == 51 && c == 100) // documentation TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // documentation TEST-NET-3
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast (deprecated)
        || a >= 240 // reserved
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(s: &str) -> Target {
        Target::from_uri(&s.parse().unwrap()).unwrap()
    }

    fn policy(patterns: &[&str]) -> OutboundPolicy {
        OutboundPolicy::new(
            patterns
                .iter()
                .map(|p| HostPattern::parse(p).unwrap())
                .collect(),
        )
    }

    #[test]
    fn patterns_match_scheme_host_and_port() {
        let p = policy(&["https://api.example.com", "http://*.internal.test:8080"]);
        assert_eq!(
            p.check(&target("https://api.example.com/x")),
            Ok(Grant::Named)
        );
        assert!(
            p.check(&target("http://api.example.com/x")).is_err(),
            "scheme"
        );
        assert!(
            p.check(&target("https://api.example.com:8443/")).is_err(),
            "port"
        );
        assert_eq!(
            p.check(&target("http://prom.internal.test:8080/")),
            Ok(Grant::PublicOnly)
        );
        assert!(p.check(&target("http://internal.test:8080/")).is_err());
        assert!(p.check(&target("https://evil.com/")).is_err());
    }

    #[test]
    fn only_named_hosts_reach_internal_addresses() {
        let p = policy(&["http://*:*", "http://127.0.0.1:9090"]);
        let named = p.check(&target("http://127.0.0.1:9090/")).unwrap();
        assert_eq!(named, Grant::Named);
        let loopback = "127.0.0.1".parse().unwrap();
        assert!(
            OutboundPolicy::check_address(named, &target("http://127.0.0.1:9090/"), loopback)
                .is_ok()
        );
        let wild = p.check(&target("http://127.0.0.1:22/")).unwrap();
        let e = OutboundPolicy::check_address(wild, &target("http://127.0.0.1:22/"), loopback)
            .unwrap_err();
        assert!(e.to_string().contains("internal address"), "{e}");
    }

    #[test]
    fn internal_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "192.0.2.7",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::",
            "100::1",
            "2001:db8::1",
            "2001:2::1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    /// Each IPv6 form that carries an IPv4 address is judged by that address:
    /// loopback, private and metadata addresses inside it are internal, a
    /// public one is not. The policy is tested directly; nothing is sent.
    #[test]
    fn ipv6_forms_that_embed_ipv4_are_judged_by_it() {
        type Embed = fn(Ipv4Addr) -> Ipv6Addr;
        let forms: [(&str, Embed); 6] = [
            ("mapped", |v4| v4.to_ipv6_mapped()),
            ("compatible", |v4| v4.to_ipv6_compatible()),
            ("translated", |v4| {
                let [a, b, c, d] = v4.octets();
                Ipv6Addr::new(
                    0,
                    0,
                    0,
                    0,
                    0xffff,
                    0,
                    u16::from_be_bytes([a, b]),
                    u16::from_be_bytes([c, d]),
                )
            }),
            ("nat64", |v4| {
                let [a, b, c, d] = v4.octets();
                Ipv6Addr::new(
                    0x64,
                    0xff9b,
                    0,
                    0,
                    0,
                    0,
                    u16::from_be_bytes([a, b]),
                    u16::from_be_bytes([c, d]),
                )
            }),
            ("6to4", |v4| {
                let [a, b, c, d] = v4.octets();
                Ipv6Addr::new(
                    0x2002,
                    u16::from_be_bytes([a, b]),
                    u16::from_be_bytes([c, d]),
                    0,
                    0,
                    0,
                    0,
                    1,
                )
            }),
            ("teredo client", |v4| {
                let [a, b, c, d] = v4.octets();
                // A public server (8.8.8.8), the client inverted in the last 32 bits.
                Ipv6Addr::new(
                    0x2001,
                    0,
                    0x0808,
                    0x0808,
                    0,
                    0,
                    !u16::from_be_bytes([a, b]),
                    !u16::from_be_bytes([c, d]),
                )
            }),
        ];
        for (form, make) in forms {
            for inside in [
                "127.0.0.1",
                "10.0.0.5",
                "169.254.169.254",
                "192.168.0.1",
                "100.64.1.1",
            ] {
                let ip = IpAddr::V6(make(inside.parse().unwrap()));
                assert!(
                    is_internal(ip),
                    "{form} of {inside} ({ip}) must be internal"
                );
            }
            let ip = IpAddr::V6(make("93.184.216.34".parse().unwrap()));
            assert!(
                !is_internal(ip),
                "{form} of a public address ({ip}) is public"
            );
        }
        // A Teredo address whose server is internal is refused too.
        assert!(is_internal("2001:0:7f00:1::1".parse().unwrap()));
        // Local-use NAT64 is internal whatever it embeds.
        assert!(is_internal("64:ff9b:1::5db8:d822".parse().unwrap()));
    }

    #[test]
    fn bad_patterns_say_why() {
        for (p, why) in [
            ("example.com", "scheme://host"),
            ("ftp://example.com", "scheme `ftp`"),
            ("https://example.com/path", "not a path"),
            ("*://example.com", "give a port"),
            ("https://ex*ample.com", "leading `*.`"),
            ("https://example.com:http", "port `http`"),
        ] {
            let e = HostPattern::parse(p).unwrap_err();
            assert!(e.contains(why), "{p}: {e}");
        }
        assert!(HostPattern::parse("http://[::1]:8080").is_ok());
    }
}
