//! [`Coordination`] over NATS, for hosts on a NATS bus: presence in the
//! key-value bucket `<prefix>_hosts` (a host's name and status, put every
//! beat; a host is alive while its last put is younger than the TTL, and
//! its entry expires a while later, so `cluster status` shows it gone
//! first), leases in the bucket `<prefix>_leases` (created only when
//! nobody holds it, renewed by compare-and-set on its revision, expiring
//! after the TTL), and asking as core NATS request/reply on
//! `<prefix>.ask.<host>.<topic>`: a host nobody listens for is known at
//! once from the server's "no responders". [`for_config`] picks the
//! backend a configuration asks for (this one, Redis's, or none).

use super::{Bus, Cluster};
use crate::config::Config;
use crate::coordination::redis::RedisCoordination;
use crate::coordination::{Answerer, AskError, Coordination, Presence, Renewal, key_token};
use anyhow::{Context as _, Result};
use async_nats::jetstream::kv;
use futures::StreamExt;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

/// A host not heard of for this long (or twice the TTL, if longer) is gone
/// from the hosts bucket.
const GONE_AFTER: Duration = Duration::from_secs(10);

/// How this host agrees with the others: over NATS on a NATS bus, else
/// over Redis when the stores are shared there; `None` for a host alone.
pub async fn for_config(
    config: &Config,
    bus: Option<&Bus>,
) -> Result<Option<Arc<dyn Coordination>>> {
    if let Some(bus) = bus {
        let nats = NatsCoordination::open(bus.cluster.clone()).await?;
        return Ok(Some(Arc::new(nats)));
    }
    let Some(redis) = &config.databases.redis else {
        return Ok(None);
    };
    let redis = RedisCoordination::connect(
        redis.url.expose(),
        &redis.shown_url(),
        &redis.prefix,
        &config.bus.host_name(),
        config.bus.lease_ttl(),
    )
    .await?;
    Ok(Some(Arc::new(redis)))
}

pub struct NatsCoordination {
    cluster: Cluster,
    hosts: kv::Store,
    leases: kv::Store,
    ttl: Duration,
}

impl NatsCoordination {
    /// Opens (makes, the first time) the hosts and leases buckets.
    pub async fn open(cluster: Cluster) -> Result<NatsCoordination> {
        let ttl = cluster.settings.lease_ttl.0.max(Duration::from_secs(1));
        Ok(NatsCoordination {
            hosts: hosts_bucket(&cluster).await?,
            leases: bucket(&cluster, "leases", ttl).await?,
            cluster,
            ttl,
        })
    }

    fn ask_subject(&self, host: &str, topic: &str) -> String {
        format!(
            "{}.ask.{}.{}",
            self.cluster.settings.prefix,
            key_token(host),
            key_token(topic)
        )
    }
}

async fn hosts_bucket(cluster: &Cluster) -> Result<kv::Store> {
    let ttl = cluster.settings.lease_ttl.0;
    bucket(cluster, "hosts", GONE_AFTER.max(ttl * 2)).await
}

/// A key-value bucket of this bot's (`<prefix>_<name>`), created if
/// missing: the presence and lease buckets are coordination's alone.
async fn bucket(cluster: &Cluster, name: &str, max_age: Duration) -> Result<kv::Store> {
    let bucket = format!("{}_{name}", cluster.settings.prefix);
    if let Ok(store) = cluster.js.get_key_value(&bucket).await {
        return Ok(store);
    }
    cluster
        .js
        .create_key_value(kv::Config {
            bucket: bucket.clone(),
            history: 1,
            max_age,
            num_replicas: cluster.settings.replicas.max(1),
            ..Default::default()
        })
        .await
        .with_context(|| format!("creating key-value bucket {bucket}"))
}

/// What `host` said at its last beat, if its entry is there: read without
/// opening a [`NatsCoordination`] (for the answers' way back).
pub async fn status_of(cluster: &Cluster, host: &str) -> Option<Vec<u8>> {
    let bucket = hosts_bucket(cluster).await.ok()?;
    let value = bucket.get(key_token(host)).await.ok()??;
    Some(split(&value).1.to_vec())
}

/// A presence entry's name and status.
fn split(value: &[u8]) -> (String, &[u8]) {
    let at = value
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(value.len());
    (
        String::from_utf8_lossy(&value[..at]).into_owned(),
        value.get(at + 1..).unwrap_or_default(),
    )
}

impl Coordination for NatsCoordination {
    fn host(&self) -> &str {
        &self.cluster.host
    }

    fn ttl(&self) -> Duration {
        self.ttl
    }

    fn beat(&self, status: Vec<u8>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let mut value = self.cluster.host.clone().into_bytes();
            value.push(b'\n');
            value.extend(status);
            self.hosts
                .put(key_token(&self.cluster.host), value.into())
                .await
                .map_err(|e| anyhow::anyhow!("NATS: putting this host's status: {e}"))?;
            Ok(())
        })
    }

    fn leave(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Err(e) = self.hosts.delete(key_token(&self.cluster.host)).await {
                tracing::warn!("could not say this host left: {e}");
            }
        })
    }

    fn hosts(&self) -> BoxFuture<'_, Result<Vec<Presence>>> {
        Box::pin(async move {
            let mut keys = self.hosts.keys().await?;
            let now = async_nats::datetime::now();
            let mut out = Vec::new();
            while let Some(key) = keys.next().await {
                let Ok(key) = key else { continue };
                let Ok(Some(entry)) = self.hosts.entry(&key).await else {
                    continue;
                };
                if entry.operation != kv::Operation::Put {
                    continue;
                }
                // By the server's clock at the put; a host whose clock is
                // off by more than the TTL is misjudged either way.
                let alive = async_nats::datetime::add_std_duration(entry.created, self.ttl)
                    .is_ok_and(|until| until > now);
                let (host, status) = split(&entry.value);
                out.push(Presence {
                    host,
                    status: status.to_vec(),
                    alive,
                });
            }
            out.sort_by(|a, b| a.host.cmp(&b.host));
            Ok(out)
        })
    }

    fn take<'a>(&'a self, lease: &'a str) -> BoxFuture<'a, Result<Option<u64>>> {
        Box::pin(async move {
            let value = bytes::Bytes::from(self.cluster.host.clone());
            match self.leases.create(key_token(lease), value).await {
                Ok(revision) => Ok(Some(revision)),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(None),
                Err(e) => Err(anyhow::anyhow!("NATS: taking lease {lease}: {e}")),
            }
        })
    }

    fn renew<'a>(&'a self, lease: &'a str, token: u64) -> BoxFuture<'a, Result<Renewal>> {
        Box::pin(async move {
            let value = bytes::Bytes::from(self.cluster.host.clone());
            match self.leases.update(key_token(lease), value, token).await {
                Ok(revision) => Ok(Renewal::Renewed(revision)),
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(Renewal::Lost),
                Err(e) => Err(anyhow::anyhow!("NATS: renewing lease {lease}: {e}")),
            }
        })
    }

    fn release<'a>(&'a self, lease: &'a str, token: u64) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let _ = self
                .leases
                .delete_expect_revision(key_token(lease), Some(token))
                .await;
        })
    }

    fn holder<'a>(&'a self, lease: &'a str) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let value = self.leases.get(key_token(lease)).await.ok()??;
            Some(String::from_utf8_lossy(&value).into_owned())
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
            use async_nats::client::RequestErrorKind as Kind;
            let asked = async_nats::Request::new()
                .payload(request.into())
                .timeout(Some(within));
            let subject = self.ask_subject(host, topic);
            match self.cluster.client.send_request(subject, asked).await {
                Ok(answer) => Ok(answer.payload.to_vec()),
                Err(e) => match e.kind() {
                    Kind::NoResponders => Err(AskError::Gone(host.to_owned())),
                    Kind::TimedOut => Err(AskError::Silent(host.to_owned(), within)),
                    _ => Err(AskError::Unreachable(anyhow::anyhow!("NATS: {e}"))),
                },
            }
        })
    }

    fn serve<'a>(&'a self, topic: &'a str, answer: Answerer) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let subject = self.ask_subject(&self.cluster.host, topic);
            loop {
                // A subscription outlives reconnections; it ends only with
                // the client.
                match self.cluster.client.subscribe(subject.clone()).await {
                    Ok(mut requests) => {
                        while let Some(request) = requests.next().await {
                            let Some(reply) = request.reply else { continue };
                            let text = answer(request.payload.to_vec()).await;
                            if let Err(e) = self.cluster.client.publish(reply, text.into()).await {
                                tracing::warn!(topic, "could not answer another host: {e}");
                            }
                        }
                    }
                    Err(e) => tracing::warn!(topic, "cannot hear other hosts: {e}"),
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    }
}
