//! Wiring: from a configuration to a running bot.

use crate::bot::Bot;
use crate::catalog::{Catalog, watch};
use crate::config::Config;
use crate::connectors::{Outboxes, Shell, shell};
use crate::event::Response;
use crate::memory::SqliteMemory;
use crate::runtime::{Runtime, Services};
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

pub struct App {
    pub bot: Arc<Bot>,
    pub catalog: Arc<Catalog>,
    pub config: Arc<Config>,
    outboxes: HashMap<String, mpsc::Receiver<Response>>,
    _watch: watch::WatchHandle,
}

impl App {
    /// Opens the database, loads every skill and starts watching for
    /// changes. Connectors start with [`App::run`].
    pub async fn start(config: Config) -> Result<App> {
        let config = Arc::new(config);
        let memory = SqliteMemory::open(&config.database_path())?;
        let mut outboxes = Outboxes::default();
        let mut receivers = HashMap::new();
        if config.connectors.shell.is_some() {
            receivers.insert(shell::NAME.to_string(), outboxes.open(shell::NAME));
        }
        let outboxes = Arc::new(outboxes);
        let services = Services {
            memory: Arc::new(memory),
            outboxes: outboxes.clone(),
        };
        let cache_dir = config.runtime.compile_cache.then(|| config.cache_dir());
        let runtime = Arc::new(Runtime::new(cache_dir.as_deref(), services)?);
        let catalog = Arc::new(Catalog::new(runtime.clone(), config.clone()));
        let watch = watch::start(catalog.clone())?;
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
        let bot = Arc::new(Bot::new(catalog.clone(), runtime, outboxes, config.clone()));
        Ok(App {
            bot,
            catalog,
            config,
            outboxes: receivers,
            _watch: watch,
        })
    }

    /// Hands a connector's outbox to whoever delivers its responses.
    pub fn take_outbox(&mut self, connector: &str) -> Option<mpsc::Receiver<Response>> {
        self.outboxes.remove(connector)
    }

    /// Runs the configured connectors until input ends (a piped shell) or the
    /// process is told to stop.
    pub async fn run(mut self) -> Result<()> {
        let mut connectors = tokio::task::JoinSet::new();
        if let Some(settings) = self.config.connectors.shell.clone() {
            let outbox = self
                .take_outbox(shell::NAME)
                .context("the shell's outbox is missing")?;
            let bot = self.bot.clone();
            connectors.spawn(async move {
                Shell::new(settings)
                    .run(bot, outbox)
                    .await
                    .context("shell connector")
            });
        }
        if connectors.is_empty() {
            tracing::warn!(
                "no connectors configured: nothing to listen to (add `connectors: {{shell: {{}}}}`)"
            );
        }
        tokio::select! {
            Some(ended) = connectors.join_next() => {
                ended.context("a connector panicked")??;
            }
            _ = shutdown_signal() => tracing::info!("stopping"),
        }
        Ok(())
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
