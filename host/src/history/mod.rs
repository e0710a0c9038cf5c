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
        let store = sqlite::SqliteStore::open(path)?;
        Self::start(store, Reader::Sqlite(path.to_owned()), retention)
    }

    /// Opens the history as the bot does when it starts: like
    /// [`History::open`], first marking the records a previous run left
    /// `running` as `abandoned` (logged).
    pub fn open_abandoning(path: &Path, retention: Retention) -> Result<History> {
        let mut store = sqlite::SqliteStore::open(path)?;
        let abandoned = store
            .abandon()
            .with_context(|| format!("marking abandoned runs in {}", path.display()))?;
        if abandoned > 0 {
            tracing::warn!(
                abandoned,
                "executions in flight when the bot last ended without stopping are recorded as abandoned"
            );
        }
        let mut history = Self::start(store, Reader::Sqlite(path.to_owned()), retention)?;
        history.keeps_started = true;
        Ok(history)
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
        let (tell, written_now) = tokio::sync::watch::channel(0);
        let max_text = Arc::new(AtomicUsize::new(DEFAULT_MAX_TEXT));
        let asked = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = writer::Writer {
            store,
            rx,
            retention,
            max_text: max_text.clone(),
            written: written.clone(),
            tell,
            asked: asked.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("history".into())
            .spawn(move || writer.run())
            .context("starting the history writer")?;
        Ok(History {
            records,
            reader,
            written,
            written_now,
            sent: std::sync::atomic::AtomicU64::new(0),
            max_text,
            keeps_started: false,
            hurry: writer::Hurry::new(asked, thread.thread().clone()),
        })
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
mod tests {
    use super::writer::latest_only;
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
            undelivered: None,
            trigger: None,
            host: None,
            notified: Vec::new(),
        }
    }

    #[test]
    fn records_are_written_found_and_pruned_by_count() {
        let dir = tempfile::tempdir().unwrap();
        let retention = Retention {
            max_age: Duration::from_secs(3600),
            max_count: 3,
            ..Retention::default()
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

    /// Texts are cut and marked as they are queued; the oldest records go
    /// once the total is over the budget; a record that is not JSON is
    /// skipped by a search.
    #[test]
    fn records_are_cut_and_kept_within_a_byte_budget() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let retention = Retention {
            max_bytes: 20_000,
            ..Retention::default()
        };
        let history = History::open(&path, retention).unwrap().keeping_texts(1000);
        let mut big = record(1, "hello", "alice", Outcome::Ok);
        big.text = Some("x".repeat(65_536));
        big.captures = vec![("y".repeat(5000), "z".repeat(5000))];
        big.error = Some("e\n".repeat(3000));
        history.record(&big);
        assert!(history.flush(Duration::from_secs(5)));
        let kept = history.get("e1").unwrap().unwrap();
        let text = kept.text.unwrap();
        assert!(text.len() <= 1000, "{}", text.len());
        assert!(
            text.ends_with(&format!("[{} bytes cut]", 65_536 - 960)),
            "{text}"
        );
        assert!(kept.captures[0].0.len() <= 1000 && kept.captures[0].1.len() <= 1000);
        assert!(kept.error.unwrap().contains("bytes cut]"));
        // 40 records of about 2 KiB each: only the newest fit in 20 kB.
        std::thread::sleep(Duration::from_millis(1100));
        for n in 2..42 {
            let mut e = record(n, "hello", "alice", Outcome::Ok);
            e.text = Some("y".repeat(5000));
            history.record(&e);
        }
        assert!(history.flush(Duration::from_secs(5)));
        std::thread::sleep(Duration::from_millis(1100));
        history.record(&record(42, "hello", "alice", Outcome::Ok));
        assert!(history.flush(Duration::from_secs(5)));
        let conn = Connection::open(&path).unwrap();
        let (total, sum, rows): (i64, i64, i64) = conn
            .query_row(
                "SELECT (SELECT bytes FROM history_size),
                        (SELECT sum(octet_length(record)) FROM executions),
                        (SELECT count(*) FROM executions)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(total, sum, "the kept total is the table's");
        assert!(total <= 20_000, "{total} bytes kept");
        assert!((5..=20).contains(&rows), "{rows} records kept");
        assert!(history.get("e42").unwrap().is_some(), "the newest stays");
        assert!(history.get("e1").unwrap().is_none(), "the oldest went");
        // A record damaged by hand is skipped, the others found.
        conn.execute(
            "UPDATE executions SET record = '{not json' WHERE id = 'e41'",
            [],
        )
        .unwrap();
        let found = history
            .find(&Filter {
                limit: 100,
                ..Filter::default()
            })
            .unwrap();
        assert_eq!(found.len() as i64, rows - 1);
        assert!(
            history
                .find(&Filter {
                    parent: Some("wf-1".into()),
                    limit: 10,
                    ..Filter::default()
                })
                .unwrap()
                .is_empty()
        );
    }

    /// A run's `running` row and its record in one batch: one write, the
    /// record's, whose size alone is counted; records of other ids keep
    /// their order; every record queued counts as written.
    #[test]
    fn a_batch_writes_only_the_last_record_of_an_id() {
        let mut running = record(1, "hello", "alice", Outcome::Running);
        running.text = Some("a running row, longer than the record's text".into());
        let done = record(1, "hello", "alice", Outcome::Ok);
        let other = record(2, "deploy", "bob", Outcome::Ok);
        let mut batch = vec![
            Arc::new(running.clone()),
            Arc::new(other.clone()),
            Arc::new(done.clone()),
        ];
        latest_only(&mut batch);
        assert_eq!(batch, [Arc::new(other.clone()), Arc::new(done.clone())]);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let history = History::open_abandoning(&path, Retention::default()).unwrap();
        history.started(&running);
        history.record(&other);
        history.record(&done);
        assert!(
            history.flush(Duration::from_secs(5)),
            "every record counts as written"
        );
        let kept = history.get("e1").unwrap().unwrap();
        assert_eq!(kept.outcome, Outcome::Ok);
        assert_eq!(kept.text, done.text);
        let conn = Connection::open(&path).unwrap();
        let (total, sum, rows): (i64, i64, i64) = conn
            .query_row(
                "SELECT (SELECT bytes FROM history_size),
                        (SELECT sum(octet_length(record)) FROM executions),
                        (SELECT count(*) FROM executions)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((total, rows), (sum, 2), "the kept total is the table's");
    }

    /// A run's `running` row and then its record, in two batches, count as
    /// one row: retention by count keeps `max-count` runs, not half as many.
    #[test]
    fn retention_by_count_counts_a_run_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.db");
        let retention = Retention {
            max_count: 4,
            ..Retention::default()
        };
        let history = History::open_abandoning(&path, retention).unwrap();
        for n in 1..=6 {
            history.started(&record(n, "hello", "alice", Outcome::Running));
            assert!(history.flush(Duration::from_secs(5)));
            history.record(&record(n, "hello", "alice", Outcome::Ok));
            assert!(history.flush(Duration::from_secs(5)));
        }
        // Pruning runs at most once a second, after a write.
        std::thread::sleep(Duration::from_millis(1100));
        history.record(&record(7, "hello", "alice", Outcome::Ok));
        assert!(history.flush(Duration::from_secs(5)));
        let kept = history
            .find(&Filter {
                limit: 100,
                ..Filter::default()
            })
            .unwrap();
        assert_eq!(
            kept.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["e7", "e6", "e5", "e4"]
        );
        // Each record replaced its `running` row (a failed INSERT, then
        // the replacement) and its size.
        let conn = Connection::open(&path).unwrap();
        let (total, sum): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT bytes FROM history_size),
                        (SELECT sum(octet_length(record)) FROM executions)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(total, sum, "the kept total is the table's");
    }

    /// The writer gathers records for [`writer::LINGER`], but one who
    /// waits for them (a search, a stop) wakes it: a record is findable at
    /// once.
    #[test]
    fn a_reader_does_not_wait_for_the_writers_gathering() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::open(&dir.path().join("h.db"), Retention::default()).unwrap();
        let fastest = (1..=5)
            .map(|n| {
                let queued = std::time::Instant::now();
                history.record(&record(n, "hello", "alice", Outcome::Ok));
                assert!(history.get(&format!("e{n}")).unwrap().is_some());
                queued.elapsed()
            })
            .min()
            .unwrap();
        assert!(fastest < writer::LINGER / 2, "{fastest:?}");
    }

    /// A run shared with the history: its `running` row is written (cut
    /// to `max-text`) only if the run is still going when its batch is; a
    /// run that ended first leaves only its record, and nothing is copied.
    #[test]
    fn a_shared_run_is_kept_as_running_only_while_it_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::open_abandoning(&dir.path().join("h.db"), Retention::default())
            .unwrap()
            .keeping_texts(100);
        let mut long = record(1, "deploy", "alice", Outcome::Ok);
        long.text = Some("x".repeat(1000));
        let long = Arc::new(long);
        history.started_shared(&long);
        assert!(history.flush(Duration::from_secs(5)));
        let row = history.get("e1").unwrap().expect("a running row");
        assert_eq!(row.outcome, Outcome::Running);
        assert!(row.text.unwrap().len() <= 100);
        let done = Arc::try_unwrap(long).expect("the history keeps no copy of a run");
        history.record(&done);
        assert!(history.flush(Duration::from_secs(5)));
        assert_eq!(history.get("e1").unwrap().unwrap().outcome, Outcome::Ok);

        // A run that ends before its batch is written (as the history
        // sees it: its record no longer there).
        let short = record(2, "hello", "bob", Outcome::Ok);
        let ended = Arc::downgrade(&Arc::new(short.clone()));
        history.queue(Queued::Started(ended));
        assert!(history.flush(Duration::from_secs(5)), "counted as written");
        assert!(history.get("e2").unwrap().is_none(), "no running row");
        history.record(&short);
        assert!(history.flush(Duration::from_secs(5)));
        assert_eq!(history.get("e2").unwrap().unwrap().outcome, Outcome::Ok);
    }

    /// A record is queued as it is (shared, not copied) only if no text
    /// needs cutting: each text `cut_texts` cuts, made too long in turn,
    /// makes `fits_texts` say no.
    #[test]
    fn a_record_is_shared_only_when_no_text_must_be_cut() {
        use crate::event::{Response, ResponseBody, Target};
        let long = || "x".repeat(200);
        let answer = |body| Response {
            target: Target {
                connector: "shell".into(),
                room: "shell".into(),
                thread: Some("t".into()),
            },
            body,
            in_reply_to: None,
        };
        let mut base = record(1, "hello", "alice", Outcome::Ok);
        base.responses = vec![
            answer(ResponseBody::Text("hi".into())),
            answer(ResponseBody::Reaction {
                message_id: "m".into(),
                emoji: "👍".into(),
            }),
        ];
        base.denials = vec!["no".into()];
        type Lengthen = fn(&mut Execution, String);
        let each: [Lengthen; 24] = [
            |e, s| e.skill = s,
            |e, s| e.version = s,
            |e, s| e.sha256 = s,
            |e, s| e.matcher = s,
            |e, s| e.alias = Some(s),
            |e, s| e.connector = Some(s),
            |e, s| e.room = Some(s),
            |e, s| e.thread = Some(s),
            |e, s| e.user = Some(s),
            |e, s| e.user_id = Some(s),
            |e, s| e.text = Some(s),
            |e, s| e.error = Some(s),
            |e, s| e.parent = Some(s),
            |e, s| e.undelivered = Some(s),
            |e, s| e.captures[0].0 = s,
            |e, s| e.captures[0].1 = s,
            |e, s| e.denials[0] = s,
            |e, s| e.responses[0].target.connector = s,
            |e, s| e.responses[0].target.room = s,
            |e, s| e.responses[0].target.thread = Some(s),
            |e, s| e.responses[0].body = ResponseBody::Text(s),
            |e, s| {
                e.responses[1].body = ResponseBody::Reaction {
                    message_id: s,
                    emoji: "👍".into(),
                }
            },
            |e, s| {
                e.responses[1].body = ResponseBody::Reaction {
                    message_id: "m".into(),
                    emoji: s,
                }
            },
            |e, s| e.captures.push((s, "v".into())),
        ];
        assert!(fits_texts(&base, 100));
        let mut cut = base.clone();
        cut_texts(&mut cut, 100);
        assert_eq!(cut, base, "nothing to cut");
        for (n, lengthen) in each.iter().enumerate() {
            let mut e = base.clone();
            lengthen(&mut e, long());
            assert!(!fits_texts(&e, 100), "text {n} too long, said to fit");
            let mut cut = e.clone();
            cut_texts(&mut cut, 100);
            assert_ne!(cut, e, "text {n} not cut");
        }

        // Through the history: a shared record is the one written.
        let dir = tempfile::tempdir().unwrap();
        let history = History::open(&dir.path().join("h.db"), Retention::default())
            .unwrap()
            .keeping_texts(100);
        let mut e = base.clone();
        e.text = Some(long());
        history.record_shared(&Arc::new(e));
        history.record_shared(&Arc::new(record(2, "hello", "bob", Outcome::Ok)));
        assert!(history.get("e1").unwrap().unwrap().text.unwrap().len() <= 100);
        assert_eq!(
            history.get("e2").unwrap().unwrap().user.as_deref(),
            Some("bob")
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
