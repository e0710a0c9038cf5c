//! What keeps a host part of the cluster once its dispatcher exists: the
//! listener for answers other hosts send to this host's connectors, the
//! worker (in the `workers` role), `reload` asked by other hosts, and the
//! skills shared through the object store. Each runs until the host stops.

use super::Bus;
use super::hosts::Hosts;
use super::skills::SharedSkills;
use super::worker::Worker;
use crate::bot::Bot;
use crate::config::{Config, Role};
use crate::history::History;
use anyhow::{Context as _, Result};
use std::sync::Arc;
use tokio_util::task::AbortOnDropHandle;

/// This host in the cluster: the other hosts and this one's leases, and
/// the tasks that keep it there (stopped when this is dropped).
pub struct Joined {
    pub hosts: Arc<Hosts>,
    _tasks: Vec<AbortOnDropHandle<()>>,
}

/// Starts what makes this host one of several (see the module's text).
pub async fn join(
    config: &Config,
    bus: &Bus,
    bot: &Arc<Bot>,
    hosts: Arc<Hosts>,
    history: Option<Arc<History>>,
) -> Result<Joined> {
    let cluster = &bus.cluster;
    let mut tasks = Vec::new();
    let replies = bus.replies.clone();
    let listening = cluster.clone();
    tasks.push(AbortOnDropHandle::new(tokio::spawn(async move {
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
        tasks.push(AbortOnDropHandle::new(tokio::spawn(worker.run())));
    }
    tasks.push(AbortOnDropHandle::new(tokio::spawn(
        hosts.clone().serve_reload(),
    )));
    if let Some(dir) = &config.skills_dir {
        let shared = SharedSkills::start(cluster, dir.clone())
            .await
            .context("sharing skills through the object store")?;
        tasks.push(AbortOnDropHandle::new(tokio::spawn(shared.run())));
    }
    Ok(Joined {
        hosts,
        _tasks: tasks,
    })
}
