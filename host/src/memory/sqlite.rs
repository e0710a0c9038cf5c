//! The embedded default: one SQLite file in WAL mode, owned by one thread.
//! Skills' calls arrive over a channel, so blocking disk I/O never runs on a
//! tokio worker, and writes that queue up are committed in one transaction.
//! The thread keeps each skill's usage (keys, bytes), read from the file the
//! first time the skill writes, so a quota check costs no scan.

use super::{MemoryStore, Quota, WriteError};
use anyhow::{Context, Result};
use futures::future::BoxFuture;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc;
use tokio::sync::oneshot;

enum Command {
    Get {
        skill: String,
        key: String,
        reply: oneshot::Sender<Result<Option<String>>>,
    },
    Put {
        skill: String,
        key: String,
        value: String,
        quota: Quota,
        reply: oneshot::Sender<Result<(), WriteError>>,
    },
    Delete {
        skill: String,
        key: String,
        reply: oneshot::Sender<Result<()>>,
    },
}

pub struct SqliteMemory {
    commands: mpsc::Sender<Command>,
}

impl SqliteMemory {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = crate::sqlite::open(
            path,
            "memory",
            "CREATE TABLE IF NOT EXISTS memory (
                 skill TEXT NOT NULL,
                 key TEXT NOT NULL,
                 value TEXT NOT NULL,
                 updated_at INTEGER NOT NULL,
                 PRIMARY KEY (skill, key)
             ) WITHOUT ROWID;",
        )?;
        let (commands, inbox) = mpsc::channel();
        std::thread::Builder::new()
            .name("sandbot-sqlite".into())
            .spawn(move || serve(conn, inbox))
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
}

/// One skill's stored keys and bytes (of keys and values).
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    keys: u64,
    bytes: u64,
}

fn usage_of(
    tx: &rusqlite::Transaction<'_>,
    usage: &mut HashMap<String, Usage>,
    skill: &str,
) -> Result<Usage> {
    if let Some(u) = usage.get(skill) {
        return Ok(*u);
    }
    let (keys, bytes): (i64, i64) = tx
        .prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(CAST(key AS BLOB)) + LENGTH(CAST(value AS BLOB))), 0)
             FROM memory WHERE skill = ?1",
        )?
        .query_row(params![skill], |r| Ok((r.get(0)?, r.get(1)?)))
        .context("measuring a skill's memory")?;
    let u = Usage {
        keys: keys as u64,
        bytes: bytes as u64,
    };
    usage.insert(skill.to_owned(), u);
    Ok(u)
}

/// Bytes `key`'s current value and the key take, if it is stored.
fn stored_size(tx: &rusqlite::Transaction<'_>, skill: &str, key: &str) -> Result<Option<u64>> {
    Ok(tx
        .prepare_cached(
            "SELECT LENGTH(CAST(value AS BLOB)) FROM memory WHERE skill = ?1 AND key = ?2",
        )?
        .query_row(params![skill, key], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|len| len as u64 + key.len() as u64))
}

fn put(
    tx: &rusqlite::Transaction<'_>,
    usage: &mut HashMap<String, Usage>,
    skill: &str,
    key: &str,
    value: &str,
    quota: Quota,
) -> Result<(), WriteError> {
    let before = usage_of(tx, usage, skill)?;
    let old = stored_size(tx, skill, key)?;
    let after = Usage {
        keys: before.keys + u64::from(old.is_none()),
        bytes: before.bytes - old.unwrap_or(0).min(before.bytes) + (key.len() + value.len()) as u64,
    };
    if old.is_none() && after.keys > quota.keys {
        return Err(WriteError::Quota(format!(
            "memory quota reached: this skill keeps {} keys, its limit (limits.stored-keys)",
            before.keys
        )));
    }
    if after.bytes > quota.bytes && after.bytes > before.bytes {
        return Err(WriteError::Quota(format!(
            "memory quota reached: this write would make {} bytes, over this skill's limit of {} (limits.stored-bytes)",
            after.bytes, quota.bytes
        )));
    }
    tx.prepare_cached(
        "INSERT INTO memory (skill, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (skill, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .and_then(|mut s| s.execute(params![skill, key, value, crate::event::now_ms() as i64]))
    .context("writing memory")?;
    usage.insert(skill.to_owned(), after);
    Ok(())
}

fn delete(
    tx: &rusqlite::Transaction<'_>,
    usage: &mut HashMap<String, Usage>,
    skill: &str,
    key: &str,
) -> Result<()> {
    let before = usage_of(tx, usage, skill)?;
    let Some(old) = stored_size(tx, skill, key)? else {
        return Ok(());
    };
    tx.prepare_cached("DELETE FROM memory WHERE skill = ?1 AND key = ?2")
        .and_then(|mut s| s.execute(params![skill, key]))
        .context("deleting from memory")?;
    usage.insert(
        skill.to_owned(),
        Usage {
            keys: before.keys.saturating_sub(1),
            bytes: before.bytes.saturating_sub(old),
        },
    );
    Ok(())
}

fn serve(mut conn: Connection, inbox: mpsc::Receiver<Command>) {
    let mut usage: HashMap<String, Usage> = HashMap::new();
    while let Ok(first) = inbox.recv() {
        // Everything already queued goes into one transaction: one fsync for a
        // burst of writes instead of one each.
        let mut batch = vec![first];
        batch.extend(inbox.try_iter().take(255));
        let tx = match conn.transaction() {
            Ok(tx) => tx,
            Err(e) => {
                fail_all(batch, &e.to_string());
                continue;
            }
        };
        let mut replies: Vec<Box<dyn FnOnce(Option<String>)>> = Vec::with_capacity(batch.len());
        for command in batch {
            match command {
                Command::Get { skill, key, reply } => {
                    let result = tx
                        .prepare_cached("SELECT value FROM memory WHERE skill = ?1 AND key = ?2")
                        .and_then(|mut s| s.query_row(params![skill, key], |r| r.get(0)).optional())
                        .context("reading memory");
                    replies.push(Box::new(move |failed| {
                        let _ = reply.send(match failed {
                            Some(e) => Err(anyhow::anyhow!(e)),
                            None => result,
                        });
                    }));
                }
                Command::Put {
                    skill,
                    key,
                    value,
                    quota,
                    reply,
                } => {
                    let result = put(&tx, &mut usage, &skill, &key, &value, quota);
                    replies.push(Box::new(move |failed| {
                        let _ = reply.send(match failed {
                            Some(e) => Err(WriteError::Backend(anyhow::anyhow!(e))),
                            None => result,
                        });
                    }));
                }
                Command::Delete { skill, key, reply } => {
                    let result = delete(&tx, &mut usage, &skill, &key);
                    replies.push(ack(reply, result));
                }
            }
        }
        let failed = tx.commit().err().map(|e| format!("committing memory: {e}"));
        if failed.is_some() {
            // What the map says may not have been committed: measure again.
            usage.clear();
        }
        for reply in replies {
            reply(failed.clone());
        }
    }
}

fn ack(reply: oneshot::Sender<Result<()>>, result: Result<()>) -> Box<dyn FnOnce(Option<String>)> {
    Box::new(move |failed| {
        let _ = reply.send(match failed {
            Some(e) => Err(anyhow::anyhow!(e)),
            None => result,
        });
    })
}

fn fail_all(batch: Vec<Command>, error: &str) {
    let err = || anyhow::anyhow!("starting a memory transaction: {error}");
    for command in batch {
        match command {
            Command::Get { reply, .. } => drop(reply.send(Err(err()))),
            Command::Put { reply, .. } => drop(reply.send(Err(WriteError::Backend(err())))),
            Command::Delete { reply, .. } => drop(reply.send(Err(err()))),
        }
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
