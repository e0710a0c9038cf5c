//! The runs in Redis, the store several hosts share (`databases.redis`):
//! run `N` is the hash `<prefix>/workflows/run/N` (fields `workflow`,
//! `status`, `owner`, `started`, `doc`, and `t:<task>` per task), so one
//! `HGETALL` reads it whole; the running runs' numbers are the set
//! `<prefix>/workflows/running` and the ended ones the sorted set
//! `<prefix>/workflows/ended` (score: when they started), which retention
//! walks. Numbers come from `INCR <prefix>/workflows/next`.
//!
//! A run's `owner` is the host driving it; which hosts are alive is
//! `crate::coordination`'s to say. Writes are Lua scripts, so ownership is
//! checked and the step written in one atomic step: a batch writes the
//! steps of runs this host owns and names the others; a claim takes the
//! running runs whose owner is not among the hosts alive, in one script
//! over the running set.
//!
//! Calls are blocking, on one connection made again after a failure: the
//! store is called from blocking threads ([`super::Store::step`]).

use super::{Backend, NewRun, Row, RunsToClaim, Step};
use anyhow::{Context, Result, bail};
use redis::Script;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);

/// ARGV: this host, the keys' base, the batch as JSON (`[{id, doc?,
/// status, tasks: [[name, doc]]}]`). Returns the numbers of the runs not
/// written because another host owns them.
static WRITE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local me, base = ARGV[1], ARGV[2]
local lost = {}
for _, s in ipairs(cjson.decode(ARGV[3])) do
  local key = base .. '/run/' .. s.id
  if redis.call('HGET', key, 'owner') ~= me then
    table.insert(lost, s.id)
  else
    if s.doc then redis.call('HSET', key, 'doc', s.doc) end
    for _, t in ipairs(s.tasks) do redis.call('HSET', key, 't:' .. t[1], t[2]) end
    if s.status ~= 'running' then
      redis.call('HSET', key, 'status', s.status)
      redis.call('SREM', base .. '/running', s.id)
      redis.call('ZADD', base .. '/ended', redis.call('HGET', key, 'started'), s.id)
    end
  end
end
return lost
",
    )
});

/// KEYS: the new run, the running set, the parent run (or the new run
/// again). ARGV: this host, workflow, started, doc, id, parent task, its
/// doc, then task name and doc pairs. Refuses a parent this host does not own.
static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local me = ARGV[1]
if ARGV[6] ~= '' and redis.call('HGET', KEYS[3], 'owner') ~= me then
  return redis.error_reply('LOST the parent run')
end
redis.call('HSET', KEYS[1], 'workflow', ARGV[2], 'status', 'running', 'owner', me,
  'started', ARGV[3], 'doc', ARGV[4])
for i = 8, #ARGV, 2 do redis.call('HSET', KEYS[1], 't:' .. ARGV[i], ARGV[i + 1]) end
redis.call('SADD', KEYS[2], ARGV[5])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[3], 't:' .. ARGV[6], ARGV[7]) end
return 1
",
    )
});

/// ARGV: this host, the keys' base, the hosts alive as a JSON list, `1` to
/// take runs owned under this host's name, `1` to take those of hosts not
/// alive. Walks the running runs in Redis
/// (one round trip however many there are) and returns, for each it takes,
/// its number and the owner before (`''` for none).
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local me, base = ARGV[1], ARGV[2]
local alive = {}
for _, host in ipairs(cjson.decode(ARGV[3])) do alive[host] = true end
local own, orphans = ARGV[4] == '1', ARGV[5] == '1'
local taken = {}
for _, id in ipairs(redis.call('SMEMBERS', base .. '/running')) do
  local key = base .. '/run/' .. id
  local owner = redis.call('HGET', key, 'owner')
  local take
  if owner == me then
    take = own
  else
    take = orphans and not (owner and alive[owner])
  end
  if take and redis.call('HGET', key, 'status') == 'running' then
    redis.call('HSET', key, 'owner', me)
    table.insert(taken, id)
    table.insert(taken, owner or '')
  end
end
return taken
",
    )
});

pub(super) struct RedisRuns {
    client: redis::Client,
    shown: String,
    /// `<prefix>/workflows`.
    base: String,
    host: String,
    connection: Mutex<Option<redis::Connection>>,
}

/// A step as the write script reads it.
#[derive(serde::Serialize)]
struct Written<'a> {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    doc: Option<&'a str>,
    status: &'static str,
    tasks: &'a [(String, String)],
}

impl RedisRuns {
    pub(super) fn connect(url: &str, shown: &str, prefix: &str, host: &str) -> Result<RedisRuns> {
        let client = redis::Client::open(url)
            .with_context(|| format!("databases.redis.url: {shown} is not a Redis URL"))?;
        let runs = RedisRuns {
            client,
            shown: shown.to_owned(),
            base: format!("{prefix}/workflows"),
            host: host.to_owned(),
            connection: Mutex::new(None),
        };
        let connection = runs.connection()?;
        *runs.connection.lock().unwrap_or_else(|e| e.into_inner()) = Some(connection);
        Ok(runs)
    }

    fn connection(&self) -> Result<redis::Connection> {
        let connection = self
            .client
            .get_connection_with_timeout(TIMEOUT)
            .with_context(|| format!("cannot reach Redis at {} for workflow runs", self.shown))?;
        connection.set_read_timeout(Some(TIMEOUT))?;
        connection.set_write_timeout(Some(TIMEOUT))?;
        Ok(connection)
    }

    /// Runs `f` on the connection, made again (once) if it failed.
    fn with<T>(&self, f: impl Fn(&mut redis::Connection) -> redis::RedisResult<T>) -> Result<T> {
        let mut slot = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(con) = slot.as_mut() {
            match f(con) {
                Ok(v) => return Ok(v),
                // An answer from Redis (a script's error) is not a broken
                // connection: no second try.
                Err(e) if e.is_unrecoverable_error() || e.is_io_error() || e.is_timeout() => {
                    tracing::warn!("Redis, for workflow runs: {e}; connecting again");
                    *slot = None;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let mut con = self.connection()?;
        let v = f(&mut con).with_context(|| format!("Redis at {}", self.shown))?;
        *slot = Some(con);
        Ok(v)
    }

    fn run_key(&self, id: u64) -> String {
        format!("{}/run/{id}", self.base)
    }
}

impl Backend for RedisRuns {
    fn create(&self, run: NewRun) -> Result<u64> {
        let id: u64 = self.with(|con| {
            redis::cmd("INCR")
                .arg(format!("{}/next", self.base))
                .query(con)
        })?;
        let key = self.run_key(id);
        let parent = run.parent_task(id)?;
        let parent_key = parent
            .as_ref()
            .map_or(key.clone(), |(p, _, _)| self.run_key(*p));
        let (task, task_doc) = parent
            .as_ref()
            .map_or(("", ""), |(_, t, d)| (*t, d.as_str()));
        let created = self.with(|con| {
            let mut call = CREATE.prepare_invoke();
            call.key(&key)
                .key(format!("{}/running", self.base))
                .key(&parent_key)
                .arg(&self.host)
                .arg(run.workflow)
                .arg(run.started_at)
                .arg(&run.doc)
                .arg(id)
                .arg(task)
                .arg(task_doc);
            for (name, doc) in &run.tasks {
                call.arg(name).arg(doc);
            }
            call.invoke::<i64>(con)
        });
        match created {
            Ok(_) => Ok(id),
            Err(e) if e.to_string().contains("LOST") => {
                bail!("the parent run is driven by another host now")
            }
            Err(e) => Err(e),
        }
    }

    fn write(&self, batch: &[Step]) -> Result<Vec<u64>> {
        let steps: Vec<Written> = batch
            .iter()
            .map(|s| Written {
                id: s.id.to_string(),
                doc: s.doc.as_deref(),
                status: s.status.as_str(),
                tasks: &s.tasks,
            })
            .collect();
        let steps = serde_json::to_string(&steps)?;
        let lost: Vec<String> = self.with(|con| {
            WRITE
                .arg(&self.host)
                .arg(&self.base)
                .arg(&steps)
                .invoke(con)
        })?;
        Ok(lost.iter().filter_map(|id| id.parse().ok()).collect())
    }

    fn prune(&self, max_age: Duration, max_count: u64) -> Result<usize> {
        let oldest = crate::event::now_ms().saturating_sub(max_age.as_millis() as u64);
        let ended = format!("{}/ended", self.base);
        let mut gone: Vec<u64> = self.with(|con| {
            redis::cmd("ZRANGEBYSCORE")
                .arg(&ended)
                .arg("-inf")
                .arg(format!("({oldest}"))
                .query(con)
        })?;
        let count: u64 = self.with(|con| redis::cmd("ZCARD").arg(&ended).query(con))?;
        let left = count.saturating_sub(gone.len() as u64);
        if left > max_count {
            // The oldest beyond the count, after those already going.
            let extra: Vec<u64> = self.with(|con| {
                redis::cmd("ZRANGE")
                    .arg(&ended)
                    .arg(gone.len())
                    .arg(gone.len() as u64 + left - max_count - 1)
                    .query(con)
            })?;
            gone.extend(extra);
        }
        if gone.is_empty() {
            return Ok(0);
        }
        self.with(|con| {
            let mut pipe = redis::pipe();
            pipe.atomic();
            for &id in &gone {
                pipe.del(self.run_key(id)).ignore();
                pipe.zrem(&ended, id).ignore();
            }
            pipe.query::<()>(con)
        })?;
        Ok(gone.len())
    }

    fn claim(&self, which: RunsToClaim) -> Result<Vec<(u64, Option<String>)>> {
        let alive = serde_json::to_string(&which.alive)?;
        let taken: Vec<(u64, String)> = self.with(|con| {
            CLAIM
                .arg(&self.host)
                .arg(&self.base)
                .arg(&alive)
                .arg(if which.own { "1" } else { "0" })
                .arg(if which.orphans { "1" } else { "0" })
                .invoke(con)
        })?;
        let mut claimed: Vec<(u64, Option<String>)> = taken
            .into_iter()
            .map(|(id, before)| (id, Some(before).filter(|b| !b.is_empty())))
            .collect();
        claimed.sort_unstable();
        Ok(claimed)
    }

    fn get(&self, id: u64) -> Result<Option<Row>> {
        // As bytes: a value that is not UTF-8 fails as a run that cannot
        // be read, not as the store.
        let fields: Vec<(Vec<u8>, Vec<u8>)> =
            self.with(|con| redis::cmd("HGETALL").arg(self.run_key(id)).query(con))?;
        if fields.is_empty() {
            return Ok(None);
        }
        let fields = fields.into_iter().map(|(k, v)| {
            (
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        });
        let (mut status, mut doc, mut owner, mut tasks) = (None, None, None, Vec::new());
        let mut workflow = String::from("?");
        for (field, value) in fields {
            match field.as_str() {
                "workflow" => workflow = value,
                "status" => status = Some(value),
                "doc" => doc = Some(value),
                "owner" => owner = Some(value),
                f => {
                    if let Some(task) = f.strip_prefix("t:") {
                        tasks.push((task.to_owned(), value));
                    }
                }
            }
        }
        // A hash without them fails as a run that cannot be read (its
        // document is empty), not as the store.
        let (status, doc) = (status.unwrap_or_default(), doc.unwrap_or_default());
        Ok(Some(Row {
            workflow,
            status,
            doc,
            tasks,
            owner,
        }))
    }

    fn recent(&self, limit: usize) -> Result<Vec<u64>> {
        // The running set and the newest of the ended (by when they started).
        let mut ids: Vec<u64> = self.with(|con| {
            redis::cmd("SMEMBERS")
                .arg(format!("{}/running", self.base))
                .query(con)
        })?;
        let ended: Vec<u64> = self.with(|con| {
            redis::cmd("ZREVRANGE")
                .arg(format!("{}/ended", self.base))
                .arg(0)
                .arg(limit.saturating_sub(1))
                .query(con)
        })?;
        ids.extend(ended);
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.dedup();
        ids.truncate(limit);
        Ok(ids)
    }

    fn shared(&self) -> bool {
        true
    }
}
