//! The embedded default: one SQLite file in WAL mode, owned by one thread.
//! Skills' calls arrive over a channel, so blocking disk I/O never runs on a
//! tokio worker, and writes that queue up are committed in one transaction.
//! The thread keeps each skill's usage (keys, bytes), read from the file the
//! first time the skill writes, so a quota check costs no scan. One thread
//! also makes every read-modify-write atomic: `increment`, compare-and-swap
//! and a batch run start to end with no other command in between, and a
//! batch sits in a savepoint of its own, so it lands whole or not at all.
//! This file is the skills' end of the channel; the thread is in
//! `sqlite_thread.rs`.

use super::sqlite_thread::Command;
use super::{MemoryStore, Quota, Write, WriteError};
use anyhow::{Context, Result};
use futures::future::BoxFuture;
use std::path::Path;
use std::sync::mpsc;
use tokio::sync::oneshot;

pub struct SqliteMemory {
    commands: mpsc::Sender<Command>,
}

impl SqliteMemory {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        Self::on(crate::sqlite::open_file(path, "memory")?)
    }

    /// Keeps the memory in `file` (opened as the bot starts): makes its
    /// table, then starts the thread that owns it.
    pub fn on(file: crate::sqlite::File) -> Result<Self> {
        let crate::sqlite::File { conn, path } = file;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS memory (
                 skill TEXT NOT NULL,
                 key TEXT NOT NULL,
                 value TEXT NOT NULL,
                 updated_at INTEGER NOT NULL,
                 PRIMARY KEY (skill, key)
             ) WITHOUT ROWID;",
        )
        .with_context(|| format!("preparing the memory database {}", path.display()))?;
        let (commands, inbox) = mpsc::channel();
        std::thread::Builder::new()
            .name("sandbot-sqlite".into())
            .spawn(move || super::sqlite_thread::serve(conn, inbox))
            .context("starting the database thread")?;
        Ok(SqliteMemory { commands })
    }

    fn send<T: Send + 'static, E: From<anyhow::Error> + Send + 'static>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, E>>) -> Command,
    ) -> BoxFuture<'static, Result<T, E>> {
        let (reply, answer) = oneshot::channel();
        let sent = self.commands.send(make(reply));
        Box::pin(async move {
            let stopped = || E::from(anyhow::anyhow!("the database thread has stopped"));
            sent.map_err(|_| stopped())?;
            answer.await.map_err(|_| stopped())?
        })
    }
}

impl MemoryStore for SqliteMemory {
    fn stored(&self, skill: &str) -> BoxFuture<'static, Result<super::Stored>> {
        let skill = skill.to_owned();
        self.send(|reply| Command::Stored { skill, reply })
    }

    fn get(&self, skill: &str, key: &str) -> BoxFuture<'static, Result<Option<String>>> {
        let (skill, key) = (skill.to_owned(), key.to_owned());
        self.send(|reply| Command::Get { skill, key, reply })
    }

    fn put(
        &self,
        skill: &str,
        key: &str,
        value: &str,
        quota: Quota,
    ) -> BoxFuture<'static, Result<(), WriteError>> {
        let (skill, key, value) = (skill.to_owned(), key.to_owned(), value.to_owned());
        self.send(|reply| Command::Put {
            skill,
            key,
            value,
            quota,
            reply,
        })
    }

    fn delete(&self, skill: &str, key: &str) -> BoxFuture<'static, Result<()>> {
        let (skill, key) = (skill.to_owned(), key.to_owned());
        self.send(|reply| Command::Delete { skill, key, reply })
    }

    fn increment(
        &self,
        skill: &str,
        key: &str,
        by: i64,
        quota: Quota,
    ) -> BoxFuture<'static, Result<i64, WriteError>> {
        let (skill, key) = (skill.to_owned(), key.to_owned());
        self.send(|reply| Command::Increment {
            skill,
            key,
            by,
            quota,
            reply,
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
        let (skill, key) = (skill.to_owned(), key.to_owned());
        let (expected, new) = (expected.map(str::to_owned), new.to_owned());
        self.send(|reply| Command::CompareAndSwap {
            skill,
            key,
            expected,
            new,
            quota,
            reply,
        })
    }

    fn batch(
        &self,
        skill: &str,
        writes: Vec<Write>,
        quota: Quota,
    ) -> BoxFuture<'static, Result<(), WriteError>> {
        let skill = skill.to_owned();
        self.send(|reply| Command::Batch {
            skill,
            writes,
            quota,
            reply,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_are_per_skill_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        {
            let m = SqliteMemory::open(&path).unwrap();
            m.put("seen", "alice", "1", Quota::UNLIMITED).await.unwrap();
            m.put("other", "alice", "2", Quota::UNLIMITED)
                .await
                .unwrap();
            m.put("seen", "alice", "3", Quota::UNLIMITED).await.unwrap();
            assert_eq!(m.get("seen", "alice").await.unwrap().as_deref(), Some("3"));
            assert_eq!(m.get("other", "alice").await.unwrap().as_deref(), Some("2"));
            m.delete("other", "alice").await.unwrap();
            assert_eq!(m.get("other", "alice").await.unwrap(), None);
        }
        let m = SqliteMemory::open(&path).unwrap();
        assert_eq!(m.get("seen", "alice").await.unwrap().as_deref(), Some("3"));
    }

    #[tokio::test]
    async fn concurrent_writes_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let m = std::sync::Arc::new(SqliteMemory::open(&dir.path().join("m.db")).unwrap());
        let writes = (0..200).map(|i| {
            let m = m.clone();
            tokio::spawn(async move {
                m.put("s", &format!("k{i}"), &i.to_string(), Quota::UNLIMITED)
                    .await
            })
        });
        for w in writes {
            w.await.unwrap().unwrap();
        }
        assert_eq!(m.get("s", "k199").await.unwrap().as_deref(), Some("199"));
    }

    #[tokio::test]
    async fn a_quota_refuses_before_writing_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let quota = Quota { keys: 3, bytes: 40 };
        {
            let m = SqliteMemory::open(&path).unwrap();
            for k in ["a", "b", "c"] {
                m.put("s", k, "0123456789", quota).await.unwrap();
            }
            let e = m.put("s", "d", "x", quota).await.unwrap_err();
            assert!(
                matches!(&e, WriteError::Quota(m) if m.contains("3 keys")),
                "{e}"
            );
            // Rewriting an existing key is not a new key; growing past the
            // byte quota is refused.
            m.put("s", "a", "9", quota).await.unwrap();
            let e = m.put("s", "b", &"y".repeat(40), quota).await.unwrap_err();
            assert!(
                matches!(&e, WriteError::Quota(m) if m.contains("limits.stored-bytes")),
                "{e}"
            );
            assert_eq!(
                m.get("s", "b").await.unwrap().as_deref(),
                Some("0123456789")
            );
            // Another skill has its own quota.
            m.put("t", "d", "x", quota).await.unwrap();
            m.delete("s", "c").await.unwrap();
        }
        // Usage is measured from the file after a restart.
        let m = SqliteMemory::open(&path).unwrap();
        m.put("s", "d", "x", quota).await.unwrap();
        assert!(m.put("s", "e", "x", quota).await.is_err());
    }
}
