//! The bot's SQLite files, opened in one place as it starts, before the
//! parts that keep something in them: the memory's (unless
//! `databases.redis`), the history's (when `history.enabled`, unless
//! Redis) and the workflow runs' (the history's file, through a
//! connection of their own, unless Redis). Each part is handed its open
//! file and makes its own tables.

use crate::config::Config;
use crate::sqlite::{File, open_file};
use anyhow::Result;

/// Each part's open file, `None` where `databases:` keeps it in Redis (or
/// the history is off).
pub(super) struct Databases {
    pub memory: Option<File>,
    pub history: Option<File>,
    pub runs: Option<File>,
}

/// Opens the files `config` asks for: the memory's, then the history's,
/// then the runs', in the order the parts that keep them start.
pub(super) fn open_files(config: &Config) -> Result<Databases> {
    if config.databases.redis.is_some() {
        return Ok(Databases {
            memory: None,
            history: None,
            runs: None,
        });
    }
    let memory = open_file(&config.database_path(), "memory")?;
    let history = if config.history.enabled {
        Some(open_file(&config.history_path(), "history")?)
    } else {
        None
    };
    let runs = open_file(&config.history_path(), "workflow")?;
    Ok(Databases {
        memory: Some(memory),
        history,
        runs: Some(runs),
    })
}
