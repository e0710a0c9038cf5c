//! The SQLite memory's database thread: it owns the connection, and runs
//! the commands `SqliteMemory` sends it in order, those already queued in
//! one transaction. It keeps each skill's usage (keys, bytes), measured from
//! the file the first time the skill writes, so a quota check costs no scan;
//! and, one thread, it runs every read-modify-write start to end with no
//! other command in between.

use super::{Quota, Write, WriteError, incremented, refusal};
use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::sync::mpsc;
use tokio::sync::oneshot;

pub(super) enum Command {
    Stored {
        skill: String,
        reply: oneshot::Sender<Result<super::Stored>>,
    },
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
    Increment {
        skill: String,
        key: String,
        by: i64,
        quota: Quota,
        reply: oneshot::Sender<Result<i64, WriteError>>,
    },
    CompareAndSwap {
        skill: String,
        key: String,
        expected: Option<String>,
        new: String,
        quota: Quota,
        reply: oneshot::Sender<Result<bool, WriteError>>,
    },
    Batch {
        skill: String,
        writes: Vec<Write>,
        quota: Quota,
        reply: oneshot::Sender<Result<(), WriteError>>,
    },
}

/// One skill's stored keys and bytes (of keys and values).
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    keys: u64,
    bytes: u64,
}

/// What the database thread knows of each skill's usage, measured from the
/// file the first time the skill writes.
type Usages = HashMap<String, Usage>;

fn usage_of(conn: &Connection, usage: &mut Usages, skill: &str) -> Result<Usage> {
    if let Some(u) = usage.get(skill) {
        return Ok(*u);
    }
    let (keys, bytes): (i64, i64) = conn
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

fn read(conn: &Connection, skill: &str, key: &str) -> Result<Option<String>> {
    conn.prepare_cached("SELECT value FROM memory WHERE skill = ?1 AND key = ?2")
        .and_then(|mut s| s.query_row(params![skill, key], |r| r.get(0)).optional())
        .context("reading memory")
}

/// Bytes `key`'s current value and the key take, if it is stored.
fn stored_size(conn: &Connection, skill: &str, key: &str) -> Result<Option<u64>> {
    Ok(conn
        .prepare_cached(
            "SELECT LENGTH(CAST(value AS BLOB)) FROM memory WHERE skill = ?1 AND key = ?2",
        )?
        .query_row(params![skill, key], |r| r.get::<_, i64>(0))
        .optional()?
        .map(|len| len as u64 + key.len() as u64))
}

fn write_row(conn: &Connection, skill: &str, key: &str, value: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO memory (skill, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (skill, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .and_then(|mut s| s.execute(params![skill, key, value, crate::event::now_ms() as i64]))
    .context("writing memory")?;
    Ok(())
}

fn delete_row(conn: &Connection, skill: &str, key: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM memory WHERE skill = ?1 AND key = ?2")
        .and_then(|mut s| s.execute(params![skill, key]))
        .context("deleting from memory")?;
    Ok(())
}

fn put(
    conn: &Connection,
    usage: &mut Usages,
    skill: &str,
    key: &str,
    value: &str,
    quota: Quota,
) -> Result<(), WriteError> {
    let before = usage_of(conn, usage, skill)?;
    let old = stored_size(conn, skill, key)?;
    let after = Usage {
        keys: before.keys + u64::from(old.is_none()),
        bytes: before.bytes - old.unwrap_or(0).min(before.bytes) + (key.len() + value.len()) as u64,
    };
    if old.is_none() && after.keys > quota.keys {
        return Err(refusal::keys(before.keys));
    }
    if after.bytes > quota.bytes && after.bytes > before.bytes {
        return Err(refusal::bytes(after.bytes, quota));
    }
    write_row(conn, skill, key, value)?;
    usage.insert(skill.to_owned(), after);
    Ok(())
}

fn delete(conn: &Connection, usage: &mut Usages, skill: &str, key: &str) -> Result<()> {
    let before = usage_of(conn, usage, skill)?;
    let Some(old) = stored_size(conn, skill, key)? else {
        return Ok(());
    };
    delete_row(conn, skill, key)?;
    usage.insert(
        skill.to_owned(),
        Usage {
            keys: before.keys.saturating_sub(1),
            bytes: before.bytes.saturating_sub(old),
        },
    );
    Ok(())
}

/// Read, add and write in one step: this thread runs nothing in between.
fn increment(
    conn: &Connection,
    usage: &mut Usages,
    skill: &str,
    key: &str,
    by: i64,
    quota: Quota,
) -> Result<i64, WriteError> {
    let sum = incremented(read(conn, skill, key)?.as_deref(), by)?;
    put(conn, usage, skill, key, &sum.to_string(), quota)?;
    Ok(sum)
}

fn compare_and_swap(
    conn: &Connection,
    usage: &mut Usages,
    skill: &str,
    key: &str,
    expected: Option<&str>,
    new: &str,
    quota: Quota,
) -> Result<bool, WriteError> {
    if read(conn, skill, key)?.as_deref() != expected {
        return Ok(false);
    }
    put(conn, usage, skill, key, new, quota)?;
    Ok(true)
}

/// Measures what the skill would keep after every write, checks that
/// against the quota, then writes them all inside a savepoint, so an error
/// halfway leaves nothing of the batch (the surrounding transaction holds
/// other commands' writes and still commits them).
fn batch(
    conn: &Connection,
    usage: &mut Usages,
    skill: &str,
    writes: &[Write],
    quota: Quota,
) -> Result<(), WriteError> {
    let before = usage_of(conn, usage, skill)?;
    // Each key's size as the batch leaves it so far (`None`: absent).
    let mut sizes: HashMap<&str, Option<u64>> = HashMap::new();
    let mut after = before;
    for write in writes {
        let key = write.key();
        let old = match sizes.get(key) {
            Some(size) => *size,
            None => stored_size(conn, skill, key)?,
        };
        if let Some(old) = old {
            after.keys = after.keys.saturating_sub(1);
            after.bytes = after.bytes.saturating_sub(old);
        }
        let new = match write {
            Write::Put { key, value } => Some((key.len() + value.len()) as u64),
            Write::Delete { .. } => None,
        };
        if let Some(new) = new {
            after.keys += 1;
            after.bytes += new;
        }
        sizes.insert(key, new);
    }
    if after.keys > quota.keys && after.keys > before.keys {
        return Err(refusal::batch_keys(after.keys, quota));
    }
    if after.bytes > quota.bytes && after.bytes > before.bytes {
        return Err(refusal::bytes(after.bytes, quota));
    }
    conn.execute_batch("SAVEPOINT batch")
        .context("starting a memory batch")?;
    let written = writes.iter().try_for_each(|write| match write {
        Write::Put { key, value } => write_row(conn, skill, key, value),
        Write::Delete { key } => delete_row(conn, skill, key),
    });
    match written {
        Ok(()) => {
            conn.execute_batch("RELEASE batch")
                .context("ending a memory batch")?;
            usage.insert(skill.to_owned(), after);
            Ok(())
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK TO batch; RELEASE batch");
            Err(WriteError::Backend(e))
        }
    }
}

/// What to send back once the transaction's fate is known: the command's own
/// result if it committed, the commit's error otherwise.
type Reply = Box<dyn FnOnce(Option<String>)>;

fn reply_later<T: 'static, E: From<anyhow::Error> + 'static>(
    reply: oneshot::Sender<Result<T, E>>,
    result: Result<T, E>,
) -> Reply {
    Box::new(move |failed| {
        let _ = reply.send(match failed {
            Some(e) => Err(E::from(anyhow::anyhow!(e))),
            None => result,
        });
    })
}

impl Command {
    /// Runs the command inside the open transaction.
    fn run(self, conn: &Connection, usage: &mut Usages) -> Reply {
        match self {
            Command::Stored { skill, reply } => {
                let measured = usage_of(conn, usage, &skill).map(|u| super::Stored {
                    keys: u.keys,
                    bytes: u.bytes,
                });
                reply_later(reply, measured)
            }
            Command::Get { skill, key, reply } => reply_later(reply, read(conn, &skill, &key)),
            Command::Put {
                skill,
                key,
                value,
                quota,
                reply,
            } => reply_later(reply, put(conn, usage, &skill, &key, &value, quota)),
            Command::Delete { skill, key, reply } => {
                reply_later(reply, delete(conn, usage, &skill, &key))
            }
            Command::Increment {
                skill,
                key,
                by,
                quota,
                reply,
            } => reply_later(reply, increment(conn, usage, &skill, &key, by, quota)),
            Command::CompareAndSwap {
                skill,
                key,
                expected,
                new,
                quota,
                reply,
            } => {
                let swapped =
                    compare_and_swap(conn, usage, &skill, &key, expected.as_deref(), &new, quota);
                reply_later(reply, swapped)
            }
            Command::Batch {
                skill,
                writes,
                quota,
                reply,
            } => reply_later(reply, batch(conn, usage, &skill, &writes, quota)),
        }
    }

    /// Answers the command with `error` without running it.
    fn fail(self, error: &str) {
        let err = || anyhow::anyhow!("starting a memory transaction: {error}");
        match self {
            Command::Get { reply, .. } => drop(reply.send(Err(err()))),
            Command::Stored { reply, .. } => drop(reply.send(Err(err()))),
            Command::Delete { reply, .. } => drop(reply.send(Err(err()))),
            Command::Put { reply, .. } | Command::Batch { reply, .. } => {
                drop(reply.send(Err(WriteError::Backend(err()))))
            }
            Command::Increment { reply, .. } => drop(reply.send(Err(WriteError::Backend(err())))),
            Command::CompareAndSwap { reply, .. } => {
                drop(reply.send(Err(WriteError::Backend(err()))))
            }
        }
    }
}

pub(super) fn serve(mut conn: Connection, inbox: mpsc::Receiver<Command>) {
    let mut usage = Usages::new();
    while let Ok(first) = inbox.recv() {
        // Everything already queued goes into one transaction: one fsync for a
        // burst of writes instead of one each.
        let mut batch = vec![first];
        batch.extend(inbox.try_iter().take(255));
        let tx = match conn.transaction() {
            Ok(tx) => tx,
            Err(e) => {
                for command in batch {
                    command.fail(&e.to_string());
                }
                continue;
            }
        };
        let replies: Vec<Reply> = batch
            .into_iter()
            .map(|command| command.run(&tx, &mut usage))
            .collect();
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
