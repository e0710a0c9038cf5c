//! `web:`: the bot's HTTP server: where it listens, HTTPS, and its budget:
//! how long each step of a request may take, how many connections it holds
//! (in total and from one client address), how many body bytes it buffers
//! at once, and which names (`Host`) and pages (`Origin`) it answers, so a
//! page on another site cannot drive a bot on loopback (DNS rebinding).
//!
//! ```yaml
//! web:
//!   host: 127.0.0.1
//!   port: 8080
//!   header-timeout: 10s         # a request's head must arrive within this
//!   body-timeout: 30s           # and its body within this
//!   handshake-timeout: 10s      # a TLS handshake
//!   idle-timeout: 5s            # nothing moving, no request being answered
//!   max-connections: 512        # at most half the open-file limit by default
//!   max-connections-per-client: 256   # default: half of max-connections
//!   max-bodies-in-flight: 32MiB # request bodies buffered, all together
//!   allowed-hosts: [bot.example.com]            # besides loopback's and `host`
//!   allowed-origins: ['https://ops.example.com'] # besides the server's own
//! ```

use crate::limits::{ByteSize, HumanDuration};
use serde::{Deserialize, Deserializer, de};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WebSettings {
    /// The address to listen on; loopback unless said otherwise.
    #[serde(default = "default_host")]
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    /// A PEM certificate chain and key: with both, the server speaks HTTPS.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// A request's head (its line and headers) must arrive whole within
    /// this, counted from when the connection is ready for it.
    #[serde(default = "default_header_timeout")]
    pub header_timeout: HumanDuration,
    /// A request's body must arrive whole within this once it is read.
    #[serde(default = "default_body_timeout")]
    pub body_timeout: HumanDuration,
    /// A TLS handshake must be done within this.
    #[serde(default = "default_handshake_timeout")]
    pub handshake_timeout: HumanDuration,
    /// A connection on which nothing moves while no request is being
    /// answered (kept alive, or not reading its answer) is closed after this.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: HumanDuration,
    /// Connections open at once [default: 512, at most half the open-file
    /// limit]; past it a new connection is closed at once.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Connections open at once from one client address [default: half of
    /// `max-connections`].
    #[serde(default)]
    pub max_connections_per_client: Option<usize>,
    /// Request bodies held in memory at once, all requests together; past
    /// it a request is answered 503.
    #[serde(default = "default_max_bodies_in_flight")]
    pub max_bodies_in_flight: ByteSize,
    /// Names the server answers to (the `Host` header) besides loopback's,
    /// IP addresses and `host`; `*` for any.
    #[serde(default, deserialize_with = "host_names")]
    pub allowed_hosts: Vec<String>,
    /// Origins (`https://name[:port]`) whose pages may call the server
    /// besides its own; `*` for any.
    #[serde(default, deserialize_with = "origins")]
    pub allowed_origins: Vec<Origin>,
}

impl WebSettings {
    /// Is the server reachable from this machine only?
    pub fn loopback_only(&self) -> bool {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            host: default_host(),
            port: default_port(),
            cert: None,
            key: None,
            header_timeout: default_header_timeout(),
            body_timeout: default_body_timeout(),
            handshake_timeout: default_handshake_timeout(),
            idle_timeout: default_idle_timeout(),
            max_connections: None,
            max_connections_per_client: None,
            max_bodies_in_flight: default_max_bodies_in_flight(),
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
        }
    }
}

/// `max-connections` when the configuration gives none (and the open-file
/// limit allows it).
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

fn default_host() -> String {
    "127.0.0.1".into()
}
fn default_port() -> u16 {
    8080
}
fn default_header_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}
fn default_body_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}
fn default_handshake_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(10))
}
fn default_idle_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}
fn default_max_bodies_in_flight() -> ByteSize {
    ByteSize(32 << 20)
}

/// A host name as the `Host` header and `allowed-hosts` compare: lower
/// case, without a trailing dot or IPv6 brackets.
pub fn normal_host(name: &str) -> String {
    let name = name.trim().trim_end_matches('.');
    let name = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    name.to_ascii_lowercase()
}

fn host_names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    names
        .iter()
        .map(|name| {
            let bracketed = name.starts_with('[') && name.ends_with(']');
            let bad = name.is_empty()
                || name.contains("://")
                || name.contains(['/', ' ', ','])
                || (name.contains(':')
                    && !bracketed
                    && name.parse::<std::net::Ipv6Addr>().is_err());
            if bad {
                Err(de::Error::custom(format!(
                    "allowed-hosts: `{name}` is not a host name such as bot.example.com (no scheme, path or port)"
                )))
            } else {
                Ok(normal_host(name))
            }
        })
        .collect()
}

/// A web origin, `scheme://host:port`, as browsers send it in `Origin`,
/// with the port filled in from the scheme when it is not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `*` in `allowed-origins`: any page.
    Any,
    Site {
        scheme: String,
        host: String,
        port: u16,
    },
}

impl Origin {
    /// Reads `http(s)://host[:port]` (a trailing `/` is tolerated); `None`
    /// for anything else, `null` included.
    pub fn parse(text: &str) -> Option<Origin> {
        let text = text.trim();
        let (scheme, rest) = text.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            _ => return None,
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
            return None;
        }
        let (host, port) = split_host_port(authority)?;
        let port = match port {
            Some(p) => p.parse().ok()?,
            None => default_port,
        };
        Some(Origin::Site {
            scheme,
            host: normal_host(host),
            port,
        })
    }
}

/// `name:port`, `[v6]:port`, `name` or `[v6]`: the host and the port text.
pub fn split_host_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        return Some((&authority[..v6.len() + 2], port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Some((host, Some(port))),
        Some(_) => None,
        None => Some((authority, None)),
    }
}

fn origins<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Origin>, D::Error> {
    let texts = Vec::<String>::deserialize(d)?;
    texts
        .iter()
        .map(|text| match text.trim() {
            "*" => Ok(Origin::Any),
            t => Origin::parse(t).ok_or_else(|| {
                de::Error::custom(format!(
                    "allowed-origins: `{text}` is not an origin such as https://ops.example.com or http://localhost:3000"
                ))
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use std::path::Path;

    #[test]
    fn origins_are_read_with_their_port() {
        let site = |scheme: &str, host: &str, port| Origin::Site {
            scheme: scheme.into(),
            host: host.into(),
            port,
        };
        assert_eq!(
            Origin::parse("https://Ops.Example.com"),
            Some(site("https", "ops.example.com", 443))
        );
        assert_eq!(
            Origin::parse("http://127.0.0.1:8080/"),
            Some(site("http", "127.0.0.1", 8080))
        );
        assert_eq!(
            Origin::parse("http://[::1]:3000"),
            Some(site("http", "::1", 3000))
        );
        for bad in [
            "null",
            "file://",
            "ftp://x",
            "http://x/path",
            "http://a:b",
            "x.com",
        ] {
            assert_eq!(Origin::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_budget_has_defaults_and_names_are_checked_at_load() {
        let c = parse("web: {}\n", Path::new("/c.yaml")).unwrap();
        let web = c.web.unwrap();
        assert_eq!(web.header_timeout.0, Duration::from_secs(10));
        assert_eq!(web.idle_timeout.0, Duration::from_secs(5));
        assert_eq!(web.max_bodies_in_flight.0, 32 << 20);
        assert_eq!(web.max_connections, None);
        let c = parse(
            "web: {allowed-hosts: [Bot.Example.com., '[::1]'], allowed-origins: ['https://ops.example.com', '*'], max-connections: 9}\n",
            Path::new("/c.yaml"),
        )
        .unwrap();
        let web = c.web.unwrap();
        assert_eq!(web.allowed_hosts, ["bot.example.com", "::1"]);
        assert_eq!(web.allowed_origins[1], Origin::Any);
        assert_eq!(web.max_connections, Some(9));
        let e = parse(
            "web:\n  allowed-origins: [ops.example.com]\n",
            Path::new("/c.yaml"),
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("/c.yaml:2:")
                && e.message.contains("`ops.example.com` is not an origin"),
            "{e}"
        );
        let e = parse(
            "web: {allowed-hosts: ['https://bot.example.com']}\n",
            Path::new("/c.yaml"),
        )
        .unwrap_err();
        assert!(e.message.contains("is not a host name"), "{e}");
    }
}
