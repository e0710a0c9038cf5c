//! The webhook channel: a POST of `{"text", "when", "execution"}` (the
//! rendered message, the rule that fired, the whole record) as JSON, under
//! `notifications.allow-http` with the rule skills' HTTP has: the host's
//! every address is checked, and an internal one (loopback, private,
//! link-local) is reached only through a pattern naming the host exactly.
//! No proxy, no redirects: either could take the request somewhere the
//! allow-list never said.

use super::{Deliver, Notice};
use crate::config::{Secret, WebhookUrl};
use crate::outbound::{self, HostPattern, OutboundPolicy, Target};
use anyhow::{Context as _, Result, bail};
use futures::future::BoxFuture;
use indexmap::IndexMap;
use std::net::IpAddr;
use std::time::Duration;

pub(super) struct WebhookSender {
    url: String,
    target: Target,
    headers: reqwest::header::HeaderMap,
    policy: OutboundPolicy,
    timeout: Duration,
}

impl WebhookSender {
    pub(super) fn new(
        url: &WebhookUrl,
        headers: &IndexMap<String, Secret>,
        allow: &[HostPattern],
        timeout: Duration,
    ) -> Result<WebhookSender> {
        let mut map = reqwest::header::HeaderMap::new();
        for (name, value) in headers {
            let name: reqwest::header::HeaderName = name
                .parse()
                .with_context(|| format!("headers: `{name}` is not a header name"))?;
            let mut value: reqwest::header::HeaderValue = value
                .expose()
                .parse()
                .with_context(|| format!("headers.{name}: not a header value"))?;
            value.set_sensitive(true);
            map.insert(name, value);
        }
        Ok(WebhookSender {
            url: url.uri.to_string(),
            target: url.target.clone(),
            headers: map,
            policy: OutboundPolicy::new(allow.to_vec()),
            timeout,
        })
    }

    async fn post(&self, notice: &Notice) -> Result<()> {
        let grant = self.policy.check(&self.target)?;
        let addrs = outbound::resolve(grant, &self.target).await?;
        let mut client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.timeout);
        // The connection goes to the addresses just checked, so a second
        // lookup cannot answer differently (DNS rebinding).
        if self.target.host.parse::<IpAddr>().is_err() {
            client = client.resolve_to_addrs(&self.target.host, &addrs);
        }
        let client = client.build().context("building the HTTP client")?;
        let body = serde_json::json!({
            "text": notice.text,
            "when": notice.when,
            "execution": &*notice.execution,
        });
        let response = client
            .post(&self.url)
            .headers(self.headers.clone())
            .json(&body)
            .send()
            .await
            .with_context(|| format!("POST {}", self.target))?;
        let status = response.status();
        if !status.is_success() {
            bail!("POST {} answered {status}", self.target);
        }
        Ok(())
    }
}

impl Deliver for WebhookSender {
    fn deliver<'a>(&'a self, notice: &'a Notice) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.post(notice))
    }
}
