//! The history's SQLite file: one row per record (its JSON, and the
//! columns searches filter on), and one row in `history_size` holding the
//! records' total size in bytes, kept by the writer in the same transaction
//! as the rows it adds and deletes. So retention by size reads one number
//! instead of the whole table; it is counted from the table once, when a
//! file made before it had one is opened.

use super::{Retention, Store};
use crate::event::Execution;
use anyhow::{Context, Result};
use rusqlite::{Connection, Transaction, params};
use std::sync::Arc;

/// The embedded default: one SQLite file.
pub(super) struct SqliteStore {
    conn: Connection,
    /// Rows in the table as far as this writer knows: counted once at open,
    /// then kept by what it inserts (a record that replaces its own
    /// `running` row adds none) and deletes, so retention by count is a
    /// delete of the excess, not a walk over every row each second.
    rows: u64,
    /// A record's JSON, the buffer kept between records.
    json: Vec<u8>,
}

impl SqliteStore {
    /// Keeps the history in `file`: makes its tables and counts its rows;
    /// `abandoning` (as the bot starts), first marks the records a
    /// previous run left `running` as `abandoned` (logged).
    pub(super) fn open(file: crate::sqlite::File, abandoning: bool) -> Result<SqliteStore> {
        let crate::sqlite::File { conn, path } = file;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS executions (
                 id TEXT PRIMARY KEY,
                 skill TEXT NOT NULL,
                 user_id TEXT,
                 user TEXT,
                 connector TEXT,
                 outcome TEXT NOT NULL,
                 started_at INTEGER NOT NULL,
                 record TEXT NOT NULL
             );
             CREATE INDEX IF NOT EXISTS executions_started ON executions (started_at);
             CREATE INDEX IF NOT EXISTS executions_skill ON executions (skill, started_at);
             CREATE TABLE IF NOT EXISTS history_size (
                 one INTEGER PRIMARY KEY CHECK (one = 1),
                 bytes INTEGER NOT NULL
             );
             INSERT OR IGNORE INTO history_size (one, bytes)
                 SELECT 1, coalesce(sum(octet_length(record)), 0) FROM executions
                 WHERE NOT EXISTS (SELECT 1 FROM history_size);",
        )
        .with_context(|| format!("preparing the history database {}", path.display()))?;
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM executions", [], |r| r.get(0))
            .with_context(|| format!("counting the history in {}", path.display()))?;
        let mut store = SqliteStore {
            conn,
            rows: rows as u64,
            json: Vec::new(),
        };
        if abandoning {
            let abandoned = store
                .abandon()
                .with_context(|| format!("marking abandoned runs in {}", path.display()))?;
            if abandoned > 0 {
                tracing::warn!(
                    abandoned,
                    "executions in flight when the bot last ended without stopping are recorded as abandoned"
                );
            }
        }
        Ok(store)
    }
}

/// Why a record is `abandoned`.
pub(super) const ABANDONED: &str =
    "the bot ended without finishing it (killed, crashed or lost power); marked at the next start";

impl SqliteStore {
    /// Marks every record still `running` as `abandoned`: at start, before
    /// any run of this process, a running row is one a bot that ended
    /// without a word (`kill -9`) never finished. Returns how many.
    fn abandon(&mut self) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let rows: Vec<(String, String)> = {
            let mut select =
                tx.prepare("SELECT id, record FROM executions WHERE outcome = 'running'")?;
            select
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?
        };
        let mut delta = 0i64;
        for (id, json) in &rows {
            let Ok(mut e) = serde_json::from_str::<Execution>(json) else {
                continue; // unreadable: searches skip it too
            };
            e.outcome = crate::event::Outcome::Abandoned;
            e.error = Some(ABANDONED.into());
            let now = serde_json::to_string(&e)?;
            delta += now.len() as i64 - json.len() as i64;
            tx.execute(
                "UPDATE executions SET outcome = 'abandoned', record = ? WHERE id = ?",
                params![now, id],
            )?;
        }
        add_bytes(&tx, delta)?;
        tx.commit()?;
        Ok(rows.len())
    }
}

/// Adds `delta` (negative: freed) to the records' total size.
fn add_bytes(tx: &Transaction, delta: i64) -> Result<()> {
    if delta != 0 {
        tx.prepare_cached("UPDATE history_size SET bytes = max(bytes + ?, 0) WHERE one = 1")?
            .execute([delta])?;
    }
    Ok(())
}

/// Deletes the rows `which` (an SQL condition over `executions`, with
/// `args`) and their bytes from the total; returns how many went.
fn forget(tx: &Transaction, which: &str, args: &[&dyn rusqlite::ToSql]) -> Result<usize> {
    let freed: i64 = tx.query_row(
        &format!("SELECT coalesce(sum(octet_length(record)), 0) FROM executions WHERE {which}"),
        args,
        |r| r.get(0),
    )?;
    let gone = tx.execute(&format!("DELETE FROM executions WHERE {which}"), args)?;
    add_bytes(tx, -freed)?;
    Ok(gone)
}

impl Store for SqliteStore {
    fn write(&mut self, batch: &[Arc<Execution>]) -> Result<u64> {
        let tx = self.conn.transaction()?;
        let mut delta = 0i64;
        let mut added = 0u64;
        {
            // A new id (nearly every record) is one INSERT: no look-up of
            // an old row first. One written before (a long run's `running`
            // row, a record marked undelivered) fails it, and then replaces
            // the old row and its size.
            let mut insert = tx.prepare_cached(
                "INSERT INTO executions (id, skill, user_id, user, connector, outcome, started_at, record)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )?;
            for e in batch {
                self.json.clear();
                serde_json::to_writer(&mut self.json, e)?;
                let json = std::str::from_utf8(&self.json).expect("serde_json writes UTF-8");
                let row = params![
                    e.id,
                    e.skill,
                    e.user_id,
                    e.user,
                    e.connector,
                    e.outcome.as_str(),
                    e.started_at as i64,
                    json,
                ];
                match insert.execute(row) {
                    Ok(_) => {
                        delta += json.len() as i64;
                        added += 1;
                    }
                    Err(rusqlite::Error::SqliteFailure(f, _))
                        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
                    {
                        let old: i64 = tx
                            .prepare_cached(
                                "SELECT octet_length(record) FROM executions WHERE id = ?",
                            )?
                            .query_row([&e.id], |r| r.get(0))?;
                        tx.prepare_cached(
                            "INSERT OR REPLACE INTO executions (id, skill, user_id, user, connector, outcome, started_at, record)
                             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        )?
                        .execute(row)?;
                        delta += json.len() as i64 - old;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        add_bytes(&tx, delta)?;
        let total: i64 = tx.query_row("SELECT bytes FROM history_size", [], |r| r.get(0))?;
        tx.commit()?;
        self.rows += added;
        Ok(total.max(0) as u64)
    }

    fn prune(&mut self, retention: Retention) -> Result<()> {
        let oldest = crate::event::now_ms().saturating_sub(retention.max_age.as_millis() as u64);
        let tx = self.conn.transaction()?;
        let aged = forget(&tx, "started_at < ?", &[&(oldest as i64)])?;
        self.rows = self.rows.saturating_sub(aged as u64);
        if self.rows > retention.max_count {
            let excess = self.rows - retention.max_count;
            let gone = forget(
                &tx,
                "rowid IN (SELECT rowid FROM executions ORDER BY started_at, rowid LIMIT ?)",
                &[&(excess as i64)],
            )?;
            self.rows = self.rows.saturating_sub(gone as u64);
        }
        // Over the byte budget: the oldest go until what is left fits.
        let total: i64 = tx.query_row("SELECT bytes FROM history_size", [], |r| r.get(0))?;
        let over = total.saturating_sub(retention.max_bytes.min(i64::MAX as u64) as i64);
        if over > 0 {
            let mut n = 0i64;
            let mut freed = 0i64;
            {
                let mut oldest = tx.prepare(
                    "SELECT octet_length(record) FROM executions ORDER BY started_at, rowid",
                )?;
                let mut sizes = oldest.query([])?;
                while freed < over {
                    let Some(row) = sizes.next()? else { break };
                    freed += row.get::<_, i64>(0)?;
                    n += 1;
                }
            }
            let gone = forget(
                &tx,
                "rowid IN (SELECT rowid FROM executions ORDER BY started_at, rowid LIMIT ?)",
                &[&n],
            )?;
            self.rows = self.rows.saturating_sub(gone as u64);
            if freed < over {
                // Nothing left to free: the total had drifted (rows deleted
                // by hand); it starts again from what is there.
                tx.execute(
                    "UPDATE history_size SET bytes =
                         (SELECT coalesce(sum(octet_length(record)), 0) FROM executions)",
                    [],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}
