//! Which requests the server answers at all: those addressed to one of its
//! names (`Host`) and, when a browser says where the request comes from,
//! sent by one of its own pages or an allowed one (`Origin`). A page on
//! another site that makes its own name resolve to 127.0.0.1 (DNS
//! rebinding) sends that name as `Host`; a page that posts across sites
//! sends its own `Origin`: both are refused with 403 and a one-line reason
//! before any route runs.
//!
//! The names: IP addresses (a rebinding needs a DNS name), `localhost` and
//! `*.localhost`, the configured `host`, and `allowed-hosts`. The origins:
//! the server's own (the `Origin`'s name and port are the `Host`'s) and
//! `allowed-origins`. A request without `Origin` is not from a browser's
//! cross-site page and is not checked for it; nor is one without `Host`.

use crate::config::{Origin, WebSettings, normal_host, split_host_port};
use crate::text::for_log;
use axum::http::{HeaderMap, header};

pub struct Names {
    /// Names besides IP addresses and loopback's, normalised.
    hosts: Vec<String>,
    any_host: bool,
    origins: Vec<Origin>,
    any_origin: bool,
}

impl Names {
    pub fn new(settings: &WebSettings) -> Names {
        let mut hosts = settings.allowed_hosts.clone();
        hosts.push(normal_host(&settings.host));
        Names {
            any_host: hosts.iter().any(|h| h == "*"),
            hosts,
            any_origin: settings.allowed_origins.contains(&Origin::Any),
            origins: settings.allowed_origins.clone(),
        }
    }

    /// `Ok`, or the reason to refuse the request.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), String> {
        let host = match headers.get(header::HOST) {
            None => None,
            Some(value) => {
                let text = value.to_str().unwrap_or_default();
                let Some((name, port)) = split_host_port(text.trim()) else {
                    return Err(format!("the Host `{}` is not a host name", for_log(text)));
                };
                let name = normal_host(name);
                if !self.is_mine(&name) {
                    return Err(format!(
                        "the Host `{}` is not a name of this server (web.allowed-hosts)",
                        for_log(text)
                    ));
                }
                Some((name, port.and_then(|p| p.parse::<u16>().ok())))
            }
        };
        let Some(value) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let text = value.to_str().unwrap_or_default();
        let refused = || {
            Err(format!(
                "the Origin `{}` is not this server's or in web.allowed-origins",
                for_log(text)
            ))
        };
        if self.any_origin {
            return Ok(());
        }
        let Some(origin) = Origin::parse(text) else {
            return refused();
        };
        if self.origins.contains(&origin) {
            return Ok(());
        }
        let Origin::Site {
            host: origin_host,
            port: origin_port,
            ..
        } = &origin
        else {
            return refused();
        };
        // Same origin: the page came from this name (and port, when the
        // `Host` says one: without, the client used its scheme's default).
        match host {
            Some((name, port))
                if name == *origin_host && port.is_none_or(|p| p == *origin_port) =>
            {
                Ok(())
            }
            _ => refused(),
        }
    }

    fn is_mine(&self, name: &str) -> bool {
        self.any_host
            || name.parse::<std::net::IpAddr>().is_ok()
            || name == "localhost"
            || name.ends_with(".localhost")
            || self.hosts.iter().any(|h| h == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(yaml: &str) -> Names {
        let c = crate::config::parse(yaml, std::path::Path::new("/c.yaml")).unwrap();
        Names::new(&c.web.unwrap())
    }

    fn check(names: &Names, pairs: &[(&str, &str)]) -> Result<(), String> {
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        names.check(&headers)
    }

    #[test]
    fn loopback_names_and_the_servers_own_pages_pass() {
        let n = names("web: {port: 8080}\n");
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "[::1]:8080",
            "10.1.2.3",
            "LOCALHOST",
        ] {
            assert_eq!(check(&n, &[("host", host)]), Ok(()), "{host}");
        }
        assert_eq!(check(&n, &[]), Ok(()), "no Host: not a browser");
        assert_eq!(
            check(
                &n,
                &[
                    ("host", "127.0.0.1:8080"),
                    ("origin", "http://127.0.0.1:8080")
                ]
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &n,
                &[("host", "localhost"), ("origin", "https://localhost")]
            ),
            Ok(()),
            "a Host without a port: the scheme's default"
        );
    }

    #[test]
    fn a_rebound_name_and_a_foreign_page_are_refused() {
        let n = names("web: {port: 8080}\n");
        assert_eq!(
            check(&n, &[("host", "evil.example:8080")]).unwrap_err(),
            "the Host `evil.example:8080` is not a name of this server (web.allowed-hosts)"
        );
        for origin in [
            "http://evil.example",
            "http://127.0.0.1:3000",
            "http://localhost:8080",
            "null",
        ] {
            let refused = check(&n, &[("host", "127.0.0.1:8080"), ("origin", origin)]);
            assert_eq!(
                refused.unwrap_err(),
                format!("the Origin `{origin}` is not this server's or in web.allowed-origins")
            );
        }
    }

    #[test]
    fn allowed_names_and_origins_are_added() {
        let n = names(
            "web: {host: 0.0.0.0, allowed-hosts: [bot.example.com], allowed-origins: ['https://ops.example.com']}\n",
        );
        assert_eq!(check(&n, &[("host", "Bot.Example.com")]), Ok(()));
        assert_eq!(
            check(
                &n,
                &[
                    ("host", "bot.example.com"),
                    ("origin", "https://ops.example.com")
                ]
            ),
            Ok(())
        );
        assert!(check(&n, &[("host", "other.example.com")]).is_err());
        let any = names("web: {allowed-hosts: ['*'], allowed-origins: ['*']}\n");
        assert_eq!(
            check(&any, &[("host", "x.example"), ("origin", "null")]),
            Ok(())
        );
    }
}
