//! Leases: one host at a time holds something that must be single (an IRC
//! nick's connection, a Matrix account's sync, the cron ticks). A lease is a
//! key in a key-value bucket whose entries expire after `lease-ttl`: the
//! holder creates it (only possible when nobody holds it) and renews it by
//! compare-and-set every third of the TTL. When the holder dies its entry
//! expires and another host's next try (every second) creates it: takeover
//! within the TTL and a second. A holder that finds its entry taken, or
//! cannot renew it for a whole TTL, stops what it held.

use super::Cluster;
use anyhow::Result;
use async_nats::jetstream::kv;
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a host that does not hold a lease tries to take it.
const TRY_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Leases {
    kv: kv::Store,
    host: String,
    ttl: Duration,
    /// What this host holds, with when it last renewed each, for status
    /// pages.
    held: Arc<Mutex<BTreeMap<String, Instant>>>,
}

/// How a held task ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// It returned by itself; the lease is given back.
    Returned,
    /// Another host holds the lease now (or this one could not renew it).
    Lost,
}

impl Leases {
    pub async fn open(cluster: &Cluster) -> Result<Leases> {
        let ttl = cluster.settings.lease_ttl.0.max(Duration::from_secs(1));
        Ok(Leases {
            kv: cluster.bucket("leases", ttl).await?,
            host: cluster.host.clone(),
            ttl,
            held: Arc::default(),
        })
    }

    /// The leases this host holds: renewed within the TTL (one not
    /// renewed for that long, while NATS is away, say, may be another
    /// host's by now).
    pub fn held(&self) -> Vec<String> {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, renewed)| renewed.elapsed() < self.ttl)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Who holds `name` now, if anyone.
    pub async fn holder(&self, name: &str) -> Option<String> {
        let value = self.kv.get(key(name)).await.ok()??;
        Some(String::from_utf8_lossy(&value).into_owned())
    }

    /// Waits until this host holds `name`, then runs `task` while it does.
    /// Returns when the task returns (the lease given back) or the lease is
    /// lost (the task dropped).
    pub async fn run_held(&self, name: &str, task: BoxFuture<'static, ()>) -> Ended {
        let mut revision = self.acquire(name).await;
        self.mark(name, true);
        tracing::info!(lease = name, host = %self.host, "holding");
        tokio::pin!(task);
        let mut renewed = Instant::now();
        let ended = loop {
            tokio::select! {
                () = &mut task => break Ended::Returned,
                () = tokio::time::sleep(self.ttl / 3) => {}
            }
            let value = bytes::Bytes::from(self.host.clone());
            match self.kv.update(key(name), value, revision).await {
                Ok(r) => {
                    revision = r;
                    renewed = Instant::now();
                    self.mark(name, true);
                }
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                    tracing::error!(lease = name, "lost: another host holds it now");
                    break Ended::Lost;
                }
                Err(e) if renewed.elapsed() >= self.ttl => {
                    tracing::error!(lease = name, "lost: not renewed for {:?} ({e})", self.ttl);
                    break Ended::Lost;
                }
                Err(e) => tracing::warn!(lease = name, "could not renew: {e}"),
            }
        };
        self.mark(name, false);
        if ended == Ended::Returned {
            let _ = self
                .kv
                .delete_expect_revision(key(name), Some(revision))
                .await;
        }
        ended
    }

    /// Creates the lease's entry, trying until nobody else holds it.
    async fn acquire(&self, name: &str) -> u64 {
        let mut told = false;
        loop {
            let value = bytes::Bytes::from(self.host.clone());
            match self.kv.create(key(name), value).await {
                Ok(revision) => return revision,
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                    if !told {
                        let holder = self.holder(name).await.unwrap_or_default();
                        tracing::info!(lease = name, %holder, "held by another host; waiting");
                        told = true;
                    }
                }
                Err(e) => tracing::warn!(lease = name, "cannot take: {e}"),
            }
            tokio::time::sleep(TRY_EVERY).await;
        }
    }

    fn mark(&self, name: &str, held: bool) {
        let mut set = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if held {
            set.insert(name.to_owned(), Instant::now());
        } else {
            set.remove(name);
        }
    }
}

/// A lease's key: names may hold characters keys may not.
fn key(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
