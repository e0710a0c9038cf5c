//! Skills' key-value memory. Keys are namespaced by skill name here, so a
//! skill can only ever reach its own keys, and every write is checked
//! against the skill's quota (keys and bytes) before it is made.
//!
//! Backends: `sqlite` (one file, the default) and `redis` (a server, for
//! state that lives outside the host or is shared by several bots). Both
//! keep the same contract, checked by one test suite (tests/all/memory.rs).
//! `Counted` wraps either to count calls for `/metrics`.

mod counted;
mod redis;
mod sqlite;

pub use self::redis::RedisMemory;
pub use counted::{Counted, MemoryCounts};
pub use sqlite::SqliteMemory;

use futures::future::BoxFuture;

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
    #[error(transparent)]
    Backend(#[from] anyhow::Error),
}

/// A storage backend. Futures are `'static` so host calls can hold them
/// across awaits without borrowing the store.
pub trait MemoryStore: Send + Sync + 'static {
    fn get(&self, skill: &str, key: &str) -> BoxFuture<'static, anyhow::Result<Option<String>>>;
    fn put(
        &self,
        skill: &str,
        key: &str,
        value: &str,
        quota: Quota,
    ) -> BoxFuture<'static, Result<(), WriteError>>;
    fn delete(&self, skill: &str, key: &str) -> BoxFuture<'static, anyhow::Result<()>>;
}
