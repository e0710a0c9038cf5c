//! `bus:` and `roles:`, how several hosts share the work. `bus: {type:
//! local}` (the default) keeps today's in-process ports; `bus: {type: nats,
//! url: …}` puts events on a NATS JetStream work-queue stream that every
//! host in the `workers` role pulls from. `roles:` says what this host
//! runs: `connectors`, `workers`, or both (the default).

use super::Secret;
use crate::limits::HumanDuration;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum BusSettings {
    /// One process: connectors hand events straight to the dispatcher.
    #[default]
    Local,
    /// Several hosts on NATS with JetStream (boxed: the local bus, the
    /// usual case, should not carry its size).
    Nats(Box<NatsSettings>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NatsSettings {
    /// `nats://host:port`, or several separated by commas (a cluster).
    #[serde(default = "default_url")]
    pub url: String,
    /// A `.creds` file (JWT and NKey seed), as `nats` CLI users have.
    #[serde(default)]
    pub credentials: Option<PathBuf>,
    #[serde(default)]
    pub token: Option<Secret>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    /// Names of the stream, buckets and subjects start with this, so
    /// several bots can share one NATS [default: sandbot].
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// This host's name in `cluster status`, leases and `reload` reports
    /// [default: the machine's host name and the process id].
    #[serde(default)]
    pub host: Option<String>,
    /// How long JetStream waits for a worker's ack before it gives the
    /// event to another worker; a worker still busy says so every third of
    /// this, so only a dead worker's events move. It is the consumer's
    /// setting, shared by all hosts: the last host started sets it, and
    /// every worker paces itself by what the consumer has [default: 30s].
    #[serde(default = "default_ack_wait")]
    pub ack_wait: HumanDuration,
    /// Deliveries of one event before it is given up, -1 for no bound. A
    /// return to the stream while its skill is at its `concurrency` bound
    /// counts as one, so bound it only well above what a busy skill needs
    /// (it stops an event that kills every worker that takes it) [default: -1].
    #[serde(default = "default_max_deliver")]
    pub max_deliver: i64,
    /// Events taken by workers and not yet acked, across all of them
    /// (each worker pulls only as many as it has places for; this bounds
    /// them together) [default: 100000].
    #[serde(default = "default_max_ack_pending")]
    pub max_ack_pending: i64,
    /// Copies of the stream in a NATS cluster [default: 1].
    #[serde(default = "default_replicas")]
    pub replicas: usize,
    /// How long a lease (a single connection, the cron ticks) outlives its
    /// holder, and a host its last heartbeat (its workflow runs are then
    /// another's): another host takes over within this and a second
    /// [default: 5s].
    #[serde(default = "default_lease_ttl")]
    pub lease_ttl: HumanDuration,
}

impl BusSettings {
    /// This host's name among several: `bus.host`, else
    /// [`default_host_name`]. Workflow runs in a shared store are owned by it.
    pub fn host_name(&self) -> String {
        match self {
            BusSettings::Nats(s) => s.host.clone().unwrap_or_else(default_host_name),
            BusSettings::Local => default_host_name(),
        }
    }

    /// How long a host's claim (a lease, a workflow run) outlives its last
    /// heartbeat: `bus.lease-ttl`, 5 s on the local bus.
    pub fn lease_ttl(&self) -> Duration {
        match self {
            BusSettings::Nats(s) => s.lease_ttl.0,
            BusSettings::Local => default_lease_ttl().0,
        }
    }
}

/// `HOSTNAME-PID`: unique among the hosts of one machine too.
pub fn default_host_name() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "host".into());
    format!("{name}-{}", std::process::id())
}

fn default_url() -> String {
    "nats://127.0.0.1:4222".into()
}
fn default_prefix() -> String {
    "sandbot".into()
}
fn default_ack_wait() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}
fn default_max_deliver() -> i64 {
    -1
}
fn default_max_ack_pending() -> i64 {
    100_000
}
fn default_replicas() -> usize {
    1
}
fn default_lease_ttl() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}

/// What a host runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The configured connectors (and their web routes, webhooks, cron).
    Connectors,
    /// Pulls events from the bus and runs skills.
    Workers,
}

/// `roles:` as a set; both by default.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct Roles(pub Vec<Role>);

impl Default for Roles {
    fn default() -> Self {
        Roles(vec![Role::Connectors, Role::Workers])
    }
}

impl Roles {
    pub fn has(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    /// `connectors+workers`, as status pages show it.
    pub fn describe(&self) -> String {
        let mut names: Vec<&str> = Vec::new();
        if self.has(Role::Connectors) {
            names.push("connectors");
        }
        if self.has(Role::Workers) {
            names.push("workers");
        }
        names.join("+")
    }
}
