//! Serving: the HTTP server, the scheduler and the connectors of a started
//! [`App`], run until a connector's input ends or the process is told to
//! stop, then stopped as [`App::stop`] says.

use super::{App, shutdown_signal};
use crate::config::{Config, Role};
use crate::connectors::registry::Instance;
use crate::connectors::{Closing, ConnectorSink, Context, Status, Web};
use crate::{scheduler, web};
use anyhow::{Context as _, Result};
use tokio_util::task::AbortOnDropHandle;

/// Connector kinds whose connection must be single across hosts: one IRC
/// nick per network, one sync per Matrix account.
const SINGLE_CONNECTION: &[&str] = &["irc", "matrix"];

/// How long a stopping bot waits for its connectors to take the answers
/// still queued for them.
const OUTBOXES_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

impl App {
    pub(super) async fn serve(&mut self) -> Result<()> {
        let web_settings = self.config.web.clone().unwrap_or_default();
        let closing = Closing::default();
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
        } = self.mount_connectors(&web_settings, &closing);
        let mounted = connector_routes.is_some();
        if let Some(r) = connector_routes {
            routes = routes.merge(r);
        }
        let connectors: Vec<(String, String)> = statuses
            .iter()
            .map(|(name, kind, _)| (name.clone(), kind.clone()))
            .collect();
        let console = self.console_routes(&web_settings, &statuses)?;
        let has_console = console.is_some();
        if let Some(r) = console {
            routes = routes.merge(r);
        }
        // Webhooks are always mounted, but need `web:` to be served.
        routes = routes.merge(web::webhook::routes(
            self.bot.clone(),
            self.catalog.clone(),
            self.config.clone(),
        ));
        if self.config.web.is_none() && !mounted {
            self.warn_unserved_webhooks();
        }
        // The server runs when configured, when a connector mounted on it,
        // or for the console.
        let server = if self.config.web.is_some() || mounted || has_console {
            Some(self.start_server(&web_settings, routes, statuses).await?)
        } else {
            None
        };
        // Stopped first when the bot stops, so no tick starts during the
        // grace. On several hosts the ticks fire on the one holding `cron`.
        let scheduler = self.start_scheduler();
        let mut running = self.start_connectors(ready, &closing)?;
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
        // What the grace said (answers, interrupted notices) is queued in
        // the outboxes: the connectors print or send it before they go.
        if !self.outboxes.drained(OUTBOXES_GRACE).await {
            tracing::warn!(
                "answers still queued after {OUTBOXES_GRACE:?} are dropped as the bot stops"
            );
        }
        // Then those that hold answers of their own (a socket's frames)
        // hand them out and close cleanly.
        if !closing.close(OUTBOXES_GRACE).await {
            tracing::warn!("a connector was still closing after {OUTBOXES_GRACE:?}");
        }
        drop(running);
        Ok(())
    }

    /// The connectors this host runs, each with its event sink and status,
    /// and the routes those with a web side mount (none if none do).
    fn mount_connectors(
        &mut self,
        web_settings: &crate::config::WebSettings,
        closing: &Closing,
    ) -> Mounted {
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
                closing: closing.clone(),
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

    /// The console's API (`console:`), its accounts opened from the data
    /// folder; `None` when the console is off.
    fn console_routes(
        &mut self,
        web_settings: &crate::config::WebSettings,
        statuses: &[(String, String, crate::connectors::Status)],
    ) -> Result<Option<axum::Router>> {
        use crate::console::{
            Accounts, CONNECTOR, Console, Conversations, Lockout, Sessions, Staged,
        };
        let Some(settings) = &self.config.console else {
            return Ok(None);
        };
        let path = self.config.console_path();
        let accounts = Accounts::open(&path)?;
        if accounts.list()?.is_empty() {
            tracing::warn!(
                accounts = %path.display(),
                "the console has no accounts: make one with `sandbot admin add NAME --role admin`"
            );
        }
        // Chat's admins include the identities linked to admin accounts.
        crate::console::follow_links(Accounts::open(&path)?);
        let console = Console {
            accounts,
            sessions: Sessions::new(settings.session_ttl.0),
            lockout: Lockout::default(),
            https: web_settings.cert.is_some(),
            catalog: self.catalog.clone(),
            bot: self.bot.clone(),
            history: self.history.clone(),
            memory: self.memory.clone(),
            events: self.events.clone(),
            staged: Staged::default(),
            installs: self.installs.clone(),
            connectors: statuses.to_vec(),
            cluster: self.cluster.as_ref().map(|c| c.hosts.clone()),
            conversations: Conversations::start(
                self.take_outbox(CONNECTOR)
                    .context("the console has no outbox")?,
            ),
        };
        Ok(Some(crate::console::routes(std::sync::Arc::new(console))))
    }

    /// The HTTP server, with `routes`, `/metrics` and `GET /`.
    async fn start_server(
        &self,
        web_settings: &crate::config::WebSettings,
        routes: axum::Router,
        statuses: Vec<(String, String, Status)>,
    ) -> Result<(std::net::SocketAddr, AbortOnDropHandle<()>)> {
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
        Ok((address, AbortOnDropHandle::new(task)))
    }

    /// The scheduler: here, or on several hosts while this one holds the
    /// `cron` lease.
    fn start_scheduler(&self) -> AbortOnDropHandle<()> {
        match &self.cluster {
            None => {
                AbortOnDropHandle::new(scheduler::start(self.bot.clone(), self.catalog.clone()))
            }
            Some(parts) => {
                let (leases, bot, catalog) = (
                    parts.hosts.leases().clone(),
                    self.bot.clone(),
                    self.catalog.clone(),
                );
                AbortOnDropHandle::new(tokio::spawn(async move {
                    loop {
                        let (bot, catalog) = (bot.clone(), catalog.clone());
                        let ticking = async move {
                            let _ticks = AbortOnDropHandle::new(scheduler::start(bot, catalog));
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
    fn start_connectors(&mut self, ready: Vec<Ready>, closing: &Closing) -> Result<Running> {
        let leases = self.cluster.as_ref().map(|c| c.hosts.leases().clone());
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
                closing: closing.clone(),
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

/// What [`App::mount_connectors`] gives: the connectors' side of the HTTP
/// server before it starts, and the connectors ready to run.
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
