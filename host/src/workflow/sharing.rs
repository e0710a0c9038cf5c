//! What workflows need when their runs are in a store several hosts share
//! (Redis, `store/redis.rs`): this host's heartbeat, which keeps the runs
//! it drives its own, and a control channel, so `approve`, `deny` and
//! `workflow cancel` said to any host reach the host that drives the run.
//! A host whose heartbeat lapses (killed, cut off from Redis) has its runs
//! claimed by another within the lease time (`bus.lease-ttl`), which
//! resumes them from their last stored step; a host that stops cleanly
//! drops its heartbeat, so its runs move at once.
//!
//! Requests are Redis pub/sub messages on `<prefix>/workflows/control/<host>`
//! carrying the channel to answer on; the asker subscribes to that channel
//! before it publishes, so no answer is missed. Nobody subscribed (the host
//! is gone) is known at once from `PUBLISH`'s count.

use super::store::{control_channel, heartbeat_key};
use anyhow::{Context, Result};
use futures::StreamExt;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long an asker waits for the driving host's answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// What one host asks of the host driving a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// `approve N [task]` / `deny N [task]` by `connector:user_id`.
    Decide {
        run: u64,
        task: Option<String>,
        connector: String,
        user_id: String,
        approve: bool,
    },
    /// `workflow cancel N`, already allowed by the asking host.
    Cancel { run: u64, who: String },
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    reply_to: String,
    request: Request,
}

#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("{0} is not listening")]
    Gone(String),
    #[error("{0} did not answer within {1:?}")]
    Silent(String, Duration),
    #[error("{0:#}")]
    Redis(anyhow::Error),
}

pub struct Sharing {
    host: String,
    prefix: String,
    ttl: Duration,
    shown: String,
    client: redis::Client,
    connection: ConnectionManager,
    asked: AtomicU64,
}

impl Sharing {
    pub async fn connect(
        url: &str,
        shown: &str,
        prefix: &str,
        host: &str,
        ttl: Duration,
    ) -> Result<Arc<Sharing>> {
        let client = redis::Client::open(url)
            .with_context(|| format!("databases.redis.url: {shown} is not a Redis URL"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)));
        let connection = ConnectionManager::new_with_config(client.clone(), config)
            .await
            .with_context(|| format!("cannot reach Redis at {shown} for workflow runs"))?;
        Ok(Arc::new(Sharing {
            host: host.to_owned(),
            prefix: prefix.to_owned(),
            ttl: ttl.max(Duration::from_secs(1)),
            shown: shown.to_owned(),
            client,
            connection,
            asked: AtomicU64::new(0),
        }))
    }

    /// This host's name, as runs' `owner`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// How long a silent host keeps its runs.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Says this host is alive for one lease time.
    pub async fn beat(&self) -> Result<()> {
        let mut con = self.connection.clone();
        let _: () = redis::cmd("SET")
            .arg(heartbeat_key(&self.prefix, &self.host))
            .arg(crate::event::now_ms())
            .arg("PX")
            .arg(self.ttl.as_millis() as u64)
            .query_async(&mut con)
            .await
            .with_context(|| format!("Redis at {}: the workflow heartbeat", self.shown))?;
        Ok(())
    }

    /// Beats three times a lease time, until the task is dropped.
    pub async fn beat_forever(self: Arc<Self>) {
        let mut every = tokio::time::interval(self.ttl / 3);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = self.beat().await {
                tracing::warn!("{e:#}: other hosts take this host's workflow runs if it lasts");
            }
        }
    }

    /// The host stops: its runs are for others to take now, not after a
    /// lease time.
    pub async fn leave(&self) {
        let mut con = self.connection.clone();
        let gone: redis::RedisResult<()> = con.del(heartbeat_key(&self.prefix, &self.host)).await;
        if let Err(e) = gone {
            tracing::warn!("could not drop the workflow heartbeat: {e}");
        }
    }

    /// Asks `owner` to carry out `request`; returns its answer for the chat.
    pub async fn ask(&self, owner: &str, request: Request) -> Result<String, AskError> {
        let n = self.asked.fetch_add(1, Ordering::Relaxed);
        let reply_to = format!("{}/workflows/reply/{}/{n}", self.prefix, self.host);
        let redis =
            |e: redis::RedisError| AskError::Redis(anyhow::anyhow!("Redis at {}: {e}", self.shown));
        let mut answers = self.client.get_async_pubsub().await.map_err(redis)?;
        answers.subscribe(&reply_to).await.map_err(redis)?;
        let envelope = serde_json::to_string(&Envelope { reply_to, request })
            .map_err(|e| AskError::Redis(e.into()))?;
        let mut con = self.connection.clone();
        let heard: u64 = con
            .publish(control_channel(&self.prefix, owner), envelope)
            .await
            .map_err(redis)?;
        if heard == 0 {
            return Err(AskError::Gone(owner.to_owned()));
        }
        match tokio::time::timeout(ANSWER_WITHIN, answers.on_message().next()).await {
            Ok(Some(msg)) => msg.get_payload::<String>().map_err(redis),
            Ok(None) => Err(AskError::Gone(owner.to_owned())),
            Err(_) => Err(AskError::Silent(owner.to_owned(), ANSWER_WITHIN)),
        }
    }

    /// Hears requests for this host's runs and answers each with `answer`'s
    /// text; subscribes again after Redis goes away, until dropped.
    pub async fn serve(self: Arc<Self>, answer: impl Fn(Request) -> String + Send + Sync) {
        let channel = control_channel(&self.prefix, &self.host);
        loop {
            match self.client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                    Ok(()) => {
                        let mut requests = pubsub.on_message();
                        while let Some(msg) = requests.next().await {
                            self.answer(&msg, &answer).await;
                        }
                        tracing::warn!("the workflow control channel closed; subscribing again");
                    }
                    Err(e) => tracing::warn!("cannot hear the workflow control channel: {e}"),
                },
                Err(e) => tracing::warn!("cannot hear the workflow control channel: {e}"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn answer(&self, msg: &redis::Msg, answer: &(impl Fn(Request) -> String + Send + Sync)) {
        let envelope: Envelope = match msg
            .get_payload::<String>()
            .map_err(anyhow::Error::from)
            .and_then(|p| Ok(serde_json::from_str(&p)?))
        {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("a workflow control message that is not one: {e:#}");
                return;
            }
        };
        let text = answer(envelope.request);
        let mut con = self.connection.clone();
        let sent: redis::RedisResult<u64> = con.publish(&envelope.reply_to, text).await;
        if let Err(e) = sent {
            tracing::warn!("could not answer a workflow request from another host: {e}");
        }
    }
}
