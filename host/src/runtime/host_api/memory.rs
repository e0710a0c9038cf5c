//! `memory`: the skill's own keys, bounded per key and value, with a quota
//! per skill (`limits.stored-keys`, `limits.stored-bytes`) checked in the
//! same step as every write (the backend makes increment, compare-and-swap
//! and batch atomic). `describe` may read but not write: it runs at load.
//!
//! [`MemoryGrant`] is made once per load (the backend, the skill's
//! namespace and quota); each store's [`MemoryState`] adds only whether it
//! may write.

use crate::memory::{MemoryStore, Quota, Write, WriteError};
use crate::runtime::bindings::memory;
use crate::runtime::log_limit::LogLimiter;
use crate::runtime::phase::Phase;
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};

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

/// One skill's memory: the backend, the namespace (the skill's name) and
/// the quota every write is checked against.
pub struct MemoryGrant {
    skill: String,
    store: Arc<dyn MemoryStore>,
    quota: Quota,
    /// The skill's log budget: refusals are logged through it, so a skill
    /// that keeps trying cannot flood the log with them.
    log_budget: Arc<LogLimiter>,
}

impl MemoryGrant {
    pub fn new(
        skill: &str,
        store: Arc<dyn MemoryStore>,
        quota: Quota,
        log_budget: Arc<LogLimiter>,
    ) -> Self {
        MemoryGrant {
            skill: skill.to_owned(),
            store,
            quota,
            log_budget,
        }
    }
}

/// One store's `memory`.
pub struct MemoryState {
    grant: Arc<MemoryGrant>,
    phase: Phase,
}

impl MemoryState {
    pub fn new(grant: Arc<MemoryGrant>, phase: Phase) -> Self {
        MemoryState { grant, phase }
    }

    pub fn begin_event(&mut self) {
        self.phase = Phase::Handle;
    }

    fn memory_failed(&self, what: &str, e: anyhow::Error) -> String {
        tracing::error!(skill = %self.grant.skill, error = %format!("{e:#}"), "memory {what} failed");
        format!("memory {what} failed; the bot's log has the details")
    }

    fn no_writes_in_describe(&self) -> Result<(), String> {
        if self.phase == Phase::Describe {
            return Err("`describe` may not write memory: it runs when the skill loads".into());
        }
        Ok(())
    }

    /// What the skill is told when a write was not made.
    fn write_failed(&self, what: &str, e: WriteError) -> String {
        match e {
            WriteError::Quota(why) => {
                if self.grant.log_budget.admit().is_some() {
                    tracing::warn!(skill = %self.grant.skill, "memory write refused: {why}");
                }
                why
            }
            WriteError::Invalid(why) => why,
            WriteError::Backend(e) => self.memory_failed(what, e),
        }
    }
}

/// Links `memory`, reaching each store's [`MemoryState`] through `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut MemoryState,
) -> wasmtime::Result<()> {
    memory::add_to_linker::<T, HasSelf<MemoryState>>(linker, get)
}

impl memory::Host for MemoryState {
    async fn get(&mut self, key: String) -> Result<Option<String>, String> {
        check_key(&key)?;
        let lookup = self.grant.store.get(&self.grant.skill, &key);
        lookup.await.map_err(|e| self.memory_failed("get", e))
    }

    async fn put(&mut self, key: String, value: String) -> Result<(), String> {
        self.no_writes_in_describe()?;
        check_key(&key)?;
        check_value(&value)?;
        let write = self
            .grant
            .store
            .put(&self.grant.skill, &key, &value, self.grant.quota);
        write.await.map_err(|e| self.write_failed("put", e))
    }

    async fn delete(&mut self, key: String) -> Result<(), String> {
        self.no_writes_in_describe()?;
        check_key(&key)?;
        let delete = self.grant.store.delete(&self.grant.skill, &key);
        delete.await.map_err(|e| self.memory_failed("delete", e))
    }

    async fn increment(&mut self, key: String, by: i64) -> Result<i64, String> {
        self.no_writes_in_describe()?;
        check_key(&key)?;
        let write = self
            .grant
            .store
            .increment(&self.grant.skill, &key, by, self.grant.quota);
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
        let write = self.grant.store.compare_and_swap(
            &self.grant.skill,
            &key,
            expected.as_deref(),
            &new,
            self.grant.quota,
        );
        write
            .await
            .map_err(|e| self.write_failed("compare-and-swap", e))
    }

    async fn batch(&mut self, writes: Vec<memory::Write>) -> Result<(), String> {
        self.no_writes_in_describe()?;
        let writes = check_batch(&writes)?;
        let write = self
            .grant
            .store
            .batch(&self.grant.skill, writes, self.grant.quota);
        write.await.map_err(|e| self.write_failed("batch", e))
    }
}
