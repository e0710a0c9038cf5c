//! The embedded default: one SQLite file in WAL mode, owned by one thread.
//! Skills' calls arrive over a channel, so blocking disk I/O never runs on a
//! tokio worker, and writes that queue up are committed in one transaction.

use super::MemoryStore;
use anyhow::{Context, Result};
use futures::future::BoxFuture;
use rusqlite::{Connection, OptionalExtension, params};
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
        reply: oneshot::Sender<Result<()>>,
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
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the database folder {}", dir.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("opening the memory database {}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             PRAGMA busy_timeout = 5000;
             CREATE TABLE IF NOT EXISTS memory (
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
            .spawn(move || serve(conn, inbox))
            .context("starting the database thread")?;
        Ok(SqliteMemory { commands })
    }

    fn send<T: Send + 'static>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T>>) -> Command,
    ) -> BoxFuture<'static, Result<T>> {
        let (reply, answer) = oneshot::channel();
        let sent = self.commands.send(make(reply));
        Box::pin(async move {
            sent.map_err(|_| anyhow::anyhow!("the database thread has stopped"))?;
            answer
                .await
                .map_err(|_| anyhow::anyhow!("the database thread has stopped"))?
        })
    }
}

impl MemoryStore for SqliteMemory {
    fn get(&self, skill: &str, key: &str) -> BoxFuture<'static, Result<Option<String>>> {
        let (skill, key) = (skill.to_owned(), key.to_owned());
        self.send(|reply| Command::Get { skill, key, reply })
    }

    fn put(&self, skill: &str, key: &str, value: &str) -> BoxFuture<'static, Result<()>> {
        let (skill, key, value) = (skill.to_owned(), key.to_owned(), value.to_owned());
        self.send(|reply| Command::Put {
            skill,
            key,
            value,
            reply,
        })
    }

    fn delete(&self, skill: &str, key: &str) -> BoxFuture<'static, Result<()>> {
        let (skill, key) = (skill.to_owned(), key.to_owned());
        self.send(|reply| Command::Delete { skill, key, reply })
    }
}

fn serve(mut conn: Connection, inbox: mpsc::Receiver<Command>) {
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
                    reply,
                } => {
                    let result = tx
                        .prepare_cached(
                            "INSERT INTO memory (skill, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                             ON CONFLICT (skill, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                        )
                        .and_then(|mut s| s.execute(params![skill, key, value, crate::event::now_ms() as i64]))
                        .map(drop)
                        .context("writing memory");
                    replies.push(ack(reply, result));
                }
                Command::Delete { skill, key, reply } => {
                    let result = tx
                        .prepare_cached("DELETE FROM memory WHERE skill = ?1 AND key = ?2")
                        .and_then(|mut s| s.execute(params![skill, key]))
                        .map(drop)
                        .context("deleting from memory");
                    replies.push(ack(reply, result));
                }
            }
        }
        let failed = tx.commit().err().map(|e| format!("committing memory: {e}"));
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
    fn err<T>(error: &str) -> Result<T> {
        Err(anyhow::anyhow!("starting a memory transaction: {error}"))
    }
    for command in batch {
        match command {
            Command::Get { reply, .. } => drop(reply.send(err(error))),
            Command::Put { reply, .. } | Command::Delete { reply, .. } => {
                drop(reply.send(err(error)))
            }
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
            m.put("seen", "alice", "1").await.unwrap();
            m.put("other", "alice", "2").await.unwrap();
            m.put("seen", "alice", "3").await.unwrap();
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
            tokio::spawn(async move { m.put("s", &format!("k{i}"), &i.to_string()).await })
        });
        for w in writes {
            w.await.unwrap().unwrap();
        }
        assert_eq!(m.get("s", "k199").await.unwrap().as_deref(), Some("199"));
    }
}
