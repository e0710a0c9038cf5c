//! The Docker token flow, which every public registry speaks (GHCR, Docker
//! Hub, GitLab, Harbor, and distribution with `auth: token`): a request
//! answered 401 with `WWW-Authenticate: Bearer realm="…",service="…"` is
//! retried with `Authorization: Bearer TOKEN`, the token got from
//! `realm?service=…&scope=repository:NAME:pull[,push]`, sending the
//! registry's Basic credentials to the realm when it has some (anonymously
//! otherwise). The realm is reached under the registry's own rule
//! ([`crate::outbound`]): an internal realm only when it is itself named
//! under `registries:`, plain HTTP only when every address is loopback, no
//! proxy, no redirects. A token is never printed: it has no `Debug`, and no
//! error carries it or the token service's answer.

use crate::config::Secret;
use crate::outbound::{self, Grant, Target};
use anyhow::{Context, Result, bail};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// The largest token answer read (a JWT with a certificate chain is a few KiB).
const MAX_ANSWER: usize = 256 << 10;
/// Used a little before the token service says it expires.
const MARGIN: Duration = Duration::from_secs(10);
const TIMEOUT: Duration = Duration::from_secs(60);

/// What a `WWW-Authenticate: Bearer` challenge says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub service: Option<String>,
}

/// A bearer token and when to stop using it.
pub struct Token {
    value: String,
    until: Option<Instant>,
}

impl Token {
    pub fn value(&self) -> &str {
        &self.value
    }

    pub fn is_fresh(&self) -> bool {
        self.until.is_none_or(|t| Instant::now() < t)
    }
}

/// The Bearer challenge of a `WWW-Authenticate` value, if it is one:
/// `Bearer realm="https://auth/token",service="registry",scope="…"`
/// (quoted values may hold commas; `\` escapes inside quotes).
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim_start();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                value.push(c);
            }
            value = value.trim().to_owned();
        }
        match key.trim().to_ascii_lowercase().as_str() {
            "realm" => realm = Some(value),
            "service" => service = Some(value),
            _ => {}
        }
    }
    Some(Challenge {
        realm: realm?,
        service,
    })
}

/// An HTTP client for one host that connects only to `addrs` (the ones
/// the outbound rule just checked): no proxy, no redirects.
pub fn pinned_client(
    host: &str,
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<reqwest::Client> {
    let mut client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .user_agent(concat!("sandbot/", env!("CARGO_PKG_VERSION")));
    if host.parse::<IpAddr>().is_err() {
        client = client.resolve_to_addrs(host, addrs);
    }
    client.build().context("building the HTTP client")
}

/// Asks `challenge`'s realm for a token for `scope`, on behalf of registry
/// `registry`. `named` says whether a `host` or `host:port` is named under
/// `registries:` (which is what lets the realm be internal).
pub async fn fetch_token(
    registry: &str,
    challenge: &Challenge,
    scope: &str,
    basic: Option<&(String, Secret)>,
    named: &[String],
) -> Result<Token> {
    let mut url = reqwest::Url::parse(&challenge.realm).with_context(|| {
        format!(
            "registry {registry}: its token realm `{}` is not a URL",
            crate::text::for_log(&challenge.realm)
        )
    })?;
    // Shown in errors: scheme, host, port and path; never a query.
    let shown = format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.port().map(|p| format!(":{p}")).unwrap_or_default()
    ) + url.path();
    let scheme = url.scheme().to_owned();
    if scheme != "https" && scheme != "http" {
        bail!("registry {registry}: its token realm {shown} is neither HTTPS nor HTTP: refused");
    }
    if !url.username().is_empty() || url.password().is_some() {
        bail!("registry {registry}: its token realm carries credentials in its URL: refused");
    }
    let host = url
        .host_str()
        .with_context(|| format!("registry {registry}: its token realm {shown} names no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let port = url
        .port_or_known_default()
        .with_context(|| format!("registry {registry}: its token realm {shown} has no port"))?;
    let authority = match url.port() {
        Some(p) if host.contains(':') => format!("[{host}]:{p}"),
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let grant = if named.iter().any(|n| *n == authority || *n == host) {
        Grant::Named
    } else {
        Grant::PublicOnly
    };
    let target = Target {
        scheme: scheme.clone(),
        host: host.clone(),
        port,
    };
    let addrs = outbound::resolve(grant, &target).await.with_context(|| {
        format!(
            "registry {registry}: its token realm {shown} (a realm at an internal address must itself be named under `registries:`)"
        )
    })?;
    if scheme == "http" && !addrs.iter().all(|a| a.ip().is_loopback()) {
        bail!(
            "registry {registry}: its token realm {shown} is plain HTTP to an address that is not loopback: refused (HTTPS only)"
        );
    }
    {
        let mut query = url.query_pairs_mut();
        if let Some(service) = &challenge.service {
            query.append_pair("service", service);
        }
        query.append_pair("scope", scope);
    }
    let client = pinned_client(&host, &addrs, TIMEOUT)?;
    let mut request = client.get(url);
    if let Some((user, password)) = basic {
        request = request.basic_auth(user, Some(password.expose()));
    }
    let mut response = request.send().await.with_context(|| {
        format!("registry {registry}: asking its token realm {shown} for {scope}")
    })?;
    let status = response.status();
    if !status.is_success() {
        let hint = match status.as_u16() {
            401 | 403 if basic.is_some() => {
                " (wrong credentials? `registries.<host>.username` and `password`)"
            }
            401 | 403 => " (it wants credentials: `registries.<host>.username` and `password`)",
            300..=399 => " (redirects are not followed)",
            _ => "",
        };
        bail!(
            "registry {registry}: its token realm {shown} refused a token for {scope}: {status}{hint}"
        );
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.with_context(|| {
        format!("registry {registry}: reading the answer of its token realm {shown}")
    })? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER {
            bail!(
                "registry {registry}: its token realm {shown} answered more than {MAX_ANSWER} bytes: refused"
            );
        }
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        token: Option<String>,
        access_token: Option<String>,
        expires_in: Option<u64>,
    }
    // The answer holds the token: its parse error is not shown.
    let answer: Answer = serde_json::from_slice(&body).map_err(|_| {
        anyhow::anyhow!("registry {registry}: its token realm {shown} answered something that is not a token's JSON")
    })?;
    let value = answer
        .token
        .filter(|t| !t.is_empty())
        .or(answer.access_token.filter(|t| !t.is_empty()))
        .with_context(|| {
            format!("registry {registry}: its token realm {shown} answered no token")
        })?;
    if value.bytes().any(|b| !b.is_ascii_graphic()) {
        bail!(
            "registry {registry}: its token realm {shown} answered a token that is not one HTTP header word"
        );
    }
    let until = answer
        .expires_in
        .map(|s| Instant::now() + Duration::from_secs(s).saturating_sub(MARGIN));
    Ok(Token { value, until })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_challenge_is_read_with_commas_inside_quotes() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:org/skill:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.realm, "https://auth.example/token");
        assert_eq!(c.service.as_deref(), Some("registry.example"));
        let c =
            parse_challenge(r#"bearer scope="a,b", realm=https://x/t , service="s\"q""#).unwrap();
        assert_eq!(c.realm, "https://x/t");
        assert_eq!(c.service.as_deref(), Some("s\"q"));
        assert_eq!(parse_challenge(r#"Basic realm="x""#), None);
        assert_eq!(parse_challenge(r#"Bearer service="s""#), None);
    }
}
