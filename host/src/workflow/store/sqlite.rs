//! The runs in the history's SQLite file (WAL): one row per run and one
//! per task. Tasks are a `WITHOUT ROWID` table keyed by (run, task): one
//! B-tree, not a table plus its primary-key index. The file is this
//! process's alone, so every running run is its to resume.

use super::{Backend, NewRun, Row, RunStatus, RunsToClaim, Step};
use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

pub(super) struct SqliteRuns {
    conn: Mutex<Connection>,
}

impl SqliteRuns {
    /// Keeps the runs in `file`: makes their tables (upgrading those an
    /// older sandbot made).
    pub(super) fn open(file: crate::sqlite::File) -> Result<SqliteRuns> {
        let crate::sqlite::File { mut conn, path } = file;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS workflow_runs (
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
        .with_context(|| format!("preparing the workflow database {}", path.display()))?;
        super::upgrade::without_rowid(&mut conn)
            .with_context(|| format!("upgrading the workflow tables in {}", path.display()))?;
        Ok(SqliteRuns {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Backend for SqliteRuns {
    fn create(&self, run: NewRun) -> Result<u64> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO workflow_runs (workflow, status, doc) VALUES (?, 'running', ?)",
            params![run.workflow, run.doc],
        )?;
        let id = tx.last_insert_rowid() as u64;
        put_tasks(&tx, id, &run.tasks)?;
        if let Some((parent, task, doc)) = run.parent_task(id)? {
            put_tasks(&tx, parent, &[(task.to_owned(), doc)])?;
        }
        tx.commit()?;
        Ok(id)
    }

    fn write(&self, batch: &[Step]) -> Result<Vec<u64>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for step in batch {
            // Cached statements: a step's write is on every task's path.
            match &step.doc {
                Some(doc) => tx
                    .prepare_cached("UPDATE workflow_runs SET doc = ?, status = ? WHERE id = ?")?
                    .execute(params![doc, step.status.as_str(), step.id as i64])?,
                None if step.status == RunStatus::Running => 0,
                None => tx
                    .prepare_cached("UPDATE workflow_runs SET status = ? WHERE id = ?")?
                    .execute(params![step.status.as_str(), step.id as i64])?,
            };
            put_tasks(&tx, step.id, &step.tasks)?;
        }
        tx.commit()?;
        Ok(Vec::new())
    }

    fn prune(&self, max_age: Duration, max_count: u64) -> Result<usize> {
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
        // A document that is not JSON (damaged, failed as unreadable) has
        // no start to read: it counts as old, so it goes.
        let gone = "status != 'running'
             AND (CASE WHEN json_valid(doc) THEN json_extract(doc, '$.started_at') ELSE 0 END < ?1
                  OR id <= ?2)";
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

    fn claim(&self, _which: RunsToClaim) -> Result<Vec<(u64, Option<String>)>> {
        let conn = self.conn();
        let mut q =
            conn.prepare("SELECT id FROM workflow_runs WHERE status = 'running' ORDER BY id")?;
        let ids = q
            .query_map([], |r| r.get::<_, i64>(0))?
            .map(|id| Ok((id? as u64, None)))
            .collect::<Result<_>>()?;
        Ok(ids)
    }

    fn get(&self, id: u64) -> Result<Option<Row>> {
        let conn = self.conn();
        // Read as whatever is there (text, bytes, a number): a row written
        // by hand fails as a run that cannot be read, never as the store.
        let row: Option<(String, String, String)> = conn
            .query_row(
                "SELECT workflow, status, doc FROM workflow_runs WHERE id = ?",
                [id as i64],
                |r| Ok((lenient(r, 0)?, lenient(r, 1)?, lenient(r, 2)?)),
            )
            .optional()?;
        let Some((workflow, status, doc)) = row else {
            return Ok(None);
        };
        let mut q = conn.prepare("SELECT task, doc FROM workflow_tasks WHERE run = ?")?;
        let tasks = q
            .query_map([id as i64], |r| Ok((lenient(r, 0)?, lenient(r, 1)?)))?
            .collect::<Result<Vec<(String, String)>, _>>()?;
        Ok(Some(Row {
            workflow,
            status,
            doc,
            tasks,
            owner: None,
        }))
    }

    fn recent(&self, limit: usize) -> Result<Vec<u64>> {
        let conn = self.conn();
        let mut q = conn.prepare("SELECT id FROM workflow_runs ORDER BY id DESC LIMIT ?")?;
        let ids = q
            .query_map([limit as i64], |r| r.get::<_, i64>(0))?
            .map(|id| Ok(id? as u64))
            .collect::<Result<_>>()?;
        Ok(ids)
    }

    fn shared(&self) -> bool {
        false
    }
}

/// Column `i` as text, whatever its type; bytes that are not UTF-8 are
/// replaced (the JSON reader then says what is wrong).
fn lenient(row: &rusqlite::Row, i: usize) -> rusqlite::Result<String> {
    use rusqlite::types::ValueRef;
    Ok(match row.get_ref(i)? {
        ValueRef::Text(b) | ValueRef::Blob(b) => String::from_utf8_lossy(b).into_owned(),
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(x) => x.to_string(),
        ValueRef::Null => String::new(),
    })
}

fn put_tasks(tx: &rusqlite::Transaction, id: u64, tasks: &[(String, String)]) -> Result<()> {
    let mut put = tx.prepare_cached(
        "INSERT OR REPLACE INTO workflow_tasks (run, task, doc) VALUES (?, ?, ?)",
    )?;
    for (name, doc) in tasks {
        put.execute(params![id as i64, name, doc])?;
    }
    Ok(())
}
