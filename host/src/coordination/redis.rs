//! [`Coordination`] over Redis, for hosts that share only their stores
//! (`databases.redis`, no NATS bus). Keys under `<prefix>/`:
//!
//! - `hosts/<host>`: the host's name and status, expiring after the TTL
//!   (`SET … PX`), so a host is alive exactly while its key exists, by
//!   Redis's clock alone; leaving deletes it;
//! - `leases/<name>`: `<token> <host>`, taken with `SET NX PX`, renewed and
//!   given back by scripts that first check the token, so only the holder
//!   does either;
//! - asking: a pub/sub message on `ask/<host>/<topic>` carrying the channel
//!   to answer on; the asker subscribes to that channel before it
//!   publishes, so no answer is missed. Nobody subscribed (the host is
//!   gone) is known at once from `PUBLISH`'s count.

use super::{Answerer, AskError, Coordination, Presence, Renewal, key_token};
use anyhow::{Context, Result};
use futures::StreamExt;
use futures::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// KEYS: the lease. ARGV: its value as taken, the TTL in ms. 1 if renewed.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
",
    )
});

/// KEYS: the lease. ARGV: its value as taken.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
",
    )
});

pub struct RedisCoordination {
    host: String,
    prefix: String,
    ttl: Duration,
    shown: String,
    client: redis::Client,
    connection: ConnectionManager,
    asked: AtomicU64,
}

impl RedisCoordination {
    /// Connects to the Redis at `url` (`shown` is it with the password
    /// hidden), as `host`, under `prefix`.
    pub async fn connect(
        url: &str,
        shown: &str,
        prefix: &str,
        host: &str,
        ttl: Duration,
    ) -> Result<RedisCoordination> {
        let client = redis::Client::open(url)
            .with_context(|| format!("databases.redis.url: {shown} is not a Redis URL"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)));
        let connection = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .with_context(|| {
                format!("cannot reach Redis at {shown} to share work with other hosts")
            })?;
        Ok(RedisCoordination {
            host: host.to_owned(),
            prefix: prefix.to_owned(),
            ttl: ttl.max(Duration::from_secs(1)),
            shown: shown.to_owned(),
            client,
            connection,
            asked: AtomicU64::new(0),
        })
    }

    fn host_key(&self, host: &str) -> String {
        format!("{}/hosts/{}", self.prefix, key_token(host))
    }

    fn lease_key(&self, lease: &str) -> String {
        format!("{}/leases/{}", self.prefix, key_token(lease))
    }

    fn ask_channel(&self, host: &str, topic: &str) -> String {
        format!(
            "{}/ask/{}/{}",
            self.prefix,
            key_token(host),
            key_token(topic)
        )
    }

    fn failed(&self, e: redis::RedisError) -> anyhow::Error {
        anyhow::anyhow!("Redis at {}: {e}", self.shown)
    }

    async fn answer(&self, msg: redis::Msg, answer: &Answerer) {
        let payload: Vec<u8> = msg.get_payload_bytes().to_vec();
        let Some(at) = payload.iter().position(|&b| b == b'\n') else {
            tracing::warn!("a request from another host that is not one");
            return;
        };
        let reply_to = String::from_utf8_lossy(&payload[..at]).into_owned();
        let text = answer(payload[at + 1..].to_vec()).await;
        let mut con = self.connection.clone();
        let sent: redis::RedisResult<u64> = con.publish(&reply_to, text).await;
        if let Err(e) = sent {
            tracing::warn!("could not answer a request from another host: {e}");
        }
    }
}

/// A Redis glob matching `text` literally.
fn glob_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Coordination for RedisCoordination {
    fn host(&self) -> &str {
        &self.host
    }

    fn ttl(&self) -> Duration {
        self.ttl
    }

    fn beat(&self, status: Vec<u8>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let mut value = self.host.clone().into_bytes();
            value.push(b'\n');
            value.extend(status);
            let mut con = self.connection.clone();
            let _: () = redis::cmd("SET")
                .arg(self.host_key(&self.host))
                .arg(value)
                .arg("PX")
                .arg(self.ttl.as_millis() as u64)
                .query_async(&mut con)
                .await
                .map_err(|e| self.failed(e))
                .context("saying this host is alive")?;
            Ok(())
        })
    }

    fn leave(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let mut con = self.connection.clone();
            let gone: redis::RedisResult<()> = con.del(self.host_key(&self.host)).await;
            if let Err(e) = gone {
                tracing::warn!("could not say this host left: {e}");
            }
        })
    }

    fn hosts(&self) -> BoxFuture<'_, Result<Vec<Presence>>> {
        Box::pin(async move {
            let mut con = self.connection.clone();
            let pattern = format!("{}/hosts/*", glob_literal(&self.prefix));
            let mut keys: Vec<String> = Vec::new();
            {
                let mut scan = con
                    .scan_match::<_, String>(&pattern)
                    .await
                    .map_err(|e| self.failed(e))?;
                while let Some(key) = scan.next().await {
                    keys.push(key.map_err(|e| self.failed(e))?);
                }
            }
            let mut out = Vec::new();
            for key in keys {
                let value: Option<Vec<u8>> = con.get(&key).await.map_err(|e| self.failed(e))?;
                // Expired between the scan and the read: gone.
                let Some(value) = value else { continue };
                let at = value
                    .iter()
                    .position(|&b| b == b'\n')
                    .unwrap_or(value.len());
                out.push(Presence {
                    host: String::from_utf8_lossy(&value[..at]).into_owned(),
                    status: value.get(at + 1..).unwrap_or_default().to_vec(),
                    alive: true,
                });
            }
            out.sort_by(|a, b| a.host.cmp(&b.host));
            Ok(out)
        })
    }

    fn take<'a>(&'a self, lease: &'a str) -> BoxFuture<'a, Result<Option<u64>>> {
        Box::pin(async move {
            let token: u64 = rand::random::<u64>() >> 1;
            let mut con = self.connection.clone();
            let taken: Option<String> = redis::cmd("SET")
                .arg(self.lease_key(lease))
                .arg(format!("{token} {}", self.host))
                .arg("NX")
                .arg("PX")
                .arg(self.ttl.as_millis() as u64)
                .query_async(&mut con)
                .await
                .map_err(|e| self.failed(e))?;
            Ok(taken.map(|_| token))
        })
    }

    fn renew<'a>(&'a self, lease: &'a str, token: u64) -> BoxFuture<'a, Result<Renewal>> {
        Box::pin(async move {
            let mut con = self.connection.clone();
            let renewed: i64 = RENEW
                .key(self.lease_key(lease))
                .arg(format!("{token} {}", self.host))
                .arg(self.ttl.as_millis() as u64)
                .invoke_async(&mut con)
                .await
                .map_err(|e| self.failed(e))?;
            Ok(if renewed == 1 {
                Renewal::Renewed(token)
            } else {
                Renewal::Lost
            })
        })
    }

    fn release<'a>(&'a self, lease: &'a str, token: u64) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut con = self.connection.clone();
            let given: redis::RedisResult<i64> = RELEASE
                .key(self.lease_key(lease))
                .arg(format!("{token} {}", self.host))
                .invoke_async(&mut con)
                .await;
            if let Err(e) = given {
                tracing::warn!(lease, "could not give the lease back (it expires): {e}");
            }
        })
    }

    fn holder<'a>(&'a self, lease: &'a str) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let mut con = self.connection.clone();
            let value: Option<String> = con.get(self.lease_key(lease)).await.ok()?;
            value.and_then(|v| v.split_once(' ').map(|(_, host)| host.to_owned()))
        })
    }

    fn ask<'a>(
        &'a self,
        host: &'a str,
        topic: &'a str,
        request: Vec<u8>,
        within: Duration,
    ) -> BoxFuture<'a, Result<Vec<u8>, AskError>> {
        Box::pin(async move {
            let n = self.asked.fetch_add(1, Ordering::Relaxed);
            let reply_to = format!("{}/answer/{}/{n}", self.prefix, key_token(&self.host));
            let redis = |e: redis::RedisError| AskError::Unreachable(self.failed(e));
            let mut answers = self.client.get_async_pubsub().await.map_err(redis)?;
            answers.subscribe(&reply_to).await.map_err(redis)?;
            let mut envelope = reply_to.into_bytes();
            envelope.push(b'\n');
            envelope.extend(request);
            let mut con = self.connection.clone();
            let heard: u64 = con
                .publish(self.ask_channel(host, topic), envelope)
                .await
                .map_err(redis)?;
            if heard == 0 {
                return Err(AskError::Gone(host.to_owned()));
            }
            match tokio::time::timeout(within, answers.on_message().next()).await {
                Ok(Some(msg)) => Ok(msg.get_payload_bytes().to_vec()),
                Ok(None) => Err(AskError::Gone(host.to_owned())),
                Err(_) => Err(AskError::Silent(host.to_owned(), within)),
            }
        })
    }

    fn serve<'a>(&'a self, topic: &'a str, answer: Answerer) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let channel = self.ask_channel(&self.host, topic);
            loop {
                match self.client.get_async_pubsub().await {
                    Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                        Ok(()) => {
                            let mut requests = pubsub.on_message();
                            while let Some(msg) = requests.next().await {
                                self.answer(msg, &answer).await;
                            }
                            tracing::warn!(
                                topic,
                                "the channel other hosts ask on closed; subscribing again"
                            );
                        }
                        Err(e) => tracing::warn!(topic, "cannot hear other hosts: {e}"),
                    },
                    Err(e) => tracing::warn!(topic, "cannot hear other hosts: {e}"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    }
}
