//! Wiring: from a configuration to a running bot. The one place that knows
//! every part: it builds the runtime, the catalog, the dispatcher and the
//! connector instances, and joins them through the ports in `bus`.

use crate::bot::{Bot, Dispatch};
use crate::bus::{Delivery, EventSink, Outboxes, Receivers};
use crate::catalog::{Catalog, watch};
use crate::config::{Config, Role};
use crate::connectors::registry::{self, Instance};
use crate::coordination::{Heartbeat, HostStatus};
use crate::history::History;
use crate::memory::Counted;
use crate::nats::join::Joined;
use crate::observe::{Metrics, Observer};
use crate::runtime::{Options, Runtime, Services};
use crate::work::Work;
use anyhow::Result;
use std::sync::Arc;
use tokio::sync::mpsc;

mod commands;
mod databases;
mod serve;

/// How long stopping waits for observers' queues (notices) to empty.
const OBSERVERS_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

pub struct App {
    pub bot: Arc<Bot>,
    pub catalog: Arc<Catalog>,
    pub config: Arc<Config>,
    /// The event sink connectors submit to.
    pub events: Arc<dyn EventSink>,
    /// Every execution record, when `history.enabled`.
    pub history: Option<Arc<History>>,
    /// The skills' memory (what the console shows each keeps).
    pub memory: Arc<dyn crate::memory::MemoryStore>,
    pub metrics: Arc<Metrics>,
    /// Installs from a registry waiting for approval (chat's and the console's).
    pub installs: Arc<crate::installs::Installs>,
    connectors: Vec<Instance>,
    outboxes: Receivers,
    /// Every observer, to wait for what they queued as the bot stops.
    observers: Vec<Arc<dyn Observer>>,
    /// On a NATS bus: the other hosts, the leases, and the tasks that keep
    /// this host part of the cluster (stopped when the app is dropped).
    cluster: Option<Joined>,
    /// With several hosts (a NATS bus, or a shared Redis): this host's
    /// heartbeat, stopped before it leaves.
    heartbeat: Option<Heartbeat>,
    _watch: watch::WatchHandle,
}

impl App {
    /// Opens the database, loads every skill and starts watching for
    /// changes. Connectors start with [`App::run`].
    pub async fn start(config: Config) -> Result<App> {
        Self::start_with(config, Vec::new()).await
    }

    /// [`App::start`] with more execution observers besides the log.
    ///
    /// Builds the parts in layer order, each handed what it needs: the
    /// bus and the response sink, the runtime, the catalog (skills
    /// loaded), the observers, the workflows (their matchers put in the
    /// catalog), on NATS the hosts, the command registry, then the
    /// dispatcher; last, what runs on the dispatcher (the cluster's
    /// worker) and the event sink connectors submit to.
    pub async fn start_with(config: Config, observers: Vec<Arc<dyn Observer>>) -> Result<App> {
        let config = Arc::new(config);
        // Every record says which host ran it.
        crate::event::set_host(config.bus.host_name());
        let connectors = registry::instances(&config)?;
        let files = databases::open_files(&config)?;
        let memory = Counted::new(crate::memory::open(&config, files.memory).await?);
        let metrics = Arc::new(Metrics::new().counting_memory(memory.counts()));
        // A host without the `connectors` role runs none, so answers to
        // them are never delivered here.
        let served = connectors
            .iter()
            .filter(|_| config.roles.has(Role::Connectors));
        // The console answers its operators' commands as a connector does.
        let console = config.console.as_ref().map(|_| crate::console::CONNECTOR);
        let (outboxes, receivers) =
            Outboxes::for_connectors(served.map(|c| c.name.as_str()).chain(console));
        let work = Arc::new(Work::default());
        let (bus, responses) = crate::nats::open_bus(&config, &outboxes).await?;
        let coordination = crate::nats::coordination::for_config(&config, bus.as_ref()).await?;
        let memory: Arc<dyn crate::memory::MemoryStore> = Arc::new(memory);
        let services = Services {
            memory: memory.clone(),
            responses: responses.clone(),
        };
        let runtime = Arc::new(Runtime::new(Options::as_configured(&config), services)?);
        let catalog = Arc::new(Catalog::new(runtime.clone(), config.clone()));
        let watch = watch::load_and_watch(catalog.clone()).await?;
        let (history, observers) =
            crate::observe::open_all(&config, files.history, &metrics, &responses, observers)?;
        let workflows = crate::workflow::Workflows::start(
            config.clone(),
            catalog.clone(),
            responses.clone(),
            observers.clone(),
            coordination.clone(),
            files.runs,
        )
        .await?;
        let in_flight = crate::bot::in_flight_limit(&config);
        // On a NATS bus, made before the dispatcher: its `reload` reaches
        // every host.
        let hosts = crate::nats::hosts::Hosts::on_bus(
            bus.as_ref(),
            coordination.as_ref(),
            config.roles.clone(),
            catalog.clone(),
            in_flight.clone(),
        );
        let installs = crate::installs::Installs::new(catalog.clone());
        let commands =
            commands::registry(&config, &workflows, &catalog, &history, &installs, &hosts);
        let bot = Bot::new(crate::bot::Parts {
            catalog: catalog.clone(),
            runtime,
            responses,
            observers: observers.clone(),
            metrics: metrics.clone(),
            work: work.clone(),
            workflows: workflows.clone(),
            commands,
            in_flight,
        });
        // Alive before the workflows claim runs: no other host takes this
        // one's meanwhile. The status it beats: the cluster's on NATS,
        // nothing more than its name on Redis.
        let status = hosts.clone().map(|h| h as Arc<dyn HostStatus>);
        let heartbeat = match coordination {
            Some(coordination) => Some(Heartbeat::start(coordination, status).await),
            None => None,
        };
        // Never fatal: a run that cannot be read fails alone (logged).
        workflows.resume().await;
        let (events, cluster): (Arc<dyn EventSink>, _) = match (bus, hosts) {
            (Some(bus), Some(hosts)) => {
                let joined =
                    crate::nats::join::join(&config, &bus, &bot, hosts, history.clone()).await?;
                let events =
                    crate::nats::events::BusEvents::new(bus.cluster, work, metrics.bus_published());
                (Arc::new(events), Some(joined))
            }
            _ => (Arc::new(Dispatch(bot.clone())), None),
        };
        Ok(App {
            bot,
            catalog,
            config,
            events,
            history,
            memory,
            metrics,
            installs,
            connectors,
            outboxes: receivers,
            observers,
            cluster,
            heartbeat,
            _watch: watch,
        })
    }

    /// Hands a connector's outbox to whoever delivers its responses (tests
    /// drive the bot this way, without running the connector).
    pub fn take_outbox(&mut self, connector: &str) -> Option<mpsc::Receiver<Delivery>> {
        self.outboxes.take(connector)
    }

    /// Runs the configured connectors until one whose input ends (a piped
    /// shell) returns, or the process is told to stop; then stops as
    /// [`App::stop`] says. A connector that fails is logged and the others
    /// keep running.
    pub async fn run(&mut self) -> Result<()> {
        self.serve().await
    }

    /// Stops taking events, gives running executions (background runs
    /// included) `runtime.shutdown-grace` to finish, stops the rest (each
    /// recorded as `interrupted`) and writes out the history.
    pub async fn stop(&self) {
        let work = self.bot.work();
        work.close();
        let grace = self.config.runtime.shutdown_grace;
        if work.running() > 0 {
            tracing::info!(
                running = work.running(),
                "waiting up to {grace} for running executions"
            );
        }
        let waited = tokio::select! {
            waited = tokio::time::timeout(grace.0, work.idle()) => waited.is_ok(),
            // A second Ctrl-C or SIGTERM does not wait.
            () = shutdown_signal() => false,
        };
        if !waited {
            tracing::warn!(
                running = work.running(),
                "stopping what still runs (shutdown grace {grace})"
            );
            work.stop();
            // Each stopped run gives its record as it is dropped.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), work.idle()).await;
        }
        // Workflow runs stop where they are, before the history is written
        // out: each is stored as it was and resumes on the next start.
        let workflows = self.bot.workflows();
        workflows.stop(std::time::Duration::from_secs(2)).await;
        // Stopped and stored: this host leaves, so another may take its
        // runs at once, not after a lease time. The heartbeat stops first,
        // so no late beat brings it back.
        if let Some(heartbeat) = &self.heartbeat {
            heartbeat.leave().await;
        }
        // Notices of the last executions go out while the connectors (and
        // so the rooms) are still there.
        let settled = futures::future::join_all(self.observers.iter().map(|o| o.settled()));
        if tokio::time::timeout(OBSERVERS_GRACE, settled)
            .await
            .is_err()
        {
            tracing::warn!(
                "notices still queued after {OBSERVERS_GRACE:?} are dropped as the bot stops"
            );
        }
        // Written out last: the notices' outcomes go into their records.
        if let Some(history) = &self.history {
            let history = history.clone();
            let flushed = tokio::task::spawn_blocking(move || {
                history.flush(std::time::Duration::from_secs(5))
            })
            .await
            .unwrap_or(false);
            if !flushed {
                tracing::warn!("the history writer did not catch up before the bot stopped");
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
