//! Skills' key-value memory. Keys are namespaced by skill name here, so a
//! skill can only ever reach its own keys, and every write is checked
//! against the skill's quota (keys and bytes) in the same atomic step as the
//! write. Beside get, put and delete, a backend offers the read-modify-write
//! operations a skill cannot build from those under concurrency:
//! `increment`, `compare_and_swap` and an all-or-nothing `batch`.
//!
//! Backends: `sqlite` (one file, the default) and `redis` (a server, for
//! state that lives outside the host or is shared by several bots). Both
//! keep the same contract, checked by one test suite (tests/all/memory.rs).
//! `Counted` wraps either to count calls for `/metrics`.

mod counted;
mod redis;
mod sqlite;
mod sqlite_thread;

pub use self::redis::RedisMemory;
pub use counted::{Counted, MemoryCounts};
pub use sqlite::SqliteMemory;

use crate::config::Config;
use futures::future::BoxFuture;
use std::sync::Arc;

/// The backend `databases:` names: Redis when `redis` is given, else the
/// SQLite `file` opened as the bot starts. A Redis that cannot be reached
/// stops the start here, with its URL (password hidden) in the error.
pub async fn open(
    config: &Config,
    file: Option<crate::sqlite::File>,
) -> anyhow::Result<Arc<dyn MemoryStore>> {
    match (&config.databases.redis, file) {
        (Some(redis), _) => {
            let shown = redis.shown_url();
            let memory = RedisMemory::connect(redis.url.expose(), &shown, &redis.prefix).await?;
            tracing::info!(url = %shown, prefix = %redis.prefix, "skills' memory is in Redis");
            Ok(Arc::new(memory))
        }
        (None, Some(file)) => Ok(Arc::new(SqliteMemory::on(file)?)),
        (None, None) => anyhow::bail!("the memory's SQLite file was not opened"),
    }
}

/// What one skill may keep: `limits.stored-keys` and `limits.stored-bytes`
/// (bytes of keys plus values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub keys: u64,
    pub bytes: u64,
}

impl Quota {
    pub const UNLIMITED: Quota = Quota {
        keys: u64::MAX,
        bytes: u64::MAX,
    };
}

/// Why a write was not made.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The write would take the skill past its quota; nothing was written.
    #[error("{0}")]
    Quota(String),
    /// The write cannot be made as asked (an increment of a value that is
    /// not an integer, or past 64 bits); nothing was written.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Backend(#[from] anyhow::Error),
}

/// One write of a [`MemoryStore::batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    Put { key: String, value: String },
    Delete { key: String },
}

impl Write {
    pub fn key(&self) -> &str {
        match self {
            Write::Put { key, .. } | Write::Delete { key } => key,
        }
    }
}

/// The value an increment of `current` (none: absent) by `by` stores. The
/// same rule on every backend (Redis's `HINCRBY`): the stored text must be
/// an integer in canonical decimal form, and the sum must fit in 64 bits.
pub fn incremented(current: Option<&str>, by: i64) -> Result<i64, WriteError> {
    let now = match current {
        None => 0,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n.to_string() == text => n,
            _ => return Err(WriteError::Invalid(not_an_integer(text))),
        },
    };
    now.checked_add(by).ok_or_else(|| {
        WriteError::Invalid(format!(
            "cannot increment: {now} + {by} does not fit in a 64-bit integer"
        ))
    })
}

fn not_an_integer(text: &str) -> String {
    let shown: String = text.chars().take(40).collect();
    let more = if shown.len() < text.len() { "…" } else { "" };
    format!("cannot increment: the value stored is not an integer ({shown:?}{more})")
}

/// The refusals every backend words the same way, so a skill sees one
/// message whatever the backend.
pub(crate) mod refusal {
    use super::{Quota, WriteError};

    pub fn keys(kept: u64) -> WriteError {
        WriteError::Quota(format!(
            "memory quota reached: this skill keeps {kept} keys, its limit (limits.stored-keys)"
        ))
    }

    pub fn batch_keys(after: u64, quota: Quota) -> WriteError {
        WriteError::Quota(format!(
            "memory quota reached: this batch would make {after} keys, over this skill's limit of {} (limits.stored-keys)",
            quota.keys
        ))
    }

    pub fn bytes(after: u64, quota: Quota) -> WriteError {
        WriteError::Quota(format!(
            "memory quota reached: this write would make {after} bytes, over this skill's limit of {} (limits.stored-bytes)",
            quota.bytes
        ))
    }
}

/// What a skill keeps: its keys, and their bytes (keys and values), as its
/// quota counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stored {
    pub keys: u64,
    pub bytes: u64,
}

/// A storage backend. Futures are `'static` so host calls can hold them
/// across awaits without borrowing the store.
pub trait MemoryStore: Send + Sync + 'static {
    /// What `skill` keeps now, counted as its quota is (for the console).
    fn stored(&self, skill: &str) -> BoxFuture<'static, anyhow::Result<Stored>>;
    fn get(&self, skill: &str, key: &str) -> BoxFuture<'static, anyhow::Result<Option<String>>>;
    fn put(
        &self,
        skill: &str,
        key: &str,
        value: &str,
        quota: Quota,
    ) -> BoxFuture<'static, Result<(), WriteError>>;
    fn delete(&self, skill: &str, key: &str) -> BoxFuture<'static, anyhow::Result<()>>;
    /// Adds `by` to the integer at `key` (0 when absent) and returns the
    /// sum, as one step (see [`incremented`]).
    fn increment(
        &self,
        skill: &str,
        key: &str,
        by: i64,
        quota: Quota,
    ) -> BoxFuture<'static, Result<i64, WriteError>>;
    /// Writes `new` if `key` holds `expected` (`None`: nothing), as one step.
    /// `Ok(false)`: it held something else, and nothing was written.
    fn compare_and_swap(
        &self,
        skill: &str,
        key: &str,
        expected: Option<&str>,
        new: &str,
        quota: Quota,
    ) -> BoxFuture<'static, Result<bool, WriteError>>;
    /// Applies `writes` in order, all or none. The quota is checked against
    /// what the skill keeps after the last of them.
    fn batch(
        &self,
        skill: &str,
        writes: Vec<Write>,
        quota: Quota,
    ) -> BoxFuture<'static, Result<(), WriteError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increments_only_canonical_integers_within_64_bits() {
        assert_eq!(incremented(None, 5).unwrap(), 5);
        assert_eq!(incremented(Some("-3"), 1).unwrap(), -2);
        assert_eq!(incremented(Some("0"), -1).unwrap(), -1);
        for bad in ["", "1.5", " 1", "+1", "01", "x", "1e3", "-0"] {
            let e = incremented(Some(bad), 1).unwrap_err();
            assert!(matches!(e, WriteError::Invalid(_)), "{bad:?}: {e}");
        }
        let e = incremented(Some(&i64::MAX.to_string()), 1).unwrap_err();
        assert!(e.to_string().contains("does not fit"), "{e}");
        assert_eq!(
            incremented(Some(&i64::MIN.to_string()), 0).unwrap(),
            i64::MIN
        );
    }
}
