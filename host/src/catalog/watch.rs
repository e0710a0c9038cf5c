//! Watching the skills folder. Events are debounced per file, so a file
//! being written is compiled once, when it has been quiet for a moment; and
//! cargo's delete-then-hard-link of its output reads as one change, not an
//! unload followed by a load.

use super::Catalog;
use crate::skill_file::SkillFile;
use anyhow::{Context, Result};
use notify::{RecursiveMode, Watcher};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long a file must be quiet before it is (re)loaded.
pub const DEBOUNCE: Duration = Duration::from_millis(60);

/// Keeps the watch alive; dropping it stops watching.
pub struct WatchHandle {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts watching, then loads every skill, logging what loaded (and a
/// hint when none did): watched first, so a file written while the others
/// load is not missed.
pub async fn load_and_watch(catalog: Arc<Catalog>) -> Result<WatchHandle> {
    let watch = start(catalog.clone())?;
    let report = catalog.reload_all().await;
    for change in &report.changes {
        change.log();
    }
    if catalog.current().skills.is_empty() {
        let (dir, _) = catalog.watched_paths();
        tracing::warn!(
            folder = %dir.map(|d| d.display().to_string()).unwrap_or_default(),
            "no skills loaded; put .wasm skills in the skills folder and say `reload`"
        );
    }
    Ok(watch)
}

fn start(catalog: Arc<Catalog>) -> Result<WatchHandle> {
    let (tx, rx) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher =
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) if changes_content(&event.kind) => {
                for path in event.paths {
                    if path.extension().is_some_and(|e| e == "wasm") {
                        let _ = tx.send(path);
                    }
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "file watching hiccup"),
        })
        .context("starting the file watcher")?;

    let (dir, files) = catalog.watched_paths();
    let mut folders: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent().map(PathBuf::from))
        .collect();
    if let Some(dir) = dir {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating the skills folder {}", dir.display()))?;
        folders.push(dir);
    }
    folders.sort();
    folders.dedup();
    for folder in &folders {
        // A folder that does not exist yet (a skill not built yet) is not an
        // error: the skill loads at `reload` once it is there.
        if let Err(e) = watcher.watch(folder, RecursiveMode::NonRecursive) {
            tracing::warn!(folder = %folder.display(), error = %e, "not watching");
        } else {
            tracing::debug!(folder = %folder.display(), "watching for skill changes");
        }
    }
    let task = tokio::spawn(debounce_loop(catalog, rx));
    Ok(WatchHandle {
        _watcher: watcher,
        task,
    })
}

/// Creation, writes, renames and removal. Not reads: loading a skill reads
/// its file, and reacting to that would reload it forever. Not metadata: a
/// `touch` changes nothing a skill is made of.
fn changes_content(kind: &notify::EventKind) -> bool {
    use notify::EventKind;
    use notify::event::ModifyKind;
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        EventKind::Access(_) | EventKind::Any | EventKind::Other => false,
    }
}

async fn debounce_loop(catalog: Arc<Catalog>, mut rx: mpsc::UnboundedReceiver<PathBuf>) {
    let mut due: HashMap<PathBuf, Instant> = HashMap::new();
    loop {
        let next = due.values().min().copied();
        tokio::select! {
            path = rx.recv() => match path {
                Some(path) => {
                    due.insert(path, Instant::now() + DEBOUNCE);
                }
                None => return,
            },
            _ = sleep_until(next) => {
                let now = Instant::now();
                let ready: Vec<PathBuf> = due.iter().filter(|(_, t)| **t <= now).map(|(p, _)| p.clone()).collect();
                for path in ready {
                    due.remove(&path);
                    // Read before the catalog's reload lock, as a reload
                    // of every skill reads each file.
                    let read = SkillFile::read(&path).await;
                    if let Some(change) = catalog.reload_file(&path, read).await {
                        change.log();
                    }
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
