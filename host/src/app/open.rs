//! Opening the parts a configuration names, each from its section: the
//! memory, the outboxes and the bus, the observers and the history, the
//! coordination of several hosts and, on NATS, the cluster's tasks.

use super::*;

/// The connectors' outboxes (on a host with the `connectors` role: a host
/// without it runs none, so answers to them are never delivered here).
pub(super) fn open_outboxes(
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
pub(super) async fn open_bus(
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
pub(super) async fn load_skills(catalog: &Catalog, config: &Config) {
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

pub(super) type Observers = Vec<Arc<dyn Observer>>;

/// Every observer of execution records: the log, the metrics, the history
/// (when `history.enabled`, returned too), the notifier, then `more`.
pub(super) fn open_observers(
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
pub(super) fn open_history(config: &Config) -> Result<History> {
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
pub(super) async fn open_coordination(
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
pub(super) fn open_hosts(
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
pub(super) struct Bus {
    pub(super) cluster: crate::nats::Cluster,
    pub(super) replies: Arc<crate::nats::replies::ResponseReceiver>,
    pub(super) answers: Arc<crate::nats::replies::ResponseForwarder>,
}

/// Starts what makes this host one of several: the answers' listener (for
/// its connectors), the worker (in the `workers` role), `reload` asked by
/// other hosts, and the skills shared through the object store.
pub(super) async fn join_cluster(
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
pub(super) const SINGLE_CONNECTION: &[&str] = &["irc", "matrix"];

/// The memory backend `databases:` names: Redis when `redis` is given, else
/// the SQLite file. A Redis that cannot be reached stops the start here,
/// with its URL (password hidden) in the error.
pub(super) async fn open_memory(config: &Config) -> Result<Arc<dyn MemoryStore>> {
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
