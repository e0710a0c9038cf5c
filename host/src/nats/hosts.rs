//! The hosts of one bot, as each sees the others: every host puts its
//! status (roles, bus state, leases, events in flight, skills) in a
//! key-value bucket every two seconds, where it expires when the host stops
//! doing so. `sandbot cluster status` lists that bucket; `GET /` shows this
//! host's part and the stream's lag. `reload` in chat reaches every host
//! through a control subject, and the answer lists each host's report.

use super::Cluster;
use super::lease::Leases;
use crate::bus::Peers;
use crate::catalog::Catalog;
use crate::commands::{Asked, Entry, Handler, Reply};
use crate::config::Roles;
use anyhow::{Context as _, Result};
use async_nats::jetstream::kv;
use futures::StreamExt;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// How often a host says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A host not heard of for this long (a missed heartbeat and a margin) is
/// shown as gone, and its events' answers are no longer retried.
const QUIET: Duration = Duration::from_millis(2500);
/// A host not heard of for this long is gone from the list.
const GONE_AFTER: Duration = Duration::from_secs(10);
/// How long `reload` waits for the other hosts' reports.
const RELOAD_WAIT: Duration = Duration::from_secs(10);

/// One host as `cluster status` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostStatus {
    pub host: String,
    pub roles: String,
    pub bus: String,
    pub leases: Vec<String>,
    pub in_flight: usize,
    pub skills: usize,
    pub started_at: u64,
    pub seen_at: u64,
    /// The process's mark in the event ids it makes (`EventId::origin`).
    #[serde(default)]
    pub origin: u32,
}

pub struct Hosts {
    cluster: Cluster,
    kv: kv::Store,
    roles: Roles,
    leases: Leases,
    catalog: Arc<Catalog>,
    /// The `max-in-flight` permits (`bot::in_flight_limit`), and how many.
    in_flight: Arc<tokio::sync::Semaphore>,
    max_in_flight: usize,
    started_at: u64,
}

/// A host's report of its reload.
#[derive(Serialize, Deserialize)]
struct Reloaded {
    host: String,
    summary: String,
}

impl Hosts {
    pub async fn open(
        cluster: Cluster,
        roles: Roles,
        leases: Leases,
        catalog: Arc<Catalog>,
        in_flight: Arc<tokio::sync::Semaphore>,
    ) -> Result<Arc<Hosts>> {
        let kv = cluster.bucket("hosts", GONE_AFTER).await?;
        Ok(Arc::new(Hosts {
            cluster,
            kv,
            roles,
            leases,
            catalog,
            max_in_flight: in_flight.available_permits(),
            in_flight,
            started_at: crate::event::now_ms(),
        }))
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    pub fn leases(&self) -> &Leases {
        &self.leases
    }

    /// This host, now.
    pub fn status(&self) -> HostStatus {
        HostStatus {
            host: self.cluster.host.clone(),
            roles: self.roles.describe(),
            bus: self.cluster.state().into(),
            leases: self.leases.held(),
            in_flight: self
                .max_in_flight
                .saturating_sub(self.in_flight.available_permits()),
            skills: self.catalog.current().skills.len(),
            started_at: self.started_at,
            seen_at: crate::event::now_ms(),
            origin: self.cluster.origin,
        }
    }

    /// This host's part of `GET /`: its status and the stream's lag, read
    /// now (within a second) or said to be unknown, never an old figure.
    pub async fn status_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self.status()).unwrap_or_default();
        let lag = match self.cluster.state() {
            "connected" => tokio::time::timeout(Duration::from_secs(1), self.cluster.lag())
                .await
                .map_err(|_| "no answer within 1 s".to_owned())
                .and_then(|lag| lag.map_err(|e| format!("{e:#}"))),
            state => Err(format!("the bus is {state}")),
        };
        value["stream"] = match lag {
            Ok((pending, unacked)) => serde_json::json!({
                "name": self.cluster.stream_name(),
                "pending": pending,
                "ack_pending": unacked,
                "read_at": crate::event::now_ms(),
            }),
            Err(why) => serde_json::json!({
                "name": self.cluster.stream_name(),
                "unknown": why,
            }),
        };
        value
    }

    /// Says this host is alive, every [`HEARTBEAT`], until dropped.
    pub async fn heartbeat(self: Arc<Self>) {
        let key = host_key(&self.cluster.host);
        loop {
            let status = serde_json::to_vec(&self.status()).expect("a status serializes");
            if let Err(e) = self.kv.put(&key, status.into()).await {
                tracing::debug!("could not put this host's status: {e}");
            }
            tokio::time::sleep(HEARTBEAT).await;
        }
    }

    /// Answers other hosts' `reload`: reloads here and reports.
    pub async fn serve_control(self: Arc<Self>) -> Result<()> {
        let mut requests = self
            .cluster
            .client
            .subscribe(self.cluster.control_subject("reload"))
            .await?;
        while let Some(request) = requests.next().await {
            if request.payload.as_ref() == self.cluster.host.as_bytes() {
                continue; // our own: reloaded already
            }
            let Some(reply) = request.reply else { continue };
            let report = self.catalog.reload_all().await;
            for change in &report.changes {
                change.log();
            }
            let answer = Reloaded {
                host: self.cluster.host.clone(),
                summary: report.summary(),
            };
            let answer = serde_json::to_vec(&answer).expect("a report serializes");
            let _ = self.cluster.client.publish(reply, answer.into()).await;
        }
        Ok(())
    }

    async fn others(&self) -> usize {
        list(&self.kv)
            .await
            .map(|hosts| hosts.iter().filter(|h| h.host != self.cluster.host).count())
            .unwrap_or(0)
    }
}

impl Peers for Hosts {
    fn reload_everywhere(&self, own: String) -> BoxFuture<'_, String> {
        Box::pin(async move {
            let expected = self.others().await;
            let mut lines = vec![format!("{}: {own}", self.cluster.host)];
            let inbox = self.cluster.client.new_inbox();
            let Ok(mut answers) = self.cluster.client.subscribe(inbox.clone()).await else {
                return own;
            };
            let asked = self
                .cluster
                .client
                .publish_with_reply(
                    self.cluster.control_subject("reload"),
                    inbox,
                    self.cluster.host.clone().into(),
                )
                .await;
            if asked.is_ok() {
                let deadline = tokio::time::Instant::now() + RELOAD_WAIT;
                let mut heard = 0;
                while heard < expected {
                    let next = tokio::time::timeout_at(deadline, answers.next()).await;
                    let Ok(Some(answer)) = next else { break };
                    if let Ok(r) = serde_json::from_slice::<Reloaded>(&answer.payload) {
                        lines.push(format!("{}: {}", r.host, r.summary));
                        heard += 1;
                    }
                }
                if heard < expected {
                    lines.push(format!(
                        "({} of {expected} other hosts did not answer within {RELOAD_WAIT:?})",
                        expected - heard
                    ));
                }
            }
            lines.join("\n")
        })
    }
}

/// Has `host` started again since it made ids of `origin` (its entry now
/// names another process)? Then nobody will ever take an answer to those
/// ids. An entry that is missing or cannot be read tells nothing: during a
/// restart of NATS the bucket may read empty for a moment, and a host that
/// is only slow must not lose its answers.
pub async fn restarted_since(cluster: &Cluster, host: &str, origin: u32) -> bool {
    let Ok(kv) = cluster.bucket("hosts", GONE_AFTER).await else {
        return false;
    };
    let Ok(Some(value)) = kv.get(host_key(host)).await else {
        return false;
    };
    serde_json::from_slice::<HostStatus>(&value).is_ok_and(|h| h.origin != 0 && h.origin != origin)
}

/// Every host heard of lately.
async fn list(kv: &kv::Store) -> Result<Vec<HostStatus>> {
    let mut keys = kv.keys().await?;
    let mut out = Vec::new();
    while let Some(key) = keys.next().await {
        let Ok(key) = key else { continue };
        if let Ok(Some(value)) = kv.get(&key).await
            && let Ok(status) = serde_json::from_slice::<HostStatus>(&value)
        {
            out.push(status);
        }
    }
    out.sort_by(|a, b| a.host.cmp(&b.host));
    Ok(out)
}

/// `sandbot cluster status`: the hosts of the bot `settings` names, a line
/// each, and the stream's lag.
pub async fn print_status(settings: &crate::config::NatsSettings) -> Result<String> {
    let cluster = Cluster::connect(settings).await?;
    let kv = cluster.bucket("hosts", GONE_AFTER).await?;
    let hosts = list(&kv).await.context("reading the hosts bucket")?;
    let (pending, unacked) = cluster.lag().await.unwrap_or((0, 0));
    let now = crate::event::now_ms();
    let mut out = format!(
        "{} hosts; stream {}: {pending} waiting, {unacked} being handled\n",
        hosts.len(),
        cluster.stream_name()
    );
    out.push_str(&format!(
        "{:<28} {:<20} {:<13} {:>9} {:>6} {:>8}  leases\n",
        "host", "roles", "bus", "in-flight", "skills", "seen"
    ));
    for h in hosts {
        let quiet = now.saturating_sub(h.seen_at);
        // A missed heartbeat: what it last said is no longer so.
        let gone = quiet > QUIET.as_millis() as u64;
        out.push_str(&format!(
            "{:<28} {:<20} {:<13} {:>9} {:>6} {:>6.1}s  {}\n",
            h.host,
            h.roles,
            if gone { "gone" } else { h.bus.as_str() },
            if gone {
                "-".to_owned()
            } else {
                h.in_flight.to_string()
            },
            h.skills,
            quiet as f64 / 1000.0,
            if gone {
                String::new()
            } else {
                h.leases.join(", ")
            }
        ));
    }
    Ok(out)
}

/// A host's name as a key (keys take letters, digits, `-`, `_`, `=`, `.`).
fn host_key(host: &str) -> String {
    host.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '=') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `reload` on several hosts: the command's entry in the registry, with
/// the local reload's answer (`local`, the built-in handler) followed by
/// every other host's, a line each.
pub fn reload_everywhere(hosts: Arc<Hosts>, local: Entry) -> Entry {
    Entry {
        handler: Arc::new(Everywhere {
            local: local.handler,
            hosts,
        }),
        ..local
    }
}

struct Everywhere {
    local: Arc<dyn Handler>,
    hosts: Arc<Hosts>,
}

impl Handler for Everywhere {
    fn fits(&self, words: &[&str]) -> bool {
        self.local.fits(words)
    }

    fn run<'a>(&'a self, asked: &'a Asked<'a>) -> BoxFuture<'a, Reply> {
        Box::pin(async move {
            match self.local.run(asked).await {
                Reply::Say(own) => Reply::Say(self.hosts.reload_everywhere(own).await),
                Reply::Done => Reply::Done,
            }
        })
    }
}
