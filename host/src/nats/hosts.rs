//! The hosts of one bot, as each sees the others: every host's status
//! (roles, bus state, leases, events in flight, skills) is what it says at
//! each beat of its presence (`coordination`, over NATS). `sandbot cluster
//! status` lists the hosts; `GET /` shows this host's part and the
//! stream's lag. `reload` in chat asks every other host alive, and the
//! answer lists each host's report.

use super::Cluster;
use super::coordination::NatsCoordination;
use crate::bus::Peers;
use crate::catalog::Catalog;
use crate::commands::{Asked, Entry, Handler, Reply};
use crate::config::Roles;
use crate::coordination::{Answerer, Coordination, Leases};
use anyhow::{Context as _, Result};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// A host not heard of for this long (a missed heartbeat and a margin) is
/// shown as gone, and its events' answers are no longer retried.
const QUIET: Duration = Duration::from_millis(2500);
/// How long `reload` waits for the other hosts' reports.
const RELOAD_WAIT: Duration = Duration::from_secs(10);
/// The topic hosts ask each other to reload on.
const RELOAD: &str = "reload";

crate::with_schema! {
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
}

pub struct Hosts {
    cluster: Cluster,
    coordination: Arc<dyn Coordination>,
    roles: Roles,
    leases: Leases,
    catalog: Arc<Catalog>,
    /// The `max-in-flight` permits (`bot::in_flight_limit`), and how many.
    in_flight: Arc<tokio::sync::Semaphore>,
    max_in_flight: usize,
    started_at: u64,
}

impl Hosts {
    /// On a NATS bus, the hosts and this host's leases, made before the
    /// dispatcher, whose `reload` command reaches every host; none on a
    /// local bus.
    pub fn on_bus(
        bus: Option<&super::Bus>,
        coordination: Option<&Arc<dyn Coordination>>,
        roles: Roles,
        catalog: Arc<Catalog>,
        in_flight: Arc<tokio::sync::Semaphore>,
    ) -> Option<Arc<Hosts>> {
        let (bus, coordination) = (bus?, coordination?.clone());
        Some(Arc::new(Hosts {
            cluster: bus.cluster.clone(),
            leases: Leases::new(coordination.clone()),
            coordination,
            roles,
            catalog,
            max_in_flight: in_flight.available_permits(),
            in_flight,
            started_at: crate::event::now_ms(),
        }))
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The names this host holds (single connections, the cron ticks).
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

    /// Every host heard of lately, as each last said (sorted by name); a
    /// host quiet past a missed heartbeat is shown `gone`, with no leases
    /// or load, as `cluster status` shows it.
    pub async fn all(&self) -> Result<Vec<HostStatus>> {
        let now = crate::event::now_ms();
        let mut hosts = list(self.coordination.as_ref()).await?;
        for h in &mut hosts {
            if now.saturating_sub(h.seen_at) > QUIET.as_millis() as u64 {
                h.bus = "gone".into();
                h.leases.clear();
                h.in_flight = 0;
            }
        }
        Ok(hosts)
    }

    /// Answers other hosts' `reload`: reloads here and reports, until
    /// dropped.
    pub async fn serve_reload(self: Arc<Self>) {
        let me = self.clone();
        let answer: Answerer = Arc::new(move |_| {
            let me = me.clone();
            Box::pin(async move {
                let report = me.catalog.reload_all().await;
                for change in &report.changes {
                    change.log();
                }
                report.summary().into_bytes()
            })
        });
        self.coordination.serve(RELOAD, answer).await
    }
}

impl Peers for Hosts {
    fn reload_everywhere(&self, own: String) -> BoxFuture<'_, String> {
        Box::pin(async move {
            let me = self.coordination.host();
            let others: Vec<String> = match crate::coordination::alive(&*self.coordination).await {
                Ok(hosts) => hosts.into_iter().filter(|h| h != me).collect(),
                Err(e) => {
                    tracing::warn!("cannot list the other hosts to reload them: {e:#}");
                    Vec::new()
                }
            };
            let asks = others
                .iter()
                .map(|host| self.coordination.ask(host, RELOAD, Vec::new(), RELOAD_WAIT));
            let answers = futures::future::join_all(asks).await;
            let mut lines = vec![format!("{me}: {own}")];
            let mut silent = 0;
            for (host, answer) in others.iter().zip(answers) {
                match answer {
                    Ok(summary) => {
                        lines.push(format!("{host}: {}", String::from_utf8_lossy(&summary)))
                    }
                    Err(e) => {
                        tracing::warn!(%host, "no reload report: {e}");
                        silent += 1;
                    }
                }
            }
            if silent > 0 {
                lines.push(format!(
                    "({silent} of {} other hosts did not answer within {RELOAD_WAIT:?})",
                    others.len()
                ));
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
    let Some(status) = super::coordination::status_of(cluster, host).await else {
        return false;
    };
    serde_json::from_slice::<HostStatus>(&status).is_ok_and(|h| h.origin != 0 && h.origin != origin)
}

/// Every host heard of lately, as each last said.
async fn list(coordination: &dyn Coordination) -> Result<Vec<HostStatus>> {
    let mut out: Vec<HostStatus> = coordination
        .hosts()
        .await?
        .into_iter()
        .filter_map(|p| serde_json::from_slice(&p.status).ok())
        .collect();
    out.sort_by(|a, b| a.host.cmp(&b.host));
    Ok(out)
}

/// `sandbot cluster status`: the hosts of the bot `settings` names, a line
/// each, and the stream's lag.
pub async fn print_status(settings: &crate::config::NatsSettings) -> Result<String> {
    let cluster = Cluster::connect(settings).await?;
    let coordination = NatsCoordination::open(cluster.clone()).await?;
    let hosts = list(&coordination)
        .await
        .context("reading the hosts bucket")?;
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

impl crate::coordination::HostStatus for Hosts {
    /// What this host says at each beat: its status, as JSON.
    fn status_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.status()).expect("a status serializes")
    }
}
