//! Several hosts on NATS JetStream (`bus: {type: nats}`). The in-process
//! ports of `bus` stay what connectors and the runtime see; this module is
//! the other implementation of them, plus what only several hosts need:
//!
//! - `events`: the connector side's event sink, publishing each event to the
//!   work-queue stream (`<prefix>_events`), its id as `Nats-Msg-Id` so a
//!   retried publish is stored once;
//! - `worker`: every host in the `workers` role pulls from one durable
//!   consumer, only as many events as it has free places, runs them, and
//!   acks after their records are stored;
//! - `replies`: answers travel back to the host whose connector the event
//!   came from (named by the event id's origin), confirmed, and are
//!   delivered there once however often a redelivered event runs;
//! - `coordination`: the NATS backend of `crate::coordination` (presence,
//!   leases and asking another host), which the cluster and the workflows
//!   share: heartbeats in a key-value bucket, leases in another (one
//!   holder per single connection, IRC or Matrix, and for the cron ticks),
//!   requests to one host as core request/reply;
//! - `hosts`: what each host says at its heartbeat, for `cluster status`,
//!   and `reload` on every host;
//! - `skills`: skill files shared through the object store;
//! - `join`: what keeps a host part of the cluster once its dispatcher
//!   exists (the answers' listener, the worker, `reload`, shared skills).

pub mod coordination;
pub mod events;
pub mod hosts;
pub mod join;
pub mod replies;
pub mod skills;
pub mod wire;
pub mod worker;

use crate::bus::{Outboxes, ResponseSink};
use crate::config::{BusSettings, Config, NatsSettings};
use anyhow::{Context as _, Result};
use async_nats::jetstream::{self, consumer, stream};
use std::sync::Arc;
use std::time::Duration;

/// The NATS connection and the two ends of the answers' way back.
pub struct Bus {
    pub cluster: Cluster,
    pub replies: Arc<replies::ResponseReceiver>,
    pub answers: Arc<replies::ResponseForwarder>,
}

/// The response sink everything answers through: the outboxes themselves
/// on the local bus; on NATS (`bus: {type: nats}`) the sink that finds
/// each answer's host, with the connection.
pub async fn open_bus(
    config: &Config,
    outboxes: &Arc<Outboxes>,
) -> Result<(Option<Bus>, Arc<dyn ResponseSink>)> {
    match &config.bus {
        BusSettings::Local => Ok((None, outboxes.clone())),
        BusSettings::Nats(settings) => {
            let cluster = Cluster::connect(settings).await?;
            cluster.settle_consumer().await?;
            tracing::info!(url = %settings.url, host = %cluster.host, roles = %config.roles.describe(), "on the NATS bus");
            let replies = replies::ResponseReceiver::new(outboxes.clone());
            let answers = replies::ResponseForwarder::new(cluster.clone(), replies.clone());
            let bus = Bus {
                cluster,
                replies,
                answers: answers.clone(),
            };
            Ok((Some(bus), answers))
        }
    }
}

/// Events that wait in the stream at most this long (a stuck bus should not
/// answer yesterday's questions).
const EVENT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// A connection to NATS and the names this bot uses there.
#[derive(Clone)]
pub struct Cluster {
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    pub settings: NatsSettings,
    /// This host's name.
    pub host: String,
    /// This process's mark in event ids (`EventId::origin`).
    pub origin: u32,
}

impl Cluster {
    /// Connects (failing at once, with the URL, when no server answers) and
    /// makes sure the stream, its consumer and the buckets exist.
    pub async fn connect(settings: &NatsSettings) -> Result<Cluster> {
        let host = settings
            .host
            .clone()
            .unwrap_or_else(crate::config::default_host_name);
        let mut options = async_nats::ConnectOptions::new()
            .name(format!("sandbot {host}"))
            .connection_timeout(Duration::from_secs(5))
            // Quick to come back after a server restart; the default waits
            // up to seconds between tries.
            .reconnect_delay_callback(|attempt| {
                Duration::from_millis((attempt as u64 * 100).clamp(50, 1000))
            });
        if let Some(path) = &settings.credentials {
            options = options
                .credentials_file(path)
                .await
                .with_context(|| format!("bus.credentials: reading {}", path.display()))?;
        }
        if let Some(token) = &settings.token {
            options = options.token(token.expose().to_owned());
        }
        if let (Some(user), Some(password)) = (&settings.user, &settings.password) {
            options = options.user_and_password(user.clone(), password.expose().to_owned());
        }
        let urls: Vec<&str> = settings.url.split(',').map(str::trim).collect();
        let addrs: Vec<async_nats::ServerAddr> = urls
            .iter()
            .map(|u| u.parse())
            .collect::<Result<_, _>>()
            .with_context(|| format!("bus.url `{}` is not a NATS URL", settings.url))?;
        let client = options.connect(addrs).await.map_err(|e| {
            use async_nats::ConnectErrorKind as Kind;
            let what = match e.kind() {
                Kind::Io | Kind::TimedOut | Kind::Dns => {
                    format!("nats-server unreachable at {}", settings.url)
                }
                _ => format!("connecting to NATS at {}", settings.url),
            };
            anyhow::Error::new(e).context(what)
        })?;
        let js = jetstream::new(client.clone());
        let cluster = Cluster {
            client,
            js,
            settings: settings.clone(),
            host,
            origin: crate::event::EventId::this_process(),
        };
        cluster
            .consumer()
            .await
            .context("preparing the event stream (is JetStream enabled: `nats-server -js`?)")?;
        Ok(cluster)
    }

    fn prefix(&self) -> &str {
        &self.settings.prefix
    }

    /// The subject events are published on.
    pub fn events_subject(&self) -> String {
        format!("{}.events", self.prefix())
    }

    /// Where answers to events from the process marked `origin` go.
    pub fn replies_subject(&self, origin: u32) -> String {
        format!("{}.replies.{origin:06x}", self.prefix())
    }

    /// Where answers that reply to no event go: to a host running `connector`.
    pub fn connector_subject(&self, connector: &str) -> String {
        format!("{}.to.{}", self.prefix(), subject_token(connector))
    }

    pub fn stream_name(&self) -> String {
        format!("{}_events", self.prefix())
    }

    /// The work-queue stream, created if missing (every host asks; the
    /// first makes it).
    async fn stream(&self) -> Result<stream::Stream> {
        self.js
            .get_or_create_stream(stream::Config {
                name: self.stream_name(),
                subjects: vec![self.events_subject()],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                num_replicas: self.settings.replicas.max(1),
                max_age: EVENT_MAX_AGE,
                // A publish retried after a lost confirmation is stored once.
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await
            .with_context(|| format!("creating stream {}", self.stream_name()))
    }

    /// The durable consumer's settings, from this host's `bus:`.
    fn consumer_config(&self) -> consumer::pull::Config {
        consumer::pull::Config {
            durable_name: Some("workers".into()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: self.settings.ack_wait.0,
            max_deliver: self.settings.max_deliver,
            // Each worker pulls only what it has room for; this is the bound
            // across all of them.
            max_ack_pending: self.settings.max_ack_pending,
            ..Default::default()
        }
    }

    /// The stream's one durable pull consumer, created if missing. An
    /// existing one keeps its settings (see [`Cluster::settle_consumer`]).
    pub async fn consumer(&self) -> Result<consumer::PullConsumer> {
        self.stream()
            .await?
            .get_or_create_consumer("workers", self.consumer_config())
            .await
            .context("creating the durable consumer `workers`")
    }

    /// Makes the consumer's ack wait, deliveries and pending bound this
    /// host's: a consumer made by another host with other settings is
    /// updated, and the difference logged (the last host started sets
    /// them; every worker paces its "still working" by the consumer's, so
    /// none has its events taken away while it runs them).
    pub async fn settle_consumer(&self) -> Result<()> {
        let mut consumer = self.consumer().await?;
        let have = consumer
            .info()
            .await
            .context("reading the consumer `workers`")?
            .config
            .clone();
        let want = self.consumer_config();
        let differs = have.ack_wait != want.ack_wait
            || have.max_deliver != want.max_deliver
            || have.max_ack_pending != want.max_ack_pending;
        if differs {
            tracing::warn!(
                "the consumer `workers` had ack-wait {:?}, max-deliver {}, max-ack-pending {}; \
                 set to this host's bus settings: {:?}, {}, {}",
                have.ack_wait,
                have.max_deliver,
                have.max_ack_pending,
                want.ack_wait,
                want.max_deliver,
                want.max_ack_pending,
            );
            self.stream()
                .await?
                .update_consumer(want)
                .await
                .context("updating the consumer `workers` to this host's bus settings")?;
        }
        Ok(())
    }

    /// `connected`, `disconnected` or `pending`, for status pages.
    pub fn state(&self) -> &'static str {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => "connected",
            async_nats::connection::State::Disconnected => "disconnected",
            async_nats::connection::State::Pending => "connecting",
        }
    }

    /// Events in the stream not yet taken, and taken but not acked.
    pub async fn lag(&self) -> Result<(u64, u64)> {
        let mut consumer = self.consumer().await?;
        let info = consumer.info().await?;
        Ok((info.num_pending, info.num_ack_pending as u64))
    }
}

/// A connector's name as one subject token (no dots or wildcards).
fn subject_token(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '.' | '*' | '>' | ' ' => '_',
            c => c,
        })
        .collect()
}
