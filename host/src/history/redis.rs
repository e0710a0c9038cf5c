//! The history in Redis, beside the skills' memory when `databases.redis`
//! is configured: each record as JSON in the hash `<prefix>/executions`
//! (field: the execution's id) and its id in the sorted set
//! `<prefix>/executions-by-time` (score: when it started), so the newest
//! come first and retention by age or count is a range of the set. The
//! `/` keeps these apart from skills' memory (`<prefix>:<skill>`).
//!
//! The writer thread uses its own blocking connection (reconnecting after
//! a failure) and writes a batch as one MULTI; a reader (called off the
//! async workers) opens a connection of its own, walks the set newest
//! first and applies the filter to the records.

use super::{Filter, Retention, Store};
use crate::event::{Execution, now_ms};
use anyhow::{Context, Result};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);
/// Ids read from the set at a time while looking for matches.
const PAGE: isize = 256;

/// The keys and how to reach them.
#[derive(Clone)]
pub struct RedisHistory {
    client: ::redis::Client,
    records: String,
    by_time: String,
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
            shown: shown.to_owned(),
        };
        let connection = history.connection()?;
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
            let records: Vec<Option<String>> = ::redis::cmd("HMGET")
                .arg(&self.records)
                .arg(&ids)
                .query(&mut con)
                .context("reading the history from Redis")?;
            for json in records.into_iter().flatten() {
                let e: Execution =
                    serde_json::from_str(&json).context("a history record that is not JSON")?;
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
    fn write(&mut self, batch: &[Execution]) -> Result<()> {
        self.with(|con, h| {
            let mut pipe = ::redis::pipe();
            pipe.atomic();
            for e in batch {
                pipe.hset(&h.records, &e.id, serde_json::to_string(e)?)
                    .ignore();
                pipe.zadd(&h.by_time, &e.id, e.started_at).ignore();
            }
            pipe.query::<()>(con)
                .with_context(|| format!("writing to Redis at {}", h.shown))
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
                let mut pipe = ::redis::pipe();
                pipe.atomic();
                pipe.hdel(&h.records, chunk).ignore();
                pipe.zrem(&h.by_time, chunk).ignore();
                pipe.query::<()>(con)?;
            }
            Ok(())
        })
    }
}
