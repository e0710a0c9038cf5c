//! `memory`: the skill's own keys, bounded per key and value, with a quota
//! per skill (`limits.stored-keys`, `limits.stored-bytes`) checked in the
//! same step as every write (the backend makes increment, compare-and-swap
//! and batch atomic). `describe` may read but not write: it runs at load.

use crate::memory::{Quota, Write, WriteError};
use crate::runtime::bindings::memory;
use crate::runtime::store::{Phase, State};

const MAX_KEY: usize = 512;
const MAX_VALUE: usize = 1 << 20;
/// Writes one batch may hold, and the bytes (keys and values) they may
/// carry together: a batch is one step on the backend (one Lua script, one
/// savepoint), which other skills' calls wait behind.
const MAX_BATCH: usize = 1000;
const MAX_BATCH_BYTES: usize = 4 << 20;

fn check_value(value: &str) -> Result<(), String> {
    if value.len() > MAX_VALUE {
        return Err(format!(
            "memory values are at most {MAX_VALUE} bytes; this one is {}",
            value.len()
        ));
    }
    Ok(())
}

/// Checks every write of a batch before any is made.
fn check_batch(writes: &[memory::Write]) -> Result<Vec<Write>, String> {
    if writes.len() > MAX_BATCH {
        return Err(format!(
            "a memory batch holds at most {MAX_BATCH} writes; this one has {}",
            writes.len()
        ));
    }
    let mut bytes = 0usize;
    let mut checked = Vec::with_capacity(writes.len());
    for (i, write) in writes.iter().enumerate() {
        let at = |e: String| format!("write {} of the batch: {e}", i + 1);
        checked.push(match write {
            memory::Write::Put((key, value)) => {
                check_key(key).map_err(at)?;
                check_value(value).map_err(at)?;
                bytes += key.len() + value.len();
                Write::Put {
                    key: key.clone(),
                    value: value.clone(),
                }
            }
            memory::Write::Delete(key) => {
                check_key(key).map_err(at)?;
                bytes += key.len();
                Write::Delete { key: key.clone() }
            }
        });
    }
    if bytes > MAX_BATCH_BYTES {
        return Err(format!(
            "a memory batch carries at most {MAX_BATCH_BYTES} bytes of keys and values; this one has {bytes}"
        ));
    }
    Ok(checked)
}

fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("memory keys cannot be empty".into());
    }
    if key.len() > MAX_KEY {
        return Err(format!(
            "memory keys are at most {MAX_KEY} bytes; this one is {}",
            key.len()
        ));
    }
    Ok(())
}

impl State {
    fn memory_failed(&self, what: &str, e: anyhow::Error) -> String {
        tracing::error!(skill = %self.skill.name, error = %format!("{e:#}"), "memory {what} failed");
        format!("memory {what} failed; the bot's log has the details")
    }

    fn no_writes_in_describe(&self) -> Result<(), String> {
        if self.phase == Phase::Describe {
            return Err("`describe` may not write memory: it runs when the skill loads".into());
        }
        Ok(())
    }

    fn quota(&self) -> Quota {
        let limits = self.skill.limits;
        Quota {
            keys: limits.stored_keys,
            bytes: limits.stored_bytes.0,
        }
    }

    /// What the skill is told when a write was not made.
    fn write_failed(&self, what: &str, e: WriteError) -> String {
        match e {
            WriteError::Quota(why) => {
                // Through the skill's own log budget: a skill that keeps
                // trying cannot flood the log with refusals.
                if self.skill.log_limiter.admit().is_some() {
                    tracing::warn!(skill = %self.skill.name, "memory write refused: {why}");
                }
                why
            }
            WriteError::Invalid(why) => why,
            WriteError::Backend(e) => self.memory_failed(what, e),
        }
    }
}

impl memory::Host for State {
    async fn get(&mut self, key: String) -> Result<Option<String>, String> {
        check_key(&key)?;
        let lookup = self.skill.memory.get(&self.skill.name, &key);
        lookup.await.map_err(|e| self.memory_failed("get", e))
    }

    async fn put(&mut self, key: String, value: String) -> Result<(), String> {
        self.no_writes_in_describe()?;
        check_key(&key)?;
        check_value(&value)?;
        let write = (self.skill.memory).put(&self.skill.name, &key, &value, self.quota());
        write.await.map_err(|e| self.write_failed("put", e))
    }

    async fn delete(&mut self, key: String) -> Result<(), String> {
        self.no_writes_in_describe()?;
        check_key(&key)?;
        let delete = self.skill.memory.delete(&self.skill.name, &key);
        delete.await.map_err(|e| self.memory_failed("delete", e))
    }

    async fn increment(&mut self, key: String, by: i64) -> Result<i64, String> {
        self.no_writes_in_describe()?;
        check_key(&key)?;
        let write = (self.skill.memory).increment(&self.skill.name, &key, by, self.quota());
        write.await.map_err(|e| self.write_failed("increment", e))
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<String>,
        new: String,
    ) -> Result<bool, String> {
        self.no_writes_in_describe()?;
        check_key(&key)?;
        check_value(&new)?;
        let write = (self.skill.memory).compare_and_swap(
            &self.skill.name,
            &key,
            expected.as_deref(),
            &new,
            self.quota(),
        );
        write
            .await
            .map_err(|e| self.write_failed("compare-and-swap", e))
    }

    async fn batch(&mut self, writes: Vec<memory::Write>) -> Result<(), String> {
        self.no_writes_in_describe()?;
        let writes = check_batch(&writes)?;
        let write = (self.skill.memory).batch(&self.skill.name, writes, self.quota());
        write.await.map_err(|e| self.write_failed("batch", e))
    }
}
