//! How several hosts of one bot agree, whatever shares their work: one
//! trait, [`Coordination`], with a backend per shared server (NATS,
//! `nats::coordination`, when the bus is NATS; Redis, `redis`, when only
//! the stores are). Everything that needs another host goes through it:
//! the cluster's status and `reload`, the single connections and the cron
//! ticks, the workflows' runs. Four things, each once:
//!
//! - **presence**: every host says it is alive every [`beat_every`]
//!   ([`keep_beating`]), with a status of its own; a host not heard of
//!   for the TTL (`bus.lease-ttl`) is gone, and a host that stops cleanly
//!   leaves at once;
//! - **leases**: one holder at a time of a name, for the TTL, renewed
//!   every third of it ([`Leases`]); a holder that dies loses it when the
//!   TTL runs out, one that finds it taken or cannot renew it for a whole
//!   TTL stops what it held;
//! - **claiming the work of a dead host**: the work's store takes what
//!   the hosts not alive ([`alive`]) owned, in one step of its own (a Lua
//!   script for the workflows' runs);
//! - **asking the host that owns something**: a request to one host on a
//!   topic, answered within a time; a host nobody hears for is
//!   [`AskError::Gone`] at once (no responders on NATS, no subscriber on
//!   Redis), not after the wait.

pub mod redis;

use anyhow::Result;
use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a host answers on a topic: the request's bytes to the answer's.
pub type Answerer = Arc<dyn Fn(Vec<u8>) -> BoxFuture<'static, Vec<u8>> + Send + Sync>;

/// A host as presence knows it.
#[derive(Debug, Clone)]
pub struct Presence {
    pub host: String,
    /// What it said about itself at its last beat.
    pub status: Vec<u8>,
    /// Heard of within the TTL. A backend may list hosts heard of a little
    /// longer ago (for status pages), never one that left.
    pub alive: bool,
}

/// How a renewal went.
#[derive(Debug, PartialEq, Eq)]
pub enum Renewal {
    /// Held for another TTL; the token to renew with next.
    Renewed(u64),
    /// Another host holds it now, or it expired.
    Lost,
}

/// Why an ask got no answer.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("{0} is not listening")]
    Gone(String),
    #[error("{0} did not answer within {1:?}")]
    Silent(String, Duration),
    #[error("{0:#}")]
    Unreachable(anyhow::Error),
}

/// Presence, leases and asking, over one shared server.
pub trait Coordination: Send + Sync {
    /// This host's name.
    fn host(&self) -> &str;
    /// How long a silent host keeps what it holds.
    fn ttl(&self) -> Duration;

    /// Says this host is alive for one TTL, with `status`.
    fn beat(&self, status: Vec<u8>) -> BoxFuture<'_, Result<()>>;
    /// This host stops: what it held is for others now, not after a TTL.
    fn leave(&self) -> BoxFuture<'_, ()>;
    /// The hosts heard of lately, by name.
    fn hosts(&self) -> BoxFuture<'_, Result<Vec<Presence>>>;

    /// Takes `lease` if nobody holds it: `Some(token)`, else `None`.
    fn take<'a>(&'a self, lease: &'a str) -> BoxFuture<'a, Result<Option<u64>>>;
    /// Holds `lease` for another TTL, if this host still does.
    fn renew<'a>(&'a self, lease: &'a str, token: u64) -> BoxFuture<'a, Result<Renewal>>;
    /// Gives `lease` back, if this host still holds it.
    fn release<'a>(&'a self, lease: &'a str, token: u64) -> BoxFuture<'a, ()>;
    /// Who holds `lease` now, if anyone.
    fn holder<'a>(&'a self, lease: &'a str) -> BoxFuture<'a, Option<String>>;

    /// Asks `host` on `topic`; its answer, or why none came within `within`.
    fn ask<'a>(
        &'a self,
        host: &'a str,
        topic: &'a str,
        request: Vec<u8>,
        within: Duration,
    ) -> BoxFuture<'a, Result<Vec<u8>, AskError>>;
    /// Answers what other hosts ask this one on `topic` with `answer`;
    /// hears again after the server goes away, until dropped.
    fn serve<'a>(&'a self, topic: &'a str, answer: Answerer) -> BoxFuture<'a, ()>;
}

/// How often a host beats: a third of the TTL, at most a second (status
/// pages show what it says that fresh).
pub fn beat_every(ttl: Duration) -> Duration {
    (ttl / 3).min(Duration::from_secs(1))
}

/// The hosts alive now, this one included.
pub async fn alive(coordination: &dyn Coordination) -> Result<Vec<String>> {
    let mut hosts: Vec<String> = coordination
        .hosts()
        .await?
        .into_iter()
        .filter(|p| p.alive)
        .map(|p| p.host)
        .collect();
    if !hosts.iter().any(|h| h == coordination.host()) {
        hosts.push(coordination.host().to_owned());
    }
    Ok(hosts)
}

/// What a host says about itself at each beat (the cluster's status on
/// NATS; a host without one says nothing more than its name).
pub trait HostStatus: Send + Sync {
    fn status_bytes(&self) -> Vec<u8>;
}

/// This host's heartbeat among several: beats until [`Heartbeat::leave`]
/// (or until dropped, when it just stops beating).
pub struct Heartbeat {
    coordination: Arc<dyn Coordination>,
    beating: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Heartbeat {
    /// Beats once, then every beat (see [`keep_beating`]).
    pub async fn start(
        coordination: Arc<dyn Coordination>,
        status: Option<Arc<dyn HostStatus>>,
    ) -> Heartbeat {
        let status: Arc<dyn Fn() -> Vec<u8> + Send + Sync> = match status {
            Some(status) => Arc::new(move || status.status_bytes()),
            None => Arc::new(Vec::new),
        };
        let beating = keep_beating(coordination.clone(), status).await;
        Heartbeat {
            coordination,
            beating: Mutex::new(Some(beating)),
        }
    }

    /// Stops beating, then leaves, so another host may take this one's
    /// work at once rather than after a lease time. The beat stops first:
    /// no late beat brings the host back.
    pub async fn leave(&self) {
        let beating = self
            .beating
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(beating) = beating {
            beating.abort();
            let _ = beating.await;
        }
        self.coordination.leave().await;
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        if let Some(beating) = self
            .beating
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            beating.abort();
        }
    }
}

/// Beats once now (so nothing this host owns is claimed while it starts),
/// then every [`beat_every`] until the task is dropped; `status` says
/// what the host says about itself each time.
pub async fn keep_beating(
    coordination: Arc<dyn Coordination>,
    status: Arc<dyn Fn() -> Vec<u8> + Send + Sync>,
) -> tokio::task::JoinHandle<()> {
    if let Err(e) = coordination.beat(status()).await {
        tracing::error!("cannot say this host is alive: {e:#}");
    }
    tokio::spawn(async move {
        let mut every = tokio::time::interval(beat_every(coordination.ttl()));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            every.tick().await;
            if let Err(e) = coordination.beat(status()).await {
                tracing::warn!(
                    "{e:#}: other hosts take what this host holds if it lasts a lease time"
                );
            }
        }
    })
}

/// How often a host that does not hold a lease tries to take it.
const TRY_EVERY: Duration = Duration::from_secs(1);

/// The leases this host holds or waits for (the cron ticks, a single
/// connection), over a [`Coordination`].
#[derive(Clone)]
pub struct Leases {
    coordination: Arc<dyn Coordination>,
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
    pub fn new(coordination: Arc<dyn Coordination>) -> Leases {
        Leases {
            coordination,
            held: Arc::default(),
        }
    }

    /// The leases this host holds: renewed within the TTL (one not
    /// renewed for that long, while the server is away, say, may be
    /// another host's by now).
    pub fn held(&self) -> Vec<String> {
        let ttl = self.coordination.ttl();
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, renewed)| renewed.elapsed() < ttl)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Who holds `name` now, if anyone.
    pub async fn holder(&self, name: &str) -> Option<String> {
        self.coordination.holder(name).await
    }

    /// Waits until this host holds `name`, then runs `task` while it does.
    /// Returns when the task returns (the lease given back) or the lease is
    /// lost (the task dropped).
    pub async fn run_held(&self, name: &str, task: BoxFuture<'static, ()>) -> Ended {
        let ttl = self.coordination.ttl();
        let mut token = self.acquire(name).await;
        self.mark(name, true);
        tracing::info!(lease = name, host = %self.coordination.host(), "holding");
        tokio::pin!(task);
        let mut renewed = Instant::now();
        let ended = loop {
            tokio::select! {
                () = &mut task => break Ended::Returned,
                () = tokio::time::sleep(ttl / 3) => {}
            }
            match self.coordination.renew(name, token).await {
                Ok(Renewal::Renewed(next)) => {
                    token = next;
                    renewed = Instant::now();
                    self.mark(name, true);
                }
                Ok(Renewal::Lost) => {
                    tracing::error!(lease = name, "lost: another host holds it now");
                    break Ended::Lost;
                }
                Err(e) if renewed.elapsed() >= ttl => {
                    tracing::error!(lease = name, "lost: not renewed for {ttl:?} ({e:#})");
                    break Ended::Lost;
                }
                Err(e) => tracing::warn!(lease = name, "could not renew: {e:#}"),
            }
        };
        self.mark(name, false);
        if ended == Ended::Returned {
            self.coordination.release(name, token).await;
        }
        ended
    }

    /// Takes the lease, trying until nobody else holds it.
    async fn acquire(&self, name: &str) -> u64 {
        let mut told = false;
        loop {
            match self.coordination.take(name).await {
                Ok(Some(token)) => return token,
                Ok(None) => {
                    if !told {
                        let holder = self.holder(name).await.unwrap_or_default();
                        tracing::info!(lease = name, %holder, "held by another host; waiting");
                        told = true;
                    }
                }
                Err(e) => tracing::warn!(lease = name, "cannot take: {e:#}"),
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

/// A name as one token of a key or subject: letters, digits, `-` and `_`
/// kept, anything else `_`.
pub fn key_token(name: &str) -> String {
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
