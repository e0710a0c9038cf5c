//! The history's writer thread: records (and started runs) arrive over a
//! channel and are written in batches, a transaction per batch, into the
//! store the history was opened with; retention is applied after writes,
//! at once when over the byte budget, else at most once a second.

use super::{DEFAULT_MAX_TEXT, History, Reader, Retention, Store, cut_texts};
use crate::event::Execution;
use anyhow::{Context, Result};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak, mpsc};
use std::time::{Duration, Instant};

/// The most records written in one transaction.
const BATCH: usize = 512;

/// How long the writer gathers records after the first before it writes
/// them: a transaction per record or two costs SQLite a WAL append of every
/// page it touched (the table's and three indexes'), and the writer a
/// wake-up per record. A record waits about this long to become findable.
const LINGER: Duration = Duration::from_millis(10);

/// What the writer is sent.
// A record goes by value: boxing it would add an allocation per record.
#[allow(clippy::large_enum_variant)]
pub(super) enum Queued {
    /// A record to keep.
    Record(Execution),
    /// A run that has started, to keep as its `running` row if it is still
    /// going when its batch is written. The run holds the record until it
    /// ends, and then its own record follows; so a run shorter than the
    /// writer's gathering (most) costs no copy of its record and no row.
    Started(Weak<Execution>),
}

/// Starts the writer thread over `store`; the history it returns is the
/// writer's end, where readers find the records (`reader`).
pub(super) fn start(
    store: Box<dyn Store>,
    reader: Reader,
    retention: Retention,
    keeps_started: bool,
) -> Result<History> {
    let (records, rx) = mpsc::channel();
    let written = std::sync::Arc::new((std::sync::Mutex::new(0u64), std::sync::Condvar::new()));
    let counter = written.clone();
    let (tell, written_now) = tokio::sync::watch::channel(0);
    let max_text = Arc::new(AtomicUsize::new(DEFAULT_MAX_TEXT));
    let cut_to = max_text.clone();
    std::thread::Builder::new()
        .name("history".into())
        .spawn(move || writer(store, rx, retention, cut_to, counter, tell))
        .context("starting the history writer")?;
    Ok(History {
        records,
        reader,
        written,
        written_now,
        sent: std::sync::atomic::AtomicU64::new(0),
        max_text,
        keeps_started,
    })
}

/// Writes what arrives, a batch per transaction, until every sender is gone.
fn writer(
    mut store: Box<dyn Store>,
    rx: mpsc::Receiver<Queued>,
    retention: Retention,
    max_text: Arc<AtomicUsize>,
    written: std::sync::Arc<(std::sync::Mutex<u64>, std::sync::Condvar)>,
    tell: tokio::sync::watch::Sender<u64>,
) {
    let mut pruned = Instant::now();
    let mut queued = Vec::with_capacity(BATCH);
    let mut batch = Vec::with_capacity(BATCH);
    // The last batch was full: more are waiting, so don't linger.
    let mut behind = false;
    while let Ok(first) = rx.recv() {
        queued.push(first);
        // Sleep rather than wait on the channel: a sender then finds no
        // one to wake, which spares a futex call and a context switch per
        // record.
        if !behind {
            std::thread::sleep(LINGER);
        }
        while queued.len() < BATCH {
            match rx.try_recv() {
                Ok(next) => queued.push(next),
                Err(_) => break,
            }
        }
        behind = queued.len() == BATCH;
        let received = queued.len() as u64;
        batch.extend(queued.drain(..).filter_map(|q| match q {
            Queued::Record(e) => Some(e),
            // A run still going: its row, as it reads now.
            Queued::Started(run) => run.upgrade().map(|run| {
                let mut row = Execution::clone(&run);
                drop(run);
                row.outcome = crate::event::Outcome::Running;
                cut_texts(&mut row, max_text.load(Ordering::Relaxed));
                row
            }),
        }));
        latest_only(&mut batch);
        let over_budget = match store.write(&batch) {
            Ok(total) => total > retention.max_bytes,
            Err(e) => {
                tracing::error!(
                    "could not write {} execution records to the history: {e:#}",
                    batch.len()
                );
                false
            }
        };
        // Over the byte budget it is pruned at once: the budget holds
        // after every batch, not only once a second.
        if over_budget || pruned.elapsed() >= Duration::from_secs(1) {
            if let Err(e) = store.prune(retention) {
                tracing::warn!("could not prune the history: {e:#}");
            }
            pruned = Instant::now();
        }
        let (lock, ready) = &*written;
        let mut count = lock.lock().unwrap_or_else(|e| e.into_inner());
        *count += received;
        tell.send_replace(*count);
        drop(count);
        ready.notify_all();
        batch.clear();
    }
}

/// Keeps, of the records in `batch` with the same id, only the last (in
/// its place): writing the others would only be undone in the same
/// transaction. Most often a run's `running` row and its record arrive
/// in one batch (a run is shorter than [`LINGER`]); without this the row
/// and its indexes were written, then deleted and written again.
pub(super) fn latest_only(batch: &mut Vec<Execution>) {
    if batch.len() < 2 {
        return;
    }
    let keep: Vec<bool> = {
        let mut seen = std::collections::HashSet::with_capacity(batch.len());
        let mut keep: Vec<bool> = batch
            .iter()
            .rev()
            .map(|e| seen.insert(e.id.as_str()))
            .collect();
        keep.reverse();
        keep
    };
    let mut kept = keep.into_iter();
    batch.retain(|_| kept.next().unwrap_or(true));
}
