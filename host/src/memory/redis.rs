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
//! The same holds for an increment (`HINCRBY`, undone in the script if the
//! quota refuses it), a compare-and-swap and a batch (measured whole, then
//! written whole), so no other host's write falls between their read and
//! their write.
//! Every script touches one key, so it also runs on a Redis Cluster (all its
//! keys are in one slot).
//!
//! The connection is a `ConnectionManager`: when Redis goes away, the calls
//! in flight fail (the skill sees an error, the bot keeps serving), and the
//! next call reconnects.

use super::{MemoryStore, Quota, Write, WriteError, incremented, refusal};
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

/// KEYS[1] the skill's hash; ARGV: key, by, max keys, max bytes. Returns
/// `{0, sum}` when written, `{1, keys}` / `{2, bytes after}` when the quota
/// refuses it (the increment is undone: nothing else ran in between), or
/// `{3, value}` when `HINCRBY` refuses the stored value or the sum (Rust
/// words that refusal, so it reads as SQLite's). The sum comes back as the
/// stored text: Lua's numbers are doubles and would round past 2^53.
const INCREMENT_LUA: &str = r#"
local key, by = ARGV[1], ARGV[2]
local max_keys, max_bytes = tonumber(ARGV[3]), tonumber(ARGV[4])
local old_value = redis.call('HGET', h, key)
if not old_value and keys + 1 > max_keys then return {1, string.format('%d', keys)} end
local done = redis.pcall('HINCRBY', h, key, by)
if type(done) == 'table' and done.err then return {3, old_value or ''} end
local old = 0
if old_value then old = #key + #old_value end
local after = used - old + #key + redis.call('HSTRLEN', h, key)
if after > max_bytes and after > used then
  if old_value then redis.call('HSET', h, key, old_value) else redis.call('HDEL', h, key) end
  return {2, string.format('%d', after)}
end
redis.call('HSET', h, '', string.format('%d', after))
return {0, redis.call('HGET', h, key)}
"#;

/// KEYS[1] the skill's hash; ARGV: key, new value, max keys, max bytes,
/// `1` if a value is expected (`0`: none), the expected value. Returns
/// `{3}` when the key holds something else, otherwise what `PUT_LUA` does.
const COMPARE_LUA: &str = r#"
local current = redis.call('HGET', h, ARGV[1])
if ARGV[5] == '0' then
  if current then return {3} end
elseif current ~= ARGV[6] then
  return {3}
end
"#;

/// KEYS[1] the skill's hash; ARGV: max keys, max bytes, then a triple per
/// write: `p` (put) or `d` (delete), key, value (empty for a delete).
/// Measures what the hash would hold after every write first; returns
/// `{1, keys after}` or `{2, bytes after}` when that is over the quota (and
/// writes nothing), else writes them all and returns `{0}`.
const BATCH_LUA: &str = r#"
local max_keys, max_bytes = tonumber(ARGV[1]), tonumber(ARGV[2])
local size = {}
local after_keys, after = keys, used
for i = 3, #ARGV, 3 do
  local op, key, value = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local old = size[key]
  if old == nil then
    if redis.call('HEXISTS', h, key) == 1 then
      old = #key + redis.call('HSTRLEN', h, key)
    else
      old = false
    end
  end
  if old then
    after_keys = after_keys - 1
    after = after - old
  end
  if op == 'p' then
    size[key] = #key + #value
    after_keys = after_keys + 1
    after = after + #key + #value
  else
    size[key] = false
  end
end
if after < 0 then after = 0 end
if after_keys > max_keys and after_keys > keys then return {1, after_keys} end
if after > max_bytes and after > used then return {2, after} end
for i = 3, #ARGV, 3 do
  if ARGV[i] == 'p' then
    redis.call('HSET', h, ARGV[i + 1], ARGV[i + 2])
  else
    redis.call('HDEL', h, ARGV[i + 1])
  end
end
if after_keys <= 0 then
  redis.call('DEL', h)
else
  redis.call('HSET', h, '', string.format('%d', after))
end
return {0}
"#;

pub struct RedisMemory {
    connection: ConnectionManager,
    prefix: String,
    scripts: Arc<Scripts>,
}

struct Scripts {
    /// `{keys, bytes}` the hash keeps, changing nothing.
    stored: Script,
    put: Script,
    delete: Script,
    increment: Script,
    compare_and_swap: Script,
    batch: Script,
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
            stored: Script::new(&format!("{USAGE_LUA}return {{keys, used}}")),
            put: Script::new(&format!("{USAGE_LUA}{PUT_LUA}")),
            delete: Script::new(&format!("{USAGE_LUA}{DELETE_LUA}")),
            increment: Script::new(&format!("{USAGE_LUA}{INCREMENT_LUA}")),
            compare_and_swap: Script::new(&format!("{USAGE_LUA}{COMPARE_LUA}{PUT_LUA}")),
            batch: Script::new(&format!("{USAGE_LUA}{BATCH_LUA}")),
        };
        // Loaded now so the first write does not pay for it; after a Redis
        // restart `invoke_async` loads them again by itself (NOSCRIPT).
        for script in [
            &scripts.put,
            &scripts.delete,
            &scripts.increment,
            &scripts.compare_and_swap,
            &scripts.batch,
        ] {
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

/// What `PUT_LUA` answered, in the same words as SQLite's refusals: skills
/// see one message whatever the backend.
fn written(answer: &[u64], quota: Quota) -> Result<(), WriteError> {
    match answer {
        [0] => Ok(()),
        [1, keys] => Err(refusal::keys(*keys)),
        [2, bytes] => Err(refusal::bytes(*bytes, quota)),
        other => Err(WriteError::Backend(anyhow!(
            "the Redis memory script answered {other:?}"
        ))),
    }
}

fn no_empty_key(key: &str) -> Result<()> {
    // The empty field is where the skill's usage is kept; the host never
    // passes an empty key, and this keeps it so for any other caller.
    anyhow::ensure!(!key.is_empty(), "memory keys cannot be empty");
    Ok(())
}

impl MemoryStore for RedisMemory {
    fn stored(&self, skill: &str) -> BoxFuture<'static, Result<super::Stored>> {
        let hash = self.hash(skill);
        let mut connection = self.connection.clone();
        let scripts = self.scripts.clone();
        Box::pin(async move {
            let (keys, bytes): (u64, u64) = scripts
                .stored
                .key(&hash)
                .invoke_async(&mut connection)
                .await
                .context("reading a skill's memory usage from Redis")?;
            Ok(super::Stored { keys, bytes })
        })
    }

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
            written(&answer, quota)
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

    fn increment(
        &self,
        skill: &str,
        key: &str,
        by: i64,
        quota: Quota,
    ) -> BoxFuture<'static, Result<i64, WriteError>> {
        let (hash, key) = (self.hash(skill), key.to_owned());
        let mut connection = self.connection.clone();
        let scripts = self.scripts.clone();
        Box::pin(async move {
            no_empty_key(&key)?;
            let (code, text): (u64, String) = scripts
                .increment
                .key(&hash)
                .arg(&key)
                .arg(by)
                .arg(quota.keys)
                .arg(quota.bytes)
                .invoke_async(&mut connection)
                .await
                .context("incrementing memory in Redis")?;
            let number = || {
                text.parse::<u64>()
                    .map_err(|_| anyhow!("the Redis increment script answered {code}, {text:?}"))
            };
            match code {
                0 => text.parse::<i64>().map_err(|_| {
                    WriteError::Backend(anyhow!("Redis stored {text:?} for an increment"))
                }),
                1 => Err(refusal::keys(number()?)),
                2 => Err(refusal::bytes(number()?, quota)),
                // HINCRBY refused: the stored value, or the sum. The shared
                // rule words it (and agrees with HINCRBY on what it takes).
                3 => match incremented(Some(&text), by) {
                    Err(refused) => Err(refused),
                    Ok(_) => Err(WriteError::Backend(anyhow!(
                        "Redis refused to increment {text:?} by {by}"
                    ))),
                },
                _ => Err(WriteError::Backend(anyhow!(
                    "the Redis increment script answered {code}, {text:?}"
                ))),
            }
        })
    }

    fn compare_and_swap(
        &self,
        skill: &str,
        key: &str,
        expected: Option<&str>,
        new: &str,
        quota: Quota,
    ) -> BoxFuture<'static, Result<bool, WriteError>> {
        let (hash, key, new) = (self.hash(skill), key.to_owned(), new.to_owned());
        let expected = expected.map(str::to_owned);
        let mut connection = self.connection.clone();
        let scripts = self.scripts.clone();
        Box::pin(async move {
            no_empty_key(&key)?;
            let answer: Vec<u64> = scripts
                .compare_and_swap
                .key(&hash)
                .arg(&key)
                .arg(&new)
                .arg(quota.keys)
                .arg(quota.bytes)
                .arg(if expected.is_some() { "1" } else { "0" })
                .arg(expected.as_deref().unwrap_or(""))
                .invoke_async(&mut connection)
                .await
                .context("comparing and swapping memory in Redis")?;
            match answer.as_slice() {
                [3] => Ok(false),
                other => written(other, quota).map(|()| true),
            }
        })
    }

    fn batch(
        &self,
        skill: &str,
        writes: Vec<Write>,
        quota: Quota,
    ) -> BoxFuture<'static, Result<(), WriteError>> {
        let hash = self.hash(skill);
        let mut connection = self.connection.clone();
        let scripts = self.scripts.clone();
        Box::pin(async move {
            if writes.is_empty() {
                return Ok(());
            }
            let mut call = scripts.batch.key(&hash);
            call.arg(quota.keys).arg(quota.bytes);
            for write in &writes {
                no_empty_key(write.key())?;
                match write {
                    Write::Put { key, value } => call.arg("p").arg(key).arg(value),
                    Write::Delete { key } => call.arg("d").arg(key).arg(""),
                };
            }
            let answer: Vec<u64> = call
                .invoke_async(&mut connection)
                .await
                .context("writing a memory batch to Redis")?;
            match answer.as_slice() {
                [0] => Ok(()),
                [1, keys] => Err(refusal::batch_keys(*keys, quota)),
                [2, bytes] => Err(refusal::bytes(*bytes, quota)),
                other => Err(WriteError::Backend(anyhow!(
                    "the Redis batch script answered {other:?}"
                ))),
            }
        })
    }
}
