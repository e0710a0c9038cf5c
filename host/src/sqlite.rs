//! Opening one of the bot's SQLite files, the same way for each (the
//! memory, the history, the workflow runs, the console's accounts): its
//! folder created, WAL with `synchronous = NORMAL` (a crash loses at most
//! the last transactions, never the file), a 5 s busy timeout. The file's
//! owner then makes its tables. Errors name the file and what it holds.

use anyhow::{Context, Result};
use rusqlite::Connection;
use std::path::{Path, PathBuf};

/// One of the bot's SQLite files, open and set up, its tables not made
/// yet: the part it is handed to makes them (naming `path` in errors).
pub struct File {
    pub conn: Connection,
    pub path: PathBuf,
}

/// Opens (creating if needed) the `what` database at `path` ("memory",
/// "history", "workflow").
pub fn open_file(path: &Path, what: &str) -> Result<File> {
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
    .with_context(|| format!("preparing the {what} database {}", path.display()))?;
    Ok(File {
        conn,
        path: path.to_owned(),
    })
}

/// [`open_file`], then its tables made with `schema`.
pub fn open(path: &Path, what: &str, schema: &str) -> Result<Connection> {
    let file = open_file(path, what)?;
    file.conn
        .execute_batch(schema)
        .with_context(|| format!("preparing the {what} database {}", path.display()))?;
    Ok(file.conn)
}
