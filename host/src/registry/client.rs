//! The part of the OCI distribution API a skill needs: manifests by tag or
//! digest, blobs by digest, monolithic uploads. Every manifest and blob is
//! checked against its digest before anything reads it, and read bounded.
//! A registry is reached under the rule skills' HTTP has
//! ([`crate::outbound`]): an internal address only for a registry named
//! under `registries:`; plain HTTP only to loopback, HTTPS otherwise; no
//! proxy, no redirects; the connection goes to the addresses just checked.
//! Credentials go only to their registry (and its token realm: see
//! [`super::auth`]) and are never logged. A registry that answers 401 with
//! a Bearer challenge is asked again with a token for the repository's
//! scope (`pull`, or `pull,push` for a push), kept per scope for the
//! client's life; a 401 to a fresh token is an error, not a loop.

use super::auth::{self, Token};
use super::reference::{Reference, digest_of};
use crate::config::{Registries, RegistrySettings};
use crate::outbound::{self, Grant, Target};
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The largest manifest read.
const MAX_MANIFEST: u64 = 4 << 20;
const TIMEOUT: Duration = Duration::from_secs(120);

pub struct Registry {
    /// `http://127.0.0.1:5000` or `https://ghcr.io`.
    base: String,
    name: String,
    client: reqwest::Client,
    basic: Option<(String, crate::config::Secret)>,
    /// The `registries:` keys, which may name the token realm too.
    named: Vec<String>,
    /// Bearer tokens by scope (`repository:NAME:pull`).
    tokens: Mutex<HashMap<String, Token>>,
}

/// What a request does to a repository, and so the scope its token needs.
#[derive(Clone, Copy)]
enum Access {
    Pull,
    Push,
}

impl Registry {
    /// Connects to `reference`'s registry; its entry under `registries:`,
    /// if it has one, is what lets it be internal and gives credentials.
    pub async fn connect(
        reference: &Reference,
        registries: Option<&Registries>,
    ) -> Result<Registry> {
        let settings: Option<&RegistrySettings> =
            registries.and_then(|r| r.get(&reference.registry));
        let (host, port) = match reference.registry.rsplit_once(':') {
            Some((h, p)) => (h.to_ascii_lowercase(), p.parse::<u16>().ok()),
            None => (reference.registry.to_ascii_lowercase(), None),
        };
        // The scheme is decided by the addresses, so look them up first,
        // under the outbound rule: a name not under `registries:` may not
        // lead to an internal address.
        let probe = Target {
            scheme: "https".into(),
            host: host.clone(),
            port: port.unwrap_or(443),
        };
        let grant = if settings.is_some() {
            Grant::Named
        } else {
            Grant::PublicOnly
        };
        let addrs = outbound::resolve(grant, &probe).await.with_context(|| {
            format!(
                "registry {}: (a registry at an internal address must be named under `registries:`)",
                reference.registry
            )
        })?;
        let loopback = addrs.iter().all(|a| a.ip().is_loopback());
        let (scheme, default_port) = if loopback {
            ("http", 80)
        } else {
            ("https", 443)
        };
        let port = port.unwrap_or(default_port);
        let addrs: Vec<_> = addrs
            .into_iter()
            .map(|a| std::net::SocketAddr::new(a.ip(), port))
            .collect();
        let client = auth::pinned_client(&host, &addrs, TIMEOUT)?;
        let shown_host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        let basic = settings.and_then(|s| match (&s.username, &s.password) {
            (Some(u), Some(p)) => Some((u.clone(), p.clone())),
            (Some(u), None) => Some((u.clone(), Default::default())),
            _ => None,
        });
        Ok(Registry {
            base: format!("{scheme}://{shown_host}:{port}"),
            name: reference.registry.clone(),
            client,
            basic,
            named: registries
                .map(|r| r.keys().map(|k| k.to_ascii_lowercase()).collect())
                .unwrap_or_default(),
            tokens: Mutex::new(HashMap::new()),
        })
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.client.request(method, url)
    }

    /// Sends `request` (about `repo`; `what` names it in errors) with the
    /// token this scope has, or the Basic credentials; on a Bearer
    /// challenge, once more with a fresh token.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        repo: &str,
        access: Access,
        what: &str,
    ) -> Result<reqwest::Response> {
        let scope = format!(
            "repository:{repo}:{}",
            match access {
                Access::Pull => "pull",
                Access::Push => "pull,push",
            }
        );
        let cached = self
            .tokens
            .lock()
            .unwrap()
            .get(&scope)
            .filter(|t| t.is_fresh())
            .map(|t| t.value().to_owned());
        let first = request
            .try_clone()
            .context("a request that cannot be sent twice")?;
        let first = match &cached {
            Some(token) => first.bearer_auth(token),
            None => match &self.basic {
                Some((user, password)) => first.basic_auth(user, Some(password.expose())),
                None => first,
            },
        };
        let response = first
            .send()
            .await
            .with_context(|| format!("{what} on {}", self.name))?;
        if response.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let Some(challenge) = response
            .headers()
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(auth::parse_challenge)
        else {
            return Ok(response);
        };
        let token = auth::fetch_token(
            &self.name,
            &challenge,
            &scope,
            self.basic.as_ref(),
            &self.named,
        )
        .await?;
        let value = token.value().to_owned();
        self.tokens.lock().unwrap().insert(scope.clone(), token);
        let response = request
            .bearer_auth(&value)
            .send()
            .await
            .with_context(|| format!("{what} on {}", self.name))?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED {
            self.tokens.lock().unwrap().remove(&scope);
            bail!(
                "{}: {what}: the registry refused (401 Unauthorized) the fresh token its token service gave for {scope}: the account may not {}",
                self.name,
                match access {
                    Access::Pull => "pull from it",
                    Access::Push => "push to it",
                }
            );
        }
        Ok(response)
    }

    /// The manifest at `target` (a tag or a digest) and its digest, checked:
    /// by digest, the bytes must hash to it; by tag, to what the registry
    /// says (`Docker-Content-Digest`) when it says. `None` when absent.
    pub async fn manifest(&self, repo: &str, target: &str) -> Result<Option<(Vec<u8>, String)>> {
        let url = format!("{}/v2/{repo}/manifests/{target}", self.base);
        let request = self
            .request(reqwest::Method::GET, &url)
            .header(reqwest::header::ACCEPT, OCI_MANIFEST);
        let response = self
            .send(request, repo, Access::Pull, &format!("GET {repo}:{target}"))
            .await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let said = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = self
            .body(response, MAX_MANIFEST, &format!("manifest {repo}:{target}"))
            .await?;
        let digest = digest_of(&bytes);
        if target.starts_with("sha256:") && digest != target {
            bail!(
                "{}: the manifest {repo}@{target} the registry sent hashes to {digest}: refused",
                self.name
            );
        }
        if let Some(said) = said
            && said != digest
        {
            bail!(
                "{}: the manifest {repo}:{target} hashes to {digest}, not to the {said} the registry says: refused",
                self.name
            );
        }
        Ok(Some((bytes, digest)))
    }

    /// The blob `digest`, at most `max` bytes, checked against its digest.
    pub async fn blob(&self, repo: &str, digest: &str, max: u64) -> Result<Vec<u8>> {
        super::reference::check_digest(digest).map_err(anyhow::Error::msg)?;
        let url = format!("{}/v2/{repo}/blobs/{digest}", self.base);
        let request = self.request(reqwest::Method::GET, &url);
        let response = self
            .send(request, repo, Access::Pull, &format!("GET blob {digest}"))
            .await?;
        let bytes = self.body(response, max, &format!("blob {digest}")).await?;
        let got = digest_of(&bytes);
        if got != digest {
            bail!(
                "{}: blob {digest} of {repo} hashes to {got}: tampered with or damaged; refused",
                self.name
            );
        }
        Ok(bytes)
    }

    async fn body(&self, mut response: reqwest::Response, max: u64, what: &str) -> Result<Vec<u8>> {
        let status = response.status();
        if !status.is_success() {
            let hint = match status.as_u16() {
                401 | 403 => " (credentials: `registries.<host>.username` and `password`)",
                300..=399 => " (redirects are not followed)",
                _ => "",
            };
            bail!(
                "{}: {what}: the registry answered {status}{hint}",
                self.name
            );
        }
        if response.content_length().is_some_and(|n| n > max) {
            bail!("{}: {what} is larger than {max} bytes: refused", self.name);
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .with_context(|| format!("{}: reading {what}", self.name))?
        {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > max {
                bail!("{}: {what} is larger than {max} bytes: refused", self.name);
            }
        }
        Ok(bytes)
    }

    /// Uploads `bytes` as a blob (unless the registry has it); its digest.
    pub async fn push_blob(&self, repo: &str, bytes: Vec<u8>) -> Result<String> {
        let digest = digest_of(&bytes);
        let request = self.request(
            reqwest::Method::HEAD,
            &format!("{}/v2/{repo}/blobs/{digest}", self.base),
        );
        let head = self
            .send(request, repo, Access::Push, &format!("HEAD blob {digest}"))
            .await?;
        if head.status().is_success() {
            return Ok(digest);
        }
        let request = self.request(
            reqwest::Method::POST,
            &format!("{}/v2/{repo}/blobs/uploads/", self.base),
        );
        let start = self
            .send(
                request,
                repo,
                Access::Push,
                &format!("starting an upload to {repo}"),
            )
            .await?;
        if start.status() != reqwest::StatusCode::ACCEPTED {
            bail!(
                "{}: starting an upload to {repo} was answered {}",
                self.name,
                start.status()
            );
        }
        let location = start
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .context("the registry gave no upload location")?;
        let location = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else if location.starts_with(&self.base) {
            location.to_owned()
        } else {
            bail!(
                "{}: the upload location {location} is on another host: refused",
                self.name
            );
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let request = self
            .request(
                reqwest::Method::PUT,
                &format!("{location}{sep}digest={digest}"),
            )
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes::Bytes::from(bytes));
        let put = self
            .send(request, repo, Access::Push, &format!("uploading {digest}"))
            .await?;
        if put.status() != reqwest::StatusCode::CREATED {
            bail!(
                "{}: uploading {digest} was answered {}",
                self.name,
                put.status()
            );
        }
        Ok(digest)
    }

    /// Puts a manifest under `tag`; its digest.
    pub async fn push_manifest(&self, repo: &str, tag: &str, bytes: Vec<u8>) -> Result<String> {
        let digest = digest_of(&bytes);
        let request = self
            .request(
                reqwest::Method::PUT,
                &format!("{}/v2/{repo}/manifests/{tag}", self.base),
            )
            .header(reqwest::header::CONTENT_TYPE, OCI_MANIFEST)
            .body(bytes);
        let put = self
            .send(
                request,
                repo,
                Access::Push,
                &format!("putting the manifest {repo}:{tag}"),
            )
            .await?;
        let status = put.status();
        if status != reqwest::StatusCode::CREATED {
            let body = put.text().await.unwrap_or_default();
            bail!(
                "{}: putting the manifest {repo}:{tag} was answered {status}: {}",
                self.name,
                crate::text::for_log(&body.chars().take(300).collect::<String>())
            );
        }
        Ok(digest)
    }
}
