//! The history's writer thread: it gathers what the message path queued
//! for up to [`LINGER`], writes it in one transaction (or one script), and
//! applies retention after writes at most once a second. A reader that
//! wants what was queued before it ([`Hurry`]) cuts the gathering short.

use super::{DEFAULT_MAX_TEXT, History, Queued, Reader, Retention, Store, cut_texts};
use crate::event::{Execution, Outcome};
use anyhow::{Context, Result};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// The most records written in one transaction.
const BATCH: usize = 4096;

/// How long the writer gathers records after the first before it writes
/// them. A batch costs SQLite a WAL append of every page it touched (the
/// table's and each index's) and a page the last batch left half full is
/// written again, so a larger, rarer batch costs less per record; and a
/// run shorter than this (most) needs no `running` row. It is also what a
/// crash (`kill -9`) can lose: the records of the last [`LINGER`], still
/// in the queue (docs/operations.md says so). A reader does not wait for
/// it: [`Hurry::now`] wakes the writer.
pub(super) const LINGER: Duration = Duration::from_millis(100);

/// How long [`super::History::caught_up`] (a bus worker's ack) lets the
/// writer gather before it wakes it: events handled at about the same time
/// share a batch, as they did when this was the writer's whole gathering.
pub(super) const HURRY_AFTER: Duration = Duration::from_millis(10);

/// How a reader (or a stop) tells the writer to write what it has now.
pub(super) struct Hurry {
    asked: Arc<AtomicBool>,
    writer: std::thread::Thread,
}

impl Hurry {
    /// For the writer thread `writer`, which watches `asked`.
    pub(super) fn new(asked: Arc<AtomicBool>, writer: std::thread::Thread) -> Hurry {
        Hurry { asked, writer }
    }

    /// Ends the writer's gathering now (a sender of records never calls
    /// this: it would cost each a futex call).
    pub(super) fn now(&self) {
        self.asked.store(true, Ordering::Release);
        self.writer.unpark();
    }
}

/// Gathers until `LINGER` after `since`, or until `asked` ([`Hurry::now`]).
fn linger(asked: &AtomicBool, since: Instant) {
    let until = since + LINGER;
    while !asked.swap(false, Ordering::AcqRel) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        // Parked, not waiting on the channel: a sender then finds no one
        // to wake, which spares a futex call and a context switch per
        // record.
        std::thread::park_timeout(left);
    }
}

/// Starts the writer thread on `store`: the history's end that queues
/// records, and where readers find them.
pub(super) fn start(
    store: Box<dyn Store>,
    reader: Reader,
    retention: Retention,
    keeps_started: bool,
) -> Result<History> {
    let (records, rx) = mpsc::channel();
    let written = Arc::new((std::sync::Mutex::new(0u64), std::sync::Condvar::new()));
    let (tell, written_now) = tokio::sync::watch::channel(0);
    let max_text = Arc::new(AtomicUsize::new(DEFAULT_MAX_TEXT));
    let asked = Arc::new(AtomicBool::new(false));
    let writer = Writer {
        store,
        rx,
        retention,
        max_text: max_text.clone(),
        written: written.clone(),
        tell,
        asked: asked.clone(),
    };
    let thread = std::thread::Builder::new()
        .name("history".into())
        .spawn(move || writer.run())
        .context("starting the history writer")?;
    Ok(History {
        records,
        reader,
        written,
        written_now,
        sent: std::sync::atomic::AtomicU64::new(0),
        max_text,
        keeps_started,
        hurry: Hurry::new(asked, thread.thread().clone()),
    })
}

/// What the writer thread is given.
pub(super) struct Writer {
    pub store: Box<dyn Store>,
    pub rx: mpsc::Receiver<Queued>,
    pub retention: Retention,
    pub max_text: Arc<AtomicUsize>,
    pub written: Arc<(std::sync::Mutex<u64>, std::sync::Condvar)>,
    pub tell: tokio::sync::watch::Sender<u64>,
    /// Set by [`Hurry::now`].
    pub asked: Arc<AtomicBool>,
}

impl Writer {
    /// Writes what arrives, a batch per transaction, until every sender is
    /// gone.
    pub(super) fn run(self) {
        let Writer {
            mut store,
            rx,
            retention,
            max_text,
            written,
            tell,
            asked,
        } = self;
        let mut pruned = Instant::now();
        let mut queued = Vec::with_capacity(BATCH);
        let mut batch = Vec::with_capacity(BATCH);
        // The last batch was full: more are waiting, so don't linger.
        let mut behind = false;
        while let Ok(first) = rx.recv() {
            let since = Instant::now();
            queued.push(first);
            if !behind {
                linger(&asked, since);
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
                    row.outcome = Outcome::Running;
                    cut_texts(&mut row, max_text.load(Ordering::Relaxed));
                    Arc::new(row)
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
}

/// Keeps, of the records in `batch` with the same id, only the last (in
/// its place): writing the others would only be undone in the same
/// transaction. Most often a run's `running` row and its record arrive
/// in one batch (a run is shorter than [`LINGER`]); without this the row
/// and its indexes were written, then deleted and written again.
pub(super) fn latest_only(batch: &mut Vec<Arc<Execution>>) {
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
