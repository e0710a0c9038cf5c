//! Memory in Redis, for bots that keep state outside their host or run as
//! more than one instance against one store.
//!
//! Layout: each skill's keys are the fields of one hash, `<prefix>:<skill>`,
//! so a skill reaches only its own keys and one skill's memory is one Redis
//! key (`HGETALL sandbot:seen` shows it all). The hash's empty field `""`
//! holds the bytes (of keys and values) the skill keeps: no skill key can be
//! empty, so it never collides with one.
//!
//! Writes and deletes are Lua scripts: Redis runs a script without
//! interleaving any other command, so the quota check and the write happen
//! as one step, and two bots writing for the same skill at once cannot both
//! pass a check that only one of them fits. A refused write writes nothing.
//! Every script touches one key, so it also runs on a Redis Cluster (all its
//! keys are in one slot).
//!
//! The connection is a `ConnectionManager`: when Redis goes away, the calls
//! in flight fail (the skill sees an error, the bot keeps serving), and the
//! next call reconnects.

use super::{MemoryStore, Quota, WriteError};
use anyhow::{Context, Result, anyhow};
use futures::future::BoxFuture;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use std::sync::Arc;
use std::time::Duration;

/// The bytes the hash `KEYS[1]` keeps, as one Lua chunk both scripts start
/// with: the usage field if there, else measured once (a hash written by an
/// older bot, or the field deleted by hand) and stored.
const USAGE_LUA: &str = r#"
local h = KEYS[1]
local used = redis.call('HGET', h, '')
local keys = redis.call('HLEN', h)
if used then
  used = tonumber(used)
  keys = keys - 1
else
  used = 0
  local all = redis.call('HGETALL', h)
  for i = 1, #all, 2 do
    used = used + #all[i] + #all[i + 1]
  end
end
"#;

/// KEYS[1] the skill's hash; ARGV: key, value, max keys, max bytes.
/// Returns `{0}` when written, `{1, keys}` when refused for the key count,
/// `{2, bytes after}` when refused for bytes. The rules are SQLite's: a new
/// key must fit the key count; a write may not grow the bytes past the
/// quota (shrinking is always allowed, so a skill over a lowered quota can
/// still make room).
const PUT_LUA: &str = r#"
local key, value = ARGV[1], ARGV[2]
local max_keys, max_bytes = tonumber(ARGV[3]), tonumber(ARGV[4])
local exists = redis.call('HEXISTS', h, key) == 1
local old = 0
if exists then old = #key + redis.call('HSTRLEN', h, key) end
local after = used - old + #key + #value
if not exists and keys + 1 > max_keys then return {1, keys} end
if after > max_bytes and after > used then return {2, after} end
redis.call('HSET', h, key, value, '', string.format('%d', after))
return {0}
"#;

/// KEYS[1] the skill's hash; ARGV: key. Removes the hash when only the
/// usage field would remain.
const DELETE_LUA: &str = r#"
local key = ARGV[1]
if redis.call('HEXISTS', h, key) == 0 then return 0 end
local after = used - #key - redis.call('HSTRLEN', h, key)
if after < 0 then after = 0 end
redis.call('HDEL', h, key)
if keys <= 1 then
  redis.call('DEL', h)
else
  redis.call('HSET', h, '', string.format('%d', after))
end
return 1
"#;

pub struct RedisMemory {
    connection: ConnectionManager,
    prefix: String,
    scripts: Arc<Scripts>,
}

struct Scripts {
    put: Script,
    delete: Script,
}

/// How long one call may wait: a skill's whole event has a time budget
/// (5 s by default), and a Redis that does not answer should fail the call
/// well within it rather than take the event down with a timeout.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

impl RedisMemory {
    /// Connects to `url` (`redis://[user:password@]host[:port][/db]`), with
    /// every skill's keys under `prefix:`. `shown` is the URL as errors may
    /// print it (without its password). A Redis that cannot be reached now
    /// is an error: the bot should not start and fail every memory call.
    pub async fn connect(url: &str, shown: &str, prefix: &str) -> Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow!("{}", redact(&e.to_string(), url, shown)))
            .with_context(|| format!("the Redis URL {shown} (databases.redis.url)"))?;
        // Few retries, short delays: a call made while Redis is down should
        // fail in well under a second (the skill reports it), and the next
        // call tries again anyway.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let mut connection = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| anyhow!("{}", redact(&e.to_string(), url, shown)))
            .with_context(|| format!("cannot reach Redis at {shown} (databases.redis.url)"))?;
        // A server that accepts connections but refuses commands (a wrong
        // password, a replica that is loading) is found now, not by a skill.
        let _: String = redis::cmd("PING")
            .query_async(&mut connection)
            .await
            .map_err(|e| anyhow!("{}", redact(&e.to_string(), url, shown)))
            .with_context(|| format!("Redis at {shown} does not answer PING"))?;
        let scripts = Scripts {
            put: Script::new(&format!("{USAGE_LUA}{PUT_LUA}")),
            delete: Script::new(&format!("{USAGE_LUA}{DELETE_LUA}")),
        };
        // Loaded now so the first write does not pay for it; after a Redis
        // restart `invoke_async` loads them again by itself (NOSCRIPT).
        for script in [&scripts.put, &scripts.delete] {
            script
                .load_async(&mut connection)
                .await
                .with_context(|| format!("loading the memory scripts into Redis at {shown}"))?;
        }
        Ok(RedisMemory {
            connection,
            prefix: prefix.to_owned(),
            scripts: Arc::new(scripts),
        })
    }

    /// The hash that holds `skill`'s keys.
    fn hash(&self, skill: &str) -> String {
        format!("{}:{skill}", self.prefix)
    }
}

/// An error's text with the URL's secret parts out, in case the client
/// library ever quotes the URL it was given.
fn redact(text: &str, url: &str, shown: &str) -> String {
    if url.is_empty() {
        text.to_owned()
    } else {
        text.replace(url, shown)
    }
}

fn no_empty_key(key: &str) -> Result<()> {
    // The empty field is where the skill's usage is kept; the host never
    // passes an empty key, and this keeps it so for any other caller.
    anyhow::ensure!(!key.is_empty(), "memory keys cannot be empty");
    Ok(())
}

impl MemoryStore for RedisMemory {
    fn get(&self, skill: &str, key: &str) -> BoxFuture<'static, Result<Option<String>>> {
        let (hash, key) = (self.hash(skill), key.to_owned());
        let mut connection = self.connection.clone();
        Box::pin(async move {
            no_empty_key(&key)?;
            let value: Option<String> = connection
                .hget(&hash, &key)
                .await
                .context("reading memory from Redis")?;
            Ok(value)
        })
    }

    fn put(
        &self,
        skill: &str,
        key: &str,
        value: &str,
        quota: Quota,
    ) -> BoxFuture<'static, Result<(), WriteError>> {
        let (hash, key, value) = (self.hash(skill), key.to_owned(), value.to_owned());
        let mut connection = self.connection.clone();
        let scripts = self.scripts.clone();
        Box::pin(async move {
            no_empty_key(&key)?;
            let answer: Vec<u64> = scripts
                .put
                .key(&hash)
                .arg(&key)
                .arg(&value)
                .arg(quota.keys)
                .arg(quota.bytes)
                .invoke_async(&mut connection)
                .await
                .context("writing memory to Redis")?;
            // The same words as SQLite's refusals: skills see one message
            // whatever the backend.
            match answer.as_slice() {
                [0] => Ok(()),
                [1, keys] => Err(WriteError::Quota(format!(
                    "memory quota reached: this skill keeps {keys} keys, its limit (limits.stored-keys)"
                ))),
                [2, bytes] => Err(WriteError::Quota(format!(
                    "memory quota reached: this write would make {bytes} bytes, over this skill's limit of {} (limits.stored-bytes)",
                    quota.bytes
                ))),
                other => Err(WriteError::Backend(anyhow!(
                    "the Redis memory script answered {other:?}"
                ))),
            }
        })
    }

    fn delete(&self, skill: &str, key: &str) -> BoxFuture<'static, Result<()>> {
        let (hash, key) = (self.hash(skill), key.to_owned());
        let mut connection = self.connection.clone();
        let scripts = self.scripts.clone();
        Box::pin(async move {
            no_empty_key(&key)?;
            let _: i64 = scripts
                .delete
                .key(&hash)
                .arg(&key)
                .invoke_async(&mut connection)
                .await
                .context("deleting memory in Redis")?;
            Ok(())
        })
    }
}
