//! Upgrades of the runs' SQLite tables as an older sandbot made them,
//! made once as the file opens, before anything reads or writes a run.

use anyhow::Result;
use rusqlite::Connection;

/// A tasks table made before it was `WITHOUT ROWID` is copied into one.
pub(super) fn without_rowid(conn: &mut Connection) -> Result<()> {
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
