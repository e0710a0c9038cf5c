//! `memory`: the skill's own keys, bounded per key and value, with a quota
//! per skill (`limits.stored-keys`, `limits.stored-bytes`) checked before
//! every write. `describe` may read but not write: it runs at load.

use crate::memory::{Quota, WriteError};
use crate::runtime::bindings::memory;
use crate::runtime::store::{Phase, State};

const MAX_KEY: usize = 512;
const MAX_VALUE: usize = 1 << 20;

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
        if value.len() > MAX_VALUE {
            return Err(format!(
                "memory values are at most {MAX_VALUE} bytes; this one is {}",
                value.len()
            ));
        }
        let limits = self.skill.limits;
        let quota = Quota {
            keys: limits.stored_keys,
            bytes: limits.stored_bytes.0,
        };
        let write = self.skill.memory.put(&self.skill.name, &key, &value, quota);
        match write.await {
            Ok(()) => Ok(()),
            Err(WriteError::Quota(why)) => {
                // Through the skill's own log budget: a skill that keeps
                // trying cannot flood the log with refusals.
                if self.skill.log_limiter.admit().is_some() {
                    tracing::warn!(skill = %self.skill.name, "memory write refused: {why}");
                }
                Err(why)
            }
            Err(WriteError::Backend(e)) => Err(self.memory_failed("put", e)),
        }
    }

    async fn delete(&mut self, key: String) -> Result<(), String> {
        self.no_writes_in_describe()?;
        check_key(&key)?;
        let delete = self.skill.memory.delete(&self.skill.name, &key);
        delete.await.map_err(|e| self.memory_failed("delete", e))
    }
}
