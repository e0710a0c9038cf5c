//! Wiring: from a configuration to a running bot. The one place that knows
//! every part: it builds the runtime, the catalog, the dispatcher and the
//! connector instances, and joins them through the ports in `bus`.

use crate::bot::{Bot, Dispatch};
use crate::bus::{Delivery, EventSink, Outboxes};
use crate::catalog::{Catalog, watch};
use crate::commands::Commands;
use crate::config::{BusSettings, Config, Role};
use crate::connectors::registry::{self, Instance};
use crate::connectors::{ConnectorSink, Context, Status, Web};
use crate::coordination::{Coordination, Leases};
use crate::history::{History, Retention};
use crate::memory::{Counted, MemoryStore, RedisMemory, SqliteMemory};
use crate::observe::{HistoryObserver, LogObserver, Metrics, Observer};
use crate::runtime::{Options, Runtime, Services};
use crate::work::Work;
use crate::{scheduler, web};
use anyhow::{Context as _, Result};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

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
    pub metrics: Arc<Metrics>,
    connectors: Vec<Instance>,
    outboxes: HashMap<String, mpsc::Receiver<Delivery>>,
    /// Every observer, to wait for what they queued as the bot stops.
    observers: Vec<Arc<dyn Observer>>,
    /// On a NATS bus: the other hosts, the leases, and the tasks that keep
    /// this host part of the cluster (stopped when the app is dropped).
    cluster: Option<ClusterParts>,
    /// With several hosts (a NATS bus, or a shared Redis): how they agree,
    /// and this host's heartbeat, stopped before it leaves.
    presence: Option<Presence>,
    _watch: watch::WatchHandle,
}

/// This host among several: the coordination and its heartbeat.
struct Presence {
    coordination: Arc<dyn Coordination>,
    heartbeat: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Presence {
    /// Beats once, then every beat: with the cluster's status on NATS,
    /// with nothing more than its name on Redis.
    async fn start(
        coordination: Arc<dyn Coordination>,
        hosts: Option<&(Arc<crate::nats::hosts::Hosts>, Leases)>,
    ) -> Presence {
        let status: Arc<dyn Fn() -> Vec<u8> + Send + Sync> = match hosts {
            Some((hosts, _)) => {
                let hosts = hosts.clone();
                Arc::new(move || hosts.status_bytes())
            }
            None => Arc::new(Vec::new),
        };
        let beating = crate::coordination::keep_beating(coordination.clone(), status).await;
        Presence {
            coordination,
            heartbeat: std::sync::Mutex::new(Some(beating)),
        }
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        if let Some(beating) = self
            .heartbeat
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            beating.abort();
        }
    }
}

/// What a host on a NATS bus runs besides the local parts.
struct ClusterParts {
    hosts: Arc<crate::nats::hosts::Hosts>,
    leases: Leases,
    _tasks: Vec<AbortOnDrop>,
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
        let memory = Counted::new(open_memory(&config).await?);
        let memory_counts = memory.counts();
        let memory: Arc<dyn MemoryStore> = Arc::new(memory);
        let (outboxes, receivers) = open_outboxes(&config, &connectors);
        let work = Arc::new(Work::default());
        let (bus, responses) = open_bus(&config, &outboxes).await?;
        let coordination = open_coordination(&config, bus.as_ref()).await?;
        let services = Services {
            memory,
            responses: responses.clone(),
        };
        let options = Options {
            cache_dir: config.runtime.compile_cache.then(|| config.cache_dir()),
            max_in_flight: config.runtime.max_in_flight,
        };
        let runtime = Arc::new(Runtime::new(options, services)?);
        let catalog = Arc::new(Catalog::new(runtime.clone(), config.clone()));
        let watch = watch::start(catalog.clone())?;
        load_skills(&catalog, &config).await;
        let metrics = Arc::new(Metrics::new().counting_memory(memory_counts));
        let (history, observers) = open_observers(&config, &metrics, &responses, observers)?;
        let workflows = crate::workflow::Workflows::start(
            config.clone(),
            catalog.clone(),
            responses.clone(),
            observers.clone(),
            coordination.clone(),
        )
        .await?;
        let in_flight = crate::bot::in_flight_limit(&config);
        let hosts = match (&bus, &coordination) {
            (Some(bus), Some(coordination)) => {
                Some(open_hosts(&config, bus, coordination, &catalog, &in_flight))
            }
            _ => None,
        };
        let mut commands = Commands::new(config.clone());
        commands.extend(crate::workflow::commands(&workflows));
        commands.extend(crate::builtins::commands(catalog.clone(), history.clone()));
        if let Some((hosts, _)) = &hosts {
            commands.replace(&["reload"], |local| {
                crate::nats::hosts::reload_everywhere(hosts.clone(), local)
            });
        }
        let bot = Bot::new(crate::bot::Parts {
            catalog: catalog.clone(),
            runtime,
            responses,
            observers: observers.clone(),
            metrics: metrics.clone(),
            work: work.clone(),
            workflows: workflows.clone(),
            commands: Arc::new(commands),
            in_flight,
        });
        // Alive before the workflows claim runs: no other host takes this
        // one's meanwhile.
        let presence = match coordination {
            Some(coordination) => Some(Presence::start(coordination, hosts.as_ref()).await),
            None => None,
        };
        // Never fatal: a run that cannot be read fails alone (logged).
        workflows.resume().await;
        let (events, cluster): (Arc<dyn EventSink>, _) = match (bus, hosts) {
            (Some(bus), Some((hosts, leases))) => {
                let parts =
                    join_cluster(&config, &bus, &bot, hosts, leases, history.clone()).await?;
                let events =
                    crate::nats::events::BusEvents::new(bus.cluster, work, metrics.bus_published());
                (Arc::new(events), Some(parts))
            }
            _ => (Arc::new(Dispatch(bot.clone())), None),
        };
        Ok(App {
            bot,
            catalog,
            config,
            events,
            history,
            metrics,
            connectors,
            outboxes: receivers,
            observers,
            cluster,
            presence,
            _watch: watch,
        })
    }

    /// Hands a connector's outbox to whoever delivers its responses (tests
    /// drive the bot this way, without running the connector).
    pub fn take_outbox(&mut self, connector: &str) -> Option<mpsc::Receiver<Delivery>> {
        self.outboxes.remove(connector)
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
        if let Some(presence) = &self.presence {
            let beating = presence
                .heartbeat
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            if let Some(beating) = beating {
                beating.abort();
                let _ = beating.await;
            }
            presence.coordination.leave().await;
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

    async fn serve(&mut self) -> Result<()> {
        let web_settings = self.config.web.clone().unwrap_or_default();
        let mut routes = axum::Router::new();
        if let (Some(history), Some(token)) = (&self.history, &self.config.history.token)
            && !token.is_empty()
        {
            routes = routes.merge(web::api::routes(history.clone(), token.expose().to_owned()));
        }
        let Mounted {
            routes: connector_routes,
            statuses,
            ready,
            pages,
        } = self.mount_connectors(&web_settings);
        let mounted = connector_routes.is_some();
        if let Some(r) = connector_routes {
            routes = routes.merge(r);
        }
        let connectors: Vec<(String, String)> = statuses
            .iter()
            .map(|(name, kind, _)| (name.clone(), kind.clone()))
            .collect();
        // Webhooks are always mounted, but need `web:` to be served.
        routes = routes.merge(web::webhook::routes(
            self.bot.clone(),
            self.catalog.clone(),
            self.config.clone(),
        ));
        if self.config.web.is_none() && !mounted {
            self.warn_unserved_webhooks();
        }
        // The server runs when configured or when a connector mounted on it.
        let server = if self.config.web.is_some() || mounted {
            Some(self.start_server(&web_settings, routes, statuses).await?)
        } else {
            None
        };
        // Stopped first when the bot stops, so no tick starts during the
        // grace. On several hosts the ticks fire on the one holding `cron`.
        let scheduler = self.start_scheduler();
        let mut running = self.start_connectors(ready)?;
        crate::banner::Banner {
            skills: self.catalog.current().skills.len(),
            connectors: &connectors,
            server: server
                .as_ref()
                .map(|(address, _)| (*address, web_settings.cert.is_some())),
            pages: &pages,
        }
        .show();
        wait_for_end(&mut running).await;
        // The connectors (`running`, aborted when dropped) and the server
        // keep running through the grace, so answers of what still runs
        // reach their rooms.
        drop(scheduler);
        self.stop().await;
        drop(running);
        Ok(())
    }

    /// The connectors this host runs, each with its event sink and status,
    /// and the routes those with a web side mount (none if none do).
    fn mount_connectors(&mut self, web_settings: &crate::config::WebSettings) -> Mounted {
        let loopback = web::loopback_only(web_settings);
        let mut routes: Option<axum::Router> = None;
        let mut statuses = Vec::new();
        let mut ready = Vec::new();
        let mut pages = Vec::new();
        let connectors = if self.config.roles.has(Role::Connectors) {
            std::mem::take(&mut self.connectors)
        } else {
            Vec::new()
        };
        for mut instance in connectors {
            let events =
                ConnectorSink::new(&instance.name, instance.max_message, self.events.clone());
            let status = Status::new("starting");
            let web = Web {
                name: instance.name.clone(),
                events: events.clone(),
                status: status.clone(),
                loopback,
            };
            if let Some(r) = instance.connector.routes(&web) {
                routes = Some(routes.take().unwrap_or_default().merge(r));
            }
            pages.extend(instance.connector.page());
            statuses.push((instance.name.clone(), instance.kind.clone(), status.clone()));
            ready.push((instance, events, status));
        }
        Mounted {
            routes,
            statuses,
            ready,
            pages,
        }
    }

    /// Webhook matchers (a skill's or a workflow's) with no HTTP server
    /// to reach them: said in the log.
    fn warn_unserved_webhooks(&self) {
        let set = self.catalog.current();
        let hooked = |skills: bool| {
            set.targets().any(|(target, _, matchers, _)| {
                matches!(target, crate::matching::Target::Skill(_)) == skills
                    && matchers.has_webhooks()
            })
        };
        if hooked(true) {
            tracing::warn!(
                "a skill has webhook matchers, but no HTTP server runs: add `web:` to the configuration"
            );
        }
        if hooked(false) {
            tracing::warn!(
                "a workflow declares `webhook:`, but no HTTP server runs: add `web:` to the configuration"
            );
        }
    }

    /// The HTTP server, with `routes`, `/metrics` and `GET /`.
    async fn start_server(
        &self,
        web_settings: &crate::config::WebSettings,
        routes: axum::Router,
        statuses: Vec<(String, String, Status)>,
    ) -> Result<(std::net::SocketAddr, AbortOnDrop)> {
        let states = statuses
            .iter()
            .map(|(name, _, status)| (name.clone(), status.clone()))
            .collect();
        let routes = routes.merge(web::metrics::routes(
            self.metrics.clone(),
            self.bot.clone(),
            self.catalog.clone(),
            states,
            self.cluster.as_ref().map(|c| c.hosts.clone()),
            self.config
                .metrics
                .token
                .as_ref()
                .map(|t| t.expose().to_owned()),
        ));
        let source = web::StatusSource {
            catalog: self.catalog.clone(),
            connectors: statuses,
            cluster: self.cluster.as_ref().map(|c| c.hosts.clone()),
        };
        let (address, task) = web::serve(web_settings, routes, source).await?;
        Ok((address, AbortOnDrop(task)))
    }

    /// The scheduler: here, or on several hosts while this one holds the
    /// `cron` lease.
    fn start_scheduler(&self) -> AbortOnDrop {
        match &self.cluster {
            None => AbortOnDrop(scheduler::start(self.bot.clone(), self.catalog.clone())),
            Some(parts) => {
                let (leases, bot, catalog) =
                    (parts.leases.clone(), self.bot.clone(), self.catalog.clone());
                AbortOnDrop(tokio::spawn(async move {
                    loop {
                        let (bot, catalog) = (bot.clone(), catalog.clone());
                        let ticking = async move {
                            let _ticks = AbortOnDrop(scheduler::start(bot, catalog));
                            std::future::pending::<()>().await
                        };
                        leases.run_held("cron", Box::pin(ticking)).await;
                    }
                }))
            }
        }
    }

    /// Starts every connector ready to run, each on its own task (a
    /// single-connection one while it holds its lease).
    fn start_connectors(&mut self, ready: Vec<Ready>) -> Result<Running> {
        let leases = self.cluster.as_ref().map(|c| c.leases.clone());
        let mut running = tokio::task::JoinSet::new();
        for (instance, events, status) in ready {
            let outbox = self
                .take_outbox(&instance.name)
                .with_context(|| format!("connector `{}` has no outbox", instance.name))?;
            let cx = Context {
                events,
                name: instance.name.clone(),
                outbox,
                status: status.clone(),
                data: self
                    .config
                    .data_dir()
                    .join("connectors")
                    .join(&instance.name),
                room_aliases: room_aliases(&self.config, &instance.name),
            };
            let (name, kind) = (instance.name, instance.kind);
            tracing::debug!(connector = %name, kind = %kind, "starting");
            let single = leases
                .clone()
                .filter(|_| SINGLE_CONNECTION.contains(&kind.as_str()));
            running.spawn(async move {
                let connector = instance.connector;
                let ended = match single {
                    None => connector.run(cx).await,
                    Some(leases) => {
                        status.set("waiting for its lease (another host holds the connection)");
                        let (tx, rx) = tokio::sync::oneshot::channel();
                        let task = async move {
                            let _ = tx.send(connector.run(cx).await);
                        };
                        let lease = format!("connector-{name}");
                        match leases.run_held(&lease, Box::pin(task)).await {
                            crate::coordination::Ended::Returned => rx.await.unwrap_or(Ok(())),
                            crate::coordination::Ended::Lost => Err(anyhow::anyhow!(
                                "its lease `{lease}` was lost to another host"
                            )),
                        }
                    }
                };
                match &ended {
                    Ok(()) => status.set("stopped"),
                    Err(e) => status.set(format!("stopped: {e:#}")),
                }
                (name, ended)
            });
        }
        if running.is_empty() && self.config.roles.has(Role::Connectors) {
            tracing::warn!(
                "no connectors configured: nothing to listen to (add `connectors: {{shell: {{}}}}`)"
            );
        }
        Ok(running)
    }
}

/// The room aliases the skills' permissions (their own, their matchers'
/// and their aliases') name for `connector`, each once.
fn room_aliases(config: &Config, connector: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for entry in config.skills.values() {
        let levels = std::iter::once(&entry.permissions)
            .chain(entry.matchers.values().map(|m| &m.permissions))
            .chain(entry.aliases.iter().map(|a| &a.permissions));
        for permissions in levels {
            for alias in permissions.room_aliases(connector) {
                if !found.iter().any(|f| f == alias) {
                    found.push(alias.to_owned());
                }
            }
        }
    }
    found
}

/// What [`App::mount_connectors`] gives: the routes connectors mount, each
/// connector's status, and the connectors ready to run.
/// The connectors' side of the HTTP server, before it starts.
struct Mounted {
    /// The routes those with a web side serve (none if none do).
    routes: Option<axum::Router>,
    /// Each connector's (name, kind, status), for `GET /`.
    statuses: Vec<(String, String, Status)>,
    ready: Vec<Ready>,
    /// The chat pages' paths, for the banner.
    pages: Vec<String>,
}
type Ready = (Instance, ConnectorSink, Status);
type Running = tokio::task::JoinSet<(String, Result<()>)>;

/// Waits until a connector whose input ended (a piped shell) returns, or
/// the process is told to stop; a connector that fails is logged and the
/// others keep running.
async fn wait_for_end(running: &mut Running) {
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            ended = running.join_next(), if !running.is_empty() => {
                match ended {
                    Some(Ok((name, Ok(())))) => {
                        tracing::debug!(connector = %name, "input ended");
                        // A connector whose input ended (a piped shell)
                        // ends the bot, as it always has.
                        break;
                    }
                    Some(Ok((name, Err(e)))) => {
                        tracing::error!(connector = %name, "the connector stopped: {e:#}");
                    }
                    Some(Err(e)) => tracing::error!("a connector panicked: {e}"),
                    None => {}
                }
            }
            _ = &mut signal => {
                tracing::info!("stopping");
                break;
            }
        }
    }
}

/// The connectors' outboxes (on a host with the `connectors` role: a host
/// without it runs none, so answers to them are never delivered here).
fn open_outboxes(
    config: &Config,
    connectors: &[Instance],
) -> (Arc<Outboxes>, HashMap<String, mpsc::Receiver<Delivery>>) {
    let mut outboxes = Outboxes::default();
    let mut receivers = HashMap::new();
    if config.roles.has(Role::Connectors) {
        for instance in connectors {
            receivers.insert(instance.name.clone(), outboxes.open(&instance.name));
        }
    }
    (Arc::new(outboxes), receivers)
}

/// The response sink everything answers through: the outboxes themselves,
/// or on NATS the sink that finds each answer's host (with the bus).
async fn open_bus(
    config: &Config,
    outboxes: &Arc<Outboxes>,
) -> Result<(Option<Bus>, Arc<dyn crate::bus::ResponseSink>)> {
    match &config.bus {
        BusSettings::Local => Ok((None, outboxes.clone())),
        BusSettings::Nats(settings) => {
            let cluster = crate::nats::Cluster::connect(settings).await?;
            cluster.settle_consumer().await?;
            tracing::info!(url = %settings.url, host = %cluster.host, roles = %config.roles.describe(), "on the NATS bus");
            let replies = crate::nats::replies::ResponseReceiver::new(outboxes.clone());
            let answers =
                crate::nats::replies::ResponseForwarder::new(cluster.clone(), replies.clone());
            let bus = Bus {
                cluster,
                replies,
                answers: answers.clone(),
            };
            Ok((Some(bus), answers))
        }
    }
}

/// Loads every skill, logging what changed (and a hint when none loaded).
async fn load_skills(catalog: &Catalog, config: &Config) {
    let report = catalog.reload_all().await;
    for change in &report.changes {
        change.log();
    }
    if catalog.current().skills.is_empty() {
        tracing::warn!(
            folder = %config.skills_dir.as_deref().map(|d| d.display().to_string()).unwrap_or_default(),
            "no skills loaded; put .wasm skills in the skills folder and say `reload`"
        );
    }
}

type Observers = Vec<Arc<dyn Observer>>;

/// Every observer of execution records: the log, the metrics, the history
/// (when `history.enabled`, returned too), the notifier, then `more`.
fn open_observers(
    config: &Config,
    metrics: &Arc<Metrics>,
    responses: &Arc<dyn crate::bus::ResponseSink>,
    more: Vec<Arc<dyn Observer>>,
) -> Result<(Option<Arc<History>>, Observers)> {
    let mut all: Vec<Arc<dyn Observer>> = vec![Arc::new(LogObserver), metrics.clone()];
    let history = if config.history.enabled {
        let history = Arc::new(open_history(config)?);
        all.push(Arc::new(HistoryObserver(history.clone())));
        Some(history)
    } else {
        None
    };
    all.extend(crate::observe::Notifier::start(
        config,
        responses.clone(),
        metrics.notices_dropped(),
        metrics.notices_failed(),
        history.clone(),
    )?);
    all.extend(more);
    Ok((history, all))
}

/// The history of execution records, in Redis when `databases.redis` is
/// set, else in SQLite.
fn open_history(config: &Config) -> Result<History> {
    let retention = Retention {
        max_age: config.history.max_age.0,
        max_count: config.history.max_count,
        max_bytes: config.history.max_bytes.0,
    };
    let max_text = usize::try_from(config.history.max_text.0).unwrap_or(usize::MAX);
    let history = match &config.databases.redis {
        Some(redis) => History::open_redis(
            redis.url.expose(),
            &redis.shown_url(),
            &redis.prefix,
            retention,
        )?,
        None => History::open_abandoning(&config.history_path(), retention)?,
    };
    Ok(history.keeping_texts(max_text))
}

/// How several hosts agree (`crate::coordination`): over NATS on a NATS
/// bus, else over Redis when the stores are shared there; `None` for a
/// host alone.
async fn open_coordination(
    config: &Config,
    bus: Option<&Bus>,
) -> Result<Option<Arc<dyn Coordination>>> {
    if let Some(bus) = bus {
        let nats = crate::nats::coordination::NatsCoordination::open(bus.cluster.clone()).await?;
        return Ok(Some(Arc::new(nats)));
    }
    let Some(redis) = &config.databases.redis else {
        return Ok(None);
    };
    let redis = crate::coordination::redis::RedisCoordination::connect(
        redis.url.expose(),
        &redis.shown_url(),
        &redis.prefix,
        &config.bus.host_name(),
        config.bus.lease_ttl(),
    )
    .await?;
    Ok(Some(Arc::new(redis)))
}

/// The leases and the other hosts, on a NATS bus: made before the
/// dispatcher, whose `reload` command reaches every host.
fn open_hosts(
    config: &Config,
    bus: &Bus,
    coordination: &Arc<dyn Coordination>,
    catalog: &Arc<Catalog>,
    in_flight: &Arc<tokio::sync::Semaphore>,
) -> (Arc<crate::nats::hosts::Hosts>, Leases) {
    let leases = Leases::new(coordination.clone());
    let hosts = crate::nats::hosts::Hosts::new(
        bus.cluster.clone(),
        coordination.clone(),
        config.roles.clone(),
        leases.clone(),
        catalog.clone(),
        in_flight.clone(),
    );
    (hosts, leases)
}

/// The NATS connection and the two ends of the answers' way back.
struct Bus {
    cluster: crate::nats::Cluster,
    replies: Arc<crate::nats::replies::ResponseReceiver>,
    answers: Arc<crate::nats::replies::ResponseForwarder>,
}

/// Starts what makes this host one of several: the answers' listener (for
/// its connectors), the worker (in the `workers` role), `reload` asked by
/// other hosts, and the skills shared through the object store.
async fn join_cluster(
    config: &Config,
    bus: &Bus,
    bot: &Arc<Bot>,
    hosts: Arc<crate::nats::hosts::Hosts>,
    leases: Leases,
    history: Option<Arc<History>>,
) -> Result<ClusterParts> {
    use crate::nats::{skills::SharedSkills, worker::Worker};
    let cluster = &bus.cluster;
    let mut tasks = Vec::new();
    let replies = bus.replies.clone();
    let listening = cluster.clone();
    tasks.push(AbortOnDrop(tokio::spawn(async move {
        if let Err(e) = replies.listen(listening).await {
            tracing::error!("answers from other hosts cannot be received: {e:#}");
        }
    })));
    if config.roles.has(Role::Workers) {
        let worker = Arc::new(Worker::new(
            cluster.clone(),
            bot.clone(),
            bus.answers.clone(),
            history,
        ));
        tasks.push(AbortOnDrop(tokio::spawn(worker.run())));
    }
    tasks.push(AbortOnDrop(tokio::spawn(hosts.clone().serve_reload())));
    if let Some(dir) = &config.skills_dir {
        let shared = SharedSkills::start(cluster, dir.clone())
            .await
            .context("sharing skills through the object store")?;
        tasks.push(AbortOnDrop(tokio::spawn(shared.run())));
    }
    Ok(ClusterParts {
        hosts,
        leases,
        _tasks: tasks,
    })
}

/// Connector kinds whose connection must be single across hosts: one IRC
/// nick per network, one sync per Matrix account.
const SINGLE_CONNECTION: &[&str] = &["irc", "matrix"];

/// The memory backend `databases:` names: Redis when `redis` is given, else
/// the SQLite file. A Redis that cannot be reached stops the start here,
/// with its URL (password hidden) in the error.
async fn open_memory(config: &Config) -> Result<Arc<dyn MemoryStore>> {
    match &config.databases.redis {
        Some(redis) => {
            let shown = redis.shown_url();
            let memory = RedisMemory::connect(redis.url.expose(), &shown, &redis.prefix).await?;
            tracing::info!(url = %shown, prefix = %redis.prefix, "skills' memory is in Redis");
            Ok(Arc::new(memory))
        }
        None => Ok(Arc::new(SqliteMemory::open(&config.database_path())?)),
    }
}

/// Stops a task when dropped (the HTTP server or the scheduler, when the bot
/// stops).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
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
