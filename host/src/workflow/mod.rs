//! Workflows: skills chained into pipelines with no new code, StackStorm
//! Orquesta-style. A YAML file per workflow in the workflows folder
//! (read and checked in passes by `check`, into a `spec`; hot-reloaded by
//! `defs`), started from chat by one of its aliases or `workflow run NAME
//! key=value…` under its `permissions`, run by the `engine` (a `driver`
//! per run asks the pure `conductor` what is due; `tasks` runs each task,
//! `approvals` handles approvals and cancels; parallel branches, joins,
//! items, retries, timeouts), kept by the `store` so a restarted bot resumes
//! where it was; with Redis, runs are shared by several hosts, through
//! the hosts' one `coordination` (`sharing`: requests to the host that
//! drives a run; a host that dies has its runs resumed by another). In chat: `approve N`
//! / `deny N`, `workflow status N`,
//! `workflow cancel N`, `workflows`, `workflow reload`.
//!
//! A workflow is a target of matching like a skill (`matchers`): its
//! aliases, `crontab:` entries and `webhook:` are in the catalog's one
//! index, so the dispatcher routes a message to it (then
//! [`Workflows::start_hit`]), the scheduler fires its entries through the
//! same call, and the webhook gate starts it with [`Workflows::start_run`].
//! The chat commands above are entries of the one command registry
//! ([`Workflows::commands`], `commands.rs`); a task of another workflow
//! (`action: workflow.<name>`) starts one in the engine.
//! At start, [`Workflows::resume`] (`resume.rs`) picks up the runs the
//! last process left; one whose record cannot be read fails alone.

mod approvals;
mod check;
mod commands;
pub mod conductor;
pub mod defs;
mod driver;
pub mod engine;
mod inputs;
mod joins;
pub mod matchers;
mod prune;
#[cfg(test)]
mod rehearsal;
mod resume;
pub mod sharing;
pub mod spec;
pub mod store;
mod tasks;
pub mod template;
mod views;

use crate::bus::ResponseSink;
use crate::catalog::Catalog;
use crate::config::Config;
use crate::coordination::Coordination;
use crate::event::{Event, EventId, Message, Outcome, Response, ResponseBody, Target};
use crate::observe::Observer;
use crate::permissions::Asker;
use anyhow::{Context, Result};
pub use commands::commands;
use defs::Definitions;
use engine::Engine;
pub use engine::Start;
use sharing::Request;
use spec::Workflow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use store::{RunStatus, Status, Store};
pub use views::{DefinitionView, RunSummary, RunView};

pub struct Workflows {
    defs: Arc<Definitions>,
    engine: Arc<Engine>,
    /// With a shared store: the hosts' coordination (who is alive, asking
    /// the host that drives a run).
    shared: Option<Arc<dyn Coordination>>,
    /// Hearing other hosts' requests and the watch for other hosts' runs,
    /// stopped with the bot.
    loops: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    _watch: defs::WatchHandle,
}

impl Workflows {
    /// Keeps the runs in `runs_file` (the history's file, opened as the
    /// bot starts), or in Redis when `databases.redis` is set, shared with
    /// the other hosts through `coordination`; loads the folder and
    /// watches it. Runs left unfinished start again with
    /// [`Workflows::resume`].
    pub async fn start(
        config: Arc<Config>,
        catalog: Arc<Catalog>,
        responses: Arc<dyn ResponseSink>,
        observers: Vec<Arc<dyn Observer>>,
        coordination: Option<Arc<dyn Coordination>>,
        runs_file: Option<crate::sqlite::File>,
    ) -> Result<Arc<Workflows>> {
        let (store, shared) = match (&config.databases.redis, coordination) {
            (Some(redis), Some(coordination)) => {
                let (url, shown) = (redis.url.expose(), redis.shown_url());
                let host = coordination.host().to_owned();
                let store = Store::redis(url, &shown, &redis.prefix, &host)?;
                tracing::info!(host = %host, "workflow runs are in Redis, shared with other hosts");
                (store, Some(coordination))
            }
            (Some(_), None) => {
                anyhow::bail!("workflow runs in Redis need the hosts' coordination")
            }
            (None, _) => {
                let file = runs_file.context("the workflow runs' SQLite file was not opened")?;
                (Store::in_file(file)?, None)
            }
        };
        if config.history.enabled {
            prune::now_and_hourly(store.clone(), &config);
        }
        let defs = Arc::new(Definitions::for_config(&config).matched_by(catalog.clone()));
        // Watching first: a file changed while the folder is read is seen.
        let watch = defs::watch(defs.clone())?;
        let first = defs.clone();
        tokio::task::spawn_blocking(move || first.reload()).await?;
        let engine = Arc::new(Engine {
            catalog,
            responses,
            config,
            observers,
            store,
            defs: defs.clone(),
            live: Mutex::new(HashMap::new()),
            waiters: Mutex::new(HashMap::new()),
            stopping: tokio_util::sync::CancellationToken::new(),
            drivers: Arc::default(),
        });
        Ok(Arc::new(Workflows {
            defs,
            engine,
            shared,
            loops: Mutex::new(Vec::new()),
            _watch: watch,
        }))
    }

    pub fn definitions(&self) -> Arc<defs::Set> {
        self.defs.current()
    }

    /// Stores and launches a run of `def` (no permission check: the caller
    /// made it: a crontab entry in the file, a webhook's secret); returns
    /// its number and a handle that ends with the run.
    pub async fn start_run(
        &self,
        def: Arc<Workflow>,
        start: Start,
    ) -> Result<(u64, tokio::task::JoinHandle<()>)> {
        let kept = self.engine.create(&def, start).await?;
        let id = kept.id;
        tracing::info!(workflow = %def.name, run = id, "workflow started");
        if let Some(room) = kept.doc.room.clone() {
            self.engine
                .say(Some(room), format!("▶ {} #{id} started.", def.name))
                .await;
        }
        Ok((id, self.engine.launch(def, kept)))
    }

    /// A `crontab:` entry of `def` is due (at `fired_at`, ms): starts a run
    /// with the entry's inputs and returns once it ends, so the scheduler
    /// skips a tick while the last one's run is still going, as for skills.
    async fn tick(&self, def: Arc<Workflow>, entry: usize, fired_at: u64) {
        let Some(cron) = def.crontab.get(entry) else {
            return;
        };
        let start = Start {
            inputs: cron.inputs.clone(),
            event: Event::Schedule { fired_at },
            event_id: EventId::next(),
            alias: None,
            room: cron.room.clone(),
        };
        match self.start_run(def.clone(), start).await {
            Ok((_, running)) => {
                let _ = running.await;
            }
            Err(e) => {
                tracing::error!(workflow = %def.name, schedule = %cron.expression, "cannot start on schedule: {e:#}")
            }
        }
    }

    /// The bot is stopping: every run stops where it is (a step is stored
    /// whole or not at all) and resumes on the next start. Waits for the
    /// drivers, at most `within`.
    pub async fn stop(&self, within: std::time::Duration) {
        for task in self
            .loops
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
        if !self.engine.stop(within).await {
            tracing::warn!("workflow runs still stopping after {within:?}");
        }
        // Stopped and stored: the host leaving (`App::stop`, after this)
        // lets another take them at once.
    }

    /// A matcher of workflow `name` took `event` (routed by the one index,
    /// its permissions passed): starts the run it asks for. An alias's
    /// run starts with the alias's parameters; a schedule's is waited for,
    /// so the scheduler skips a tick while the last one's run still goes.
    pub async fn start_hit(
        &self,
        id: EventId,
        event: &Event,
        name: &str,
        matcher: usize,
        params: Vec<(String, String)>,
    ) {
        let Some(def) = self.defs.current().by_name.get(name).cloned() else {
            return;
        };
        match (matchers::way(&def, matcher), event) {
            (Some(matchers::Way::Alias(alias)), Event::Message(m)) => {
                self.launch(id, event, m, def.clone(), params, Some(alias))
                    .await;
            }
            (Some(matchers::Way::Cron(entry, _)), Event::Schedule { fired_at }) => {
                self.tick(def.clone(), entry, *fired_at).await;
            }
            _ => {}
        }
    }

    /// Starts `def` for the sender of `m` (`workflow run NAME`), if they
    /// may run it.
    async fn begin(
        &self,
        id: EventId,
        event: &Event,
        m: &Message,
        def: Arc<Workflow>,
        params: Vec<(String, String)>,
    ) {
        let who = Asker {
            connector: &m.connector,
            user_id: &m.user_id,
            room: &m.room,
        };
        if let Err(why) = def.permissions.check(who) {
            tracing::warn!(workflow = %def.name, user_id = %crate::text::for_log(&m.user_id), "denied: {why}");
            let mut record = self.engine.record_of(event, id, format!("{id}-wf"));
            record.skill = def.name.clone();
            record.version = matchers::VERSION.into();
            record.matcher = "workflow".into();
            record.outcome = Outcome::Denied;
            record.error = Some(format!("not allowed: {why}"));
            self.engine.observe(&record);
            let text = format!(
                "⛔ Sorry {}, you are not allowed to run that ({}) here.",
                m.user, def.name
            );
            self.say(m, id, text).await;
            return;
        }
        self.launch(id, event, m, def, params, None).await;
    }

    /// Stores and launches a run of `def` for `m`, with its inputs read
    /// from `params`, and says it started (the alias's ack, if it has one).
    async fn launch(
        &self,
        id: EventId,
        event: &Event,
        m: &Message,
        def: Arc<Workflow>,
        params: Vec<(String, String)>,
        alias: Option<&spec::Alias>,
    ) {
        let inputs = match def.inputs_from(&params) {
            Ok(inputs) => inputs,
            Err(e) => {
                self.say(m, id, format!("⚠ {}: {e}", def.name)).await;
                return;
            }
        };
        let start = Start {
            inputs,
            event: event.clone(),
            event_id: id,
            alias: alias.map(|a| a.text.clone()),
            room: None,
        };
        let kept = self.engine.create(&def, start).await;
        let kept = match kept {
            Ok(kept) => kept,
            Err(e) => {
                tracing::error!(workflow = %def.name, "cannot start: {e:#}");
                self.say(m, id, format!("⚠ {}: cannot start: {e}", def.name))
                    .await;
                return;
            }
        };
        let ack = alias.and_then(|a| a.ack.as_ref()).and_then(|t| {
            let mut values: serde_json::Map<String, serde_json::Value> = kept.doc.inputs.clone();
            values.insert("user".into(), m.user.clone().into());
            values.insert("room".into(), m.room.clone().into());
            values.insert("id".into(), kept.id.into());
            def.templates
                .render_text(t, &minijinja::Value::from_serialize(&values))
                .ok()
        });
        let text = ack.unwrap_or_else(|| format!("▶ {} #{} started.", def.name, kept.id));
        tracing::info!(workflow = %def.name, run = kept.id, user = %m.user, "workflow started");
        self.say(m, id, text).await;
        self.engine.launch(def, kept);
    }

    /// For `help`: the workflows `m`'s sender may start with no alias (by
    /// `workflow run`; aliases are listed as every target's are).
    fn run_help(&self, m: &Message) -> Vec<String> {
        let who = Asker {
            connector: &m.connector,
            user_id: &m.user_id,
            room: &m.room,
        };
        let set = self.defs.current();
        set.by_name
            .values()
            .filter(|w| w.aliases.is_empty() && w.permissions.check(who).is_ok())
            .map(|w| format!("workflow run {} key=value… (workflow)", w.name))
            .collect()
    }

    /// `approve N [task]` / `deny N [task]`, said in chat.
    async fn decide(&self, m: &Message, n: u64, task: Option<&str>, approve: bool) -> String {
        match self
            .decide_as(&m.connector, &m.user_id, n, task, approve)
            .await
        {
            Ok(text) | Err(text) => text,
        }
    }

    /// `approve N [task]` / `deny N [task]` from `connector:user_id` (chat,
    /// or the console as `console:NAME`), here or on the host that drives
    /// run `n`: what to say, `Err` when it was not answered (no such
    /// approval, or not among its approvers). Another host's answer is
    /// `Ok` either way: it comes back as text.
    pub async fn decide_as(
        &self,
        connector: &str,
        user_id: &str,
        n: u64,
        task: Option<&str>,
        approve: bool,
    ) -> Result<String, String> {
        match self.elsewhere(n).await {
            Some(Ok(owner)) => {
                let request = Request::Decide {
                    run: n,
                    task: task.map(str::to_owned),
                    connector: connector.to_owned(),
                    user_id: user_id.to_owned(),
                    approve,
                };
                Ok(self.ask(n, &owner, request).await)
            }
            Some(Err(text)) => Err(text),
            None => self.engine.decide(n, task, connector, user_id, approve),
        }
    }

    /// `workflow reload`: the folder read again; what changed.
    async fn reload(&self) -> String {
        let defs = self.defs.clone();
        tokio::task::spawn_blocking(move || defs.reload().summary())
            .await
            .unwrap_or_else(|e| format!("⚠ {e}"))
    }

    fn list(&self) -> String {
        let set = self.defs.current();
        if set.by_name.is_empty() {
            return "No workflows are loaded.".into();
        }
        let lines: Vec<String> = set
            .by_name
            .values()
            .map(|w| {
                let how: Vec<String> = w.aliases.iter().map(|a| format!("`{}`", a.help)).collect();
                let how = if how.is_empty() {
                    format!("`workflow run {}`", w.name)
                } else {
                    how.join(", ")
                };
                let about = if w.description.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", w.description)
                };
                format!("{}{about}: {how}", w.name)
            })
            .collect();
        lines.join("\n")
    }

    async fn status(&self, n: u64) -> String {
        let store = self.engine.store.clone();
        let kept = match tokio::task::spawn_blocking(move || store.get(n)).await {
            Ok(Ok(Some(kept))) => kept,
            Ok(Ok(None)) => return format!("No workflow run #{n}."),
            Ok(Err(e)) => return format!("⚠ cannot read run #{n}: {e}"),
            Err(e) => return format!("⚠ {e}"),
        };
        let order: Vec<String> = match self.defs.current().by_name.get(&kept.doc.workflow) {
            Some(def) => def.tasks.iter().map(|t| t.name.clone()).collect(),
            None => kept.tasks.iter().map(|(n, _)| n.clone()).collect(),
        };
        let waiting = self.engine.waiting_for(n);
        let tasks: Vec<String> = order
            .iter()
            .filter_map(|name| {
                let (_, doc) = kept.tasks.iter().find(|(t, _)| t == name)?;
                let state = match (&doc.status, &doc.error) {
                    (Status::Failed, Some(e)) => format!("failed ({e})"),
                    _ => views::task_state(&kept, &waiting, name, doc),
                };
                Some(format!("{name} {state}"))
            })
            .collect();
        let on = match (&kept.owner, kept.status) {
            (Some(host), RunStatus::Running) => format!(" on {host}"),
            _ => String::new(),
        };
        format!(
            "#{n} {}: {}{on} — {}",
            kept.doc.workflow,
            kept.status.as_str(),
            if tasks.is_empty() {
                "no task yet".into()
            } else {
                tasks.join(", ")
            }
        )
    }

    /// Cancels run `n` for `m`'s sender, if they may; the answer is said
    /// before the cancel, so it comes before the run's end.
    async fn cancel(&self, n: u64, id: EventId, m: &Message) {
        let who = format!("{}:{}", m.connector, m.user_id);
        let text = match self.may_cancel(n, &m.connector, &m.user_id, &m.user).await {
            Err(text) => text,
            Ok(Some(owner)) => self.ask(n, &owner, Request::Cancel { run: n, who }).await,
            Ok(None) => {
                self.say(m, id, format!("Canceling #{n}…")).await;
                tracing::info!(run = n, by = %crate::text::for_log(&who), "workflow canceled");
                self.engine.cancel(n, who);
                return;
            }
        };
        self.say(m, id, text).await
    }

    /// `workflow cancel N` from `connector:user_id` (`user`: as they are
    /// addressed), as chat's: what to say, `Err` when refused.
    pub async fn cancel_as(
        &self,
        connector: &str,
        user_id: &str,
        user: &str,
        n: u64,
    ) -> Result<String, String> {
        let who = format!("{connector}:{user_id}");
        match self.may_cancel(n, connector, user_id, user).await? {
            Some(owner) => Ok(self.ask(n, &owner, Request::Cancel { run: n, who }).await),
            None => {
                tracing::info!(run = n, by = %crate::text::for_log(&who), "workflow canceled");
                self.engine.cancel(n, who);
                Ok(format!("Canceling #{n}…"))
            }
        }
    }

    /// May `connector:user_id` cancel run `n` (who started it, or an
    /// admin)? `None` when it runs here, else the host that drives it; or
    /// what to say instead.
    async fn may_cancel(
        &self,
        n: u64,
        connector: &str,
        user_id: &str,
        user: &str,
    ) -> Result<Option<String>, String> {
        let (starter, owner) = match self.engine.started_by(n) {
            Some(starter) => (starter, None),
            None => match self.elsewhere(n).await {
                Some(Ok(owner)) => {
                    let store = self.engine.store.clone();
                    let kept = tokio::task::spawn_blocking(move || store.get(n)).await;
                    let starter = match kept {
                        Ok(Ok(Some(kept))) => {
                            match (kept.doc.event.connector(), kept.doc.event.user_id()) {
                                (Some(c), Some(u)) => Some((c.to_owned(), u.to_owned())),
                                _ => None,
                            }
                        }
                        _ => None,
                    };
                    (starter, Some(owner))
                }
                Some(Err(text)) => return Err(text),
                None => return Err(format!("#{n} is not running.")),
            },
        };
        let own = starter.is_some_and(|(c, u)| c == connector && u == user_id);
        if !own && !self.engine.config.is_admin(connector, user_id) {
            return Err(format!(
                "⛔ Sorry {user}, only who started #{n} or an admin may cancel it."
            ));
        }
        Ok(owner)
    }

    /// Where run `n` runs when not here: `None` when it runs here (or the
    /// store is this host's alone, or it is not running), else the host
    /// that drives it, or what to say when it cannot be read.
    async fn elsewhere(&self, n: u64) -> Option<Result<String, String>> {
        self.shared.as_ref()?;
        if self.engine.started_by(n).is_some() {
            return None;
        }
        let store = self.engine.store.clone();
        match tokio::task::spawn_blocking(move || store.get(n)).await {
            Ok(Ok(Some(kept))) if kept.status == RunStatus::Running => {
                let owner = kept.owner?;
                let here = self.shared.as_ref().map(|c| c.host());
                (Some(owner.as_str()) != here).then_some(Ok(owner))
            }
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(Err(format!("⚠ cannot read run #{n}: {e}"))),
            Err(e) => Some(Err(format!("⚠ {e}"))),
        }
    }

    /// Asks `owner`, the host driving run `n`, to carry out `request`;
    /// returns what to say.
    async fn ask(&self, n: u64, owner: &str, request: Request) -> String {
        let Some(shared) = &self.shared else {
            return format!("#{n} is not running.");
        };
        match sharing::ask(&**shared, owner, &request).await {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!(run = n, host = %owner, "cannot reach the host driving a workflow run: {e}");
                format!(
                    "⚠ #{n} runs on {owner}, which is not answering ({e}); another host resumes it within {}.",
                    crate::config::HumanDuration(shared.ttl())
                )
            }
        }
    }

    async fn say(&self, m: &Message, id: EventId, text: String) {
        let response = Response {
            target: Target {
                connector: m.connector.clone(),
                room: m.room.clone(),
                thread: m.thread.clone(),
            },
            body: ResponseBody::Text(text),
            in_reply_to: Some(id),
        };
        if let Err(e) = self.engine.responses.deliver(response).await {
            tracing::warn!("could not answer: {e}");
        }
    }
}

/// Does what another host asked of a run driven here; returns what the
/// asker says.
fn carry_out(engine: &Engine, request: Request) -> String {
    match request {
        Request::Decide {
            run,
            task,
            connector,
            user_id,
            approve,
        } => match engine.decide(run, task.as_deref(), &connector, &user_id, approve) {
            Ok(text) | Err(text) => text,
        },
        Request::Cancel { run, who } => {
            tracing::info!(run, by = %crate::text::for_log(&who), "workflow canceled from another host");
            if engine.cancel(run, who) {
                format!("Canceling #{run}…")
            } else {
                format!("#{run} is not running.")
            }
        }
    }
}

/// `3`, `#3` or `wf-3`.
fn run_number(text: &str) -> Option<u64> {
    text.trim_start_matches('#')
        .trim_start_matches("wf-")
        .parse()
        .ok()
}
