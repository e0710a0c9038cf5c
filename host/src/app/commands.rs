//! The command registry a bot answers from, built at start-up from the
//! parts that bring commands: the built-ins, the workflows', installs from
//! a registry, and on a NATS bus a `reload` that reaches every host.

use crate::catalog::Catalog;
use crate::commands::Commands;
use crate::config::Config;
use crate::history::History;
use crate::installs::Installs;
use crate::nats::hosts::{Hosts, reload_everywhere};
use crate::workflow::Workflows;
use std::sync::Arc;

/// Every chat command, one entry each (`help` is made from them).
pub(super) fn registry(
    config: &Arc<Config>,
    workflows: &Arc<Workflows>,
    catalog: &Arc<Catalog>,
    history: &Option<Arc<History>>,
    installs: &Arc<Installs>,
    hosts: &Option<Arc<Hosts>>,
) -> Arc<Commands> {
    let mut commands = Commands::new(config.clone());
    commands.extend(crate::workflow::commands(workflows));
    commands.extend(crate::builtins::commands(catalog.clone(), history.clone()));
    commands.extend(installs.commands());
    if let Some(hosts) = hosts {
        commands.replace(&["reload"], |local| reload_everywhere(hosts.clone(), local));
    }
    Arc::new(commands)
}
