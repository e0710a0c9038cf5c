//! Where workflow runs are kept so a restart resumes them: the history's
//! SQLite file by default (`sqlite.rs`), or Redis when `databases.redis` is
//! configured (`redis.rs`), the store several hosts share. A task's end,
//! what it published and the tasks it led to are written in one
//! transaction before any of those start; so after a crash (even `kill
//! -9`) a finished task is never run again, and a task that was running is
//! started afresh. Writes are small and never on the message path. Ended
//! runs are forgotten by the history's retention (`history.max-age`,
//! `history.max-count`).
//!
//! Steps are group-committed: a step's writer queues it and waits until it
//! is committed; the first waiter with no commit under way leads, writing
//! everything queued (by any run) in one transaction, while steps queued
//! meanwhile wait for the next. So many runs whose tasks end together share
//! one WAL append (or one Redis round trip), and a caller still returns
//! only once its step is kept (a task's successors never start before the
//! step that led to them).
//!
//! In a shared store each run has an owner, the host that drives it. A step
//! is written only while its host still owns the run: a host that another
//! took the run from (it was not alive, `crate::coordination`) learns so from its
//! next step ([`StepError::Lost`]) and stops driving it.
//!
//! What is written reads back: a document deeper or larger than its reader
//! takes (`crate::stored`) is refused before it is written, and the step
//! with it. What still cannot be read (a record damaged, or written by
//! hand) costs its own run only: [`Store::resumable`] hands it back as
//! [`Unreadable`], and the others resume.

mod redis;
mod sqlite;
mod upgrade;

use crate::event::{Event, EventId, Target};
use anyhow::{Context, Result, anyhow};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// A run, as kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunDoc {
    pub workflow: String,
    pub sha256: String,
    pub inputs: serde_json::Map<String, serde_json::Value>,
    /// What started it: tasks see it as their event, answers go to its room.
    pub event: Event,
    pub event_id: EventId,
    /// The alias format it was started by, if one.
    pub alias: Option<String>,
    pub started_at: u64,
    /// Published variables (`vars.<name>`).
    #[serde(default)]
    pub vars: serde_json::Map<String, serde_json::Value>,
    /// A `do: fail` was reached.
    #[serde(default)]
    pub failed: bool,
    /// Where it speaks when its event has no room (a crontab tick, a
    /// webhook): from the entry that started it.
    #[serde(default)]
    pub room: Option<Target>,
    /// The task whose run started it, for a workflow started by another.
    #[serde(default)]
    pub parent: Option<ParentLink>,
    /// How many runs up its chain of parents goes (0: started directly).
    #[serde(default)]
    pub depth: u32,
    /// Why it failed, once it has (read by a parent waiting for it).
    #[serde(default)]
    pub error: Option<String>,
}

/// The task (of another run) that started a run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ParentLink {
    pub run: u64,
    pub task: String,
    /// The task attempt's execution record id (`wf-1.deploy~2`): the
    /// child's record names it as its parent.
    pub record: String,
}

/// Where a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// `join: all` and not every branch has come.
    Waiting,
    /// Led to; running, or to be run.
    Scheduled,
    Succeeded,
    Failed,
}

impl Status {
    pub fn finished(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Waiting => "waiting",
            Status::Scheduled => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
        }
    }
}

/// A task, as kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskDoc {
    pub status: Status,
    /// For `join: all`: the tasks whose transitions have come.
    #[serde(default)]
    pub arrived: Vec<String>,
    /// Its skill's structured result (a list of them over `with-items`).
    #[serde(default)]
    pub result: serde_json::Value,
    /// What it said.
    #[serde(default)]
    pub answer: String,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub started_at: u64,
    #[serde(default)]
    pub ended_at: u64,
    /// Over `with-items`: each item's end, as it came (a restart runs only
    /// the items not finished).
    #[serde(default)]
    pub items: Vec<Option<ItemDoc>>,
    /// An approval's deadline (ms since the epoch), kept across a restart.
    #[serde(default)]
    pub deadline: Option<u64>,
    /// The run a `workflow.<name>` task started (a restart waits for it
    /// rather than starting another).
    #[serde(default)]
    pub child: Option<u64>,
    /// Over `with-items`: the run each item's task started, by item.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Option<u64>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemDoc {
    pub ok: bool,
    pub result: serde_json::Value,
    pub answer: String,
    pub error: Option<String>,
}

impl TaskDoc {
    /// Notes `id` as the run this task (or its `item`) started.
    pub fn set_child(&mut self, item: Option<usize>, id: u64) {
        match item {
            None => self.child = Some(id),
            Some(n) => {
                if self.children.len() <= n {
                    self.children.resize(n + 1, None);
                }
                self.children[n] = Some(id);
            }
        }
    }

    pub fn new(status: Status) -> TaskDoc {
        TaskDoc {
            status,
            arrived: Vec::new(),
            result: serde_json::Value::Null,
            answer: String::new(),
            error: None,
            started_at: 0,
            ended_at: 0,
            items: Vec::new(),
            deadline: None,
            child: None,
            children: Vec::new(),
        }
    }
}

/// How a run ended (`running` until it does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Canceled => "canceled",
        }
    }
    pub fn ended(self) -> bool {
        self != RunStatus::Running
    }
    pub(super) fn parse(s: &str) -> RunStatus {
        match s {
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "canceled" => RunStatus::Canceled,
            _ => RunStatus::Running,
        }
    }
}

/// A run read back: its row and its tasks'.
pub struct StoredRun {
    pub id: u64,
    pub status: RunStatus,
    pub doc: RunDoc,
    pub tasks: Vec<(String, TaskDoc)>,
    /// The host that drives it, in a store several hosts share.
    pub owner: Option<String>,
}

/// Why a step was not kept.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StepError {
    /// Another host drives the run now: this one must stop driving it.
    #[error("workflow run #{0} is driven by another host now")]
    Lost(u64),
    #[error("{0}")]
    Failed(String),
}

/// A run kept in a form that cannot be read back: damaged, written by hand
/// or by another version. It fails alone; it never stops the others.
#[derive(Debug, Clone)]
pub struct Unreadable {
    pub id: u64,
    /// The workflow it was a run of, as its row says (`?` if not even that).
    pub workflow: String,
    /// What the reader said.
    pub error: String,
}

/// A run to resume, or why it cannot be read; and the host that drove it.
pub type Resumable = (Result<StoredRun, Unreadable>, Option<String>);

/// A run as a backend keeps it, its JSON not yet read.
pub(super) struct Row {
    /// The workflow's name, kept beside the document.
    workflow: String,
    status: String,
    doc: String,
    tasks: Vec<(String, String)>,
    owner: Option<String>,
}

/// A run to create, serialized.
pub(super) struct NewRun<'a> {
    workflow: &'a str,
    started_at: u64,
    doc: String,
    tasks: Vec<(String, String)>,
    /// The parent's task that starts it: (run, task, its doc, the item),
    /// written with `child` (or the item's entry of `children`) set to the
    /// new run's number.
    parent: Option<(u64, String, TaskDoc, Option<usize>)>,
}

impl NewRun<'_> {
    /// The parent's task as written: its `child` is the new run `id`.
    fn parent_task(&self, id: u64) -> Result<Option<(u64, &str, String)>> {
        let Some((run, task, doc, item)) = &self.parent else {
            return Ok(None);
        };
        let mut doc = doc.clone();
        doc.set_child(*item, id);
        Ok(Some((*run, task.as_str(), kept_json("a task", &doc)?)))
    }
}

/// One step, serialized before it is queued (no JSON under the lock).
pub(super) struct Step {
    id: u64,
    doc: Option<String>,
    tasks: Vec<(String, String)>,
    status: RunStatus,
}

/// Which runs a host takes from a shared store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunsToClaim {
    /// Those kept under its own name (it restarted).
    pub own: bool,
    /// Those of hosts whose heartbeat lapsed: of any host not in `alive`.
    pub orphans: bool,
    /// The hosts alive now (`coordination::alive`), this one included.
    pub alive: Vec<String>,
}

/// What keeps the runs: a SQLite file or Redis.
pub(super) trait Backend: Send + Sync {
    /// Stores a new run (and its parent's task, in the same transaction);
    /// returns its number.
    fn create(&self, run: NewRun) -> Result<u64>;
    /// Writes `batch` in one transaction; returns the runs whose steps were
    /// not written because this host no longer owns them.
    fn write(&self, batch: &[Step]) -> Result<Vec<u64>>;
    /// Forgets ended runs past the retention; returns how many.
    fn prune(&self, max_age: Duration, max_count: u64) -> Result<usize>;
    /// The running runs this process should drive, now owned by it: all
    /// of them in a file of its own; in a shared store those it owned under
    /// its name before (a restart), and those whose owner is not alive, as
    /// `which` says.
    fn claim(&self, which: RunsToClaim) -> Result<Vec<(u64, Option<String>)>>;
    fn get(&self, id: u64) -> Result<Option<Row>>;
    /// The numbers of the last `limit` runs kept (running or ended), newest
    /// first.
    fn recent(&self, limit: usize) -> Result<Vec<u64>>;
    /// Is it shared by several hosts?
    fn shared(&self) -> bool;
}

#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    steps: Arc<Steps>,
}

/// The group commit's queue (see the module's doc).
#[derive(Default)]
struct Steps {
    queue: Mutex<Queue>,
    /// Woken when a batch is committed (or failed).
    committed: Condvar,
}

#[derive(Default)]
struct Queue {
    steps: Vec<Step>,
    /// The batch the steps queued now will go in.
    open: u64,
    /// Batches before this one are written (or failed).
    done: u64,
    /// A leader is writing a batch.
    writing: bool,
    /// What went wrong in the last few batches: the whole batch (`None`),
    /// or a run this host lost.
    failures: VecDeque<(u64, Option<u64>, String)>,
}

/// Failures remembered for the waiters of their batch.
const FAILURES_KEPT: usize = 256;

impl Store {
    /// The runs in the SQLite file at `path` (the history's).
    pub fn sqlite(path: &Path) -> Result<Store> {
        Self::in_file(crate::sqlite::open_file(path, "workflow")?)
    }

    /// The runs in `file` (the history's, opened as the bot starts).
    pub fn in_file(file: crate::sqlite::File) -> Result<Store> {
        Ok(Store::with(Arc::new(sqlite::SqliteRuns::open(file)?)))
    }

    /// The runs in Redis under `<prefix>/workflows`, owned by `host`.
    pub fn redis(url: &str, shown: &str, prefix: &str, host: &str) -> Result<Store> {
        Ok(Store::with(Arc::new(redis::RedisRuns::connect(
            url, shown, prefix, host,
        )?)))
    }

    fn with(backend: Arc<dyn Backend>) -> Store {
        Store {
            backend,
            steps: Arc::default(),
        }
    }

    /// Is it shared by several hosts (writes are network round trips)?
    pub fn shared(&self) -> bool {
        self.backend.shared()
    }

    /// A new run with its first tasks scheduled; returns its number.
    pub fn create(&self, doc: &RunDoc, tasks: &[(String, TaskDoc)]) -> Result<u64> {
        self.create_child(doc, tasks, None)
    }

    /// [`Store::create`], and in the same transaction the parent's task
    /// that starts it (`(run, task, its doc, the item)`, whose `child`, or
    /// the item's entry of `children`, is then set to the new run): a crash
    /// can leave neither a child its parent does not know nor a parent
    /// pointing at no child.
    pub fn create_child(
        &self,
        doc: &RunDoc,
        tasks: &[(String, TaskDoc)],
        parent: Option<(u64, &str, &TaskDoc, Option<usize>)>,
    ) -> Result<u64> {
        self.backend.create(NewRun {
            workflow: &doc.workflow,
            started_at: doc.started_at,
            doc: kept_json("the run", doc)?,
            tasks: serialized(tasks)?,
            parent: parent.map(|(run, task, doc, item)| (run, task.to_owned(), doc.clone(), item)),
        })
    }

    /// Writes a step of run `id`: its document (when it changed), the
    /// tasks that changed, and its status; returns once it is committed
    /// (with the steps of other runs queued meanwhile: see the module's doc).
    pub fn commit(
        &self,
        id: u64,
        doc: Option<&RunDoc>,
        tasks: &[(String, TaskDoc)],
        status: RunStatus,
    ) -> Result<(), StepError> {
        let bad = |e: anyhow::Error| StepError::Failed(format!("{e:#}"));
        let step = Step {
            id,
            doc: doc
                .map(|d| kept_json("the run", d))
                .transpose()
                .map_err(bad)?,
            tasks: serialized(tasks).map_err(|e| StepError::Failed(format!("{e:#}")))?,
            status,
        };
        let steps = &self.steps;
        let mut q = queue(&steps.queue);
        q.steps.push(step);
        let mine = q.open;
        loop {
            if q.done > mine {
                let failed = q
                    .failures
                    .iter()
                    .find(|(b, run, _)| *b == mine && run.is_none_or(|r| r == id));
                return match failed {
                    Some((_, Some(_), _)) => Err(StepError::Lost(id)),
                    Some((_, None, why)) => Err(StepError::Failed(why.clone())),
                    None => Ok(()),
                };
            }
            if !q.writing {
                // Lead: everything queued goes in this batch.
                q.writing = true;
                let batch = std::mem::take(&mut q.steps);
                let number = q.open;
                q.open += 1;
                drop(q);
                let written = self.backend.write(&batch);
                q = queue(&steps.queue);
                q.writing = false;
                q.done = number + 1;
                match written {
                    Ok(lost) => {
                        for run in lost {
                            q.failures.push_back((number, Some(run), String::new()));
                        }
                    }
                    Err(e) => q.failures.push_back((number, None, format!("{e:#}"))),
                }
                while q.failures.len() > FAILURES_KEPT {
                    q.failures.pop_front();
                }
                steps.committed.notify_all();
                continue;
            }
            q = steps.committed.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// [`Store::commit`] from async code: inline for a local file (a step
    /// is a small WAL append with no fsync, cheaper than a thread hop, and
    /// the driver must wait for it anyway), on a blocking thread for a
    /// shared store (a network round trip must not hold a tokio worker).
    pub async fn step(
        &self,
        id: u64,
        doc: Option<RunDoc>,
        tasks: Vec<(String, TaskDoc)>,
        status: RunStatus,
    ) -> Result<(), StepError> {
        if !self.shared() {
            return self.commit(id, doc.as_ref(), &tasks, status);
        }
        let store = self.clone();
        tokio::task::spawn_blocking(move || store.commit(id, doc.as_ref(), &tasks, status))
            .await
            .unwrap_or_else(|e| Err(StepError::Failed(e.to_string())))
    }

    /// Forgets ended runs (and their tasks) that started more than
    /// `max_age` ago, and all but the newest `max_count` ended runs, as the
    /// history keeps its records. Running runs are always kept. Returns how
    /// many runs went.
    pub fn prune(&self, max_age: Duration, max_count: u64) -> Result<usize> {
        self.backend.prune(max_age, max_count)
    }

    /// The runs to resume, claimed for this host (see [`Backend::claim`]),
    /// each with the host that drove it before. A run that cannot be read
    /// back comes as [`Unreadable`], for the caller to fail: the others
    /// resume all the same. Only the store itself failing is an error.
    pub fn resumable(&self, which: RunsToClaim) -> Result<Vec<Resumable>> {
        let mut out = Vec::new();
        for (id, before) in self.backend.claim(which)? {
            let Some(row) = self.backend.get(id)? else {
                continue;
            };
            let workflow = row.workflow.clone();
            let kept = read(id, row).map_err(|e| Unreadable {
                id,
                workflow,
                error: format!("{e:#}"),
            });
            out.push((kept, before));
        }
        Ok(out)
    }

    /// Run `id` with its tasks.
    pub fn get(&self, id: u64) -> Result<Option<StoredRun>> {
        let Some(row) = self.backend.get(id)? else {
            return Ok(None);
        };
        read(id, row).map(Some)
    }

    /// The last `limit` runs kept, newest first; one that cannot be read
    /// is there as why.
    pub fn recent(&self, limit: usize) -> Result<Vec<Result<StoredRun, Unreadable>>> {
        let mut out = Vec::new();
        for id in self.backend.recent(limit)? {
            let Some(row) = self.backend.get(id)? else {
                continue;
            };
            let workflow = row.workflow.clone();
            out.push(read(id, row).map_err(|e| Unreadable {
                id,
                workflow,
                error: format!("{e:#}"),
            }));
        }
        Ok(out)
    }

    /// Marks run `id` failed without reading or writing its document (one
    /// that cannot be read): it is never resumed again, and goes by the
    /// retention as ended runs do.
    pub fn fail_unread(&self, id: u64) -> Result<(), StepError> {
        self.commit(id, None, &[], RunStatus::Failed)
    }
}

/// Reads run `id` from its row; the error names the run and what in it
/// does not read.
fn read(id: u64, row: Row) -> Result<StoredRun> {
    let doc: RunDoc = serde_json::from_str(&row.doc)
        .with_context(|| format!("workflow run #{id} cannot be read: its document"))?;
    let tasks = row
        .tasks
        .into_iter()
        .map(|(name, doc)| {
            let task = serde_json::from_str(&doc).with_context(|| {
                format!(
                    "workflow run #{id} cannot be read: its task `{}`",
                    crate::text::for_log(&name)
                )
            })?;
            Ok((name, task))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(StoredRun {
        id,
        status: RunStatus::parse(&row.status),
        doc,
        tasks,
        owner: row.owner,
    })
}

/// `value` as the JSON a store keeps, refused if its reader could not take
/// it back (`what` names it in the error).
fn kept_json<T: Serialize>(what: &str, value: &T) -> Result<String> {
    let json = serde_json::to_string(value)?;
    crate::stored::check_document(&json).map_err(|e| anyhow!("{what} is not kept: {e}"))?;
    Ok(json)
}

fn queue(m: &Mutex<Queue>) -> std::sync::MutexGuard<'_, Queue> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn serialized(tasks: &[(String, TaskDoc)]) -> Result<Vec<(String, String)>> {
    tasks
        .iter()
        .map(|(name, doc)| Ok((name.clone(), kept_json(&format!("task `{name}`"), doc)?)))
        .collect()
}

#[cfg(test)]
mod tests;
