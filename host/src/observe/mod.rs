//! Observers of execution records: every execution, successful or not,
//! yields one record, and each observer gets it as the dispatcher finishes
//! it. An observer must be quick (it runs on the message path): one that
//! writes somewhere slow queues the record and writes in batches elsewhere.
//! A new observer (history, notifications, metrics) is one new file here.

mod history;
mod log;
mod metrics;
mod notify;

pub use history::HistoryObserver;
pub use log::LogObserver;
pub use metrics::{BusPublished, BusSnapshot, Metrics, NotificationsFailed, Snapshot};
pub use notify::{Notice, Notifier};

use crate::event::{EventId, Execution};
use futures::future::BoxFuture;

pub trait Observer: Send + Sync + 'static {
    fn executed(&self, execution: &Execution);

    /// A connector gave up delivering an answer to `event` (`why`), after
    /// its executions were recorded: a keeper of records marks them.
    fn undelivered(&self, _event: EventId, _why: &str) {}

    /// A run has started (its record, outcome `running`): only the history
    /// keeps it, so a run the bot never finishes (`kill -9`) is found at
    /// the next start and marked `abandoned`.
    fn started(&self, _execution: &Execution) {}

    /// Resolves once what this observer queued has gone out: the bot waits
    /// for it (bounded) as it stops, so the last executions' notices are
    /// sent. The history has its own flush.
    fn settled(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
