//! Skills' key-value memory. Keys are namespaced by skill name here, so a
//! skill can only ever reach its own keys.

mod sqlite;

pub use sqlite::SqliteMemory;

use futures::future::BoxFuture;

/// A storage backend. Futures are `'static` so host calls can hold them
/// across awaits without borrowing the store.
pub trait MemoryStore: Send + Sync + 'static {
    fn get(&self, skill: &str, key: &str) -> BoxFuture<'static, anyhow::Result<Option<String>>>;
    fn put(&self, skill: &str, key: &str, value: &str) -> BoxFuture<'static, anyhow::Result<()>>;
    fn delete(&self, skill: &str, key: &str) -> BoxFuture<'static, anyhow::Result<()>>;
}
