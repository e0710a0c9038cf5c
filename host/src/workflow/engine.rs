//! Running workflows: the engine holds what runs need (the skills, the
//! store, the loaded workflows, the rooms), the runs in this process and
//! the waits between them. Each run has a driver (`driver.rs`) that asks
//! the pure conductor (`conductor.rs`) what is due and stores each step
//! before what it leads to starts; each task runs in `tasks.rs`;
//! approvals and cancels are `approvals.rs`.
//!
//! Tasks run a skill (`action: skill.matcher`, the task's input as the
//! captures, the starting event as the event, its answers kept rather than
//! said), another workflow (`action: workflow.<name>`: a child run, stored
//! with its parent's task in one transaction, whose output is the task's
//! result), or a built-in: `send`, `wait`, `approve`. Every attempt of every
//! task is an execution record whose `parent` is the run's
//! (`wf-<n>`); the run's own record comes when it ends (a child run's
//! record's parent is the task's record). Canceling a run, or its timeout,
//! cancels its running children.

use super::conductor::{self, Attempt};
use super::defs::Definitions;
use super::spec::{MAX_DEPTH, Task, Workflow};
use super::store::{ParentLink, RunDoc, RunStatus, Store, StoredRun, TaskDoc};
use crate::bus::ResponseSink;
use crate::catalog::Catalog;
use crate::config::{Config, HumanDuration};
use crate::event::{
    Event, EventId, Execution, Outcome, Response, ResponseBody, Target as Room, now_ms,
};
use crate::identity::IdentityPattern;
use crate::observe::Observer;
use crate::permissions::Asker;
use crate::work::Work;
use minijinja::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

/// An answer to an approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Approve(String),
    Deny(String),
}

/// An approval waiting for its answer.
pub struct Approval {
    pub task: String,
    /// Who may answer; admins when empty.
    pub approvers: Vec<IdentityPattern>,
    pub answer: Option<oneshot::Sender<Decision>>,
}

/// A run in this process: how to stop it, what it waits for.
pub struct Live {
    /// `connector:user-id` of who started it.
    pub started_by: Option<(String, String)>,
    /// The run whose task started it.
    pub parent: Option<u64>,
    pub cancel: CancellationToken,
    pub canceled_by: Option<String>,
    pub approvals: Vec<Approval>,
}

pub struct Engine {
    pub(super) catalog: Arc<Catalog>,
    pub(super) responses: Arc<dyn ResponseSink>,
    pub(super) config: Arc<Config>,
    pub(super) observers: Vec<Arc<dyn Observer>>,
    pub(super) store: Store,
    /// The loaded workflows, for tasks that start one.
    pub(super) defs: Arc<Definitions>,
    /// Runs in this process, by number. Held only to look up or change an
    /// entry, never across an await.
    pub(super) live: Mutex<HashMap<u64, Live>>,
    /// Parent tasks waiting for a child run to end, by the child's number.
    pub(super) waiters: Mutex<HashMap<u64, Vec<oneshot::Sender<()>>>>,
    /// Cancelled when the bot stops: every driver stops where it is.
    pub(super) stopping: CancellationToken,
    /// The drivers running, to wait for them as the bot stops.
    pub(super) drivers: Arc<Work>,
}

/// What a task needs to run, away from its driver.
pub(super) struct TaskCx {
    pub(super) run: u64,
    pub(super) def: Arc<Workflow>,
    pub(super) index: usize,
    pub(super) values: Value,
    pub(super) event: Arc<Event>,
    pub(super) event_id: EventId,
    pub(super) doc: TaskDoc,
    pub(super) room: Option<Room>,
    pub(super) depth: u32,
    /// The child runs this task (by item, over `with-items`) had started
    /// before a restart: the first attempt waits for it instead of
    /// starting another.
    pub(super) resumed: Mutex<HashMap<Option<usize>, u64>>,
    /// The task's document as last written: items' ends and children's
    /// numbers go into it, one writer at a time, so no write undoes
    /// another's.
    pub(super) written: tokio::sync::Mutex<TaskDoc>,
}

/// How a run is started, besides its workflow.
pub struct Start {
    pub inputs: serde_json::Map<String, serde_json::Value>,
    /// What started it: a message, a crontab tick, a webhook request.
    pub event: Event,
    pub event_id: EventId,
    /// The alias format it was started by, if one.
    pub alias: Option<String>,
    /// Where it speaks, when its event has no room of its own.
    pub room: Option<Room>,
}

impl Engine {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Live>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores a new run of `def` with `inputs` for `event`, its first
    /// tasks scheduled; [`Engine::launch`] runs it.
    pub async fn create(&self, def: &Workflow, start: Start) -> anyhow::Result<StoredRun> {
        self.create_under(def, start, None).await
    }

    /// [`Engine::create`], as the child of `parent`'s task (stored with it).
    async fn create_under(
        &self,
        def: &Workflow,
        start: Start,
        parent: Option<(ParentLink, u32, TaskDoc, Option<usize>)>,
    ) -> anyhow::Result<StoredRun> {
        let doc = RunDoc {
            workflow: def.name.clone(),
            sha256: def.sha256.clone(),
            inputs: start.inputs,
            event: start.event,
            event_id: start.event_id,
            alias: start.alias,
            started_at: now_ms(),
            vars: serde_json::Map::new(),
            failed: false,
            room: start.room,
            depth: parent.as_ref().map_or(0, |(_, d, _, _)| *d),
            parent: parent.as_ref().map(|(p, _, _, _)| p.clone()),
            error: None,
        };
        let first: Vec<(String, TaskDoc)> = conductor::first_tasks(def);
        let store = self.store.clone();
        let (id, doc, first) = tokio::task::spawn_blocking(move || {
            let under = parent
                .as_ref()
                .map(|(p, _, task, item)| (p.run, p.task.as_str(), task, *item));
            store
                .create_child(&doc, &first, under)
                .map(|id| (id, doc, first))
        })
        .await??;
        Ok(StoredRun {
            id,
            status: RunStatus::Running,
            doc,
            tasks: first,
            // Whoever reads it again sees this host; here it is not needed.
            owner: None,
        })
    }

    /// A task's skill (`Engine::skill`), for `tasks.rs`.
    pub(super) async fn run_skill(
        &self,
        cx: &TaskCx,
        record: &mut Execution,
        name: &str,
        matcher: Option<&str>,
        limit: Option<Duration>,
    ) -> (Outcome, Attempt) {
        self.skill(cx, record, name, matcher, limit).await
    }

    /// A task's child workflow (`Engine::child`), for `tasks.rs`.
    pub(super) async fn run_child(
        self: &Arc<Self>,
        cx: &TaskCx,
        task: &Task,
        name: &str,
        input: serde_json::Map<String, serde_json::Value>,
        attempt: (&str, Option<usize>),
        limit: Option<Duration>,
    ) -> (Outcome, Attempt) {
        self.child(cx, task, name, input, attempt, limit).await
    }

    /// Runs a skill for a task: quiet, its answers and result kept.
    async fn skill(
        &self,
        cx: &TaskCx,
        record: &mut Execution,
        name: &str,
        matcher: Option<&str>,
        limit: Option<Duration>,
    ) -> (Outcome, Attempt) {
        let set = self.catalog.current();
        record.skill = name.to_owned();
        let Some(skill) = set.get(name) else {
            return (
                Outcome::Error,
                fail(format!("no skill named `{name}` is loaded")),
            );
        };
        record.version = skill.manifest.version.clone();
        record.sha256 = skill.sha256.clone();
        let matcher = match matcher {
            Some(m) if skill.manifest.matchers.iter().any(|x| x.id == m) => m.to_owned(),
            Some(m) => {
                return (
                    Outcome::Error,
                    fail(format!("skill `{name}` has no matcher `{m}`")),
                );
            }
            None => match skill.manifest.matchers.first() {
                Some(m) => m.id.clone(),
                None => {
                    return (
                        Outcome::Error,
                        fail(format!("skill `{name}` has no matcher")),
                    );
                }
            },
        };
        record.matcher = matcher.clone();
        if self.catalog.is_disabled(&set, name) {
            return (Outcome::Error, fail(format!("skill `{name}` is disabled")));
        }
        // Quiet, through the one executor: the answers go into the record.
        let executor = crate::executor::Executor {
            runtime: self.catalog.runtime(),
            responses: &*self.responses,
            observers: &self.observers,
        };
        let job = crate::executor::Job {
            skill,
            event: &cx.event,
            event_id: cx.event_id,
            reword: None,
            quiet: true,
            failure_to: None,
            reserved: None,
            limit,
        };
        let ran = executor.run(job, record.clone()).await;
        let answer = ran.answer(None);
        let result = ran.structured.unwrap_or(serde_json::Value::Null);
        *record = ran.record;
        match ran.failure {
            None => (Outcome::Ok, ok(result, answer)),
            Some(error) => (
                record.outcome,
                Attempt {
                    ok: false,
                    result,
                    answer,
                    error: Some(error),
                },
            ),
        }
    }

    /// Starts workflow `name` as this task's child (one per item over
    /// `with-items`), or after a restart finds the one it had started, and
    /// waits for its end: its output is the task's result, its failure the
    /// task's. `attempt` is the attempt's record id and item.
    async fn child(
        self: &Arc<Self>,
        cx: &TaskCx,
        task: &Task,
        name: &str,
        input: serde_json::Map<String, serde_json::Value>,
        attempt: (&str, Option<usize>),
        limit: Option<Duration>,
    ) -> (Outcome, Attempt) {
        let resumed = cx
            .resumed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&attempt.1);
        let id = match resumed {
            Some(id) => id,
            None => match self.start_child(cx, task, name, input, attempt).await {
                Ok(id) => id,
                Err((outcome, why)) => return (outcome, fail(why)),
            },
        };
        let end = match limit {
            Some(l) => match tokio::time::timeout(l, self.child_end(id)).await {
                Ok(end) => end,
                Err(_) => {
                    let why = format!("task {} of #{} timed out", task.name, cx.run);
                    self.cancel(id, why);
                    return (
                        Outcome::Timeout,
                        fail(format!(
                            "took longer than its timeout of {}",
                            HumanDuration(l)
                        )),
                    );
                }
            },
            None => self.child_end(id).await,
        };
        let kept = match end {
            Ok(kept) => kept,
            Err(e) => return (Outcome::Error, fail(format!("{name} #{id}: {e:#}"))),
        };
        let output = kept
            .doc
            .vars
            .get("output")
            .cloned()
            .unwrap_or(serde_json::Value::Null);
        let said = format!("{name} #{id} {}", kept.status.as_str());
        match kept.status {
            RunStatus::Succeeded => (Outcome::Ok, ok(output, said)),
            _ => {
                let why = kept.doc.error.unwrap_or_else(|| "it failed".into());
                (
                    Outcome::Error,
                    Attempt {
                        ok: false,
                        result: output,
                        answer: said,
                        error: Some(format!("{name} #{id}: {why}")),
                    },
                )
            }
        }
    }

    /// Checks and stores a child run of `cx`'s task (with the task's
    /// pointer to it, in one transaction), and launches it.
    async fn start_child(
        self: &Arc<Self>,
        cx: &TaskCx,
        task: &Task,
        name: &str,
        input: serde_json::Map<String, serde_json::Value>,
        (record_id, item): (&str, Option<usize>),
    ) -> Result<u64, (Outcome, String)> {
        let Some(def) = self.defs.current().by_name.get(name).cloned() else {
            return Err((
                Outcome::Error,
                format!("no workflow named `{name}` is loaded"),
            ));
        };
        // The load refuses circles; this bounds what a sequence of reloads
        // could still let through.
        if cx.depth + 1 > MAX_DEPTH {
            return Err((
                Outcome::Error,
                format!(
                    "workflows nest deeper than {MAX_DEPTH}: `{}` may not start `{name}` here",
                    cx.def.name
                ),
            ));
        }
        // Under the permissions its starter would meet asking for it.
        if let Some(m) = cx.event.message() {
            let who = Asker {
                connector: &m.connector,
                user_id: &m.user_id,
                room: &m.room,
            };
            if let Err(why) = def.permissions.check(who) {
                return Err((
                    Outcome::Denied,
                    format!("not allowed to start `{name}`: {why}"),
                ));
            }
        }
        let inputs = def
            .inputs_from_json(&input)
            .map_err(|e| (Outcome::Error, format!("{name}: {e}")))?;
        let start = Start {
            inputs,
            event: (*cx.event).clone(),
            event_id: cx.event_id,
            alias: None,
            room: cx.room.clone(),
        };
        let link = ParentLink {
            run: cx.run,
            task: task.name.clone(),
            record: record_id.to_owned(),
        };
        // Stored with the task's pointer to it, in the task's document as
        // last written (other items' ends in it), held until it is.
        let mut written = cx.written.lock().await;
        let parent = (link, cx.depth + 1, written.clone(), item);
        let kept = self
            .create_under(&def, start, Some(parent))
            .await
            .map_err(|e| (Outcome::Error, format!("cannot start `{name}`: {e:#}")))?;
        let id = kept.id;
        written.set_child(item, id);
        drop(written);
        tracing::info!(run = id, parent = cx.run, task = %task.name, workflow = %name, "child workflow started");
        self.launch(def, kept);
        Ok(id)
    }

    /// Run `id` as stored once it has ended.
    async fn child_end(&self, id: u64) -> anyhow::Result<StoredRun> {
        loop {
            // Registered before the store is read: an end written in
            // between still wakes this (`finish` writes, then wakes).
            let (tx, rx) = oneshot::channel();
            self.waiters
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(id)
                .or_default()
                .push(tx);
            let store = self.store.clone();
            let kept = tokio::task::spawn_blocking(move || store.get(id)).await??;
            match kept {
                Some(kept) if kept.status.ended() => {
                    self.waiters
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&id);
                    return Ok(kept);
                }
                // In a shared store a child has its parent's owner (see
                // `store/redis.rs`), so its end wakes this; the store is read
                // again now and then all the same, as a safety net against
                // an end written by another process.
                Some(_) if self.store.shared() => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), rx).await;
                }
                Some(_) => {
                    let _ = rx.await;
                }
                None => anyhow::bail!("the run is gone from the store"),
            }
        }
    }

    /// Wakes whoever waits for run `id` to end (its end is stored).
    pub(super) fn wake_waiters(&self, id: u64) {
        let waiting = self
            .waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        for w in waiting.into_iter().flatten() {
            let _ = w.send(());
        }
    }

    /// Stops every driver where it is (the bot is stopping) and waits for
    /// them, at most `within`: runs stay as stored and resume on the next
    /// start.
    pub async fn stop(&self, within: Duration) -> bool {
        self.stopping.cancel();
        tokio::time::timeout(within, self.drivers.idle())
            .await
            .is_ok()
    }

    /// Says `text` in `room`; returns what was sent.
    pub(super) async fn say(&self, room: Option<Room>, text: String) -> Option<Response> {
        let target = room?;
        let response = Response {
            target,
            body: ResponseBody::Text(text),
            in_reply_to: None,
        };
        match self.responses.deliver(response.clone()).await {
            Ok(()) => Some(response),
            Err(e) => {
                tracing::warn!("could not say how a workflow went: {e}");
                None
            }
        }
    }

    pub(super) fn observe(&self, execution: &Execution) {
        for o in &self.observers {
            o.executed(execution);
        }
    }

    /// A record of an execution for `event`, to be filled in.
    pub(super) fn record_of(&self, event: &Event, event_id: EventId, id: String) -> Execution {
        Execution::for_event(id, event_id, event, now_ms())
    }
}

pub(super) fn ok(result: serde_json::Value, answer: String) -> Attempt {
    Attempt::ok(result, answer)
}

pub(super) fn fail(error: String) -> Attempt {
    Attempt::failed(error)
}
