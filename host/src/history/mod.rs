//! Execution history: every execution record kept in SQLite (WAL), beside
//! the memory database (`sqlite.rs`), findable by skill, user, outcome and
//! time, as StackStorm keeps its executions. Records arrive over a channel
//! and one thread writes them in batches (one transaction per batch), so a
//! burst of messages never waits on the disk; reads open their own
//! connection. With `databases.redis` the records go to Redis instead
//! (`redis.rs`), through the same queue and batching.
//!
//! A byte budget, whatever arrives: every text a record holds (the message,
//! captures, answers, the error, names) is cut to `history.max-text` as it
//! is queued, with a mark of what was cut; and retention, applied after
//! writes at most once a second, goes by total size (`history.max-bytes`,
//! the records' JSON) as well as by age and count, the oldest first. A
//! record that cannot be read back is skipped by a search, not fatal to it.

use crate::event::{Execution, Outcome};
use anyhow::{Context, Result};
use rusqlite::Connection;
mod cut;
mod redis;
mod sqlite;
mod writer;

use cut::{cut_texts, fits_texts};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak, mpsc};
use std::time::Duration;

/// How long, how many and how many bytes of records are kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub max_age: Duration,
    pub max_count: u64,
    /// The records' JSON, all together.
    pub max_bytes: u64,
}

impl Default for Retention {
    /// The configuration's defaults (`history:`).
    fn default() -> Self {
        Retention {
            max_age: Duration::from_secs(30 * 86_400),
            max_count: 100_000,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// `history.max-bytes` when the configuration gives none.
pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;
/// `history.max-text` when the configuration gives none.
pub const DEFAULT_MAX_TEXT: usize = 4 << 10;
/// The smallest `history.max-text`: room for a mark of what was cut.
pub const MIN_MAX_TEXT: usize = 64;

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
    /// Writes `batch`; returns the records' total size after it.
    fn write(&mut self, batch: &[Arc<Execution>]) -> Result<u64>;
    fn prune(&mut self, retention: Retention) -> Result<()>;
}

/// Where a history is kept, as `databases:` says.
pub enum Place {
    /// The SQLite `file`, open. `abandoning`, as the bot opens it at
    /// start: the records a previous run left `running` are marked
    /// `abandoned` (logged) first, and runs get a `running` row when they
    /// start (see [`History::started`]).
    Sqlite {
        file: crate::sqlite::File,
        abandoning: bool,
    },
    /// Redis at `url` (shown as `shown` in errors), under
    /// `<prefix>/executions`: refused when Redis cannot be reached.
    Redis {
        url: String,
        shown: String,
        prefix: String,
    },
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

/// What the writer is sent.
enum Queued {
    /// A record to keep, its texts already cut: most often the one the
    /// dispatcher made, shared rather than copied ([`History::record_shared`]).
    Record(Arc<Execution>),
    /// A run that has started, to keep as its `running` row if it is still
    /// going when its batch is written. The run holds the record until it
    /// ends, and then its own record follows; so a run shorter than the
    /// writer's gathering (most) costs no copy of its record and no row.
    Started(Weak<Execution>),
}

/// The writer's end, and where readers find the records.
pub struct History {
    records: mpsc::Sender<Queued>,
    reader: Reader,
    /// Records written so far, for tests and shutdown: see [`History::flush`].
    written: std::sync::Arc<(std::sync::Mutex<u64>, std::sync::Condvar)>,
    /// The same count, for async waiters ([`History::caught_up`]).
    written_now: tokio::sync::watch::Receiver<u64>,
    sent: std::sync::atomic::AtomicU64,
    /// The longest text a record keeps of any one field (the writer cuts
    /// `running` rows to it).
    max_text: Arc<AtomicUsize>,
    /// Runs get a `running` row when they start ([`History::started`]):
    /// only a history one bot owns (its SQLite file), which it can clean up
    /// at its next start. In Redis, shared by hosts, one host could not
    /// tell another's running rows from abandoned ones.
    keeps_started: bool,
    /// Wakes the writer when someone waits for what was queued.
    hurry: writer::Hurry,
}

impl History {
    /// Opens (creating if needed) the history database at `path` and starts
    /// its writer thread.
    pub fn open(path: &Path, retention: Retention) -> Result<History> {
        let file = crate::sqlite::open_file(path, "history")?;
        Self::open_in(
            Place::Sqlite {
                file,
                abandoning: false,
            },
            retention,
        )
    }

    /// Opens the history as the bot does when it starts: like
    /// [`History::open`], first marking the records a previous run left
    /// `running` as `abandoned` (logged).
    pub fn open_abandoning(path: &Path, retention: Retention) -> Result<History> {
        let file = crate::sqlite::open_file(path, "history")?;
        Self::open_in(
            Place::Sqlite {
                file,
                abandoning: true,
            },
            retention,
        )
    }

    /// Keeps the history in Redis at `url` (shown as `shown` in errors),
    /// under `<prefix>/executions`: refuses when Redis cannot be reached.
    pub fn open_redis(
        url: &str,
        shown: &str,
        prefix: &str,
        retention: Retention,
    ) -> Result<History> {
        let (url, shown, prefix) = (url.to_owned(), shown.to_owned(), prefix.to_owned());
        Self::open_in(Place::Redis { url, shown, prefix }, retention)
    }

    /// Opens the store `place` names, then starts the writer thread with
    /// it: the one way every history is opened.
    pub fn open_in(place: Place, retention: Retention) -> Result<History> {
        let (store, reader, keeps_started): (Box<dyn Store>, Reader, bool) = match place {
            Place::Redis { url, shown, prefix } => {
                let (store, reader) = self::redis::RedisHistory::connect(&url, &shown, &prefix)?;
                (Box::new(store), Reader::Redis(Box::new(reader)), false)
            }
            Place::Sqlite { file, abandoning } => {
                let path = file.path.clone();
                let store = sqlite::SqliteStore::open(file, abandoning)?;
                (Box::new(store), Reader::Sqlite(path), abandoning)
            }
        };
        writer::start(store, reader, retention, keeps_started)
    }

    /// Keeps at most `max` bytes of any one text of a record
    /// (`history.max-text`; at least [`MIN_MAX_TEXT`]).
    pub fn keeping_texts(self, max: usize) -> History {
        self.max_text
            .store(max.max(MIN_MAX_TEXT), Ordering::Relaxed);
        self
    }

    /// Queues a copy of a record for writing, its texts cut to
    /// `history.max-text`; never waits.
    pub fn record(&self, execution: &Execution) {
        let mut kept = execution.clone();
        cut_texts(&mut kept, self.max_text.load(Ordering::Relaxed));
        self.queue(Queued::Record(Arc::new(kept)));
    }

    /// Queues `execution` for writing without copying it, unless a text
    /// must be cut to `history.max-text` (then a cut copy); never waits.
    /// The writer frees it (after the caller lets go of it).
    pub fn record_shared(&self, execution: &Arc<Execution>) {
        let max = self.max_text.load(Ordering::Relaxed);
        if fits_texts(execution, max) {
            self.queue(Queued::Record(execution.clone()));
        } else {
            self.record(execution);
        }
    }

    fn queue(&self, queued: Queued) {
        if self.records.send(queued).is_ok() {
            self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Queues the `running` row of a run that has just started (replaced by
    /// its record when it ends), if this history keeps them; never waits.
    pub fn started(&self, execution: &Execution) {
        if self.keeps_started {
            self.record(execution);
        }
    }

    /// Like [`History::started`], for `run`, the record as made, which the
    /// run holds until it ends: nothing is copied unless the run is still
    /// going when its batch is written (then its row is, as `running`).
    pub fn started_shared(&self, run: &Arc<Execution>) {
        if self.keeps_started {
            self.queue(Queued::Started(Arc::downgrade(run)));
        }
    }

    /// Waits (up to `within`) until every record queued so far is written.
    pub fn flush(&self, within: Duration) -> bool {
        let target = self.sent.load(std::sync::atomic::Ordering::Relaxed);
        let (lock, ready) = &*self.written;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        if *guard < target {
            self.hurry.now();
        }
        let (guard, _) = ready
            .wait_timeout_while(guard, within, |n| *n < target)
            .unwrap_or_else(|e| e.into_inner());
        *guard >= target
    }

    /// Resolves once every record queued before the call is written (a bus
    /// worker acks an event only then). It lets the writer gather for
    /// [`writer::HURRY_AFTER`] before it wakes it: events handled at once
    /// still share a batch.
    pub async fn caught_up(&self) {
        let target = self.sent.load(std::sync::atomic::Ordering::Relaxed);
        let mut written = self.written_now.clone();
        let gathered = written.wait_for(|n| *n >= target);
        if tokio::time::timeout(writer::HURRY_AFTER, gathered)
            .await
            .is_err()
        {
            self.hurry.now();
            let _ = written.wait_for(|n| *n >= target).await;
        }
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
            // A record that is not JSON has no parent (and no error).
            sql.push_str(
                " AND (CASE WHEN json_valid(record) THEN json_extract(record, '$.parent') END) = ?",
            );
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
        let mut unreadable = 0;
        for row in rows {
            match serde_json::from_str(&row?) {
                Ok(e) => out.push(e),
                Err(_) => unreadable += 1,
            }
        }
        skipped(unreadable);
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

impl History {
    /// Each skill's last `each` records, newest first (grouped by skill in
    /// no set order), in one query: on SQLite from the (skill, started_at)
    /// index; on Redis, which keeps no per-skill order, among the newest
    /// [`RECENT_SCAN`] records. Blocking: call it off the async workers.
    pub fn last_of_each_skill(&self, each: usize) -> Result<Vec<Execution>> {
        self.flush(Duration::from_secs(1));
        let path = match &self.reader {
            Reader::Sqlite(path) => path,
            Reader::Redis(redis) => {
                let newest = redis.find(&Filter {
                    limit: RECENT_SCAN,
                    ..Filter::default()
                })?;
                let mut seen = std::collections::HashMap::<String, usize>::new();
                return Ok(newest
                    .into_iter()
                    .filter(|e| {
                        let n = seen.entry(e.skill.clone()).or_default();
                        *n += 1;
                        *n <= each
                    })
                    .collect());
            }
        };
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .context("opening the history to read")?;
        let mut statement = conn.prepare(
            "SELECT record FROM executions WHERE rowid IN (
                 SELECT rowid FROM (
                     SELECT rowid, ROW_NUMBER() OVER (
                         PARTITION BY skill ORDER BY started_at DESC, rowid DESC
                     ) AS n FROM executions
                 ) WHERE n <= ?1
             ) ORDER BY started_at DESC, rowid DESC",
        )?;
        let rows = statement.query_map([each as i64], |row| row.get::<_, String>(0))?;
        let mut out = Vec::new();
        let mut unreadable = 0;
        for row in rows {
            match serde_json::from_str(&row?) {
                Ok(e) => out.push(e),
                Err(_) => unreadable += 1,
            }
        }
        skipped(unreadable);
        Ok(out)
    }
}

/// The newest records a Redis history reads for each skill's last few.
pub const RECENT_SCAN: usize = 2000;

/// Says that a search skipped `n` records it could not read back.
fn skipped(n: usize) {
    if n > 0 {
        tracing::warn!(
            records = n,
            "history records that cannot be read back were skipped"
        );
    }
}

#[cfg(test)]
mod tests;
