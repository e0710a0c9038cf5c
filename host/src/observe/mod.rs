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

use crate::bus::ResponseSink;
use crate::config::Config;
use crate::event::{EventId, Execution};
use crate::history::{History, Place, Retention};
use anyhow::Context;
use futures::future::BoxFuture;
use std::sync::Arc;

/// Every observer of a bot, in the order each gets a record.
pub type Observers = Vec<Arc<dyn Observer>>;

/// Every observer a configuration asks for, in the order each gets a
/// record: the log, the metrics, the history (when `history.enabled`,
/// returned too, for the commands and the API that read it), the
/// notifier, then `more`. The history is kept in `history_file` (opened
/// as the bot starts) unless `databases.redis` is set.
pub fn open_all(
    config: &Config,
    history_file: Option<crate::sqlite::File>,
    metrics: &Arc<Metrics>,
    responses: &Arc<dyn ResponseSink>,
    more: Vec<Arc<dyn Observer>>,
) -> anyhow::Result<(Option<Arc<History>>, Observers)> {
    let mut all: Vec<Arc<dyn Observer>> = vec![Arc::new(LogObserver), metrics.clone()];
    let history = if config.history.enabled {
        let history = Arc::new(open_history(config, history_file)?);
        all.push(Arc::new(HistoryObserver(history.clone())));
        Some(history)
    } else {
        None
    };
    all.extend(Notifier::start(
        config,
        responses.clone(),
        metrics.notices_dropped(),
        metrics.notices_failed(),
        history.clone(),
    )?);
    all.extend(more);
    Ok((history, all))
}

/// The history `history:` and `databases:` describe: in Redis when
/// `databases.redis` is set, else in SQLite (runs the last process left
/// `running` marked abandoned), its texts cut to `history.max-text`.
fn open_history(config: &Config, file: Option<crate::sqlite::File>) -> anyhow::Result<History> {
    let retention = Retention {
        max_age: config.history.max_age.0,
        max_count: config.history.max_count,
        max_bytes: config.history.max_bytes.0,
    };
    let max_text = usize::try_from(config.history.max_text.0).unwrap_or(usize::MAX);
    let place = match &config.databases.redis {
        Some(redis) => Place::Redis {
            url: redis.url.expose().to_owned(),
            shown: redis.shown_url(),
            prefix: redis.prefix.clone(),
        },
        None => Place::Sqlite {
            file: file.context("the history's SQLite file was not opened")?,
            abandoning: true,
        },
    };
    Ok(History::open_in(place, retention)?.keeping_texts(max_text))
}

pub trait Observer: Send + Sync + 'static {
    fn executed(&self, execution: &Execution);

    /// The same, for a record the dispatcher made and will not change
    /// again: an observer that keeps records (the history) keeps this one
    /// instead of a copy.
    fn executed_shared(&self, execution: &Arc<Execution>) {
        self.executed(execution);
    }

    /// A connector gave up delivering an answer to `event` (`why`), after
    /// its executions were recorded: a keeper of records marks them.
    fn undelivered(&self, _event: EventId, _why: &str) {}

    /// A run has started (its record as made, shared with the run until it
    /// ends): only the history keeps it, as a `running` row, so a run the
    /// bot never finishes (`kill -9`) is found at the next start and marked
    /// `abandoned`. An observer that keeps more than a `Weak` to it makes
    /// the run copy its record when it ends.
    fn started(&self, _execution: &Arc<Execution>) {}

    /// Resolves once what this observer queued has gone out: the bot waits
    /// for it (bounded) as it stops, so the last executions' notices are
    /// sent. The history has its own flush.
    fn settled(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
