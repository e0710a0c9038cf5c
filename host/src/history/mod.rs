//! Execution history: every execution record kept in SQLite (WAL), beside
//! the memory database, findable by skill, user, outcome and time, as
//! StackStorm keeps its executions. Records arrive over a channel and one
//! thread writes them in batches (one transaction per batch), so a burst of
//! messages never waits on the disk; reads open their own connection.
//! Retention by age and by count is applied after writes, at most once a
//! second. With `databases.redis` the records go to Redis instead
//! (`redis.rs`), through the same queue and batching.

use crate::event::{Execution, Outcome};
use anyhow::{Context, Result};
use rusqlite::{Connection, params};
mod redis;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The most records written in one transaction.
const BATCH: usize = 512;

/// How long the writer gathers records after the first before it writes
/// them: a transaction per record or two costs SQLite a WAL append of every
/// page it touched (the table's and three indexes'), and the writer a
/// wake-up per record. A record waits about this long to become findable.
const LINGER: Duration = Duration::from_millis(10);

/// How long and how many records are kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max_age: Duration,
    pub max_count: u64,
}

/// What to look for. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub skill: Option<String>,
    /// A user id, or a display name.
    pub user: Option<String>,
    /// With `user`: the connector the user id belongs to.
    pub connector: Option<String>,
    pub outcome: Option<Outcome>,
    /// Started at or after, in milliseconds since the Unix epoch.
    pub since: Option<u64>,
    /// Only the records that ran inside this one (a workflow's tasks).
    pub parent: Option<String>,
    /// The most records, newest first.
    pub limit: usize,
}

/// Where the records are kept, for the writer thread.
trait Store: Send + 'static {
    fn write(&mut self, batch: &[Execution]) -> Result<()>;
    fn prune(&mut self, retention: Retention) -> Result<()>;
}

/// Where readers find the records.
enum Reader {
    Sqlite(PathBuf),
    Redis(Box<self::redis::RedisHistory>),
}

impl Filter {
    /// Does `e` fit (all but `since` and `limit`, which readers apply)?
    fn fits(&self, e: &Execution) -> bool {
        let is = |want: &Option<String>, have: &Option<String>| {
            want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
        };
        self.skill.as_ref().is_none_or(|s| *s == e.skill)
            && self
                .user
                .as_ref()
                .is_none_or(|u| e.user_id.as_ref() == Some(u) || e.user.as_ref() == Some(u))
            && is(&self.connector, &e.connector)
            && self.outcome.is_none_or(|o| o == e.outcome)
            && is(&self.parent, &e.parent)
    }
}

/// The writer's end, and where readers find the records.
pub struct History {
    records: mpsc::Sender<Execution>,
    reader: Reader,
    /// Records written so far, for tests and shutdown: see [`History::flush`].
    written: std::sync::Arc<(std::sync::Mutex<u64>, std::sync::Condvar)>,
    /// The same count, for async waiters ([`History::caught_up`]).
    written_now: tokio::sync::watch::Receiver<u64>,
    sent: std::sync::atomic::AtomicU64,
}

impl History {
    /// Opens (creating if needed) the history database at `path` and starts
    /// its writer thread.
    pub fn open(path: &Path, retention: Retention) -> Result<History> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the history folder {}", dir.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("opening the history database {}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS executions (
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
             CREATE INDEX IF NOT EXISTS executions_skill ON executions (skill, started_at);",
        )
        .with_context(|| format!("preparing the history database {}", path.display()))?;
        let store = SqliteStore::new(conn)
            .with_context(|| format!("counting the history in {}", path.display()))?;
        Self::start(store, Reader::Sqlite(path.to_owned()), retention)
    }

    /// Keeps the history in Redis at `url` (shown as `shown` in errors),
    /// under `<prefix>/executions`: refuses when Redis cannot be reached.
    pub fn open_redis(
        url: &str,
        shown: &str,
        prefix: &str,
        retention: Retention,
    ) -> Result<History> {
        let (store, reader) = self::redis::RedisHistory::connect(url, shown, prefix)?;
        Self::start(store, Reader::Redis(Box::new(reader)), retention)
    }

    fn start(store: impl Store, reader: Reader, retention: Retention) -> Result<History> {
        let (records, rx) = mpsc::channel();
        let written = std::sync::Arc::new((std::sync::Mutex::new(0u64), std::sync::Condvar::new()));
        let counter = written.clone();
        let (tell, written_now) = tokio::sync::watch::channel(0);
        std::thread::Builder::new()
            .name("history".into())
            .spawn(move || writer(store, rx, retention, counter, tell))
            .context("starting the history writer")?;
        Ok(History {
            records,
            reader,
            written,
            written_now,
            sent: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Queues a record for writing; never waits.
    pub fn record(&self, execution: &Execution) {
        if self.records.send(execution.clone()).is_ok() {
            self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Waits (up to `within`) until every record queued so far is written.
    pub fn flush(&self, within: Duration) -> bool {
        let target = self.sent.load(std::sync::atomic::Ordering::Relaxed);
        let (lock, ready) = &*self.written;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = ready
            .wait_timeout_while(guard, within, |n| *n < target)
            .unwrap_or_else(|e| e.into_inner());
        *guard >= target
    }

    /// Resolves once every record queued before the call is written (a bus
    /// worker acks an event only then).
    pub async fn caught_up(&self) {
        let target = self.sent.load(std::sync::atomic::Ordering::Relaxed);
        let mut written = self.written_now.clone();
        let _ = written.wait_for(|n| *n >= target).await;
    }

    /// The records that fit `filter`, newest first, including every record
    /// queued before the call (it waits up to a second for the writer).
    /// Blocking: call it off the async workers.
    pub fn find(&self, filter: &Filter) -> Result<Vec<Execution>> {
        self.flush(Duration::from_secs(1));
        let path = match &self.reader {
            Reader::Sqlite(path) => path,
            Reader::Redis(redis) => return redis.find(filter),
        };
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .context("opening the history to read")?;
        let mut sql = String::from("SELECT record FROM executions WHERE 1 = 1");
        let mut args: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
        if let Some(skill) = &filter.skill {
            sql.push_str(" AND skill = ?");
            args.push(Box::new(skill.clone()));
        }
        if let Some(user) = &filter.user {
            sql.push_str(" AND (user_id = ? OR user = ?)");
            args.push(Box::new(user.clone()));
            args.push(Box::new(user.clone()));
        }
        if let Some(connector) = &filter.connector {
            sql.push_str(" AND connector = ?");
            args.push(Box::new(connector.clone()));
        }
        if let Some(outcome) = filter.outcome {
            sql.push_str(" AND outcome = ?");
            args.push(Box::new(outcome.as_str()));
        }
        if let Some(since) = filter.since {
            sql.push_str(" AND started_at >= ?");
            args.push(Box::new(since as i64));
        }
        if let Some(parent) = &filter.parent {
            // No column of its own: records written before there were
            // parents need no migration.
            sql.push_str(" AND json_extract(record, '$.parent') = ?");
            args.push(Box::new(parent.clone()));
        }
        sql.push_str(" ORDER BY started_at DESC, rowid DESC LIMIT ?");
        args.push(Box::new(filter.limit.max(1) as i64));
        let mut statement = conn.prepare(&sql)?;
        let rows = statement.query_map(
            rusqlite::params_from_iter(args.iter().map(|a| a.as_ref())),
            |row| row.get::<_, String>(0),
        )?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row?).context("a history record that is not JSON")?);
        }
        Ok(out)
    }

    /// One record by its id.
    pub fn get(&self, id: &str) -> Result<Option<Execution>> {
        self.flush(Duration::from_secs(1));
        let path = match &self.reader {
            Reader::Sqlite(path) => path,
            Reader::Redis(redis) => return redis.get(id),
        };
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .context("opening the history to read")?;
        let record: Option<String> = rusqlite::OptionalExtension::optional(conn.query_row(
            "SELECT record FROM executions WHERE id = ?",
            [id],
            |row| row.get(0),
        ))?;
        record
            .map(|r| serde_json::from_str(&r).context("a history record that is not JSON"))
            .transpose()
    }
}

/// Writes what arrives, a batch per transaction, until every sender is gone.
fn writer(
    mut store: impl Store,
    rx: mpsc::Receiver<Execution>,
    retention: Retention,
    written: std::sync::Arc<(std::sync::Mutex<u64>, std::sync::Condvar)>,
    tell: tokio::sync::watch::Sender<u64>,
) {
    let mut pruned = Instant::now();
    let mut batch = Vec::with_capacity(BATCH);
    // The last batch was full: more are waiting, so don't linger.
    let mut behind = false;
    while let Ok(first) = rx.recv() {
        batch.push(first);
        // Sleep rather than wait on the channel: a sender then finds no
        // one to wake, which spares a futex call and a context switch per
        // record.
        if !behind {
            std::thread::sleep(LINGER);
        }
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        behind = batch.len() == BATCH;
        if let Err(e) = store.write(&batch) {
            tracing::error!(
                "could not write {} execution records to the history: {e:#}",
                batch.len()
            );
        }
        if pruned.elapsed() >= Duration::from_secs(1) {
            if let Err(e) = store.prune(retention) {
                tracing::warn!("could not prune the history: {e:#}");
            }
            pruned = Instant::now();
        }
        let (lock, ready) = &*written;
        let mut count = lock.lock().unwrap_or_else(|e| e.into_inner());
        *count += batch.len() as u64;
        tell.send_replace(*count);
        drop(count);
        ready.notify_all();
        batch.clear();
    }
}

/// The embedded default: one SQLite file.
struct SqliteStore {
    conn: Connection,
    /// Rows in the table as far as this writer knows: counted once at open,
    /// then kept by what it inserts and deletes, so retention by count is a
    /// delete of the excess, not a walk over every row each second. A
    /// replaced row counts twice, which only makes it keep a few fewer.
    rows: u64,
    /// A record's JSON, the buffer kept between records.
    json: Vec<u8>,
}

impl SqliteStore {
    fn new(conn: Connection) -> Result<SqliteStore> {
        let rows: i64 = conn.query_row("SELECT count(*) FROM executions", [], |r| r.get(0))?;
        Ok(SqliteStore {
            conn,
            rows: rows as u64,
            json: Vec::new(),
        })
    }
}

impl Store for SqliteStore {
    fn write(&mut self, batch: &[Execution]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO executions (id, skill, user_id, user, connector, outcome, started_at, record)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )?;
            for e in batch {
                self.json.clear();
                serde_json::to_writer(&mut self.json, e)?;
                let json = std::str::from_utf8(&self.json).expect("serde_json writes UTF-8");
                insert.execute(params![
                    e.id,
                    e.skill,
                    e.user_id,
                    e.user,
                    e.connector,
                    e.outcome.as_str(),
                    e.started_at as i64,
                    json,
                ])?;
            }
        }
        tx.commit()?;
        self.rows += batch.len() as u64;
        Ok(())
    }

    fn prune(&mut self, retention: Retention) -> Result<()> {
        let oldest = crate::event::now_ms().saturating_sub(retention.max_age.as_millis() as u64);
        let aged = self.conn.execute(
            "DELETE FROM executions WHERE started_at < ?",
            [oldest as i64],
        )?;
        self.rows = self.rows.saturating_sub(aged as u64);
        if self.rows > retention.max_count {
            let excess = self.rows - retention.max_count;
            let gone = self.conn.execute(
                "DELETE FROM executions WHERE rowid IN (
                     SELECT rowid FROM executions ORDER BY started_at, rowid LIMIT ?)",
                [excess as i64],
            )?;
            self.rows = self.rows.saturating_sub(gone as u64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventId;

    fn record(n: u64, skill: &str, user: &str, outcome: Outcome) -> Execution {
        Execution {
            id: format!("e{n}"),
            event_id: EventId(n),
            skill: skill.into(),
            version: "1".into(),
            sha256: "ab".into(),
            matcher: "m".into(),
            alias: None,
            connector: Some("shell".into()),
            room: Some("shell".into()),
            thread: None,
            user: Some(user.into()),
            user_id: Some(user.into()),
            text: Some("hi".into()),
            captures: vec![("app".into(), "web".into())],
            started_at: crate::event::now_ms() - 1000 + n,
            ended_at: crate::event::now_ms(),
            micros: 5,
            outcome,
            error: None,
            denials: Vec::new(),
            responses: Vec::new(),
            parent: None,
        }
    }

    #[test]
    fn records_are_written_found_and_pruned_by_count() {
        let dir = tempfile::tempdir().unwrap();
        let retention = Retention {
            max_age: Duration::from_secs(3600),
            max_count: 3,
        };
        let history = History::open(&dir.path().join("h.db"), retention).unwrap();
        history.record(&record(1, "deploy", "alice", Outcome::Ok));
        history.record(&record(2, "hello", "bob", Outcome::Error));
        history.record(&record(3, "deploy", "bob", Outcome::Denied));
        assert!(history.flush(Duration::from_secs(5)));
        let all = history
            .find(&Filter {
                limit: 10,
                ..Filter::default()
            })
            .unwrap();
        assert_eq!(
            all.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["e3", "e2", "e1"]
        );
        assert_eq!(
            all[2],
            record(1, "deploy", "alice", Outcome::Ok).clone_with_times(&all[2])
        );
        let bobs_deploys = Filter {
            skill: Some("deploy".into()),
            user: Some("bob".into()),
            limit: 10,
            ..Filter::default()
        };
        assert_eq!(history.find(&bobs_deploys).unwrap()[0].id, "e3");
        let errors = Filter {
            outcome: Some(Outcome::Error),
            limit: 10,
            ..Filter::default()
        };
        assert_eq!(history.find(&errors).unwrap().len(), 1);
        assert_eq!(history.get("e2").unwrap().unwrap().skill, "hello");
        assert!(history.get("nope").unwrap().is_none());
        // Over the count: the oldest goes (pruning runs at most once a second).
        std::thread::sleep(Duration::from_millis(1100));
        history.record(&record(4, "hello", "carol", Outcome::Ok));
        assert!(history.flush(Duration::from_secs(5)));
        let all = history
            .find(&Filter {
                limit: 10,
                ..Filter::default()
            })
            .unwrap();
        assert_eq!(
            all.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["e4", "e3", "e2"]
        );
    }

    impl Execution {
        /// This record with `other`'s clock readings, to compare the rest.
        fn clone_with_times(&self, other: &Execution) -> Execution {
            Execution {
                started_at: other.started_at,
                ended_at: other.ended_at,
                ..self.clone()
            }
        }
    }
}
