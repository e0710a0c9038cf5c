//! Where workflow runs are kept so a restart resumes them: two tables in the
//! history's SQLite file (WAL), one row per run and one per task. A task's
//! end, what it published and the tasks it led to are written in one
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
//! one WAL append, and a caller still returns only once its step is kept
//! (a task's successors never start before the step that led to them).
//! Tasks are a `WITHOUT ROWID` table keyed by (run, task): one B-tree, not
//! a table plus its primary-key index.

use crate::event::{Event, EventId, Target};
use anyhow::{Context, Result, anyhow};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemDoc {
    pub ok: bool,
    pub result: serde_json::Value,
    pub answer: String,
    pub error: Option<String>,
}

impl TaskDoc {
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
    fn parse(s: &str) -> RunStatus {
        match s {
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "canceled" => RunStatus::Canceled,
            _ => RunStatus::Running,
        }
    }
}

/// A run read back: its row and its tasks'.
pub struct Kept {
    pub id: u64,
    pub status: RunStatus,
    pub doc: RunDoc,
    pub tasks: Vec<(String, TaskDoc)>,
}

#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
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
    /// The last few batches that failed, with why.
    failures: VecDeque<(u64, String)>,
}

/// One step, serialized before it is queued (no JSON under the lock).
struct Step {
    id: i64,
    doc: Option<String>,
    tasks: Vec<(String, String)>,
    status: RunStatus,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the folder of {}", path.display()))?;
        }
        let mut conn = Connection::open(path)
            .with_context(|| format!("opening the workflow database {}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS workflow_runs (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 workflow TEXT NOT NULL,
                 status TEXT NOT NULL,
                 doc TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS workflow_runs_status ON workflow_runs (status);
             CREATE TABLE IF NOT EXISTS workflow_tasks (
                 run INTEGER NOT NULL,
                 task TEXT NOT NULL,
                 doc TEXT NOT NULL,
                 PRIMARY KEY (run, task)
             ) WITHOUT ROWID;",
        )
        .with_context(|| format!("preparing the workflow tables in {}", path.display()))?;
        without_rowid(&mut conn)
            .with_context(|| format!("upgrading the workflow tables in {}", path.display()))?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            steps: Arc::default(),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new run with its first tasks scheduled; returns its number.
    pub fn create(&self, doc: &RunDoc, tasks: &[(String, TaskDoc)]) -> Result<u64> {
        self.create_child(doc, tasks, None)
    }

    /// [`Store::create`], and in the same transaction the parent's task
    /// that starts it (`(run, task, its doc)`, whose `child` is then set to
    /// the new run): a crash can leave neither a child its parent does not
    /// know nor a parent pointing at no child.
    pub fn create_child(
        &self,
        doc: &RunDoc,
        tasks: &[(String, TaskDoc)],
        parent: Option<(u64, &str, &TaskDoc)>,
    ) -> Result<u64> {
        let doc_text = serde_json::to_string(doc)?;
        let tasks = serialized(tasks)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO workflow_runs (workflow, status, doc) VALUES (?, 'running', ?)",
            params![doc.workflow, doc_text],
        )?;
        let id = tx.last_insert_rowid() as u64;
        put_tasks(&tx, id as i64, &tasks)?;
        if let Some((run, task, task_doc)) = parent {
            let mut task_doc = task_doc.clone();
            task_doc.child = Some(id);
            put_tasks(
                &tx,
                run as i64,
                &[(task.to_owned(), serde_json::to_string(&task_doc)?)],
            )?;
        }
        tx.commit()?;
        Ok(id)
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
    ) -> Result<()> {
        let step = Step {
            id: id as i64,
            doc: doc.map(serde_json::to_string).transpose()?,
            tasks: serialized(tasks)?,
            status,
        };
        let steps = &self.steps;
        let mut q = queue(&steps.queue);
        q.steps.push(step);
        let mine = q.open;
        loop {
            if q.done > mine {
                return match q.failures.iter().find(|(b, _)| *b == mine) {
                    Some((_, why)) => Err(anyhow!("{why}")),
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
                let written = self.write(&batch);
                q = queue(&steps.queue);
                q.writing = false;
                q.done = number + 1;
                if let Err(e) = &written {
                    q.failures.push_back((number, format!("{e:#}")));
                    if q.failures.len() > 64 {
                        q.failures.pop_front();
                    }
                }
                steps.committed.notify_all();
                return written;
            }
            q = steps.committed.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// One transaction for a batch of steps.
    fn write(&self, batch: &[Step]) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for step in batch {
            // Cached statements: a step's write is on every task's path.
            match &step.doc {
                Some(doc) => tx
                    .prepare_cached("UPDATE workflow_runs SET doc = ?, status = ? WHERE id = ?")?
                    .execute(params![doc, step.status.as_str(), step.id])?,
                None if step.status == RunStatus::Running => 0,
                None => tx
                    .prepare_cached("UPDATE workflow_runs SET status = ? WHERE id = ?")?
                    .execute(params![step.status.as_str(), step.id])?,
            };
            put_tasks(&tx, step.id, &step.tasks)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Forgets ended runs (and their tasks) that started more than
    /// `max_age` ago, and all but the newest `max_count` ended runs, as the
    /// history keeps its records. Running runs are always kept. Returns how
    /// many runs went.
    pub fn prune(&self, max_age: std::time::Duration, max_count: u64) -> Result<usize> {
        let oldest = crate::event::now_ms().saturating_sub(max_age.as_millis() as u64);
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        // The newest ended run beyond the count: it and older ones go.
        let cut: Option<i64> = tx
            .query_row(
                "SELECT id FROM workflow_runs WHERE status != 'running'
                 ORDER BY id DESC LIMIT 1 OFFSET ?",
                [max_count as i64],
                |r| r.get(0),
            )
            .optional()?;
        let gone = "status != 'running'
             AND (json_extract(doc, '$.started_at') < ?1 OR id <= ?2)";
        tx.execute(
            &format!(
                "DELETE FROM workflow_tasks WHERE run IN (SELECT id FROM workflow_runs WHERE {gone})"
            ),
            params![oldest as i64, cut.unwrap_or(0)],
        )?;
        let runs = tx.execute(
            &format!("DELETE FROM workflow_runs WHERE {gone}"),
            params![oldest as i64, cut.unwrap_or(0)],
        )?;
        tx.commit()?;
        Ok(runs)
    }

    /// Runs that had not ended when the bot stopped.
    pub fn unfinished(&self) -> Result<Vec<Kept>> {
        let ids: Vec<i64> = {
            let conn = self.conn();
            let mut q =
                conn.prepare("SELECT id FROM workflow_runs WHERE status = 'running' ORDER BY id")?;
            q.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
        };
        ids.into_iter()
            .filter_map(|id| self.get(id as u64).transpose())
            .collect()
    }

    /// Run `id` with its tasks.
    pub fn get(&self, id: u64) -> Result<Option<Kept>> {
        let conn = self.conn();
        let row: Option<(String, String)> = conn
            .query_row(
                "SELECT status, doc FROM workflow_runs WHERE id = ?",
                [id as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((status, doc)) = row else {
            return Ok(None);
        };
        let doc: RunDoc = serde_json::from_str(&doc).context("a workflow run that is not JSON")?;
        let mut q = conn.prepare("SELECT task, doc FROM workflow_tasks WHERE run = ?")?;
        let tasks = q
            .query_map([id as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .map(|row| {
                let (name, doc) = row?;
                Ok((
                    name,
                    serde_json::from_str(&doc).context("a workflow task that is not JSON")?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Kept {
            id,
            status: RunStatus::parse(&status),
            doc,
            tasks,
        }))
    }
}

fn queue(m: &Mutex<Queue>) -> std::sync::MutexGuard<'_, Queue> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn serialized(tasks: &[(String, TaskDoc)]) -> Result<Vec<(String, String)>> {
    tasks
        .iter()
        .map(|(name, doc)| Ok((name.clone(), serde_json::to_string(doc)?)))
        .collect()
}

fn put_tasks(tx: &rusqlite::Transaction, id: i64, tasks: &[(String, String)]) -> Result<()> {
    let mut put = tx.prepare_cached(
        "INSERT OR REPLACE INTO workflow_tasks (run, task, doc) VALUES (?, ?, ?)",
    )?;
    for (name, doc) in tasks {
        put.execute(params![id, name, doc])?;
    }
    Ok(())
}

/// A tasks table made before it was `WITHOUT ROWID` is copied into one.
fn without_rowid(conn: &mut Connection) -> Result<()> {
    let sql: String = conn.query_row(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'workflow_tasks'",
        [],
        |r| r.get(0),
    )?;
    if sql.to_ascii_uppercase().contains("WITHOUT ROWID") {
        return Ok(());
    }
    let tx = conn.transaction()?;
    tx.execute_batch(
        "CREATE TABLE workflow_tasks_new (
             run INTEGER NOT NULL,
             task TEXT NOT NULL,
             doc TEXT NOT NULL,
             PRIMARY KEY (run, task)
         ) WITHOUT ROWID;
         INSERT INTO workflow_tasks_new SELECT run, task, doc FROM workflow_tasks;
         DROP TABLE workflow_tasks;
         ALTER TABLE workflow_tasks_new RENAME TO workflow_tasks;",
    )?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, EventId, Message};

    fn run_doc(started_at: u64) -> RunDoc {
        RunDoc {
            workflow: "w".into(),
            sha256: String::new(),
            inputs: serde_json::Map::new(),
            event: Event::Message(Message {
                id: "m1".into(),
                connector: "shell".into(),
                user: "alice".into(),
                user_id: "alice".into(),
                room: "shell".into(),
                thread: None,
                text: "go".into(),
                addressed: false,
                received_at: started_at,
            }),
            event_id: EventId(1),
            alias: None,
            started_at,
            vars: serde_json::Map::new(),
            failed: false,
            room: None,
            parent: None,
            depth: 0,
            error: None,
        }
    }

    #[test]
    fn pruning_keeps_running_runs_and_the_newest_ended_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("h.db")).unwrap();
        let now = crate::event::now_ms();
        let task = [("t".to_owned(), TaskDoc::new(Status::Succeeded))];
        // 1: ended long ago; 2, 3, 4: ended now; 5: still running, and old.
        let ids: Vec<u64> = [now - 10 * 86_400_000, now, now, now, now - 10 * 86_400_000]
            .into_iter()
            .map(|at| store.create(&run_doc(at), &task).unwrap())
            .collect();
        for &id in &ids[..4] {
            store.commit(id, None, &[], RunStatus::Succeeded).unwrap();
        }
        let week = std::time::Duration::from_secs(7 * 86_400);
        // By age: run 1 goes.
        assert_eq!(store.prune(week, 100).unwrap(), 1);
        assert!(store.get(ids[0]).unwrap().is_none());
        // By count: of 2, 3, 4 the newest two stay.
        assert_eq!(store.prune(week, 2).unwrap(), 1);
        assert!(store.get(ids[1]).unwrap().is_none());
        for &id in &ids[2..] {
            let kept = store.get(id).unwrap().expect("kept");
            assert_eq!(kept.tasks.len(), 1);
        }
        assert_eq!(store.unfinished().unwrap().len(), 1);
        // The gone runs' tasks went with them.
        let tasks: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM workflow_tasks", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tasks, 3);
    }
}
