//! The history in Redis, beside the skills' memory when `databases.redis`
//! is configured: each record as JSON in the hash `<prefix>/executions`
//! (field: the execution's id) and its id in the sorted set
//! `<prefix>/executions-by-time` (score: when it started), so the newest
//! come first and retention by age or count is a range of the set. The
//! `/` keeps these apart from skills' memory (`<prefix>:<skill>`).
//!
//! The writer thread uses its own blocking connection (reconnecting after
//! a failure) and writes a batch in one script; a reader (called off the
//! async workers) opens a connection of its own, walks the set newest
//! first and applies the filter to the records.
//!
//! The records' total size is the counter `<prefix>/executions-bytes`,
//! kept by the same scripts that write and delete them (a record written
//! again replaces its old size), so retention by size reads one number;
//! it is counted from the hash once, when a history made before it had
//! one is opened.

use super::{Filter, Retention, Store};
use crate::event::{Execution, now_ms};
use anyhow::{Context, Result};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

/// KEYS: records, by time, bytes. ARGV: id, started, JSON, for each
/// record. Writes them, keeping the total size; returns it.
static WRITE: LazyLock<::redis::Script> = LazyLock::new(|| {
    ::redis::Script::new(
        r"
local delta = 0
for i = 1, #ARGV, 3 do
  local id, json = ARGV[i], ARGV[i + 2]
  delta = delta + #json - redis.call('HSTRLEN', KEYS[1], id)
  redis.call('HSET', KEYS[1], id, json)
  redis.call('ZADD', KEYS[2], ARGV[i + 1], id)
end
return redis.call('INCRBY', KEYS[3], delta)
",
    )
});

/// KEYS: records, by time, bytes. ARGV: ids. Deletes them and their size.
static FORGET: LazyLock<::redis::Script> = LazyLock::new(|| {
    ::redis::Script::new(
        r"
local freed = 0
for _, id in ipairs(ARGV) do
  freed = freed + redis.call('HSTRLEN', KEYS[1], id)
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
redis.call('DECRBY', KEYS[3], freed)
return freed
",
    )
});

/// KEYS: records, by time, bytes. ARGV: the budget. Deletes the oldest
/// records until the rest fit; returns how many went.
static FIT: LazyLock<::redis::Script> = LazyLock::new(|| {
    ::redis::Script::new(
        r"
local over = tonumber(redis.call('GET', KEYS[3]) or '0') - tonumber(ARGV[1])
local gone, freed = 0, 0
while freed < over do
  local ids = redis.call('ZRANGE', KEYS[2], 0, 255)
  if #ids == 0 then
    redis.call('SET', KEYS[3], 0)
    return gone
  end
  for _, id in ipairs(ids) do
    if freed >= over then break end
    freed = freed + redis.call('HSTRLEN', KEYS[1], id)
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    gone = gone + 1
  end
end
redis.call('DECRBY', KEYS[3], freed)
return gone
",
    )
});

/// KEYS: records, bytes. Counts the records' size into `bytes` if it is
/// not there yet.
static COUNT: LazyLock<::redis::Script> = LazyLock::new(|| {
    ::redis::Script::new(
        r"
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local total = 0
for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do
  total = total + redis.call('HSTRLEN', KEYS[1], id)
end
redis.call('SET', KEYS[2], total)
return total
",
    )
});

const TIMEOUT: Duration = Duration::from_secs(5);
/// Ids read from the set at a time while looking for matches.
const PAGE: isize = 256;

/// The keys and how to reach them.
#[derive(Clone)]
pub struct RedisHistory {
    client: ::redis::Client,
    records: String,
    by_time: String,
    /// The records' total size.
    bytes: String,
    shown: String,
}

/// The writer's connection, made again after a failure.
pub struct RedisStore {
    history: RedisHistory,
    connection: Option<::redis::Connection>,
}

impl RedisHistory {
    pub fn connect(url: &str, shown: &str, prefix: &str) -> Result<(RedisStore, RedisHistory)> {
        let client = ::redis::Client::open(url)
            .with_context(|| format!("databases.redis.url: {shown} is not a Redis URL"))?;
        let history = RedisHistory {
            client,
            records: format!("{prefix}/executions"),
            by_time: format!("{prefix}/executions-by-time"),
            bytes: format!("{prefix}/executions-bytes"),
            shown: shown.to_owned(),
        };
        let mut connection = history.connection()?;
        COUNT
            .key(&history.records)
            .key(&history.bytes)
            .invoke::<i64>(&mut connection)
            .with_context(|| format!("counting the history's size in Redis at {shown}"))?;
        let store = RedisStore {
            history: history.clone(),
            connection: Some(connection),
        };
        Ok((store, history))
    }

    fn connection(&self) -> Result<::redis::Connection> {
        let connection = self
            .client
            .get_connection_with_timeout(TIMEOUT)
            .with_context(|| format!("cannot reach Redis at {} for the history", self.shown))?;
        connection.set_read_timeout(Some(TIMEOUT))?;
        connection.set_write_timeout(Some(TIMEOUT))?;
        Ok(connection)
    }

    /// The newest records that fit `filter`.
    pub fn find(&self, filter: &Filter) -> Result<Vec<Execution>> {
        let mut con = self.connection()?;
        let since = filter.since.map_or("-inf".to_owned(), |s| s.to_string());
        let limit = filter.limit.max(1);
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let ids: Vec<String> = ::redis::cmd("ZREVRANGEBYSCORE")
                .arg(&self.by_time)
                .arg("+inf")
                .arg(&since)
                .arg("LIMIT")
                .arg(offset)
                .arg(PAGE)
                .query(&mut con)
                .context("reading the history from Redis")?;
            if ids.is_empty() {
                return Ok(out);
            }
            // As bytes: one that is not UTF-8 is skipped like any other
            // record that does not read back.
            let records: Vec<Option<Vec<u8>>> = ::redis::cmd("HMGET")
                .arg(&self.records)
                .arg(&ids)
                .query(&mut con)
                .context("reading the history from Redis")?;
            for json in records.into_iter().flatten() {
                let Ok(e) = serde_json::from_slice::<Execution>(&json) else {
                    super::skipped(1);
                    continue;
                };
                if filter.fits(&e) {
                    out.push(e);
                    if out.len() == limit {
                        return Ok(out);
                    }
                }
            }
            offset += PAGE;
        }
    }

    /// One record by its id.
    pub fn get(&self, id: &str) -> Result<Option<Execution>> {
        let mut con = self.connection()?;
        let json: Option<String> = ::redis::cmd("HGET")
            .arg(&self.records)
            .arg(id)
            .query(&mut con)
            .context("reading the history from Redis")?;
        json.map(|j| serde_json::from_str(&j).context("a history record that is not JSON"))
            .transpose()
    }
}

impl RedisStore {
    /// Runs `work` on the connection, making one first if the last failed;
    /// a failure drops the connection so the next batch reconnects.
    fn with<T>(
        &mut self,
        work: impl FnOnce(&mut ::redis::Connection, &RedisHistory) -> Result<T>,
    ) -> Result<T> {
        let mut con = match self.connection.take() {
            Some(con) => con,
            None => self.history.connection()?,
        };
        let done = work(&mut con, &self.history)?;
        self.connection = Some(con);
        Ok(done)
    }
}

impl Store for RedisStore {
    fn write(&mut self, batch: &[Arc<Execution>]) -> Result<u64> {
        self.with(|con, h| {
            let mut call = WRITE.prepare_invoke();
            call.key(&h.records).key(&h.by_time).key(&h.bytes);
            for e in batch {
                call.arg(&e.id)
                    .arg(e.started_at)
                    .arg(serde_json::to_string(e)?);
            }
            let total = call
                .invoke::<i64>(con)
                .with_context(|| format!("writing to Redis at {}", h.shown))?;
            Ok(total.max(0) as u64)
        })
    }

    fn prune(&mut self, retention: Retention) -> Result<()> {
        self.with(|con, h| {
            let oldest = now_ms().saturating_sub(retention.max_age.as_millis() as u64);
            let mut gone: Vec<String> = ::redis::cmd("ZRANGEBYSCORE")
                .arg(&h.by_time)
                .arg("-inf")
                .arg(format!("({oldest}"))
                .query(con)?;
            let count: u64 = ::redis::cmd("ZCARD").arg(&h.by_time).query(con)?;
            let kept = count - gone.len() as u64;
            if kept > retention.max_count {
                let extra = (kept - retention.max_count) as isize;
                let from = gone.len() as isize;
                let more: Vec<String> = ::redis::cmd("ZRANGE")
                    .arg(&h.by_time)
                    .arg(from)
                    .arg(from + extra - 1)
                    .query(con)?;
                gone.extend(more);
            }
            for chunk in gone.chunks(512) {
                let mut call = FORGET.prepare_invoke();
                call.key(&h.records).key(&h.by_time).key(&h.bytes);
                for id in chunk {
                    call.arg(id);
                }
                call.invoke::<i64>(con)?;
            }
            // Over the byte budget: the oldest go until the rest fit.
            FIT.key(&h.records)
                .key(&h.by_time)
                .key(&h.bytes)
                .arg(retention.max_bytes)
                .invoke::<i64>(con)?;
            Ok(())
        })
    }
}
