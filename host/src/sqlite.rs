//! Opening one of the bot's SQLite files, the same way for each (the
//! memory, the history, the workflow runs): its folder created, WAL with
//! `synchronous = NORMAL` (a crash loses at most the last transactions,
//! never the file), a 5 s busy timeout, then the caller's schema. Errors
//! name the file and what it holds.

use anyhow::{Context, Result};
use rusqlite::Connection;
use std::path::Path;

/// Opens (creating if needed) the `what` database at `path` ("memory",
/// "history", "workflow") and prepares it with `schema`.
pub fn open(path: &Path, what: &str, schema: &str) -> Result<Connection> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating the {what} folder {}", dir.display()))?;
    }
    let conn = Connection::open(path)
        .with_context(|| format!("opening the {what} database {}", path.display()))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA busy_timeout = 5000;",
    )
    .and_then(|()| conn.execute_batch(schema))
    .with_context(|| format!("preparing the {what} database {}", path.display()))?;
    Ok(conn)
}
