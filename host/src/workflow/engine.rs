//! Running a workflow: one driver task per run keeps its state, starts the
//! tasks that are due (several at once when a `do:` names several), and
//! when one ends evaluates its `next:` entries in order (`when`, then
//! `publish`, then `do`), writing the step to the store before anything it
//! led to starts. `join: all` waits for every task that leads to it; a task
//! runs at most once per run. A failure no `next:` entry handles, or a
//! `do: fail`, fails the run once nothing else runs, as in Orquesta.
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
//!
//! Stopping the bot ([`Engine::stop`]) stops every driver at an await
//! point: a step is written in one transaction or not at all, nothing ends
//! as failed or canceled because the bot stopped, and the runs (children
//! too) resume on the next start. A driver whose step is refused because
//! another host took its run (a shared store) stops the same way.

use super::defs::Definitions;
use super::spec::{APPROVAL_TIMEOUT, Action, MAX_DEPTH, MAX_ITEMS, Target, Task, When, Workflow};
use super::store::{
    ItemDoc, Kept, ParentLink, RunDoc, RunStatus, Status, StepError, Store, TaskDoc,
};
use super::template::as_text;
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
use futures::StreamExt;
use minijinja::{Value, context};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
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

/// A run's state in its driver.
struct Run {
    id: u64,
    def: Arc<Workflow>,
    doc: RunDoc,
    event: Arc<Event>,
    /// Where it speaks.
    room: Option<Room>,
    tasks: Vec<Option<TaskDoc>>,
    /// `tasks.<name>` as templates see it.
    seen: Arc<BTreeMap<String, Value>>,
    inputs: Value,
    vars: Value,
    cancel: CancellationToken,
}

/// How one task (all its items and attempts) ended.
struct TaskEnd {
    ok: bool,
    result: serde_json::Value,
    answer: String,
    error: Option<String>,
    items: Vec<Option<ItemDoc>>,
    started_at: u64,
}

/// One attempt's end.
struct Attempt {
    ok: bool,
    result: serde_json::Value,
    answer: String,
    error: Option<String>,
}

/// What a task needs to run, away from its driver.
struct TaskCx {
    run: u64,
    def: Arc<Workflow>,
    index: usize,
    values: Value,
    event: Arc<Event>,
    event_id: EventId,
    doc: TaskDoc,
    room: Option<Room>,
    depth: u32,
    /// The child runs this task (by item, over `with-items`) had started
    /// before a restart: the first attempt waits for it instead of
    /// starting another.
    resumed: Mutex<HashMap<Option<usize>, u64>>,
    /// The task's document as last written: items' ends and children's
    /// numbers go into it, one writer at a time, so no write undoes
    /// another's.
    written: tokio::sync::Mutex<TaskDoc>,
}

enum Ending {
    Done,
    Canceled,
    Timeout(Duration),
    /// The bot is stopping: the run stays as stored, to resume.
    Stopped,
    /// Another host took the run (this one was silent too long): it drives
    /// it from what is stored.
    Lost,
}

impl Engine {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Live>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores a new run of `def` with `inputs` for `event`, its first
    /// tasks scheduled; [`Engine::launch`] runs it.
    pub async fn create(&self, def: &Workflow, start: Start) -> anyhow::Result<Kept> {
        self.create_under(def, start, None).await
    }

    /// [`Engine::create`], as the child of `parent`'s task (stored with it).
    async fn create_under(
        &self,
        def: &Workflow,
        start: Start,
        parent: Option<(ParentLink, u32, TaskDoc, Option<usize>)>,
    ) -> anyhow::Result<Kept> {
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
        let first: Vec<(String, TaskDoc)> = def
            .starts
            .iter()
            .map(|&i| (def.tasks[i].name.clone(), TaskDoc::new(Status::Scheduled)))
            .collect();
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
        Ok(Kept {
            id,
            status: RunStatus::Running,
            doc,
            tasks: first,
            // Whoever reads it again sees this host; here it is not needed.
            owner: None,
        })
    }

    /// Runs (or resumes) `kept` under `def`, in the background; the
    /// handle ends with the run (or when the bot stops).
    pub fn launch(self: &Arc<Self>, def: Arc<Workflow>, kept: Kept) -> tokio::task::JoinHandle<()> {
        let cancel = CancellationToken::new();
        let event = Arc::new(kept.doc.event.clone());
        let started_by = match (event.connector(), event.user_id()) {
            (Some(c), Some(u)) => Some((c.to_owned(), u.to_owned())),
            _ => None,
        };
        let room = kept
            .doc
            .room
            .clone()
            .or_else(|| event.origin().map(|o| o.target));
        // Counted now, not when the driver first runs: a stop in between
        // waits for it.
        let entered = self.drivers.enter();
        self.lock().insert(
            kept.id,
            Live {
                started_by,
                parent: kept.doc.parent.as_ref().map(|p| p.run),
                cancel: cancel.clone(),
                canceled_by: None,
                approvals: Vec::new(),
            },
        );
        let mut tasks: Vec<Option<TaskDoc>> = vec![None; def.tasks.len()];
        for (name, doc) in kept.tasks {
            match def.task(&name) {
                Some(i) => tasks[i] = Some(doc),
                None => {
                    tracing::warn!(workflow = %def.name, run = kept.id, task = %name, "a kept task the workflow no longer has")
                }
            }
        }
        let mut run = Run {
            id: kept.id,
            inputs: Value::from_serialize(&kept.doc.inputs),
            vars: Value::from_serialize(&kept.doc.vars),
            doc: kept.doc,
            event,
            room,
            tasks,
            seen: Arc::new(BTreeMap::new()),
            def,
            cancel,
        };
        for i in 0..run.tasks.len() {
            if run.tasks[i].as_ref().is_some_and(|t| t.status.finished()) {
                see(&mut run, i);
            }
        }
        let engine = self.clone();
        tokio::spawn(async move {
            let _entered = entered;
            engine.drive(run).await
        })
    }

    async fn drive(self: Arc<Self>, mut run: Run) {
        let mut running: JoinSet<(usize, TaskEnd)> = JoinSet::new();
        let mut launched = vec![false; run.tasks.len()];
        let deadline = run.def.timeout.map(|t| {
            let spent = Duration::from_millis(now_ms().saturating_sub(run.doc.started_at));
            (tokio::time::Instant::now() + t.saturating_sub(spent), t)
        });
        let cancel = run.cancel.clone();
        let stopping = self.stopping.clone();
        if stopping.is_cancelled() {
            self.lock().remove(&run.id);
            return;
        }
        self.start_due(&mut run, &mut running, &mut launched);
        let ending = loop {
            if running.is_empty() {
                break Ending::Done;
            }
            tokio::select! {
                joined = running.join_next() => match joined {
                    Some(Ok((i, end))) => {
                        if !self.ended(&mut run, i, end).await {
                            break Ending::Lost;
                        }
                        self.start_due(&mut run, &mut running, &mut launched);
                    }
                    Some(Err(e)) => {
                        tracing::error!(run = run.id, "a workflow task panicked: {e}");
                        run.doc.failed = true;
                        break Ending::Done;
                    }
                    None => break Ending::Done,
                },
                () = cancel.cancelled() => break Ending::Canceled,
                () = stopping.cancelled() => break Ending::Stopped,
                () = sleep_until(deadline.map(|d| d.0)) => break Ending::Timeout(deadline.map(|d| d.1).unwrap_or_default()),
            }
        };
        // What still runs is dropped: a skill's call ends with its future.
        running.abort_all();
        match ending {
            Ending::Stopped => {
                // Kept as stored: the next start resumes it. Its children
                // stop by themselves (the same token).
                self.lock().remove(&run.id);
                tracing::info!(run = run.id, workflow = %run.def.name, "workflow stopped with the bot; it resumes on the next start");
            }
            Ending::Lost => {
                self.lock().remove(&run.id);
                tracing::warn!(run = run.id, workflow = %run.def.name, "another host took this workflow run; it stops here");
            }
            Ending::Canceled | Ending::Timeout(_) => {
                let who = match &ending {
                    Ending::Canceled => format!("parent #{}", run.id),
                    _ => format!("parent #{} (it timed out)", run.id),
                };
                self.cancel_children(run.id, &who);
                self.finish(run, ending).await;
            }
            Ending::Done => self.finish(run, ending).await,
        }
    }

    /// Starts every scheduled task not started yet.
    fn start_due(
        self: &Arc<Self>,
        run: &mut Run,
        running: &mut JoinSet<(usize, TaskEnd)>,
        launched: &mut [bool],
    ) {
        let values = values(run);
        for (i, (slot, started)) in run.tasks.iter().zip(launched.iter_mut()).enumerate() {
            let Some(doc) = slot else { continue };
            if doc.status != Status::Scheduled || *started {
                continue;
            }
            *started = true;
            let cx = TaskCx {
                run: run.id,
                def: run.def.clone(),
                index: i,
                values: values.clone(),
                event: run.event.clone(),
                event_id: run.doc.event_id,
                doc: doc.clone(),
                room: run.room.clone(),
                depth: run.doc.depth,
                resumed: Mutex::new(
                    doc.child
                        .map(|c| (None, c))
                        .into_iter()
                        .chain(
                            (doc.children.iter().enumerate())
                                .filter_map(|(n, c)| Some((Some(n), (*c)?))),
                        )
                        .collect(),
                ),
                written: tokio::sync::Mutex::new(doc.clone()),
            };
            let engine = self.clone();
            running.spawn(async move {
                let end = engine.run_task(cx).await;
                (i, end)
            });
        }
    }

    /// Task `i` ended: its transitions, stored in one step. False when the
    /// run is no longer this host's to drive.
    async fn ended(&self, run: &mut Run, i: usize, end: TaskEnd) -> bool {
        let def = run.def.clone();
        let task = &def.tasks[i];
        let mut doc = run.tasks[i]
            .take()
            .unwrap_or_else(|| TaskDoc::new(Status::Scheduled));
        doc.status = if end.ok {
            Status::Succeeded
        } else {
            Status::Failed
        };
        doc.result = end.result;
        doc.answer = end.answer;
        doc.error = end.error;
        doc.items = end.items;
        doc.started_at = end.started_at;
        doc.ended_at = now_ms();
        run.tasks[i] = Some(doc);
        see(run, i);
        let mut changed = vec![i];
        let mut vars_changed = false;
        let mut handled = end.ok;
        let done = run.tasks[i].as_ref().expect("just set");
        let mine = context! {
            result => Value::from_serialize(&done.result),
            answer => done.answer.clone(),
            succeeded => end.ok,
            failed => !end.ok,
            ..values(run)
        };
        for next in &task.next {
            let fits = match &next.when {
                When::Succeeded => end.ok,
                When::Failed => !end.ok,
                When::Always => true,
                When::Condition(t) => match def.templates.render(t, &mine) {
                    Ok(v) => v == serde_json::Value::Bool(true),
                    Err(e) => {
                        tracing::warn!(run = run.id, task = %task.name, "a `when` that cannot be evaluated counts as false: {e}");
                        false
                    }
                },
            };
            if !fits {
                continue;
            }
            handled = true;
            for (k, t) in &next.publish {
                let value = def.templates.render_kept(t, &mine).unwrap_or_else(|e| {
                    tracing::warn!(run = run.id, task = %task.name, var = %k, "cannot publish: {e}");
                    serde_json::Value::Null
                });
                run.doc.vars.insert(k.clone(), value);
                vars_changed = true;
            }
            for target in &next.targets {
                match *target {
                    Target::Fail => {
                        run.doc.failed = true;
                        vars_changed = true;
                    }
                    Target::Task(j) => {
                        let to = &def.tasks[j];
                        let slot = &mut run.tasks[j];
                        let doc = slot.get_or_insert_with(|| TaskDoc::new(Status::Waiting));
                        if doc.status != Status::Waiting {
                            continue; // at most once a run
                        }
                        if !doc.arrived.contains(&task.name) {
                            doc.arrived.push(task.name.clone());
                        }
                        if !to.join || doc.arrived.len() >= to.inbound {
                            doc.status = Status::Scheduled;
                        }
                        changed.push(j);
                    }
                }
            }
        }
        if !handled {
            run.doc.failed = true;
            vars_changed = true;
        }
        if vars_changed {
            run.vars = Value::from_serialize(&run.doc.vars);
        }
        let tasks: Vec<(String, TaskDoc)> = changed
            .iter()
            .filter_map(|&j| Some((def.tasks[j].name.clone(), run.tasks[j].clone()?)))
            .collect();
        let doc = vars_changed.then(|| run.doc.clone());
        // Nothing it led to may start before it is kept (`Store::step`
        // writes a local file inline: cheaper than a thread hop). This is
        // a workflow's step, never the message path.
        let id = run.id;
        match self.store.step(id, doc, tasks, RunStatus::Running).await {
            Ok(()) => true,
            Err(StepError::Lost(_)) => false,
            Err(e) => {
                tracing::error!(run = id, "could not store a workflow step: {e:#}");
                true
            }
        }
    }

    async fn finish(&self, run: Run, ending: Ending) {
        let canceled_by = self.lock().remove(&run.id).and_then(|l| l.canceled_by);
        let failed_task = run
            .tasks
            .iter()
            .zip(&run.def.tasks)
            .filter_map(|(d, t)| Some((d.as_ref()?, t)))
            .filter(|(d, _)| d.status == Status::Failed)
            .min_by_key(|(d, _)| d.ended_at)
            .map(|(d, t)| format!("{} failed: {}", t.name, d.error.clone().unwrap_or_default()));
        let (status, outcome, error) = match ending {
            Ending::Canceled => (
                RunStatus::Canceled,
                Outcome::Canceled,
                Some(format!(
                    "canceled by {}",
                    canceled_by.unwrap_or_else(|| "the bot".into())
                )),
            ),
            Ending::Timeout(t) => (
                RunStatus::Failed,
                Outcome::Timeout,
                Some(format!(
                    "the workflow took longer than {}",
                    HumanDuration(t)
                )),
            ),
            Ending::Done if run.doc.failed => (
                RunStatus::Failed,
                Outcome::Error,
                Some(failed_task.unwrap_or_else(|| "it failed".into())),
            ),
            Ending::Done | Ending::Stopped | Ending::Lost => {
                (RunStatus::Succeeded, Outcome::Ok, None)
            }
        };
        let values = values(&run);
        let mut output = serde_json::Map::new();
        for (k, t) in &run.def.output {
            match run.def.templates.render_kept(t, &values) {
                Ok(v) => {
                    output.insert(k.clone(), v);
                }
                Err(e) => tracing::warn!(run = run.id, output = %k, "cannot render: {e}"),
            }
        }
        let mut doc = run.doc.clone();
        doc.vars
            .insert("output".into(), serde_json::Value::Object(output.clone()));
        doc.error = error.clone();
        let id = run.id;
        let kept = self.store.step(id, Some(doc), Vec::new(), status).await;
        if let Err(StepError::Lost(_)) = kept {
            tracing::warn!(run = id, workflow = %run.def.name, "another host took this workflow run before it ended here");
            return;
        }
        // After the store has the end: a parent that looks after this finds it there.
        self.wake_waiters(id);

        let name = &run.def.name;
        let text = match (status, &error) {
            (RunStatus::Succeeded, _) => {
                // In the file's order.
                let shown: Vec<String> = run
                    .def
                    .output
                    .iter()
                    .filter_map(|(k, _)| Some(format!("{k}={}", as_text(output.get(k)?))))
                    .collect();
                if shown.is_empty() {
                    format!("✅ {name} #{id} succeeded")
                } else {
                    format!("✅ {name} #{id} succeeded: {}", shown.join(", "))
                }
            }
            (RunStatus::Canceled, Some(e)) => format!("⏹ {name} #{id} {e}"),
            (_, Some(e)) => format!("❌ {name} #{id} failed: {e}"),
            (_, None) => format!("❌ {name} #{id} failed"),
        };
        let parent = run.doc.parent.as_ref().map(|p| p.record.clone());
        let mut record = self.record(&run.doc, &run.event, format!("wf-{id}"), parent);
        record.skill = name.clone();
        record.version = "workflow".into();
        record.sha256 = run.def.sha256.clone();
        record.matcher = "workflow".into();
        record.alias = run.doc.alias.clone();
        record.captures = run
            .doc
            .inputs
            .iter()
            .map(|(k, v)| (k.clone(), as_text(v)))
            .collect();
        record.started_at = run.doc.started_at;
        record.ended_at = now_ms();
        record.micros = record.ended_at.saturating_sub(record.started_at) * 1000;
        record.outcome = outcome;
        record.error = error;
        // A child's end is its parent task's result: the room hears the parent.
        let said = run
            .room
            .clone()
            .filter(|_| run.doc.parent.is_none())
            .map(|target| Response {
                target,
                body: ResponseBody::Text(text),
                in_reply_to: None,
            });
        record.responses.extend(said.clone());
        // Recorded before it is said: whoever hears the end finds the record.
        self.observe(&record);
        if let Some(response) = said
            && let Err(e) = self.responses.deliver(response).await
        {
            tracing::warn!("could not say how a workflow went: {e}");
        }
        tracing::info!(workflow = %name, run = id, status = status.as_str(), "workflow ended");
    }

    /// Runs task `cx.index`: over its items if it has `with-items`, each
    /// with its retries.
    async fn run_task(self: Arc<Self>, mut cx: TaskCx) -> TaskEnd {
        let def = cx.def.clone();
        let task = &def.tasks[cx.index];
        let started_at = if cx.doc.started_at > 0 {
            cx.doc.started_at
        } else {
            now_ms()
        };
        let Some(items) = &task.with_items else {
            let a = self.attempts(&cx, None).await;
            return TaskEnd {
                ok: a.ok,
                result: a.result,
                answer: a.answer,
                error: a.error,
                items: Vec::new(),
                started_at,
            };
        };
        let failed = |error: String| TaskEnd {
            ok: false,
            result: serde_json::Value::Null,
            answer: String::new(),
            error: Some(error),
            items: Vec::new(),
            started_at,
        };
        let list = match def.templates.render(items, &cx.values) {
            Ok(serde_json::Value::Array(list)) if list.len() <= MAX_ITEMS => list,
            Ok(serde_json::Value::Array(list)) => {
                return failed(format!(
                    "with-items gave {} items, over {MAX_ITEMS}",
                    list.len()
                ));
            }
            Ok(other) => return failed(format!("with-items is not a list: {other}")),
            Err(e) => return failed(format!("with-items: {e}")),
        };
        cx.doc.items.resize(list.len(), None);
        cx.doc.started_at = started_at;
        {
            let mut written = cx.written.lock().await;
            written.items.resize(list.len(), None);
            written.started_at = started_at;
        }
        let todo: Vec<(usize, serde_json::Value)> = list
            .into_iter()
            .enumerate()
            .filter(|(n, _)| cx.doc.items[*n].is_none())
            .collect();
        // Each item keeps its own end, inside its future: every holder of
        // `written` (an item's end, a child's creation) is then polled by
        // this one stream, so none waits for a holder nobody polls.
        let (this, cx) = (&self, &cx);
        let mut ends = futures::stream::iter(todo.into_iter().map(|(n, item)| async move {
            let a = this.attempts(cx, Some((n, item))).await;
            this.item_ended(cx, task, n, a).await;
        }))
        .buffer_unordered(task.concurrency.max(1));
        while ends.next().await.is_some() {}
        drop(ends);
        let items = cx.written.lock().await.items.clone();
        let done: Vec<&ItemDoc> = items.iter().flatten().collect();
        TaskEnd {
            ok: done.iter().all(|i| i.ok),
            result: serde_json::Value::Array(done.iter().map(|i| i.result.clone()).collect()),
            answer: done
                .iter()
                .map(|i| i.answer.as_str())
                .filter(|a| !a.is_empty())
                .collect::<Vec<_>>()
                .join("\n"),
            error: done.iter().find_map(|i| i.error.clone()),
            items,
            started_at,
        }
    }

    /// Item `n` of task `task` ended: its end goes into the task's document
    /// and is kept, so a restart runs only the items left. The lock is held
    /// through the write: the next item's write comes after it, with it.
    async fn item_ended(&self, cx: &TaskCx, task: &Task, n: usize, a: Attempt) {
        let mut written = cx.written.lock().await;
        written.items[n] = Some(ItemDoc {
            ok: a.ok,
            result: a.result,
            answer: a.answer,
            error: a.error,
        });
        // As a step: small, and waited for (see `ended`).
        let tasks = vec![(task.name.clone(), written.clone())];
        match self
            .store
            .step(cx.run, None, tasks, RunStatus::Running)
            .await
        {
            Ok(()) => {}
            // The driver learns it at the task's end.
            Err(StepError::Lost(_)) => {}
            Err(e) => {
                tracing::error!(run = cx.run, task = %task.name, "could not store an item's end: {e:#}")
            }
        }
    }

    /// One task (or item) with its retries.
    async fn attempts(
        self: &Arc<Self>,
        cx: &TaskCx,
        item: Option<(usize, serde_json::Value)>,
    ) -> Attempt {
        let task = &cx.def.tasks[cx.index];
        let values = match &item {
            Some((_, v)) => context! { item => Value::from_serialize(v), ..cx.values.clone() },
            None => cx.values.clone(),
        };
        let mut attempt = 1;
        loop {
            let a = self
                .once(cx, task, &values, item.as_ref().map(|(n, _)| *n), attempt)
                .await;
            if a.ok || attempt > task.retry {
                return a;
            }
            tracing::info!(run = cx.run, task = %task.name, attempt, "failed, retrying: {}", a.error.as_deref().unwrap_or(""));
            tokio::time::sleep(task.retry_delay).await;
            attempt += 1;
        }
    }

    /// One attempt, with its execution record.
    async fn once(
        self: &Arc<Self>,
        cx: &TaskCx,
        task: &Task,
        values: &Value,
        item: Option<usize>,
        attempt: u32,
    ) -> Attempt {
        let mut id = format!("wf-{}.{}", cx.run, task.name);
        if let Some(n) = item {
            id.push_str(&format!("[{n}]"));
        }
        if attempt > 1 {
            id.push_str(&format!("~{attempt}"));
        }
        let clock = Instant::now();
        let mut record = self.record_for(cx, id);
        let mut input = serde_json::Map::new();
        for (k, t) in &task.input {
            match cx.def.templates.render(t, values) {
                Ok(v) => {
                    input.insert(k.clone(), v);
                }
                Err(e) => {
                    let error = format!("input `{k}`: {e}");
                    record.outcome = Outcome::Error;
                    record.error = Some(error.clone());
                    record.ended_at = now_ms();
                    self.observe(&record);
                    return Attempt {
                        ok: false,
                        result: serde_json::Value::Null,
                        answer: String::new(),
                        error: Some(error),
                    };
                }
            }
        }
        record.captures = input.iter().map(|(k, v)| (k.clone(), as_text(v))).collect();
        let limit = task.timeout;
        let (outcome, a) = match &task.action {
            Action::Skill { skill, matcher } => {
                self.skill(cx, &mut record, skill, matcher.as_deref(), limit)
                    .await
            }
            Action::Send => {
                record.skill = "send".into();
                record.version = "built-in".into();
                let text = input.get("text").map(as_text).unwrap_or_default();
                let room = input.get("room").map(as_text);
                let connector = input.get("connector").map(as_text);
                let target = match (room, cx.room.clone()) {
                    (Some(room), home) => {
                        connector
                            .or(home.map(|h| h.connector))
                            .map(|connector| Room {
                                connector,
                                room,
                                thread: None,
                            })
                    }
                    (None, home) => home,
                };
                match target {
                    Some(target) => {
                        let response = Response {
                            target,
                            body: ResponseBody::Text(text.clone()),
                            in_reply_to: None,
                        };
                        match self.responses.deliver(response.clone()).await {
                            Ok(()) => {
                                record.responses.push(response);
                                (Outcome::Ok, ok(serde_json::json!({"text": text}), text))
                            }
                            Err(e) => (Outcome::Error, fail(format!("cannot send: {e}"))),
                        }
                    }
                    None => (
                        Outcome::Error,
                        fail("send needs a `room`: the workflow was not started from one".into()),
                    ),
                }
            }
            Action::Wait => {
                record.skill = "wait".into();
                record.version = "built-in".into();
                let text = input.get("for").map(as_text).unwrap_or_default();
                match HumanDuration::parse(&text) {
                    Some(d) => {
                        let waited = match limit {
                            Some(l) if l < d.0 => {
                                tokio::time::sleep(l).await;
                                false
                            }
                            // `for: 0s` only gives way (the timer's tick is a millisecond).
                            _ if d.0.is_zero() => {
                                tokio::task::yield_now().await;
                                true
                            }
                            _ => {
                                tokio::time::sleep(d.0).await;
                                true
                            }
                        };
                        if waited {
                            (Outcome::Ok, ok(serde_json::Value::Null, String::new()))
                        } else {
                            (
                                Outcome::Timeout,
                                fail(format!(
                                    "took longer than its timeout of {}",
                                    HumanDuration(limit.unwrap_or_default())
                                )),
                            )
                        }
                    }
                    None => (
                        Outcome::Error,
                        fail(format!("`for: {text}` is not a duration")),
                    ),
                }
            }
            Action::Approve => {
                record.skill = "approve".into();
                record.version = "built-in".into();
                self.approve(cx, task, &input, &mut record).await
            }
            Action::Workflow { name } => {
                // Not the child's name as the skill: the child run's own
                // record carries that (and its notifications).
                record.skill = "workflow".into();
                record.version = "built-in".into();
                record.matcher = name.clone();
                self.child(cx, task, name, input, (&record.id, item), limit)
                    .await
            }
        };
        record.ended_at = now_ms();
        record.micros = clock.elapsed().as_micros() as u64;
        record.outcome = outcome;
        record.error = a.error.clone();
        self.observe(&record);
        a
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
    async fn child_end(&self, id: u64) -> anyhow::Result<Kept> {
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
                // `sharing.rs`), so its end wakes this; the store is read
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

    /// Asks in the room and waits for an allowed answer or the deadline.
    async fn approve(
        &self,
        cx: &TaskCx,
        task: &Task,
        input: &serde_json::Map<String, serde_json::Value>,
        record: &mut Execution,
    ) -> (Outcome, Attempt) {
        let timeout = task.timeout.unwrap_or(APPROVAL_TIMEOUT);
        let deadline = match cx.doc.deadline {
            Some(d) => d,
            None => {
                let d = now_ms() + timeout.as_millis() as u64;
                let mut doc = cx.doc.clone();
                doc.deadline = Some(d);
                let tasks = vec![(task.name.clone(), doc)];
                let _ = self
                    .store
                    .step(cx.run, None, tasks, RunStatus::Running)
                    .await;
                d
            }
        };
        let approvers: Vec<IdentityPattern> = match input.get("approvers") {
            Some(serde_json::Value::Array(list)) => list
                .iter()
                .map(|v| IdentityPattern::parse(&as_text(v)))
                .collect(),
            Some(v) => vec![IdentityPattern::parse(&as_text(v))],
            None => Vec::new(),
        };
        let (tx, rx) = oneshot::channel();
        let several = {
            let mut live = self.lock();
            let Some(run) = live.get_mut(&cx.run) else {
                return (Outcome::Interrupted, fail("the run is over".into()));
            };
            run.approvals.retain(|a| a.task != task.name);
            run.approvals.push(Approval {
                task: task.name.clone(),
                approvers,
                answer: Some(tx),
            });
            run.approvals.len() > 1
        };
        let question = input.get("question").map(as_text).unwrap_or_default();
        let which = if several {
            format!("{} {}", cx.run, task.name)
        } else {
            cx.run.to_string()
        };
        let text = format!("❓ {question} Say `approve {which}` or `deny {which}`.");
        let target = match input.get("room").map(as_text) {
            Some(room) => cx.room.clone().map(|home| Room {
                connector: home.connector,
                room,
                thread: None,
            }),
            None => cx.room.clone(),
        };
        if let Some(target) = target {
            let response = Response {
                target,
                body: ResponseBody::Text(text),
                in_reply_to: None,
            };
            if self.responses.deliver(response.clone()).await.is_ok() {
                record.responses.push(response);
            }
        }
        let left = Duration::from_millis(deadline.saturating_sub(now_ms()));
        let decision = tokio::time::timeout(left, rx).await;
        if let Some(run) = self.lock().get_mut(&cx.run) {
            run.approvals.retain(|a| a.task != task.name);
        }
        match decision {
            Ok(Ok(Decision::Approve(by))) => (
                Outcome::Ok,
                ok(
                    serde_json::json!({"approved": true, "by": by}),
                    format!("approved by {by}"),
                ),
            ),
            Ok(Ok(Decision::Deny(by))) => (
                Outcome::Error,
                Attempt {
                    ok: false,
                    result: serde_json::json!({"approved": false, "by": by}),
                    answer: format!("denied by {by}"),
                    error: Some(format!("denied by {by}")),
                },
            ),
            Ok(Err(_)) => (Outcome::Interrupted, fail("the run is over".into())),
            Err(_) => (
                Outcome::Timeout,
                fail(format!("no answer within {}", HumanDuration(timeout))),
            ),
        }
    }

    /// Answers approval `task` (the only one waiting when `None`) of run `id`
    /// for `connector:user_id`, if they may.
    pub fn decide(
        &self,
        id: u64,
        task: Option<&str>,
        connector: &str,
        user_id: &str,
        approve: bool,
    ) -> Result<String, String> {
        let mut live = self.lock();
        let Some(run) = live.get_mut(&id) else {
            return Err(format!("#{id} is not waiting for anyone."));
        };
        let waiting: Vec<usize> = (0..run.approvals.len())
            .filter(|&i| task.is_none_or(|t| run.approvals[i].task == t))
            .collect();
        let at = match waiting.as_slice() {
            [] => {
                return Err(format!(
                    "#{id} is not waiting for an approval{}.",
                    task.map(|t| format!(" in `{t}`")).unwrap_or_default()
                ));
            }
            [one] => *one,
            _ => {
                let names: Vec<&str> = waiting
                    .iter()
                    .map(|&i| run.approvals[i].task.as_str())
                    .collect();
                return Err(format!(
                    "#{id} waits for several approvals: say which ({}).",
                    names.join(", ")
                ));
            }
        };
        let approval = &mut run.approvals[at];
        let allowed = if approval.approvers.is_empty() {
            self.config.is_admin(connector, user_id)
        } else {
            approval
                .approvers
                .iter()
                .any(|p| p.fits(connector, user_id))
        };
        let who = format!("{connector}:{user_id}");
        if !allowed {
            tracing::warn!(run = id, task = %approval.task, user_id = %crate::text::for_log(&who), "denied: an approval from someone not among its approvers");
            return Err(format!(
                "⛔ {who} may not answer #{id} ({}).",
                approval.task
            ));
        }
        let name = approval.task.clone();
        if let Some(tx) = approval.answer.take() {
            let _ = tx.send(if approve {
                Decision::Approve(who.clone())
            } else {
                Decision::Deny(who.clone())
            });
        }
        run.approvals.remove(at);
        Ok(if approve {
            format!("👍 {who} approved #{id} ({name}).")
        } else {
            format!("👎 {who} denied #{id} ({name}).")
        })
    }

    /// Stops run `id` for `who`, if it runs here, and the children it
    /// started.
    pub fn cancel(&self, id: u64, who: String) -> bool {
        let found = {
            let mut live = self.lock();
            match live.get_mut(&id) {
                Some(run) => {
                    run.canceled_by = Some(who);
                    run.cancel.cancel();
                    true
                }
                None => false,
            }
        };
        if found {
            self.cancel_children(id, &format!("parent #{id}"));
        }
        found
    }

    /// Cancels, for `who`, every run here whose task-starting parent is
    /// `id`, and so on down.
    fn cancel_children(&self, id: u64, who: &str) {
        let children: Vec<u64> = self
            .lock()
            .iter()
            .filter(|(_, l)| l.parent == Some(id))
            .map(|(n, _)| *n)
            .collect();
        for child in children {
            tracing::info!(
                run = child,
                parent = id,
                "canceling a child run with its parent"
            );
            self.cancel(child, who.to_owned());
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

    /// The approvals run `id` waits for, by task.
    pub fn waiting_for(&self, id: u64) -> Vec<String> {
        self.lock()
            .get(&id)
            .map(|l| l.approvals.iter().map(|a| a.task.clone()).collect())
            .unwrap_or_default()
    }

    /// Who started run `id`, while it runs here.
    pub fn started_by(&self, id: u64) -> Option<Option<(String, String)>> {
        self.lock().get(&id).map(|l| l.started_by.clone())
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

    fn record_for(&self, cx: &TaskCx, id: String) -> Execution {
        let mut r = self.record_of(&cx.event, cx.event_id, id);
        r.parent = Some(format!("wf-{}", cx.run));
        r
    }

    fn record(&self, doc: &RunDoc, event: &Event, id: String, parent: Option<String>) -> Execution {
        let mut r = self.record_of(event, doc.event_id, id);
        r.parent = parent;
        r
    }

    /// A record of an execution for `event`, to be filled in.
    pub(super) fn record_of(&self, event: &Event, event_id: EventId, id: String) -> Execution {
        Execution::for_event(id, event_id, event, now_ms())
    }
}

fn ok(result: serde_json::Value, answer: String) -> Attempt {
    Attempt {
        ok: true,
        result,
        answer,
        error: None,
    }
}

fn fail(error: String) -> Attempt {
    Attempt {
        ok: false,
        result: serde_json::Value::Null,
        answer: String::new(),
        error: Some(error),
    }
}

/// `tasks.<name>` for a finished task `i`.
fn see(run: &mut Run, i: usize) {
    let Some(doc) = &run.tasks[i] else { return };
    let value = Value::from_serialize(serde_json::json!({
        "status": doc.status.as_str(),
        "result": doc.result,
        "answer": doc.answer,
        "error": doc.error,
    }));
    Arc::make_mut(&mut run.seen).insert(run.def.tasks[i].name.clone(), value);
}

/// What every template of a run sees.
fn values(run: &Run) -> Value {
    context! {
        inputs => run.inputs.clone(),
        vars => run.vars.clone(),
        tasks => Value::from_dyn_object(run.seen.clone()),
        workflow => context! { id => run.id, name => run.def.name.clone() },
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
